// The kernel module: every export is a flat function over byte addresses into the one
// memory that the host owns (imported as env.memory). Nothing here allocates.
export { encoder_forward, encoder_backward } from './encoder';
export { layernorm_forward, layernorm_backward } from './layernorm';
export { matmul_forward, matmul_backward, lm_head_forward, lm_head_backward,
         matmul_forward_part, matmul_backward_part, lm_head_forward_part, lm_head_backward_part,
         matmul_forward_half, matmul_forward_join,
         matmul_forward_f16, matmul_forward_f16_half, lm_head_forward_f16, lm_head_forward_f16_part, f32_to_f16 } from './matmul';
export { set_pack_buffer, pack_bytes, tile_6x8, warm_checksum } from './gemm';
export { attention_forward, attention_backward, attention_forward_part, attention_backward_part,
         attention_forward_kv, attention_forward_kv_part } from './attention';
export { gelu_forward, gelu_backward } from './gelu';
export { residual_forward, residual_backward } from './residual';
export { softmax_forward, crossentropy_forward, crossentropy_softmax_backward } from './crossentropy';
export { adamw_update, sum_squares, scale_inplace } from './adamw';

// first byte the host may use: everything below belongs to the module's own static data
export function heap_base(): usize { return __heap_base; }

// zero n bytes at p (memory.fill: a native memset, where JS's fill over shared memory is slow)
export function zero_bytes(p: usize, n: usize): void { memory.fill(p, 0, n); }
