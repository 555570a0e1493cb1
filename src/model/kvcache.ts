// The KV cache for generation (batch 1). Each layer keeps a (n_positions, 3C) buffer laid out
// exactly as the c_attn matmul writes its output (q | k | v per position), so the matmul
// writes new positions straight into the cache and attention reads keys and values from it;
// the q third is never read back. Scratch activations for up to `chunk` new tokens at a time.
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
    for (let l = 0; l < L; l++) specs.push({ name: `qkv.${l}`, shape: [maxT, 3 * C] });
    specs.push(
      { name: 'tokens', shape: [1, Tq], dtype: 'i32' },
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

  /** Layer l's (n_positions, 3C) q|k|v rows. */
  layer(l: number): Tensor {
    return this.tensors.get(`qkv.${l}`)!;
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
