// The KV cache for generation (batch 1). Each layer keeps its keys and its values as (n_head,
// n_positions, head size): every head's a contiguous block, which a decode step's attention
// streams front to back (attention_forward_kv stores the new positions' into it). The c_attn
// matmul writes the new positions' q | k | v rows to scratch. Scratch activations for up to
// `chunk` new tokens at a time.
import type { Backend } from '../backend/backend.js';
import { carve, type Tensor } from '../backend/tensor.js';
import type { GPTConfig } from './config.js';

export class KvCache {
  /** Positions filled so far. */
  length = 0;
  readonly maxLength: number;
  readonly chunk: number;
  private readonly ptr: number;
  private readonly tensors: Map<string, Tensor>;

  constructor(readonly config: GPTConfig, readonly backend: Backend, chunk = 128) {
    const { n_layer: L, n_head: NH, n_embd: C, n_positions: maxT, vocab_size: V } = config;
    this.maxLength = maxT;
    this.chunk = Math.max(1, Math.min(chunk, maxT));
    const Tq = this.chunk;
    const specs: { name: string; shape: number[]; dtype?: 'i32' }[] = [];
    for (let l = 0; l < L; l++) specs.push({ name: `k.${l}`, shape: [NH, maxT, C / NH] }, { name: `v.${l}`, shape: [NH, maxT, C / NH] });
    specs.push(
      { name: 'tokens', shape: [1, Tq], dtype: 'i32' }, { name: 'qkv', shape: [1, Tq, 3 * C] },
      { name: 'x', shape: [1, Tq, C] }, { name: 'ln', shape: [1, Tq, C] },
      { name: 'mean', shape: [Tq] }, { name: 'rstd', shape: [Tq] },
      { name: 'atty', shape: [1, Tq, C] }, { name: 'proj', shape: [1, Tq, C] },
      { name: 'att', shape: [1, NH, Tq, maxT] },
      { name: 'fch', shape: [1, Tq, 4 * C] }, { name: 'fch_gelu', shape: [1, Tq, 4 * C] },
      { name: 'lnf', shape: [1, 1, C] }, { name: 'lnf_mean', shape: [1] }, { name: 'lnf_rstd', shape: [1] },
      { name: 'logits', shape: [1, 1, V] },
    );
    const block = carve(backend.arena, `KV cache (${L} layers x ${maxT} positions)`, specs);
    this.ptr = block.ptr;
    this.tensors = block.tensors;
  }

  /** Layer l's keys, (n_head, n_positions, head size). */
  keys(l: number): Tensor {
    return this.tensors.get(`k.${l}`)!;
  }

  /** Layer l's values, (n_head, n_positions, head size). */
  values(l: number): Tensor {
    return this.tensors.get(`v.${l}`)!;
  }

  scratch(name: string): Tensor {
    return this.tensors.get(name)!;
  }

  /** Forget every position (the memory stays allocated). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    this.backend.arena.release(this.ptr);
  }
}
