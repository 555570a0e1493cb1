// The transformer block, written once for training's forward pass and for the decoder's cached
// steps, with its backward beside it. GPT-2's block is pre-LayerNorm:
//   x2 = x + c_proj(attention(c_attn(ln_1(x))))
//   y  = x2 + mlp.c_proj(gelu(mlp.c_fc(ln_2(x2))))
// It is cut at attention, which is the one step the callers do differently (training attends over
// the batch, the decoder over its KV cache; training may also keep fewer rows after it).
import type { Backend } from '../backend/backend.js';
import type { Tensor } from '../backend/tensor.js';
import type { Affine, BlockParams } from './parameters.js';

/** out (n, OC) = inp (n, Cin) @ layer.weight + layer.bias; the decoder may read other copies of the weight. */
export type Linear = (out: Tensor, inp: Tensor, layer: Affine, n: number, Cin: number, OC: number) => void;

/** The linear layer over the weights as the model holds them: f32 or f16 (C,OC), or blocks (OC,C), read directly. */
export function linearOf(be: Backend): Linear {
  return (out, inp, layer, n, Cin, OC) => {
    const w = layer.weight;
    if (w.dtype === 'q8_0') be.linear_q8_0(out, inp, w, layer.bias, 1, n, Cin, OC);
    else if (w.dtype === 'q4_0') be.linear_q4_0(out, inp, w, layer.bias, 1, n, Cin, OC);
    else if (w.dtype === 'f16') be.matmul_forward_f16(out, inp, w, layer.bias, 1, n, Cin, OC);
    else be.matmul_forward(out, inp, w, layer.bias, 1, n, Cin, OC);
  };
}

/** logits (1,n,V) = inp (1,n,C) @ wte^T: the tied LM head, over wte as the model holds it. */
export function lmHead(be: Backend, logits: Tensor, inp: Tensor, wte: Tensor, n: number, C: number, V: number): void {
  if (wte.dtype === 'q8_0') be.linear_q8_0(logits, inp, wte, null, 1, n, C, V);
  else if (wte.dtype === 'q4_0') be.linear_q4_0(logits, inp, wte, null, 1, n, C, V);
  else if (wte.dtype === 'f16') be.lm_head_forward_f16(logits, inp, wte, 1, n, C, V);
  else be.lm_head_forward(logits, inp, wte, 1, n, C, V);
}

/** out (B,T,C) = wte[token] + wpe[t], over wte as the model holds it. */
export function embed(
  be: Backend,
  out: Tensor,
  ids: Tensor,
  wte: Tensor,
  wpe: Tensor,
  B: number,
  T: number,
  C: number,
): void {
  if (wte.dtype === 'q8_0') be.encoder_forward_q8_0(out, ids, wte, wpe, B, T, C);
  else if (wte.dtype === 'q4_0') be.encoder_forward_q4_0(out, ids, wte, wpe, B, T, C);
  else if (wte.dtype === 'f16') be.encoder_forward_f16(out, ids, wte, wpe, B, T, C);
  else be.encoder_forward(out, ids, wte, wpe, B, T, C);
}

/** The tensors of one block's n rows: its input x, what it keeps for the backward pass, its output y. */
export interface BlockTensors {
  x: Tensor;
  ln1: Tensor;
  ln1_mean: Tensor;
  ln1_rstd: Tensor;
  qkv: Tensor;
  atty: Tensor;
  /** Scratch for both projections' outputs, which their residual adds read at once. */
  proj: Tensor;
  x2: Tensor;
  ln2: Tensor;
  ln2_mean: Tensor;
  ln2_rstd: Tensor;
  fch: Tensor;
  fch_gelu: Tensor;
  y: Tensor;
}

/** What the block reads and writes before attention, and after it. */
export type Before = Pick<BlockTensors, 'x' | 'ln1' | 'ln1_mean' | 'ln1_rstd' | 'qkv'>;
export type After = Omit<BlockTensors, 'ln1' | 'ln1_mean' | 'ln1_rstd' | 'qkv'>;

/** Before attention: ln1 = ln_1(x) (with its mean and rstd), qkv = c_attn(ln1). */
export function attentionInput(be: Backend, p: BlockParams, linear: Linear, n: number, C: number, t: Before): void {
  be.layernorm_forward(t.ln1, t.ln1_mean, t.ln1_rstd, t.x, p.ln_1.weight, p.ln_1.bias, n, C);
  linear(t.qkv, t.ln1, p.attn.c_attn, n, C, 3 * C);
}

