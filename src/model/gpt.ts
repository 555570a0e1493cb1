// GPT-2: the model's parameters and its training passes, written once against the Backend
// interface. Parameters, gradients and AdamW's moments each fill one arena block laid out by
// parameters.ts; activations fill one block sized from (B, T) (activations.ts). The forward pass
// runs the blocks of block.ts, which the decoder (decoder.ts) shares; the backward pass is llm.c's:
// it accumulates (+=) into the parameters' gradients and zeroGrad() makes them zero (lazily: see
// gradsUnset); the optimizer is optimizer.ts's AdamW.
import type { Backend } from '../backend/backend.js';
import { validateConfig, checkBatch, type GPTConfig } from './config.js';
import {
  ParameterSet,
  parameterSpecs,
  storeParameter,
  initialValues,
  readParameter,
  WEIGHT_DTYPES,
  type GPTParams,
  type ParameterSpec,
  type WeightDType,
} from './parameters.js';
import {
  allocateActivations,
  allocateActivationGrads,
  firstRows,
  beforeAttention,
  afterAttention,
} from './activations.js';
import type { Activations, ActivationGrads } from './activations.js';
import { selectRows, writtenByBackward, gatherRows, scatterAddRows } from './rows.js';
import {
  attentionInput,
  blockOutput,
  linearOf,
  lmHead,
  embed,
  attentionInputBackward,
  blockOutputBackward,
  affineBackward,
} from './block.js';
import { AdamW, type StepOptions } from './optimizer.js';
import { Decoder } from './decoder.js';
import { KvCache } from './kvcache.js';
import { Random } from './random.js';
import { isBlockDType, type Tensor } from '../backend/tensor.js';

export type { StepOptions, WeightDType };

export interface ForwardOptions {
  /**
   * 'all' (the default): logits for every position. 'targets': only the positions that have a
   * target (>= 0) go past the last layer's attention (its c_proj, MLP, ln_f, the LM head and the
   * loss); the others are still needed for keys and values up to there. Same loss and gradients,
   * less work when most positions carry no loss (answers, chat responses). Needs targets.
   */
  rows?: 'all' | 'targets';
}

export interface ForwardResult {
  /** (B,T,V) logits, or (1,M,V) for the M positions with a target (in order) with rows: 'targets'; valid until the next forward. */
  logits: Tensor;
  /** Mean cross-entropy over the positions with a target (>= 0), or null without targets. */
  loss: number | null;
}

export interface CreateOptions {
  /** 'gpt2': normal(0, 0.02) weights, residual projections scaled by 1/sqrt(2 n_layer); 'none': all zero. */
  init?: 'gpt2' | 'none';
  seed?: number;
  /** How the weights are held (see WeightDType): 'f32' (the default; training needs it), 'f16', 'q8_0' or 'q4_0'. */
  dtype?: WeightDType;
}

export class GPT {
  readonly config: GPTConfig;
  /** How the weights are held: 'f32', or for inference only 'f16', 'q8_0' or 'q4_0'. */
  readonly dtype: WeightDType;
  readonly params: ParameterSet;
  readonly optimizer: AdamW;
  private grads: ParameterSet | null = null;
  // Set by zeroGrad(): the gradients are zero though their memory is not cleared yet. The next
  // backward writes the linear layers' and wte's gradients (most of the bytes) instead of adding
  // them to zeros, and clears only the others first, as PyTorch's first backward after
  // zero_grad(set_to_none=True) writes .grad; anything that reads the gradients first clears them all.
  private gradsUnset = false;
  private acts: Activations | null = null;
  private gradActs: ActivationGrads | null = null;
  /** The last forward: its shape, whether it had targets, and the rows it kept past the last attention (null: all). */
  private last: { B: number; T: number; targets: boolean; sel: Int32Array | null } | null = null;
  private readonly specs: ParameterSpec[];
  private readonly decoder: Decoder;
  /** Moves on whenever the parameters change: step(), and markParametersChanged() after any other write. */
  private version = 0;

