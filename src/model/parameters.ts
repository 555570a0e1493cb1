// The parameter layout: every tensor of GPT-2 by its Hugging Face name, in one list. Weights,
// gradients and both AdamW moments are each one arena block laid out from this same list, so the
// optimizer can run as one loop over one array; each block is also seen as a typed record
// (`params.h[3].mlp.c_fc.weight`) so that the model's code names tensors the compiler checks.
import type { Arena } from '../backend/arena.js';
import type { Backend } from '../backend/backend.js';
import { Tensor, carve, dtypeBytes, numel, isBlockDType, type DType } from '../backend/tensor.js';
import { f16ToF32 } from '../backend/f16.js';
import { f32Bits } from '../kernels/scan.js';
import type { GPTConfig } from './config.js';
import type { Random } from './random.js';

/**
 * How a model holds its weights: 'f32'; 'f16' (half the bytes, each weight widened to f32 exactly
 * as it is read); or llama.cpp's block formats 'q8_0' (8 bits a weight and an f16 scale per 32:
 * 3.8x smaller than f32) and 'q4_0' (4 bits: 7.1x smaller), which inference reads directly. The
 * linear layers' weights and wte take the dtype (f16 in their own layout; quantized, stored (out,
 * in) in blocks of 32 along `in`, as llama.cpp stores GPT-2); wpe, the layernorms and the biases
 * stay f32. Training needs f32.
 */
export type WeightDType = 'f32' | 'f16' | 'q8_0' | 'q4_0';
export const WEIGHT_DTYPES: readonly WeightDType[] = ['f32', 'f16', 'q8_0', 'q4_0'];

export interface ParameterSpec {
  name: string;
  shape: number[];
  kind: 'embedding' | 'matrix' | 'bias' | 'layernorm';
}

export function parameterSpecs(c: GPTConfig): ParameterSpec[] {
  const C = c.n_embd;
  const specs: ParameterSpec[] = [
    { name: 'wte.weight', shape: [c.vocab_size, C], kind: 'embedding' },
    { name: 'wpe.weight', shape: [c.n_positions, C], kind: 'embedding' },
  ];
  for (let l = 0; l < c.n_layer; l++) {
    const h = `h.${l}`;
    specs.push(
      { name: `${h}.ln_1.weight`, shape: [C], kind: 'layernorm' },
      { name: `${h}.ln_1.bias`, shape: [C], kind: 'layernorm' },
      { name: `${h}.attn.c_attn.weight`, shape: [C, 3 * C], kind: 'matrix' }, // Conv1D: [in, out]
      { name: `${h}.attn.c_attn.bias`, shape: [3 * C], kind: 'bias' },
      { name: `${h}.attn.c_proj.weight`, shape: [C, C], kind: 'matrix' },
      { name: `${h}.attn.c_proj.bias`, shape: [C], kind: 'bias' },
      { name: `${h}.ln_2.weight`, shape: [C], kind: 'layernorm' },
      { name: `${h}.ln_2.bias`, shape: [C], kind: 'layernorm' },
      { name: `${h}.mlp.c_fc.weight`, shape: [C, 4 * C], kind: 'matrix' },
      { name: `${h}.mlp.c_fc.bias`, shape: [4 * C], kind: 'bias' },
      { name: `${h}.mlp.c_proj.weight`, shape: [4 * C, C], kind: 'matrix' },
      { name: `${h}.mlp.c_proj.bias`, shape: [C], kind: 'bias' },
    );
  }
  specs.push(
    { name: 'ln_f.weight', shape: [C], kind: 'layernorm' },
    { name: 'ln_f.bias', shape: [C], kind: 'layernorm' },
  );
  return specs;
}

/** GPT-2's initialization of one parameter: LN weights 1, biases 0, the rest normal with std 0.02 (c_proj's scaled by depth); `rand` advances in parameter order. */
export function initialValues(spec: ParameterSpec, c: GPTConfig, rand: Random, data: Float32Array): void {
  if (spec.kind === 'layernorm') data.fill(spec.name.endsWith('.weight') ? 1 : 0);
  else if (spec.kind === 'bias') data.fill(0);
  else rand.fillNormal(data, spec.name.endsWith('c_proj.weight') ? 0.02 / Math.sqrt(2 * c.n_layer) : 0.02);
}

