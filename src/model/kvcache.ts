// The KV cache for generation (batch 1). Each layer keeps its keys and its values as (n_head,
// n_positions, head size): every head's a contiguous block, which a decode step's attention
// streams front to back (attention_forward_kv stores the new positions' into it). Beside them,
// scratch activations for up to `chunk` new tokens at a time, which every layer reuses.
import type { Backend } from '../backend/backend.js';
import { carve, type Tensor } from '../backend/tensor.js';
import type { GPTConfig } from './config.js';

/** One step's working tensors, sized for `chunk` new tokens (a step takes the first rows it needs). */
export interface DecodeScratch {
  tokens: Tensor; // (1,chunk) i32
  x: Tensor; // (1,chunk,C) the residual stream
  ln: Tensor;
  mean: Tensor;
  rstd: Tensor; // ln_1 and ln_2 in turn
  qkv: Tensor;
  atty: Tensor;
  proj: Tensor;
  att: Tensor; // (1,NH,chunk,n_positions)
  fch: Tensor;
  fch_gelu: Tensor;
  lnf: Tensor;
  lnf_mean: Tensor;
  lnf_rstd: Tensor; // the last position only
  logits: Tensor; // (1,1,V)
}

export class KvCache {
  /** Positions filled so far. */
  length = 0;
  readonly maxLength: number;
  readonly chunk: number;
  /** Layer l's keys and values, each (n_head, n_positions, head size). */
  readonly layers: { keys: Tensor; values: Tensor }[];
  readonly scratch: DecodeScratch;
  private readonly ptr: number;

  constructor(
    readonly config: GPTConfig,
    readonly backend: Backend,
    chunk = 128,
  ) {
    const { n_layer: L, n_positions: maxT } = config;
    this.maxLength = maxT;
    this.chunk = Math.max(1, Math.min(chunk, maxT));
    const specs = kvCacheSpecs(config, this.chunk);
    const block = carve(backend.arena, `KV cache (${L} layers x ${maxT} positions)`, specs);
    this.ptr = block.ptr;
    const get = (name: string) => block.tensors.get(name)!;
    this.layers = Array.from({ length: L }, (_, l) => ({ keys: get(`k.${l}`), values: get(`v.${l}`) }));
    this.scratch = Object.fromEntries(
      specs.slice(2 * config.n_layer).map((s) => [s.name, get(s.name)]),
    ) as unknown as DecodeScratch;
  }

  /** Forget every position (the memory stays allocated). */
  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    this.backend.arena.release(this.ptr);
  }
}

/** The KV cache's tensors and the decoder's scratch for prefill chunks of `chunk` tokens (one block). */
export function kvCacheSpecs(config: GPTConfig, chunk: number): { name: string; shape: number[]; dtype?: 'i32' }[] {
  const { n_layer: L, n_head: NH, n_embd: C, n_positions: maxT, vocab_size: V } = config;
  const Tq = chunk;
  const specs: { name: string; shape: number[]; dtype?: 'i32' }[] = [];
  for (let l = 0; l < L; l++)
    specs.push({ name: `k.${l}`, shape: [NH, maxT, C / NH] }, { name: `v.${l}`, shape: [NH, maxT, C / NH] });
  const scratch: Record<keyof DecodeScratch, number[]> = {
    tokens: [1, Tq],
    x: [1, Tq, C],
    ln: [1, Tq, C],
    mean: [Tq],
    rstd: [Tq],
    qkv: [1, Tq, 3 * C],
    atty: [1, Tq, C],
    proj: [1, Tq, C],
    att: [1, NH, Tq, maxT],
    fch: [1, Tq, 4 * C],
    fch_gelu: [1, Tq, 4 * C],
    lnf: [1, 1, C],
    lnf_mean: [1],
    lnf_rstd: [1],
    logits: [1, 1, V],
  };
  for (const [name, shape] of Object.entries(scratch))
    specs.push({ name, shape, ...(name === 'tokens' ? { dtype: 'i32' as const } : {}) });
  return specs;
}
