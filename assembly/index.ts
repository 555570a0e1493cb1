// The kernel module: every export is a flat function over byte addresses into the one
// memory that the host owns (imported as env.memory). Nothing here allocates. Each family's
// kernels (and the parts threads run) are declared for the host in src/kernels/<family>.ts.
export * from './encoder';
export * from './layernorm';
export * from './matmul';
export * from './attention';
export * from './gelu';
export * from './residual';
export * from './crossentropy';
export * from './adamw';
export * from './quant';
export * from './scan';
export { set_pack_buffer, pack_bytes } from './gemm';
export { warm_checksum } from './simd';
export { tile_6x8 } from './tiles';

// first byte the host may use: everything below belongs to the module's own static data
export function heap_base(): usize { return __heap_base; }

// zero n bytes at p (memory.fill: a native memset, where JS's fill over shared memory is slow)
export function zero_bytes(p: usize, n: usize): void { memory.fill(p, 0, n); }