/** Whether this parameter takes the model's weight dtype (the 2-D weights but wpe) or stays f32. */
export function takesWeightDType(spec: ParameterSpec, dtype: WeightDType): boolean {
  return dtype !== 'f32' && (spec.kind === 'matrix' || spec.name === 'wte.weight');
}

/** The tensor a parameter is stored as: its own shape (f32 or f16), or (out, in) in blocks when quantized. */
export function storedAs(spec: ParameterSpec, dtype: WeightDType): { name: string; shape: number[]; dtype: DType } {
  if (!takesWeightDType(spec, dtype)) return { name: spec.name, shape: spec.shape, dtype: 'f32' };
  const [r, c] = spec.shape;
  return { name: spec.name, shape: isBlockDType(dtype) && spec.kind === 'matrix' ? [c, r] : [r, c], dtype };
}

/** Bytes the weights of a config take in a dtype (each tensor on a cache line, as carve lays them out). */
export function weightBytes(c: GPTConfig, dtype: WeightDType): number {
  return parameterSpecs(c).reduce((n, s) => {
    const t = storedAs(s, dtype);
    return n + Math.ceil(dtypeBytes(t.dtype, t.shape[0] * (t.shape[1] ?? 1)) / 64) * 64;
  }, 0);
}

/** Number of parameters (the LM head is tied to wte and not counted twice). */
export function countParameters(c: GPTConfig): number {
  return parameterSpecs(c).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

/** A linear layer (Conv1D layout: weight (in, out)), or a LayerNorm's scale and shift. */
export interface Affine {
  weight: Tensor;
  bias: Tensor;
}

export interface BlockParams {
  ln_1: Affine;
  attn: { c_attn: Affine; c_proj: Affine };
  ln_2: Affine;
  mlp: { c_fc: Affine; c_proj: Affine };
}

/** GPT-2's tensors as Hugging Face names them: `h.3.mlp.c_fc.weight` is `h[3].mlp.c_fc.weight`. */
export interface GPTParams {
  wte: { weight: Tensor };
  wpe: { weight: Tensor };
  h: BlockParams[];
  ln_f: Affine;
}

/** One arena block holding a tensor for every parameter name, also seen as a GPTParams record. */
export class ParameterSet {
  /** The whole block as one (N) tensor: what AdamW and the gradient norm run over. */
  readonly all: Tensor;
  readonly tree: GPTParams;

  private constructor(
    arena: Arena,
    readonly ptr: number,
    readonly bytes: number,
    private readonly tensors: Map<string, Tensor>,
    config: GPTConfig,
    what: string,
  ) {
    this.all = new Tensor(arena, ptr, [bytes / 4], 'f32', what);
    const get = (name: string) => this.get(name);
    const affine = (prefix: string): Affine => ({ weight: get(`${prefix}.weight`), bias: get(`${prefix}.bias`) });
    this.tree = {
      wte: { weight: get('wte.weight') },
      wpe: { weight: get('wpe.weight') },
      h: Array.from({ length: config.n_layer }, (_, l) => ({
        ln_1: affine(`h.${l}.ln_1`),
        attn: { c_attn: affine(`h.${l}.attn.c_attn`), c_proj: affine(`h.${l}.attn.c_proj`) },
        ln_2: affine(`h.${l}.ln_2`),
        mlp: { c_fc: affine(`h.${l}.mlp.c_fc`), c_proj: affine(`h.${l}.mlp.c_proj`) },
      })),
      ln_f: affine('ln_f'),
    };
  }

  /** Every tensor of specs in one block: f32, or with a quantized dtype its 2-D weights but wpe in that form. */
  static allocate(
    backend: Backend,
    config: GPTConfig,
    specs: ParameterSpec[],
    what: string,
    dtype: WeightDType = 'f32',
  ): ParameterSet {
    const { ptr, bytes, tensors } = carve(
      backend.arena,
      what,
      specs.map((s) => storedAs(s, dtype)),
    );
    return new ParameterSet(backend.arena, ptr, bytes, tensors, config, what);
  }

  /** The tensor with this Hugging Face name (loaders, checkpoints). */
  get(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no parameter named '${name}'`);
    return t;
  }

  zero(): void {
    this.all.arena.zeroFill(this.all.ptr, this.bytes);
  }
}

/**
 * Set tensor `t` (parameter `spec`, held as `dtype`) from f32 values in the Hugging Face shape that
 * `fill` writes. f32 is filled in place; f16 and the block formats go through an f32 buffer of this
 * one tensor, checked finite and converted into place (a Conv1D weight (in, out) quantized along
 * `in`, into (out, in)), so a load holds one tensor in f32 beside the model's weights at most.
 */
export function storeParameter(
  be: Backend,
  spec: ParameterSpec,
  t: Tensor,
  dtype: WeightDType,
  fill: (dst: Float32Array) => void,
  source: string,
): void {
  if (!takesWeightDType(spec, dtype)) return fill(t.data());
  const name = spec.name;
  const tmp = new Tensor(be.arena, be.arena.alloc(numel(spec.shape) * 4, `${name} in f32 before ${dtype}`), spec.shape);
  try {
    fill(tmp.data());
    // one pass: finite, and for f16 below 65520 (which rounds to infinity)
    const i = firstBeyond(be, tmp, dtype === 'f16' ? 65520 : Infinity);
    if (i >= 0) {
      const v = tmp.data()[i];
      const beyond = Number.isFinite(v) ? ", beyond f16's 65504" : '';
      throw new RangeError(`${source}: tensor '${name}' holds ${v} at index ${i}${beyond}`);
    }
    if (dtype === 'f16') return be.f32_to_f16(t.reshape([t.size]), tmp.reshape([t.size]), t.size);
    const [R, K] = t.shape,
      trans = spec.kind === 'matrix' ? 1 : 0;
    const bad = dtype === 'q8_0' ? be.quantize_q8_0(t, tmp, R, K, trans) : be.quantize_q4_0(t, tmp, R, K, trans);
    if (bad > 0)
      throw new RangeError(
        `${source}: tensor '${name}' has values too large for ${dtype} (a block's scale past f16's 65504)`,
      );
  } finally {
    be.arena.release(tmp.ptr);
  }
}

/** The index of f32 tensor t's first value that is NaN or of magnitude `limit` or more, or -1: all are scanned in wasm, and searched one by one only when one is there. */
export function firstBeyond(be: Backend, t: Tensor, limit = Infinity): number {
  if (be.count_beyond(t.reshape([t.size]), t.size, f32Bits(limit)) === 0) return -1;
  const d = t.data();
  for (let i = 0; i < d.length; i++) if (!(Math.abs(d[i]) < limit)) return i;
  return -1;
}

/** The f32 values of tensor `t` (parameter `spec`) in the Hugging Face shape: f16 widened, blocks dequantized; a copy. */
export function readParameter(be: Backend, spec: ParameterSpec, t: Tensor): Float32Array {
  if (t.dtype === 'f32') return t.data().slice();
  if (t.dtype === 'f16') return Float32Array.from(t.halves(), f16ToF32);
  const [R, K] = t.shape;
  const tmp = new Tensor(be.arena, be.arena.alloc(R * K * 4, `${spec.name} dequantized`), [R, K]);
  try {
    if (t.dtype === 'q8_0') be.dequantize_q8_0(tmp, t, R, K);
    else be.dequantize_q4_0(tmp, t, R, K);
    const d = tmp.data();
    if (spec.kind !== 'matrix') return d.slice();
    const out = new Float32Array(R * K); // (out, in) back to Conv1D's (in, out)
    for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) out[k * R + r] = d[r * K + k];
    return out;
  } finally {
    be.arena.release(tmp.ptr);
  }
}
