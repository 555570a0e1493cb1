// The transformer block, written once for training's forward pass and for the decoder's cached
// steps. GPT-2's block is pre-LayerNorm:
//   x2 = x + c_proj(attention(c_attn(ln_1(x))))
//   y  = x2 + mlp.c_proj(gelu(mlp.c_fc(ln_2(x2))))
// It is cut at attention, which is the one step the two callers do differently (training attends
// over the batch, the decoder over its KV cache; training may also keep fewer rows after it).
import type { Backend } from '../backend/backend.js';
import type { Tensor } from '../backend/tensor.js';
import type { Affine, BlockParams } from './parameters.js';

/** out (n, OC) = inp (n, Cin) @ layer.weight + layer.bias; the decoder may read other copies of the weight. */
export type Linear = (out: Tensor, inp: Tensor, layer: Affine, n: number, Cin: number, OC: number) => void;

/** The plain linear layer over the f32 weights. */
export function linearF32(be: Backend): Linear {
  return (out, inp, layer, n, Cin, OC) => be.matmul_forward(out, inp, layer.weight, layer.bias, 1, n, Cin, OC);
}

/** Before attention: ln = ln_1(x) (with its mean and rstd), qkv = c_attn(ln). */
export function attentionInput(be: Backend, p: BlockParams, linear: Linear, n: number, C: number,
                               t: { x: Tensor; ln: Tensor; mean: Tensor; rstd: Tensor; qkv: Tensor }): void {
  be.layernorm_forward(t.ln, t.mean, t.rstd, t.x, p.ln_1.weight, p.ln_1.bias, n, C);
  linear(t.qkv, t.ln, p.attn.c_attn, n, C, 3 * C);
}

/**
 * After attention: x2 = x + c_proj(atty), ln2 = ln_2(x2), fch = c_fc(ln2), fch_gelu = gelu(fch),
 * y = x2 + c_proj(fch_gelu). proj is scratch for both projections; x2 and y may be x itself.
 */
export function blockOutput(be: Backend, p: BlockParams, linear: Linear, n: number, C: number,
                            t: { x: Tensor; atty: Tensor; proj: Tensor; x2: Tensor; ln2: Tensor; mean: Tensor; rstd: Tensor; fch: Tensor; fch_gelu: Tensor; y: Tensor }): void {
  linear(t.proj, t.atty, p.attn.c_proj, n, C, C);
  be.residual_forward(t.x2, t.x, t.proj, n * C);
  be.layernorm_forward(t.ln2, t.mean, t.rstd, t.x2, p.ln_2.weight, p.ln_2.bias, n, C);
  linear(t.fch, t.ln2, p.mlp.c_fc, n, C, 4 * C);
  be.gelu_forward(t.fch_gelu, t.fch, n * 4 * C);
  linear(t.proj, t.fch_gelu, p.mlp.c_proj, n, 4 * C, C);
  be.residual_forward(t.y, t.x2, t.proj, n * C);
}
