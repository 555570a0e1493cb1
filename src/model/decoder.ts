// Generation's forward pass: tokens at positions cache.length.. through the same blocks as
// training (block.ts), attending over the KV cache, and the logits of the last one. Single-token
// steps read each weight once, so what they read is chosen for bytes: weights held as f16 or
// quantized as they are; of f32 weights, transposed copies of the wide layers, derived from the
// parameters and remade when the parameters' version has moved on since.
import type { Backend } from '../backend/backend.js';
import { carve, type Tensor } from '../backend/tensor.js';
import type { GPTConfig } from './config.js';
import type { KvCache } from './kvcache.js';
import type { Affine, ParameterSet } from './parameters.js';
import { attentionInput, blockOutput, linearOf, lmHead, embed, type Linear } from './block.js';

/** Output rows wider than this (bytes) are read from transposed copies in single-token f32 steps. */
const WIDE_ROW_BYTES = 9216;

/** Copies of some weights, keyed by the weight tensor they were made from, and the parameters' version they were made at. */
interface Copies {
  ptr: number;
  of: Map<Tensor, Tensor>;
  version: number;
}

export class Decoder {
  /** Transposed f32 copies; null when not made yet, 'none' when the model has no wide layer or no room for them. */
  private wide: Copies | null | 'none' = null;

  constructor(
    private readonly backend: Backend,
    private readonly config: GPTConfig,
    private readonly params: ParameterSet,
    private readonly version: () => number,
  ) {}

  /**
   * A decode step reads each weight once, fastest as one sequential stream. Streamed row by row, a
   * weight (C, OC) adds each row into the whole output row; past 2,304 outputs that row and the
   * weight streaming past no longer stay in L1 together. Transposed, (OC, C), each output is one dot
   * product over a contiguous row, as the LM head reads wte. So single-token f32 steps read the
   * wider layers (GPT-2's c_fc) from transposed copies, made on the first such step, or read the
   * weights as they are when memory has no room (see docs/performance.md).
   */
  private wideCopies(): Copies | null {
    if (this.params.tree.wte.weight.dtype !== 'f32') return null; // f16 or quantized weights are read as they are
    if (this.wide === null) {
      const wide = this.matrices().filter((w) => w.shape[1] * 4 > WIDE_ROW_BYTES);
      try {
        this.wide = wide.length > 0 ? this.makeCopies('transposed decode weights', wide) : 'none';
      } catch (e) {
        if (!(e instanceof RangeError)) throw e; // the arena's "no room" (wasm32's 4 GiB, or the engine's limit)
        this.wide = 'none';
      }
    }
    return this.wide === 'none' ? null : this.fresh(this.wide);
  }

  private matrices(): Tensor[] {
    return this.params.tree.h.flatMap((b) => [
      b.attn.c_attn.weight,
      b.attn.c_proj.weight,
      b.mlp.c_fc.weight,
      b.mlp.c_proj.weight,
    ]);
  }

  private makeCopies(what: string, weights: Tensor[]): Copies {
    const specs = weights.map((w, i) => ({ name: `${i}`, shape: [w.shape[1], w.shape[0]] }));
    const { ptr, tensors } = carve(this.backend.arena, what, specs);
    return { ptr, of: new Map(weights.map((w, i) => [w, tensors.get(`${i}`)!])), version: -1 };
  }

  /** The copies, remade first if the parameters changed since they were made. */
  private fresh(copies: Copies): Copies {
    if (copies.version === this.version()) return copies;
    for (const [w, c] of copies.of) transpose(c.data(), w.data(), w.shape[0], w.shape[1]);
    copies.version = this.version();
    return copies;
  }

  releaseCopies(): void {
    if (this.wide && this.wide !== 'none') this.backend.arena.release(this.wide.ptr);
    this.wide = null;
  }

