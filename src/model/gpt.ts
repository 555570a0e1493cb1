// GPT-2: the forward pass, the backward pass and the AdamW step, written once against the
// Backend interface. Parameters, gradients and AdamW moments are each one arena block with
// the layout of parameters.ts; activations are one block sized from (B, T) and re-made only
// when a larger (B, T) arrives. Gradients flow llm.c style: backward accumulates (+=) into
// parameter gradients, zeroGrad() makes them zero (lazily: see gradsUnset); the activations'
// gradients are one residual-stream buffer that the layernorms add into, and one of each other
// kind, which the layers share (see ensureGradActivations).
import type { Backend } from '../backend/backend.js';
import { Tensor, carve, type DType } from '../backend/tensor.js';
import { validateConfig, type GPTConfig } from './config.js';
import { parameterSpecs, type ParameterSpec } from './parameters.js';
import { Random } from './random.js';
import { KvCache } from './kvcache.js';

/** One arena block holding a tensor for every parameter name. */
export class ParameterSet {
  constructor(readonly ptr: number, readonly bytes: number, readonly tensors: Map<string, Tensor>, readonly all: Tensor) {}

  static allocate(backend: Backend, specs: ParameterSpec[], what: string): ParameterSet {
    const { ptr, bytes, tensors } = carve(backend.arena, what, specs);
    return new ParameterSet(ptr, bytes, tensors, new Tensor(backend.arena, ptr, [bytes / 4], 'f32', what));
  }

  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no parameter named '${name}'`);
    return t;
  }

  zero(): void {
    this.all.arena.zeroFill(this.all.ptr, this.bytes);
  }
}

export interface StepOptions {
  lr: number;
  beta1?: number;       // default 0.9
  beta2?: number;       // default 0.999
  eps?: number;         // default 1e-8
  weightDecay?: number; // default 0.01 (torch.optim.AdamW's default)
  /** Which tensors get weight decay: 'all' (torch's default) or 'matrices' (2-D weights only, as nanoGPT). */
  decay?: 'all' | 'matrices';
  /**
   * Default 1. The step uses every gradient times this (clipping by the global norm, the mean over
   * micro-batches) as AdamW reads it: the gradients themselves are left as they are, and no pass of
   * its own goes over them (scaleGrads' 0.5 GB pass at GPT-2 124M: 20 ms of a 2.1 s step).
   */
  gradScale?: number;
}

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
  /**
   * (B,T,V) logits, or (1,M,V) for the M positions with a target (in order) with rows: 'targets';
   * a view into the arena, valid until the next forward.
   */
  logits: Tensor;
  /** Mean cross-entropy over the positions with a target (>= 0), or null without targets. */
  loss: number | null;
}

export interface CreateOptions {
  /** 'gpt2': normal(0, 0.02) weights, residual projections scaled by 1/sqrt(2 n_layer); 'none': all zero. */
  init?: 'gpt2' | 'none';
  seed?: number;
}

/** Per-layer activations for one (B,T): the names the forward and backward passes use. */
function activationSpecs(c: GPTConfig, B: number, T: number): { name: string; shape: number[]; dtype?: DType }[] {
  const C = c.n_embd, NH = c.n_head, V = c.vocab_size;
  const specs: { name: string; shape: number[]; dtype?: DType }[] = [
    { name: 'tokens', shape: [B, T], dtype: 'i32' },
    { name: 'targets', shape: [B, T], dtype: 'i32' },
    { name: 'encoded', shape: [B, T, C] },
    // the last layer's attention output and residual input, gathered to the rows with a target (rows: 'targets')
    { name: 'sel_atty', shape: [B, T, C] },
    { name: 'sel_residual', shape: [B, T, C] },
    // an attention or MLP projection's output before its residual add, which reads it at once
    // (the backward needs neither): the layers share one
    { name: 'proj', shape: [B, T, C] },
  ];
  for (let l = 0; l < c.n_layer; l++) {
    specs.push(
      { name: `${l}.ln1`, shape: [B, T, C] }, { name: `${l}.ln1_mean`, shape: [B * T] }, { name: `${l}.ln1_rstd`, shape: [B * T] },
      { name: `${l}.qkv`, shape: [B, T, 3 * C] },
      { name: `${l}.atty`, shape: [B, T, C] },
      { name: `${l}.att`, shape: [B, NH, T, T] },
      { name: `${l}.residual2`, shape: [B, T, C] },
      { name: `${l}.ln2`, shape: [B, T, C] }, { name: `${l}.ln2_mean`, shape: [B * T] }, { name: `${l}.ln2_rstd`, shape: [B * T] },
      { name: `${l}.fch`, shape: [B, T, 4 * C] },
      { name: `${l}.fch_gelu`, shape: [B, T, 4 * C] },
      { name: `${l}.residual3`, shape: [B, T, C] },
    );
  }
  specs.push(
    { name: 'lnf', shape: [B, T, C] }, { name: 'lnf_mean', shape: [B * T] }, { name: 'lnf_rstd', shape: [B * T] },
    { name: 'logits', shape: [B, T, V] },
    { name: 'probs', shape: [B, T, V] },
    { name: 'losses', shape: [B, T] },
  );
  return specs;
}

/** out row i = inp row rows[i] (rows of width C; a copy within the arena). */
function gatherRows(out: Tensor, inp: Tensor, rows: Int32Array, C: number): Tensor {
  const o = out.data(), x = inp.data();
  for (let i = 0; i < rows.length; i++) o.set(x.subarray(rows[i] * C, rows[i] * C + C), i * C);
  return out;
}

// the parameters whose gradients backward writes (=) when asked to: the linear layers' weights
// and biases (matmul_backward) and wte (lm_head_backward, before encoder_backward adds to it)
function writtenByBackward(name: string): boolean {
  return name === 'wte.weight' || /\.(c_attn|c_proj|c_fc)\.(weight|bias)$/.test(name);
}

/** inp row rows[i] += out row i: the backward of gatherRows. */
function scatterAddRows(dinp: Tensor, dout: Tensor, rows: Int32Array, C: number): void {
  const di = dinp.data(), d = dout.data();
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] * C;
    for (let c = 0; c < C; c++) di[r + c] += d[i * C + c];
  }
}

class Activations {
  constructor(readonly B: number, readonly T: number, readonly ptr: number, private readonly tensors: Map<string, Tensor>) {}

  static allocate(backend: Backend, specs: ReturnType<typeof activationSpecs>, B: number, T: number, what: string): Activations {
    const { ptr, tensors } = carve(backend.arena, `${what} for B=${B}, T=${T}`, specs);
    return new Activations(B, T, ptr, tensors);
  }

  get(name: string): Tensor {
    return this.tensors.get(name)!;
  }

  /** The tensor `name` of layer l. */
  layer(l: number, name: string): Tensor {
    return this.tensors.get(`${l}.${name}`)!;
  }

  /** The first n of the B*T rows of a per-position tensor, as (1, n, width). */
  rows(name: string, n: number): Tensor {
    const t = this.tensors.get(name)!;
    return n === this.B * this.T ? t : t.take([1, n, t.size / (this.B * this.T)]);
  }
}

export class GPT {
  readonly config: GPTConfig;
  readonly params: ParameterSet;
  private grads: ParameterSet | null = null;
  // Set by zeroGrad(): the gradients are zero though their memory is not cleared yet. The next
  // backward writes the linear layers' and wte's gradients (most of the bytes) instead of adding
  // them to zeros, and clears only the others first, as PyTorch's first backward after
  // zero_grad(set_to_none=True) writes .grad; anything that reads the gradients before that
  // clears them all (settleGrads). GPT-2 124M at 1x128: the 0.5 GB clear and the kernels'
  // reading of zeros took 34 ms of a 2.1 s step.
  private gradsUnset = false;
  private adamM: ParameterSet | null = null;
  private adamV: ParameterSet | null = null;
  private acts: Activations | null = null;
  private gradActs: Activations | null = null;
  /** The last forward: its shape, whether it had targets, and the rows it kept past the last attention (null: all). */
  private last: { B: number; T: number; targets: boolean; sel: Int32Array | null } | null = null;
  private specs: ParameterSpec[];
  /** The parameters whose gradients backward only adds to (not writtenByBackward): cleared first after zeroGrad. */
  private accumulatedOnly: string[];
  /** AdamW steps taken. */
  stepCount = 0;
  /** f16 copies of the linear layers' weights and wte, used by decode steps when set (see setDecodeWeights). */
  private half: { ptr: number; tensors: Map<string, Tensor> } | null = null;
  /** Transposed f32 copies of the wide linear layers' weights for single-token steps (see wideWeights), made
   * from the parameters as they were at `version`; wideUnavailable once the model has no such layer or no room. */
  private wide: { ptr: number; tensors: Map<string, Tensor>; version: number } | null = null;
  private wideUnavailable = false;
  /** Moves on whenever the parameters may have changed: step(), or parameter() handing one out to be written. */
  private paramsVersion = 0;

  constructor(config: GPTConfig, readonly backend: Backend, options: CreateOptions = {}) {
    this.config = validateConfig(config);
    this.specs = parameterSpecs(this.config);
    this.accumulatedOnly = this.specs.filter((s) => !writtenByBackward(s.name)).map((s) => s.name);
    this.params = ParameterSet.allocate(backend, this.specs, `parameters (${this.numParameters} floats)`);
    if ((options.init ?? 'gpt2') === 'gpt2') this.initGPT2(options.seed ?? 1337);
  }

  get numParameters(): number {
    return this.specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
  }

  get parameterSpecs(): readonly ParameterSpec[] {
    return this.specs;
  }

  /** The parameter tensor with this Hugging Face GPT-2 name, e.g. `h.3.mlp.c_fc.weight`. */
  parameter(name: string): Tensor {
    const t = this.params.get(name);
    this.paramsVersion++; // the caller may write it: copies made from it are stale now
    return t;
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
    if (!Number.isInteger(l) || l < 0 || l >= this.config.n_layer) throw new RangeError(`layer ${l} is not in 0..${this.config.n_layer - 1}`);
    const { B, T } = this.last;
    return this.acts.layer(l, 'att').take([B, this.config.n_head, T, T]);
  }

  private initGPT2(seed: number): void {
    const rand = new Random(seed);
    const residualStd = 0.02 / Math.sqrt(2 * this.config.n_layer);
    for (const s of this.specs) {
      const data = this.params.get(s.name).data();
      if (s.kind === 'layernorm') data.fill(s.name.endsWith('.weight') ? 1 : 0);
      else if (s.kind === 'bias') data.fill(0);
      else rand.fillNormal(data, s.name.endsWith('c_proj.weight') ? residualStd : 0.02);
    }
  }

  private ensureActivations(B: number, T: number): Activations {
    if (this.acts && this.acts.B === B && this.acts.T === T) return this.acts;
    this.releaseActivations();
    this.acts = Activations.allocate(this.backend, activationSpecs(this.config, B, T), B, T, 'activations');
    return this.acts;
  }

  private ensureGradActivations(B: number, T: number): Activations {
    if (this.gradActs && this.gradActs.B === B && this.gradActs.T === T) return this.gradActs;
    if (this.gradActs) this.backend.arena.release(this.gradActs.ptr);
    // The gradients of the activations. The residual stream's is one (B,T,C) buffer that every
    // layer's layernorms add into ('residual', and 'sel_residual' for the rows the last layer
    // kept): the only ones that accumulate, zeroed before each backward pass. Every other one is
    // written whole by the kernel that makes it before anything reads it, and is used only
    // within one layer's backward, so the layers share one of each (one attention scratch too).
    const { n_embd: C, n_head: NH, vocab_size: V } = this.config;
    const { ptr, tensors } = carve(this.backend.arena, `activation gradients for B=${B}, T=${T}`, [
      { name: 'residual', shape: [B, T, C] }, { name: 'sel_residual', shape: [B, T, C] },
      { name: 'ln1', shape: [B, T, C] }, { name: 'qkv', shape: [B, T, 3 * C] }, { name: 'datt', shape: [B, NH, T, T] },
      { name: 'atty', shape: [B, T, C] }, { name: 'sel_atty', shape: [B, T, C] }, { name: 'ln2', shape: [B, T, C] },
      { name: 'fch', shape: [B, T, 4 * C] }, { name: 'fch_gelu', shape: [B, T, 4 * C] },
      { name: 'lnf', shape: [B, T, C] }, { name: 'logits', shape: [B, T, V] }, { name: 'losses', shape: [B, T] },
    ]);
    this.gradActs = new Activations(B, T, ptr, tensors);
    return this.gradActs;
  }

  private releaseActivations(): void {
    if (this.acts) this.backend.arena.release(this.acts.ptr);
    if (this.gradActs) this.backend.arena.release(this.gradActs.ptr);
    this.acts = this.gradActs = null;
  }

  /** Check shapes and ids before any kernel runs. */
  private checkInputs(tokens: ArrayLike<number>, B: number, T: number, targets?: ArrayLike<number>): void {
    const { n_positions, vocab_size: V } = this.config;
    if (!Number.isInteger(B) || B <= 0) throw new RangeError(`forward: B must be a positive integer, got ${B}`);
    if (!Number.isInteger(T) || T <= 0) throw new RangeError(`forward: T must be a positive integer, got ${T}`);
    if (T > n_positions) throw new RangeError(`forward: T (${T}) exceeds the context length n_positions (${n_positions})`);
    if (tokens.length !== B * T) throw new RangeError(`forward: ${tokens.length} tokens given, B*T = ${B}*${T} = ${B * T} expected`);
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i];
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new RangeError(`forward: token id ${id} at [${Math.floor(i / T)},${i % T}] is outside the vocabulary 0..${V - 1}`);
      }
    }
    if (targets) {
      if (targets.length !== B * T) throw new RangeError(`forward: ${targets.length} targets given, B*T = ${B * T} expected`);
      for (let i = 0; i < targets.length; i++) {
        const id = targets[i];
        if (!Number.isInteger(id) || id < -1 || id >= V) {
          throw new RangeError(`forward: target ${id} at [${Math.floor(i / T)},${i % T}] is outside 0..${V - 1} (or -1 to ignore)`);
        }
      }
    }
  }

  /**
   * tokens (B*T ids, row-major), optional targets (B*T ids; -1 = no loss there) ->
   * logits (B,T,V) and the mean loss over the positions that have a target.
   */
  forward(tokens: ArrayLike<number>, B: number, T: number, targets?: ArrayLike<number>, options: ForwardOptions = {}): ForwardResult {
    this.checkInputs(tokens, B, T, targets);
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V } = this.config;
    const be = this.backend, p = (n: string) => this.params.get(n);
    const a = this.ensureActivations(B, T);
    a.get('tokens').ints().set(tokens);
    const sel = this.selectRows(B * T, targets, options);
    const M = sel ? sel.length : B * T; // rows past the last layer's attention

    be.encoder_forward(a.get('encoded'), a.get('tokens'), p('wte.weight'), p('wpe.weight'), B, T, C);
    let residual = a.get('encoded');
    for (let l = 0; l < L; l++) {
      const h = `h.${l}`, x = (n: string) => a.layer(l, n);
      be.layernorm_forward(x('ln1'), x('ln1_mean'), x('ln1_rstd'), residual, p(`${h}.ln_1.weight`), p(`${h}.ln_1.bias`), B * T, C);
      be.matmul_forward(x('qkv'), x('ln1'), p(`${h}.attn.c_attn.weight`), p(`${h}.attn.c_attn.bias`), B, T, C, 3 * C);
      be.attention_forward(x('atty'), x('att'), x('qkv'), B, T, T, C, NH);
      // past attention each position is on its own: n rows (all B*T, or the last layer's selected rows)
      const picked = l === L - 1 ? sel : null;
      const n = picked ? M : B * T;
      let atty = x('atty');
      if (picked) {
        atty = gatherRows(a.rows('sel_atty', n), atty, picked, C);
        residual = gatherRows(a.rows('sel_residual', n), residual, picked, C);
      }
      const y = (name: string) => a.rows(`${l}.${name}`, n);
      const proj = a.rows('proj', n);
      be.matmul_forward(proj, atty, p(`${h}.attn.c_proj.weight`), p(`${h}.attn.c_proj.bias`), 1, n, C, C);
      be.residual_forward(y('residual2'), residual, proj, n * C);
      be.layernorm_forward(y('ln2'), y('ln2_mean'), y('ln2_rstd'), y('residual2'), p(`${h}.ln_2.weight`), p(`${h}.ln_2.bias`), n, C);
      be.matmul_forward(y('fch'), y('ln2'), p(`${h}.mlp.c_fc.weight`), p(`${h}.mlp.c_fc.bias`), 1, n, C, 4 * C);
      be.gelu_forward(y('fch_gelu'), y('fch'), n * 4 * C);
      be.matmul_forward(proj, y('fch_gelu'), p(`${h}.mlp.c_proj.weight`), p(`${h}.mlp.c_proj.bias`), 1, n, 4 * C, C);
      be.residual_forward(y('residual3'), y('residual2'), proj, n * C);
      residual = y('residual3');
    }
    be.layernorm_forward(a.rows('lnf', M), a.rows('lnf_mean', M), a.rows('lnf_rstd', M), residual, p('ln_f.weight'), p('ln_f.bias'), M, C);
    be.lm_head_forward(a.rows('logits', M), a.rows('lnf', M), p('wte.weight'), 1, M, C, V);

    let loss: number | null = null;
    if (targets) {
      const tg = a.get('targets').ints();
      if (sel) sel.forEach((row, i) => { tg[i] = targets[row]; });
      else tg.set(targets);
      be.softmax_forward(a.rows('probs', M), a.rows('logits', M), 1, M, V);
      be.crossentropy_forward(a.rows('losses', M), a.rows('probs', M), a.rows('targets', M), 1, M, V);
      const losses = a.get('losses').data();
      let sum = 0, count = 0;
      for (let i = 0; i < M; i++) if (tg[i] >= 0) { sum += losses[i]; count++; }
      loss = count > 0 ? sum / count : 0;
    }
    this.last = { B, T, targets: !!targets, sel };
    return { logits: a.rows('logits', M), loss };
  }

  /** For rows: 'targets', the positions with a target, in order; null when every position has one (or none has). */
  private selectRows(N: number, targets: ArrayLike<number> | undefined, options: ForwardOptions): Int32Array | null {
    const rows = options.rows ?? 'all';
    if (rows !== 'all' && rows !== 'targets') throw new RangeError(`forward: rows must be 'all' or 'targets', got ${String(rows)}`);
    if (rows === 'all') return null;
    if (!targets) throw new RangeError("forward: rows: 'targets' needs targets");
    const sel: number[] = [];
    for (let i = 0; i < N; i++) if (targets[i] >= 0) sel.push(i);
    return sel.length > 0 && sel.length < N ? Int32Array.from(sel) : null;
  }

  /** A KV cache for generation with this model (batch 1); prefill runs up to `chunk` tokens per pass. */
  /**
   * 'f16': keep f16 copies of the linear layers' weights and of wte, and let decode steps (fewer
   * than 4 new tokens) read those: half the bytes per token, f32 accumulation, logits within about
   * 1e-3 of f32. Prefill and training stay f32; step() refreshes the copies. After editing weights
   * by hand, call it again. 'f32' (the default) frees the copies.
   */
  setDecodeWeights(kind: 'f32' | 'f16'): void {
    if (this.half) { this.backend.arena.release(this.half.ptr); this.half = null; }
    this.releaseWide(); // f16 steps read their own copies; f32 ones make these again when needed
    if (kind === 'f32') return;
    if (kind !== 'f16') throw new RangeError(`decode weights must be 'f32' or 'f16', got ${String(kind)}`);
    const specs = this.specs.filter((s) => s.name === 'wte.weight' || s.kind === 'matrix')
      .map((s) => ({ name: s.name, shape: s.shape, dtype: 'f16' as const }));
    const { ptr, tensors } = carve(this.backend.arena, 'f16 decode weights', specs);
    this.half = { ptr, tensors };
    this.refreshHalf();
  }

  get decodeWeights(): 'f32' | 'f16' {
    return this.half ? 'f16' : 'f32';
  }

  private refreshHalf(): void {
    if (!this.half) return;
    for (const [name, t] of this.half.tensors) {
      const w = this.params.get(name);
      this.backend.f32_to_f16(t.reshape([t.size]), w.reshape([w.size]), w.size);
    }
  }

  /**
   * A decode step reads each weight once, and reads it fastest as one sequential stream
   * (matmul.ts). A weight (C, OC) streamed row by row adds each of its rows into the whole output
   * row; past 2,048 outputs (8 KB) that row and the weight rows streaming past no longer stay in
   * L1 together: alone, 768 x 2560 and 768 x 3072 (GPT-2's c_fc) streamed at 13-21 GB/s where
   * 768 x 2048 and narrower reach 21-28. Transposed, (OC, C), each output is one dot product over
   * a contiguous row (the LM head's way with wte: 21-26 GB/s for the same c_fc). So single-token
   * f32 steps read the layers wider than 2,304 outputs from transposed copies (GPT-2 124M's c_fc:
   * 113 MB more; one-thread decode 1.09x, 8 of 8 alternating rounds faster; c_attn's 2,304 too
   * measured nothing more). Made on the first such step, remade when the parameters may have
   * changed (paramsVersion), skipped when memory has no room. The f16 copies stay row by row: an
   * f16 step widens every weight and streams about 10 G weights/s on one thread whatever the shape
   * or the form (three runs: c_fc 2.86-2.90 ms a token, c_proj, the same bytes, 2.87-2.89; the LM
   * head's dot products over wte 9.8-10.0 G weights/s), so a transposed c_fc would gain nothing.
   */
  private wideWeights(): Map<string, Tensor> | null {
    if (this.wideUnavailable) return null;
    if (!this.wide) {
      const specs = this.specs.filter((s) => s.kind === 'matrix' && s.shape[1] * 4 > WIDE_ROW_BYTES)
        .map((s) => ({ name: s.name, shape: [s.shape[1], s.shape[0]] }));
      if (specs.length === 0) { this.wideUnavailable = true; return null; }
      try {
        const { ptr, tensors } = carve(this.backend.arena, 'transposed decode weights', specs);
        this.wide = { ptr, tensors, version: -1 };
      } catch (e) {
        if (!(e instanceof RangeError)) throw e; // the arena's "no room" (wasm32's 4 GiB, or the engine's limit)
        this.wideUnavailable = true; // decode reads the weights as they are, a little slower
        return null;
      }
    }
    if (this.wide.version !== this.paramsVersion) {
      for (const [name, t] of this.wide.tensors) {
        const w = this.params.get(name);
        transpose(t.data(), w.data(), w.shape[0], w.shape[1]);
      }
      this.wide.version = this.paramsVersion;
    }
    return this.wide.tensors;
  }

  createKvCache(chunk = 128): KvCache {
    return new KvCache(this.config, this.backend, chunk);
  }

  /**
   * Inference with a KV cache: run `tokens` at positions cache.length.. and return the logits of
   * the last one, (1,1,V). Keys and values of every position stay in the cache, so each new token
   * costs one pass over the weights. Long inputs run in chunks of cache.chunk tokens.
   */
  forwardCached(tokens: ArrayLike<number>, cache: KvCache): Tensor {
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V } = this.config;
    if (cache.config !== this.config && JSON.stringify(cache.config) !== JSON.stringify(this.config)) {
      throw new Error('forwardCached: the KV cache was made for another model config');
    }
    if (tokens.length === 0) throw new RangeError('forwardCached: no tokens given');
    if (cache.length + tokens.length > cache.maxLength) {
      throw new RangeError(`forwardCached: ${cache.length} cached + ${tokens.length} new positions exceed the context length n_positions (${cache.maxLength})`);
    }
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i];
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new RangeError(`forwardCached: token id ${id} at ${i} is outside the vocabulary 0..${V - 1}`);
    }
    const be = this.backend, p = (n: string) => this.params.get(n), s = (n: string) => cache.scratch(n);
    for (let start = 0; start < tokens.length; start += cache.chunk) {
      const Tq = Math.min(cache.chunk, tokens.length - start);
      // a decode step (a few rows) reads the f16 copies when the model keeps them; a single-token
      // f32 step reads the wide layers' weights transposed (see wideWeights)
      const half = this.half && Tq < 4 ? this.half.tensors : null;
      const wide = !half && Tq === 1 ? this.wideWeights() : null;
      const linear = (out: Tensor, inp: Tensor, name: string, Cin: number, OC: number) => {
        const wt = wide?.get(`${name}.weight`);
        if (half) be.matmul_forward_f16(out, inp, half.get(`${name}.weight`)!, p(`${name}.bias`), 1, Tq, Cin, OC);
        else if (wt) { // out = inp wt^T, as the LM head reads wte, then + bias
          be.lm_head_forward(out, inp, wt, 1, 1, Cin, OC);
          be.residual_forward(out, out, p(`${name}.bias`), OC);
        } else be.matmul_forward(out, inp, p(`${name}.weight`), p(`${name}.bias`), 1, Tq, Cin, OC);
      };
      const t0 = cache.length, Tk = t0 + Tq;
      const ids = s('tokens').take([1, Tq]);
      ids.ints().set(Array.prototype.slice.call(tokens, start, start + Tq));
      const x = s('x').take([1, Tq, C]), ln = s('ln').take([1, Tq, C]);
      const mean = s('mean').take([Tq]), rstd = s('rstd').take([Tq]);
      const atty = s('atty').take([1, Tq, C]), proj = s('proj').take([1, Tq, C]), qkv = s('qkv').take([1, Tq, 3 * C]);
      const att = s('att').take([1, NH, Tq, Tk]);
      const fch = s('fch').take([1, Tq, 4 * C]), fchGelu = s('fch_gelu').take([1, Tq, 4 * C]);
      be.encoder_forward(x, ids, p('wte.weight'), p('wpe.weight').rows(t0, Tq), 1, Tq, C);
      for (let l = 0; l < L; l++) {
        const h = `h.${l}`;
        be.layernorm_forward(ln, mean, rstd, x, p(`${h}.ln_1.weight`), p(`${h}.ln_1.bias`), Tq, C);
        linear(qkv, ln, `${h}.attn.c_attn`, C, 3 * C);
        be.attention_forward_kv(atty, att, qkv, cache.keys(l), cache.values(l), Tq, Tk, cache.maxLength, C, NH);
        linear(proj, atty, `${h}.attn.c_proj`, C, C);
        be.residual_forward(x, x, proj, Tq * C);
        be.layernorm_forward(ln, mean, rstd, x, p(`${h}.ln_2.weight`), p(`${h}.ln_2.bias`), Tq, C);
        linear(fch, ln, `${h}.mlp.c_fc`, C, 4 * C);
        be.gelu_forward(fchGelu, fch, Tq * 4 * C);
        linear(proj, fchGelu, `${h}.mlp.c_proj`, 4 * C, C);
        be.residual_forward(x, x, proj, Tq * C);
      }
      cache.length = Tk;
      if (start + Tq === tokens.length) {
        // only the last position's logits are needed to pick the next token
        const last = x.reshape([Tq, C]).rows(Tq - 1, 1).reshape([1, 1, C]);
        be.layernorm_forward(s('lnf'), s('lnf_mean'), s('lnf_rstd'), last, p('ln_f.weight'), p('ln_f.bias'), 1, C);
        if (this.half) be.lm_head_forward_f16(s('logits'), s('lnf'), this.half.tensors.get('wte.weight')!, 1, 1, C, V);
        else be.lm_head_forward(s('logits'), s('lnf'), p('wte.weight'), 1, 1, C, V);
      }
    }
    return s('logits');
  }

  /** Gradients of the last forward's mean loss, accumulated (+=) into the parameter gradients. */
  backward(): void {
    if (!this.last || !this.last.targets || !this.acts) throw new Error('backward() needs a forward pass with targets first');
    const { B, T, sel } = this.last;
    const { n_layer: L, n_head: NH, n_embd: C, vocab_size: V } = this.config;
    const be = this.backend, a = this.acts, p = (n: string) => this.params.get(n);
    if (!this.grads) this.grads = ParameterSet.allocate(be, this.specs, 'parameter gradients');
    const g = (n: string) => this.grads!.get(n);
    // after zeroGrad: clear the gradients that only accumulate (layernorms, wpe); the linear
    // layers' and the LM head's (wte's, before the embedding adds into it) are written
    const acc = !this.gradsUnset;
    if (!acc) {
      for (const name of this.accumulatedOnly) { const t = g(name); be.arena.zeroFill(t.ptr, t.bytes); }
      this.gradsUnset = false;
    }
    const d = this.ensureGradActivations(B, T);
    const M = sel ? sel.length : B * T; // rows past the last layer's attention (see forward)
    // The residual stream's gradient: each residual add passes it through unchanged (so it is
    // also the gradient of the branch's output, the projection's), and each layernorm adds its
    // input's gradient into it. Past the last attention it has only the kept rows.
    const full = d.get('residual'), kept = sel ? d.rows('sel_residual', M) : full;
    be.arena.zeroFill(kept.ptr, kept.bytes);

    // d(mean loss)/d(loss at each position with a target)
    const targets = a.get('targets').ints();
    let count = 0;
    for (let i = 0; i < M; i++) if (targets[i] >= 0) count++;
    d.get('losses').data().fill(count > 0 ? 1 / count : 0);

    be.crossentropy_softmax_backward(d.rows('logits', M), d.rows('losses', M), a.rows('probs', M), a.rows('targets', M), 1, M, V);
    be.lm_head_backward(d.rows('lnf', M), g('wte.weight'), d.rows('logits', M), a.rows('lnf', M), p('wte.weight'), 1, M, C, V, acc);
    be.layernorm_backward(kept, g('ln_f.weight'), g('ln_f.bias'), d.rows('lnf', M), a.rows(`${L - 1}.residual3`, M),
      p('ln_f.weight'), a.rows('lnf_mean', M), a.rows('lnf_rstd', M), M, C);

    for (let l = L - 1; l >= 0; l--) {
      const h = `h.${l}`, x = (n: string) => a.layer(l, n);
      const residual = l > 0 ? a.layer(l - 1, 'residual3') : a.get('encoded');
      const picked = l === L - 1 ? sel : null; // the rows forward kept past attention (null: all)
      const n = picked ? M : B * T;
      const y = (name: string) => a.rows(`${l}.${name}`, n), dy = (name: string) => d.rows(name, n);
      const dres = picked ? kept : full; // d(residual3), n rows
      const atty = picked ? a.rows('sel_atty', n) : x('atty'), datty = picked ? d.rows('sel_atty', n) : d.get('atty');
      be.matmul_backward(dy('fch_gelu'), g(`${h}.mlp.c_proj.weight`), g(`${h}.mlp.c_proj.bias`), dres, y('fch_gelu'), p(`${h}.mlp.c_proj.weight`), 1, n, 4 * C, C, acc);
      be.gelu_backward(dy('fch'), y('fch'), y('fch_gelu'), dy('fch_gelu'), n * 4 * C);
      be.matmul_backward(dy('ln2'), g(`${h}.mlp.c_fc.weight`), g(`${h}.mlp.c_fc.bias`), dy('fch'), y('ln2'), p(`${h}.mlp.c_fc.weight`), 1, n, C, 4 * C, acc);
      be.layernorm_backward(dres, g(`${h}.ln_2.weight`), g(`${h}.ln_2.bias`), dy('ln2'), y('residual2'), p(`${h}.ln_2.weight`), y('ln2_mean'), y('ln2_rstd'), n, C);
      // dres is now d(residual2)
      be.matmul_backward(datty, g(`${h}.attn.c_proj.weight`), g(`${h}.attn.c_proj.bias`), dres, atty, p(`${h}.attn.c_proj.weight`), 1, n, C, C, acc);
      if (picked) { // back from the selected rows to every position (the others got no gradient past attention)
        for (const t of [full, d.get('atty')]) be.arena.zeroFill(t.ptr, t.bytes);
        scatterAddRows(full, dres, picked, C);
        scatterAddRows(d.get('atty'), datty, picked, C);
      }
      be.attention_backward(d.get('qkv'), d.get('datt'), d.get('atty'), x('qkv'), x('att'), B, T, C, NH);
      be.matmul_backward(d.get('ln1'), g(`${h}.attn.c_attn.weight`), g(`${h}.attn.c_attn.bias`), d.get('qkv'), x('ln1'), p(`${h}.attn.c_attn.weight`), B, T, C, 3 * C, acc);
      be.layernorm_backward(full, g(`${h}.ln_1.weight`), g(`${h}.ln_1.bias`), d.get('ln1'), residual, p(`${h}.ln_1.weight`), x('ln1_mean'), x('ln1_rstd'), B * T, C);
    }
    be.encoder_backward(g('wte.weight'), g('wpe.weight'), full, a.get('tokens'), B, T, C);
  }

  /** The gradients become zero (their memory is cleared by the next backward, or when read). */
  zeroGrad(): void {
    if (this.grads) this.gradsUnset = true;
  }

  private settleGrads(): void {
    if (this.gradsUnset) { this.grads!.zero(); this.gradsUnset = false; }
  }

  /** Global L2 norm of all gradients. */
  gradNorm(): number {
    if (!this.grads) return 0;
    this.settleGrads();
    return Math.sqrt(this.backend.sum_squares(this.grads.all, this.grads.all.size));
  }

  /** One AdamW step over every parameter, as torch.optim.AdamW computes it. */
  step(options: StepOptions): void {
    if (!this.grads) throw new Error('step() needs gradients: call backward() first');
    this.settleGrads();
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01, decay = 'all', gradScale = 1 } = options;
    const { m: adamM, v: adamV } = this.optimizerMoments();
    const t = ++this.stepCount;
    if (decay === 'all') {
      const n = this.params.all.size;
      this.backend.adamw_update(this.params.all, this.grads.all, adamM.all, adamV.all, n, lr, beta1, beta2, eps, weightDecay, t, gradScale);
    } else {
      for (const s of this.specs) {
        const w = this.params.get(s.name);
        const wd = s.shape.length >= 2 ? weightDecay : 0;
        this.backend.adamw_update(w, this.grads.get(s.name), adamM.get(s.name), adamV.get(s.name), w.size, lr, beta1, beta2, eps, wd, t, gradScale);
      }
    }
    this.refreshHalf();
    this.paramsVersion++;
  }

  private releaseWide(): void {
    if (this.wide) this.backend.arena.release(this.wide.ptr);
    this.wide = null;
    this.wideUnavailable = false;
  }

  /** The AdamW moments (allocated on first use), by parameter name: for checkpoints and resume. */
  optimizerMoments(): { m: ParameterSet; v: ParameterSet } {
    this.adamM ??= ParameterSet.allocate(this.backend, this.specs, 'AdamW first moments');
    this.adamV ??= ParameterSet.allocate(this.backend, this.specs, 'AdamW second moments');
    return { m: this.adamM, v: this.adamV };
  }

  /** Give all arena memory of this model back. */
  dispose(): void {
    this.releaseActivations();
    for (const set of [this.params, this.grads, this.adamM, this.adamV]) if (set) this.backend.arena.release(set.ptr);
    if (this.half) this.backend.arena.release(this.half.ptr);
    this.releaseWide();
    this.grads = this.adamM = this.adamV = null;
    this.gradsUnset = false;
    this.half = null;
  }
}

/** Output rows wider than this (bytes) are read from transposed copies in single-token f32 steps (see wideWeights). */
const WIDE_ROW_BYTES = 9216;

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
