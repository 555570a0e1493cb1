// The activations of one training-shaped pass (B, T), llm.c's ActivationTensors as typed records:
// one arena block sized once from (B, T), laid out here, re-made only when another (B, T) arrives.
// Their gradients are a second, smaller block (see ActivationGrads).
import type { Backend } from '../backend/backend.js';
import { carve, type Tensor, type DType } from '../backend/tensor.js';
import type { GPTConfig } from './config.js';
import type { After, Before } from './block.js';

/** What one layer keeps for the backward pass. */
export interface LayerActivations {
  ln1: Tensor;
  ln1_mean: Tensor;
  ln1_rstd: Tensor; // (B,T,C), (B*T), (B*T)
  qkv: Tensor; // (B,T,3C)
  atty: Tensor; // (B,T,C) attention's output, before c_proj
  att: Tensor; // (B,NH,T,T) softmaxed attention
  residual2: Tensor; // (B,T,C) after the attention branch's add
  ln2: Tensor;
  ln2_mean: Tensor;
  ln2_rstd: Tensor;
  fch: Tensor;
  fch_gelu: Tensor; // (B,T,4C)
  residual3: Tensor; // (B,T,C) the layer's output
}

export interface Activations {
  B: number;
  T: number;
  ptr: number;
  tokens: Tensor;
  targets: Tensor; // (B,T) i32
  encoded: Tensor; // (B,T,C) token + position embeddings
  /** The last layer's attention output and residual input, gathered to the rows with a target (rows: 'targets'). */
  sel_atty: Tensor;
  sel_residual: Tensor;
  /** A projection's output before its residual add, which reads it at once (the backward needs neither): the layers share one. */
  proj: Tensor;
  layers: LayerActivations[];
  lnf: Tensor;
  lnf_mean: Tensor;
  lnf_rstd: Tensor;
  logits: Tensor;
  probs: Tensor; // (B,T,V)
  losses: Tensor; // (B,T)
}

/**
 * The gradients of the activations. The residual stream's is one (B,T,C) buffer that every
 * layer's layernorms add into (`residual`, and `sel_residual` for the rows the last layer kept):
 * the only ones that accumulate, zeroed before each backward pass. Every other one is written whole
 * by the kernel that makes it before anything reads it, and is used only within one layer's
 * backward, so the layers share one of each (one attention scratch `datt` too).
 */
export interface ActivationGrads {
  B: number;
  T: number;
  ptr: number;
  residual: Tensor;
  sel_residual: Tensor;
  ln1: Tensor;
  qkv: Tensor;
  datt: Tensor;
  atty: Tensor;
  sel_atty: Tensor;
  ln2: Tensor;
  fch: Tensor;
  fch_gelu: Tensor;
  lnf: Tensor;
  logits: Tensor;
  losses: Tensor;
}

type Spec = { name: string; shape: number[]; dtype?: DType };

/** Lay out `specs` in one block and hand the tensors to `build` by name. */
function block<R>(
  backend: Backend,
  what: string,
  specs: Spec[],
  build: (get: (name: string) => Tensor, ptr: number) => R,
): R {
  const { ptr, tensors } = carve(backend.arena, what, specs);
  return build((name) => tensors.get(name)!, ptr);
}

const LAYER_KEYS = [
  'ln1',
  'ln1_mean',
  'ln1_rstd',
  'qkv',
  'atty',
  'att',
  'residual2',
  'ln2',
  'ln2_mean',
  'ln2_rstd',
  'fch',
  'fch_gelu',
  'residual3',
] as const;