/** After attention: x2 = x + c_proj(atty), fch = c_fc(ln_2(x2)), y = x2 + c_proj(gelu(fch)). x2 and y may be x itself. */
export function blockOutput(be: Backend, p: BlockParams, linear: Linear, n: number, C: number, t: After): void {
  linear(t.proj, t.atty, p.attn.c_proj, n, C, C);
  be.residual_forward(t.x2, t.x, t.proj, n * C);
  be.layernorm_forward(t.ln2, t.ln2_mean, t.ln2_rstd, t.x2, p.ln_2.weight, p.ln_2.bias, n, C);
  linear(t.fch, t.ln2, p.mlp.c_fc, n, C, 4 * C);
  be.gelu_forward(t.fch_gelu, t.fch, n * 4 * C);
  linear(t.proj, t.fch_gelu, p.mlp.c_proj, n, 4 * C, C);
  be.residual_forward(t.y, t.x2, t.proj, n * C);
}

// ---- backward ----

/** The activations' gradients one block's backward uses (each written whole before it is read, but dres). */
export interface BlockGrads {
  /** The residual stream's gradient: d(y) coming in, d(x) going out (each add passes it through; the layernorms add into it). */
  dres: Tensor;
  atty: Tensor;
  ln2: Tensor;
  fch: Tensor;
  fch_gelu: Tensor;
}

/** The backward kernels of a linear layer and a layernorm, with the gradients' record beside the parameters'. */
export function affineBackward(be: Backend, accumulate: boolean) {
  return {
    linear: (din: Tensor, g: Affine, dout: Tensor, inp: Tensor, p: Affine, n: number, Cin: number, OC: number) =>
      be.matmul_backward(din, g.weight, g.bias, dout, inp, p.weight, 1, n, Cin, OC, accumulate),
    layernorm: (
      din: Tensor,
      g: Affine,
      dout: Tensor,
      inp: Tensor,
      p: Affine,
      mean: Tensor,
      rstd: Tensor,
      n: number,
      C: number,
    ) => be.layernorm_backward(din, g.weight, g.bias, dout, inp, p.weight, mean, rstd, n, C),
  };
}

/**
 * The backward of blockOutput: from d(y) in d.dres to d(x2) in d.dres, and d(atty). The parameters'
 * gradients (g) accumulate, or with accumulate false the linear layers' are written.
 */
export function blockOutputBackward(
  be: Backend,
  p: BlockParams,
  g: BlockParams,
  n: number,
  C: number,
  t: After,
  d: BlockGrads,
  accumulate: boolean,
): void {
  const { linear, layernorm } = affineBackward(be, accumulate);
  linear(d.fch_gelu, g.mlp.c_proj, d.dres, t.fch_gelu, p.mlp.c_proj, n, 4 * C, C);
  be.gelu_backward(d.fch, t.fch, t.fch_gelu, d.fch_gelu, n * 4 * C);
  linear(d.ln2, g.mlp.c_fc, d.fch, t.ln2, p.mlp.c_fc, n, C, 4 * C);
  layernorm(d.dres, g.ln_2, d.ln2, t.x2, p.ln_2, t.ln2_mean, t.ln2_rstd, n, C); // d.dres is now d(x2)
  linear(d.atty, g.attn.c_proj, d.dres, t.atty, p.attn.c_proj, n, C, C);
}

/** The backward of attentionInput: from d(qkv) to d(x), added into dres. dln1 is scratch. */
export function attentionInputBackward(
  be: Backend,
  p: BlockParams,
  g: BlockParams,
  n: number,
  C: number,
  t: Before,
  dqkv: Tensor,
  dln1: Tensor,
  dres: Tensor,
  accumulate: boolean,
): void {
  const { linear, layernorm } = affineBackward(be, accumulate);
  linear(dln1, g.attn.c_attn, dqkv, t.ln1, p.attn.c_attn, n, C, 3 * C);
  layernorm(dres, g.ln_1, dln1, t.x, p.ln_1, t.ln1_mean, t.ln1_rstd, n, C);
}