  constructor(
    config: GPTConfig,
    readonly backend: Backend,
    options: CreateOptions = {},
  ) {
    this.config = validateConfig(config);
    this.specs = parameterSpecs(this.config);
    const dtype = options.dtype ?? 'f32';
    if (!WEIGHT_DTYPES.includes(dtype))
      throw new RangeError(`dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got ${String(dtype)}`);
    if (isBlockDType(dtype) && this.config.n_embd % 32 !== 0)
      throw new RangeError(
        `dtype ${dtype} stores weights in blocks of 32 along n_embd, which must be a multiple of 32; this model's is ${this.config.n_embd}`,
      );
    this.dtype = dtype;
    this.params = ParameterSet.allocate(
      backend,
      this.config,
      this.specs,
      `parameters (${this.numParameters} weights, ${dtype})`,
      dtype,
    );
    this.optimizer = new AdamW(backend, this.config, this.specs);
    this.decoder = new Decoder(backend, this.config, this.params, () => this.version);
    if ((options.init ?? 'gpt2') === 'gpt2') this.initGPT2(options.seed ?? 1337);
  }

  get numParameters(): number {
    return this.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  get parameterSpecs(): readonly ParameterSpec[] {
    return this.specs;
  }

  /** The parameters as a typed record: `model.weights.h[3].mlp.c_fc.weight`. */
  get weights(): GPTParams {
    return this.params.tree;
  }

  /**
   * The parameter tensor with this Hugging Face GPT-2 name, e.g. `h.3.mlp.c_fc.weight`, as the model
   * holds it (quantized weights are blocks, (out, in)). After writing into it, call markParametersChanged().
   */
  parameter(name: string): Tensor {
    return this.params.get(name);
  }

  /**
   * Set a parameter from f32 values in its Hugging Face shape (Conv1D weights (in, out)): `fill`
   * writes them into the array it is given. An f32 parameter is filled in place; one held as f16
   * or quantized goes through an f32 buffer of that one tensor, is checked finite and converted
   * into place, so a load never holds more than one tensor in f32 beside the model's weights. Call
   * markParametersChanged() after the last.
   */
  loadParameter(name: string, fill: (dst: Float32Array) => void, source = name): void {
    storeParameter(this.backend, this.spec(name), this.params.get(name), this.dtype, fill, source);
  }

  /** A parameter's values in f32 in its Hugging Face shape (f16 widened, quantized ones dequantized): a copy. */
  parameterF32(name: string): Float32Array {
    return readParameter(this.backend, this.spec(name), this.params.get(name));
  }

  private spec(name: string): ParameterSpec {
    const spec = this.specs.find((s) => s.name === name);
    if (!spec) throw new Error(`no parameter named '${name}'`);
    return spec;
  }

  /** Training needs f32 weights (gradients and AdamW update them in place). */
  private requireF32(what: string): void {
    if (this.dtype !== 'f32')
      throw new Error(
        `${what}: this model holds its weights as ${this.dtype}, which is for inference; training and fine-tuning need f32 weights (load it with dtype 'f32')`,
      );
  }

  /** Say that parameters were written other than by step() (a load, a hand edit): copies made from them are remade. */
  markParametersChanged(): void {
    this.version++;
  }

  /** Changes whenever the parameters do (step(), markParametersChanged()). */
  get parametersVersion(): number {
    return this.version;
  }

  /** The gradient of a parameter (after backward). */
  gradient(name: string): Tensor {
    if (!this.grads) throw new Error('no gradients yet: call backward() first');
    this.settleGrads();
    return this.grads.get(name);
  }

  /** Layer l's softmaxed attention (B, n_head, T, T) of the last forward(); row t is what position t attends to. */
  attention(l: number): Tensor {
    if (!this.acts || !this.last) throw new Error('no attention yet: call forward() first');
    if (!Number.isInteger(l) || l < 0 || l >= this.config.n_layer)
      throw new RangeError(`layer ${l} is not in 0..${this.config.n_layer - 1}`);
    const { B, T } = this.last;
    return this.acts.layers[l].att.take([B, this.config.n_head, T, T]);
  }

  // the same numbers in any dtype: a quantized model is the f32 one of the same seed, quantized
  private initGPT2(seed: number): void {
    const rand = new Random(seed);
    for (const s of this.specs) this.loadParameter(s.name, (data) => initialValues(s, this.config, rand, data));
    this.markParametersChanged();
  }

  private activations(B: number, T: number): Activations {
    if (this.acts && this.acts.B === B && this.acts.T === T) return this.acts;
    this.releaseActivations();
    this.acts = allocateActivations(this.backend, this.config, B, T);
    return this.acts;
  }

  private activationGrads(B: number, T: number): ActivationGrads {
    if (this.gradActs && this.gradActs.B === B && this.gradActs.T === T) return this.gradActs;
    if (this.gradActs) this.backend.arena.release(this.gradActs.ptr);
    this.gradActs = allocateActivationGrads(this.backend, this.config, B, T);
    return this.gradActs;
  }

  private releaseActivations(): void {
    for (const a of [this.acts, this.gradActs]) if (a) this.backend.arena.release(a.ptr);
    this.acts = this.gradActs = null;
  }

  /**
   * tokens (B*T ids, row-major), optional targets (B*T ids; -1 = no loss there) ->
   * logits (B,T,V) and the mean loss over the positions that have a target.
   */
  forward(
    tokens: ArrayLike<number>,
    B: number,
    T: number,
    targets?: ArrayLike<number>,
    options: ForwardOptions = {},
  ): ForwardResult {
    checkBatch(this.config, tokens, B, T, targets);
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V } = this.config;
    const be = this.backend,
      p = this.params.tree,
      linear = linearOf(be);
    const a = this.activations(B, T),
      N = B * T;
    a.tokens.ints().set(tokens);
    const sel = selectRows(N, targets, options);
    const M = sel ? sel.length : N; // rows past the last layer's attention
    const rows = (t: Tensor, n: number) => firstRows(t, n, N);

    embed(be, a.encoded, a.tokens, p.wte.weight, p.wpe.weight, B, T, C);
    let x = a.encoded;
    for (let l = 0; l < L; l++) {
      const y = a.layers[l];
      attentionInput(be, p.h[l], linear, N, C, beforeAttention(a, l, x));
      be.attention_forward(y.atty, y.att, y.qkv, B, T, T, C, NH);
      // past attention each position is on its own: n rows (all B*T, or the last layer's selected rows)
      const n = l === L - 1 ? M : N;
      let atty = y.atty;
      if (l === L - 1 && sel) {
        atty = gatherRows(rows(a.sel_atty, n), atty, sel, C);
        x = gatherRows(rows(a.sel_residual, n), x, sel, C);
      }
      blockOutput(be, p.h[l], linear, n, C, afterAttention(a, l, n, x, atty));
      x = rows(y.residual3, n);
    }
    be.layernorm_forward(rows(a.lnf, M), rows(a.lnf_mean, M), rows(a.lnf_rstd, M), x, p.ln_f.weight, p.ln_f.bias, M, C);
    lmHead(be, rows(a.logits, M), rows(a.lnf, M), p.wte.weight, M, C, V);

    let loss: number | null = null;
    if (targets) {
      const tg = a.targets.ints();
      if (sel)
        sel.forEach((row, i) => {
          tg[i] = targets[row];
        });
      else tg.set(targets);
      be.softmax_forward(rows(a.probs, M), rows(a.logits, M), 1, M, V);
      be.crossentropy_forward(rows(a.losses, M), rows(a.probs, M), rows(a.targets, M), 1, M, V);
      const losses = a.losses.data();
      let sum = 0,
        count = 0;
      for (let i = 0; i < M; i++)
        if (tg[i] >= 0) {
          sum += losses[i];
          count++;
        }
      loss = count > 0 ? sum / count : 0;
    }
    this.last = { B, T, targets: !!targets, sel };
    return { logits: rows(a.logits, M), loss };
  }