  /**
   * Run `tokens` at positions cache.length.. and return the logits of the last one, (1,1,V). Keys
   * and values of every position stay in the cache, so each new token costs one pass over the
   * weights. Long inputs run in chunks of cache.chunk tokens.
   */
  forward(tokens: ArrayLike<number>, cache: KvCache): Tensor {
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V } = this.config;
    if (cache.config !== this.config && JSON.stringify(cache.config) !== JSON.stringify(this.config)) {
      throw new Error('forwardCached: the KV cache was made for another model config');
    }
    if (tokens.length === 0) throw new RangeError('forwardCached: no tokens given');
    if (cache.length + tokens.length > cache.maxLength) {
      throw new RangeError(
        `forwardCached: ${cache.length} cached + ${tokens.length} new positions exceed the context length n_positions (${cache.maxLength})`,
      );
    }
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i];
      if (!Number.isInteger(id) || id < 0 || id >= V)
        throw new RangeError(`forwardCached: token id ${id} at ${i} is outside the vocabulary 0..${V - 1}`);
    }
    const be = this.backend,
      p = this.params.tree,
      s = cache.scratch;
    for (let start = 0; start < tokens.length; start += cache.chunk) {
      const Tq = Math.min(cache.chunk, tokens.length - start);
      const linear = this.linear(Tq);
      const t0 = cache.length,
        Tk = t0 + Tq;
      const ids = s.tokens.take([1, Tq]);
      ids.ints().set(Array.prototype.slice.call(tokens, start, start + Tq));
      const x = s.x.take([1, Tq, C]),
        ln = s.ln.take([1, Tq, C]),
        mean = s.mean.take([Tq]),
        rstd = s.rstd.take([Tq]);
      const atty = s.atty.take([1, Tq, C]),
        proj = s.proj.take([1, Tq, C]),
        qkv = s.qkv.take([1, Tq, 3 * C]);
      const att = s.att.take([1, NH, Tq, Tk]),
        fch = s.fch.take([1, Tq, 4 * C]),
        fch_gelu = s.fch_gelu.take([1, Tq, 4 * C]);
      embed(be, x, ids, p.wte.weight, p.wpe.weight.rows(t0, Tq), 1, Tq, C);
      for (let l = 0; l < L; l++) {
        attentionInput(be, p.h[l], linear, Tq, C, { x, ln1: ln, ln1_mean: mean, ln1_rstd: rstd, qkv });
        be.attention_forward_kv(
          atty,
          att,
          qkv,
          cache.layers[l].keys,
          cache.layers[l].values,
          Tq,
          Tk,
          cache.maxLength,
          C,
          NH,
        );
        const after = { x, atty, proj, x2: x, ln2: ln, ln2_mean: mean, ln2_rstd: rstd, fch, fch_gelu, y: x };
        blockOutput(be, p.h[l], linear, Tq, C, after);
      }
      cache.length = Tk;
      if (start + Tq === tokens.length) {
        // only the last position's logits are needed to pick the next token
        const last = x
          .reshape([Tq, C])
          .rows(Tq - 1, 1)
          .reshape([1, 1, C]);
        be.layernorm_forward(s.lnf, s.lnf_mean, s.lnf_rstd, last, p.ln_f.weight, p.ln_f.bias, 1, C);
        lmHead(be, s.logits, s.lnf, p.wte.weight, 1, C, V);
      }
    }
    return s.logits;
  }

  /** The linear layer a step of Tq tokens runs: for single tokens over f32 weights, the wide layers from transposed copies. */
  private linear(Tq: number): Linear {
    const be = this.backend;
    const wide = Tq === 1 ? this.wideCopies() : null;
    if (!wide) return linearOf(be);
    return (out, inp, layer, n, Cin, OC) => {
      const wt = wide.of.get(layer.weight);
      if (!wt) return be.matmul_forward(out, inp, layer.weight, layer.bias, 1, n, Cin, OC);
      be.lm_head_forward(out, inp, wt, 1, 1, Cin, OC); // out = inp wt^T, as the LM head reads wte, then + bias
      be.residual_forward(out, out, layer.bias, OC);
    };
  }
}

/** d (K, R) = s (R, K) transposed, in 32 x 32 blocks. */
function transpose(d: Float32Array, s: Float32Array, R: number, K: number): void {
  for (let i0 = 0; i0 < R; i0 += 32) {
    const i1 = Math.min(R, i0 + 32);
    for (let j0 = 0; j0 < K; j0 += 32) {
      const j1 = Math.min(K, j0 + 32);
      for (let i = i0; i < i1; i++) for (let j = j0, r = i * K; j < j1; j++) d[j * R + i] = s[r + j];
    }
  }
}