/** The tensors of a training pass's activations, in their block's order. */
export function activationSpecs(c: GPTConfig, B: number, T: number): Spec[] {
  const C = c.n_embd,
    NH = c.n_head,
    V = c.vocab_size,
    N = B * T;
  const layer: Record<(typeof LAYER_KEYS)[number], number[]> = {
    ln1: [B, T, C],
    ln1_mean: [N],
    ln1_rstd: [N],
    qkv: [B, T, 3 * C],
    atty: [B, T, C],
    att: [B, NH, T, T],
    residual2: [B, T, C],
    ln2: [B, T, C],
    ln2_mean: [N],
    ln2_rstd: [N],
    fch: [B, T, 4 * C],
    fch_gelu: [B, T, 4 * C],
    residual3: [B, T, C],
  };
  const specs: Spec[] = [
    { name: 'tokens', shape: [B, T], dtype: 'i32' },
    { name: 'targets', shape: [B, T], dtype: 'i32' },
    { name: 'encoded', shape: [B, T, C] },
    { name: 'sel_atty', shape: [B, T, C] },
    { name: 'sel_residual', shape: [B, T, C] },
    { name: 'proj', shape: [B, T, C] },
  ];
  for (let l = 0; l < c.n_layer; l++) for (const k of LAYER_KEYS) specs.push({ name: `${l}.${k}`, shape: layer[k] });
  specs.push(
    { name: 'lnf', shape: [B, T, C] },
    { name: 'lnf_mean', shape: [N] },
    { name: 'lnf_rstd', shape: [N] },
    { name: 'logits', shape: [B, T, V] },
    { name: 'probs', shape: [B, T, V] },
    { name: 'losses', shape: [B, T] },
  );
  return specs;
}

export function allocateActivations(backend: Backend, c: GPTConfig, B: number, T: number): Activations {
  const specs = activationSpecs(c, B, T);
  return block(backend, `activations for B=${B}, T=${T}`, specs, (get, ptr) => ({
    B,
    T,
    ptr,
    tokens: get('tokens'),
    targets: get('targets'),
    encoded: get('encoded'),
    sel_atty: get('sel_atty'),
    sel_residual: get('sel_residual'),
    proj: get('proj'),
    layers: Array.from(
      { length: c.n_layer },
      (_, l) => Object.fromEntries(LAYER_KEYS.map((k) => [k, get(`${l}.${k}`)])) as unknown as LayerActivations,
    ),
    lnf: get('lnf'),
    lnf_mean: get('lnf_mean'),
    lnf_rstd: get('lnf_rstd'),
    logits: get('logits'),
    probs: get('probs'),
    losses: get('losses'),
  }));
}

/** The tensors of the activations' gradients (one of each, shared by the layers). */
export function activationGradSpecs(c: GPTConfig, B: number, T: number): Spec[] {
  const C = c.n_embd,
    NH = c.n_head,
    V = c.vocab_size;
  const shapes = {
    residual: [B, T, C],
    sel_residual: [B, T, C],
    ln1: [B, T, C],
    qkv: [B, T, 3 * C],
    datt: [B, NH, T, T],
    atty: [B, T, C],
    sel_atty: [B, T, C],
    ln2: [B, T, C],
    fch: [B, T, 4 * C],
    fch_gelu: [B, T, 4 * C],
    lnf: [B, T, C],
    logits: [B, T, V],
    losses: [B, T],
  };
  return Object.entries(shapes).map(([name, shape]) => ({ name, shape }));
}

export function allocateActivationGrads(backend: Backend, c: GPTConfig, B: number, T: number): ActivationGrads {
  const specs = activationGradSpecs(c, B, T);
  return block(
    backend,
    `activation gradients for B=${B}, T=${T}`,
    specs,
    (get, ptr) => ({ B, T, ptr, ...Object.fromEntries(specs.map((s) => [s.name, get(s.name)])) }) as ActivationGrads,
  );
}

/** The first n of a per-position tensor's B*T rows, as (1, n, width): the rows the last layer kept. */
export function firstRows(t: Tensor, n: number, BT: number): Tensor {
  return n === BT ? t : t.take([1, n, t.size / BT]);
}

/** Layer l's tensors before attention (every row), with its input x. */
export function beforeAttention(a: Activations, l: number, x: Tensor): Before {
  const y = a.layers[l];
  return { x, ln1: y.ln1, ln1_mean: y.ln1_mean, ln1_rstd: y.ln1_rstd, qkv: y.qkv };
}

/** Layer l's tensors after attention over its first n rows (the rows kept), with its input x and attention's output atty. */
export function afterAttention(a: Activations, l: number, n: number, x: Tensor, atty: Tensor): After {
  const y = a.layers[l],
    BT = a.B * a.T,
    rows = (t: Tensor) => firstRows(t, n, BT);
  return {
    x,
    atty,
    proj: rows(a.proj),
    x2: rows(y.residual2),
    ln2: rows(y.ln2),
    ln2_mean: rows(y.ln2_mean),
    ln2_rstd: rows(y.ln2_rstd),
    fch: rows(y.fch),
    fch_gelu: rows(y.fch_gelu),
    y: rows(y.residual3),
  };
}