  /** Gradients of the last forward's mean loss, accumulated (+=) into the parameter gradients. */
  backward(): void {
    this.requireF32('backward');
    if (!this.last || !this.last.targets || !this.acts)
      throw new Error('backward() needs a forward pass with targets first');
    const { B, T, sel } = this.last;
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V } = this.config;
    const be = this.backend,
      a = this.acts,
      p = this.params.tree,
      N = B * T;
    this.grads ??= ParameterSet.allocate(be, this.config, this.specs, 'parameter gradients');
    const g = this.grads.tree;
    // after zeroGrad: clear the gradients that only accumulate (layernorms, wpe); the linear
    // layers' and the LM head's (wte's, before the embedding adds into it) are written
    const acc = !this.gradsUnset;
    if (!acc) {
      for (const s of this.specs) {
        const t = this.grads.get(s.name);
        if (!writtenByBackward(s.name)) be.arena.zeroFill(t.ptr, t.bytes);
      }
      this.gradsUnset = false;
    }
    const d = this.activationGrads(B, T);
    const M = sel ? sel.length : N; // rows past the last layer's attention (see forward)
    const rows = (t: Tensor, n: number) => firstRows(t, n, N);
    // The residual stream's gradient: each residual add passes it through unchanged (so it is
    // also the gradient of the branch's output, the projection's), and each layernorm adds its
    // input's gradient into it. Past the last attention it has only the kept rows.
    const full = d.residual,
      kept = sel ? rows(d.sel_residual, M) : full;
    be.arena.zeroFill(kept.ptr, kept.bytes);

    // d(mean loss)/d(loss at each position with a target)
    const targets = a.targets.ints();
    let count = 0;
    for (let i = 0; i < M; i++) if (targets[i] >= 0) count++;
    d.losses.data().fill(count > 0 ? 1 / count : 0);

    const { layernorm } = affineBackward(be, acc);
    const dlogits = rows(d.logits, M),
      dlnf = rows(d.lnf, M);
    be.crossentropy_softmax_backward(dlogits, rows(d.losses, M), rows(a.probs, M), rows(a.targets, M), 1, M, V);
    be.lm_head_backward(dlnf, g.wte.weight, dlogits, rows(a.lnf, M), p.wte.weight, 1, M, C, V, acc);
    const last = rows(a.layers[L - 1].residual3, M);
    layernorm(kept, g.ln_f, dlnf, last, p.ln_f, rows(a.lnf_mean, M), rows(a.lnf_rstd, M), M, C);

    for (let l = L - 1; l >= 0; l--) {
      const picked = l === L - 1 ? sel : null; // the rows forward kept past attention (null: all)
      const n = picked ? M : N;
      const x = l > 0 ? a.layers[l - 1].residual3 : a.encoded;
      const atty = picked ? rows(a.sel_atty, n) : a.layers[l].atty;
      const dres = picked ? kept : full; // d(residual3), n rows; then d(residual2)
      const datty = picked ? rows(d.sel_atty, n) : d.atty;
      const grads = { dres, atty: datty, ln2: rows(d.ln2, n), fch: rows(d.fch, n), fch_gelu: rows(d.fch_gelu, n) };
      blockOutputBackward(be, p.h[l], g.h[l], n, C, afterAttention(a, l, n, x, atty), grads, acc);
      if (picked) {
        // back from the selected rows to every position (the others got no gradient past attention)
        for (const t of [full, d.atty]) be.arena.zeroFill(t.ptr, t.bytes);
        scatterAddRows(full, dres, picked, C);
        scatterAddRows(d.atty, datty, picked, C);
      }
      const y = a.layers[l];
      be.attention_backward(d.qkv, d.datt, d.atty, y.qkv, y.att, B, T, C, NH);
      attentionInputBackward(be, p.h[l], g.h[l], N, C, beforeAttention(a, l, x), d.qkv, d.ln1, full, acc);
    }
    be.encoder_backward(g.wte.weight, g.wpe.weight, full, a.tokens, B, T, C);
  }

  /** The gradients become zero (their memory is cleared by the next backward, or when read). */
  zeroGrad(): void {
    if (this.grads) this.gradsUnset = true;
  }

  private settleGrads(): void {
    if (this.gradsUnset) {
      this.grads!.zero();
      this.gradsUnset = false;
    }
  }

  /** Global L2 norm of all gradients. */
  gradNorm(): number {
    if (!this.grads) return 0;
    this.settleGrads();
    return Math.sqrt(this.backend.sum_squares(this.grads.all, this.grads.all.size));
  }

  /** One AdamW step over every parameter, as torch.optim.AdamW computes it. */
  step(options: StepOptions): void {
    this.requireF32('step');
    if (!this.grads) throw new Error('step() needs gradients: call backward() first');
    this.settleGrads();
    this.optimizer.step(this.params, this.grads, options);
    this.version++;
  }

  // ---- generation: the decoder (decoder.ts) over a KV cache ----

  /** A KV cache for generation with this model (batch 1); prefill runs up to `chunk` tokens per pass. */
  createKvCache(chunk = 128): KvCache {
    return new KvCache(this.config, this.backend, chunk);
  }

  /** Run `tokens` at positions cache.length.. and return the last one's logits (1,1,V); see Decoder.forward. */
  forwardCached(tokens: ArrayLike<number>, cache: KvCache): Tensor {
    return this.decoder.forward(tokens, cache);
  }

  /** Give all arena memory of this model back. */
  dispose(): void {
    this.releaseActivations();
    for (const set of [this.params, this.grads]) if (set) this.backend.arena.release(set.ptr);
    this.optimizer.dispose();
    this.decoder.releaseCopies();
    this.grads = null;
    this.gradsUnset = false;
  }
}
