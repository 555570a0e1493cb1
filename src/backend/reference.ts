// The plain-JS reference kernels: the specification the wasm kernels are tested against.
// Same names and argument order as assembly/, with arrays where the wasm takes addresses.
// Written to be obviously correct, never optimized. Generic over Float32Array and
// Float64Array so that gradient checks can run them in double precision.
//
// Backward passes accumulate (+=) into the gradients of parameters (dweight, dbias, dwte,
// dwpe), and into dinp where a tensor's gradient gathers several contributions (layernorm and
// residual: the residual stream); the gradients of activations that have one consumer are
// written (=): dinp of matmul, lm_head, attention and gelu, and dlogits. matmul and lm_head
// write their parameters' gradients too when accumulate is 0 (the first backward after zeroing).

import { f16ToF32, f32ToF16Bits } from './f16.js';

export type Floats = Float32Array | Float64Array;

// inp (B,T) token ids, wte (V,C), wpe (maxT,C) -> out (B,T,C)
export function encoder_forward(out: Floats, inp: Int32Array, wte: Floats, wpe: Floats,
                                B: number, T: number, C: number): void {
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const ix = inp[b * T + t];
    for (let i = 0; i < C; i++) out[(b * T + t) * C + i] = wte[ix * C + i] + wpe[t * C + i];
  }
}

export function encoder_backward(dwte: Floats, dwpe: Floats, dout: Floats, inp: Int32Array,
                                 B: number, T: number, C: number): void {
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const ix = inp[b * T + t];
    for (let i = 0; i < C; i++) {
      const d = dout[(b * T + t) * C + i];
      dwte[ix * C + i] += d;
      dwpe[t * C + i] += d;
    }
  }
}

// inp (N,C) -> out (N,C), mean (N), rstd (N)
export function layernorm_forward(out: Floats, mean: Floats, rstd: Floats, inp: Floats,
                                  weight: Floats, bias: Floats, N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let i = 0; i < C; i++) m += inp[n * C + i];
    m /= C;
    let v = 0;
    for (let i = 0; i < C; i++) v += (inp[n * C + i] - m) ** 2;
    v /= C;
    const s = 1 / Math.sqrt(v + 1e-5);
    for (let i = 0; i < C; i++) out[n * C + i] = (inp[n * C + i] - m) * s * weight[i] + bias[i];
    mean[n] = m;
    rstd[n] = s;
  }
}

export function layernorm_backward(dinp: Floats, dweight: Floats, dbias: Floats, dout: Floats,
                                   inp: Floats, weight: Floats, mean: Floats, rstd: Floats,
                                   N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    let dnormMean = 0, dnormNormMean = 0;
    for (let i = 0; i < C; i++) {
      const norm = (inp[n * C + i] - mean[n]) * rstd[n];
      const dnorm = weight[i] * dout[n * C + i];
      dnormMean += dnorm;
      dnormNormMean += dnorm * norm;
    }
    dnormMean /= C;
    dnormNormMean /= C;
    for (let i = 0; i < C; i++) {
      const norm = (inp[n * C + i] - mean[n]) * rstd[n];
      const dnorm = weight[i] * dout[n * C + i];
      dbias[i] += dout[n * C + i];
      dweight[i] += norm * dout[n * C + i];
      dinp[n * C + i] += (dnorm - dnormMean - norm * dnormNormMean) * rstd[n];
    }
  }
}

// inp (B,T,C), weight (C,OC), bias (OC) or null -> out (B,T,OC)
export function matmul_forward(out: Floats, inp: Floats, weight: Floats, bias: Floats | null,
                               B: number, T: number, C: number, OC: number): void {
  for (let m = 0; m < B * T; m++) for (let o = 0; o < OC; o++) {
    let s = bias ? bias[o] : 0;
    for (let c = 0; c < C; c++) s += inp[m * C + c] * weight[c * OC + o];
    out[m * OC + o] = s;
  }
}

// the same with weight as f16 bits (C,OC): each weight widened to f32 exactly, then as above
export function matmul_forward_f16(out: Floats, inp: Floats, weight: Uint16Array, bias: Floats | null,
                                   B: number, T: number, C: number, OC: number): void {
  matmul_forward(out, inp, Float32Array.from(weight, f16ToF32), bias, B, T, C, OC);
}

export function f32_to_f16(out: Uint16Array, inp: Floats, n: number): void {
  for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(inp[i]);
}

export function matmul_backward(dinp: Floats, dweight: Floats, dbias: Floats | null, dout: Floats,
                                inp: Floats, weight: Floats, B: number, T: number, C: number, OC: number, accumulate = 1): void {
  dinp.fill(0, 0, B * T * C); // dinp is written, dweight and dbias accumulate (or are written)
  if (!accumulate) { dweight.fill(0, 0, C * OC); dbias?.fill(0, 0, OC); }
  for (let m = 0; m < B * T; m++) for (let o = 0; o < OC; o++) {
    const d = dout[m * OC + o];
    if (dbias) dbias[o] += d;
    for (let c = 0; c < C; c++) {
      dinp[m * C + c] += weight[c * OC + o] * d;
      dweight[c * OC + o] += inp[m * C + c] * d;
    }
  }
}

// inp (B,T,C), wte (V,C) -> logits (B,T,V) = inp @ wte^T
export function lm_head_forward(logits: Floats, inp: Floats, wte: Floats,
                                B: number, T: number, C: number, V: number): void {
  for (let m = 0; m < B * T; m++) for (let v = 0; v < V; v++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += inp[m * C + c] * wte[v * C + c];
    logits[m * V + v] = s;
  }
}

export function lm_head_forward_f16(logits: Floats, inp: Floats, wte: Uint16Array,
                                    B: number, T: number, C: number, V: number): void {
  lm_head_forward(logits, inp, Float32Array.from(wte, f16ToF32), B, T, C, V);
}

export function lm_head_backward(dinp: Floats, dwte: Floats, dlogits: Floats, inp: Floats, wte: Floats,
                                 B: number, T: number, C: number, V: number, accumulate = 1): void {
  dinp.fill(0, 0, B * T * C); // dinp is written, dwte accumulates (or is written)
  if (!accumulate) dwte.fill(0, 0, V * C);
  for (let m = 0; m < B * T; m++) for (let v = 0; v < V; v++) {
    const d = dlogits[m * V + v];
    for (let c = 0; c < C; c++) {
      dinp[m * C + c] += wte[v * C + c] * d;
      dwte[v * C + c] += inp[m * C + c] * d;
    }
  }
}

// qkv (B,Tk,3C); queries are the last Tq positions -> out (B,Tq,C), att (B,NH,Tq,Tk)
export function attention_forward(out: Floats, att: Floats, qkv: Floats,
                                  B: number, Tq: number, Tk: number, C: number, NH: number): void {
  const hs = C / NH, scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++) for (let t = 0; t < Tq; t++) for (let h = 0; h < NH; h++) {
    const tq = t + Tk - Tq;
    const q = (b * Tk + tq) * 3 * C + h * hs;
    const row = ((b * NH + h) * Tq + t) * Tk;
    let max = -Infinity;
    for (let t2 = 0; t2 <= tq; t2++) {
      const k = (b * Tk + t2) * 3 * C + C + h * hs;
      let s = 0;
      for (let i = 0; i < hs; i++) s += qkv[q + i] * qkv[k + i];
      att[row + t2] = s * scale;
      max = Math.max(max, att[row + t2]);
    }
    let total = 0;
    for (let t2 = 0; t2 <= tq; t2++) { att[row + t2] = Math.exp(att[row + t2] - max); total += att[row + t2]; }
    for (let t2 = 0; t2 < Tk; t2++) att[row + t2] = t2 <= tq ? att[row + t2] / total : 0;
    const o = (b * Tq + t) * C + h * hs;
    for (let i = 0; i < hs; i++) {
      let s = 0;
      for (let t2 = 0; t2 <= tq; t2++) s += att[row + t2] * qkv[(b * Tk + t2) * 3 * C + 2 * C + h * hs + i];
      out[o + i] = s;
    }
  }
}

// With a KV cache (batch 1): the new positions' keys and values (qkv (1,Tq,3C)) go into kc and vc
// (NH,maxT,hs) at positions Tk-Tq..Tk-1; then attention_forward over the cache laid out as q|k|v
// rows (the new queries in the last Tq)
export function attention_forward_kv(out: Floats, att: Floats, qkv: Floats, kc: Floats, vc: Floats,
                                     Tq: number, Tk: number, maxT: number, C: number, NH: number): void {
  const hs = C / NH, past = Tk - Tq, rows = new Float64Array(Tk * 3 * C);
  for (let t = 0; t < Tq; t++) for (let h = 0; h < NH; h++) for (let i = 0; i < hs; i++) {
    kc[(h * maxT + past + t) * hs + i] = qkv[t * 3 * C + C + h * hs + i];
    vc[(h * maxT + past + t) * hs + i] = qkv[t * 3 * C + 2 * C + h * hs + i];
  }
  for (let t = 0; t < Tk; t++) for (let h = 0; h < NH; h++) for (let i = 0; i < hs; i++) {
    if (t >= past) rows[t * 3 * C + h * hs + i] = qkv[(t - past) * 3 * C + h * hs + i];
    rows[t * 3 * C + C + h * hs + i] = kc[(h * maxT + t) * hs + i];
    rows[t * 3 * C + 2 * C + h * hs + i] = vc[(h * maxT + t) * hs + i];
  }
  attention_forward(out, att, rows, 1, Tq, Tk, C, NH);
}

// Training shape (Tq == Tk == T): dout (B,T,C) -> dinp (B,T,3C), overwritten (=: it is the whole
// gradient of qkv); datt (B,NH,T,T) working space
export function attention_backward(dinp: Floats, datt: Floats, dout: Floats, inp: Floats, att: Floats,
                                   B: number, T: number, C: number, NH: number): void {
  const hs = C / NH, scale = 1 / Math.sqrt(hs);
  dinp.fill(0, 0, B * T * 3 * C);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < NH; h++) {
    const row = ((b * NH + h) * T + t) * T;
    const q = (b * T + t) * 3 * C + h * hs;
    const g = (b * T + t) * C + h * hs;
    for (let t2 = 0; t2 <= t; t2++) {
      const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
      let d = 0;
      for (let i = 0; i < hs; i++) {
        d += inp[v + i] * dout[g + i];
        dinp[v + i] += att[row + t2] * dout[g + i];
      }
      datt[row + t2] = d;
    }
    // softmax backward: dpre[t3] = sum_t2 att[t2] * (1[t2==t3] - att[t3]) * datt[t2]
    for (let t3 = 0; t3 <= t; t3++) {
      let dpre = 0;
      for (let t2 = 0; t2 <= t; t2++) dpre += att[row + t2] * ((t2 === t3 ? 1 : 0) - att[row + t3]) * datt[row + t2];
      const k = (b * T + t3) * 3 * C + C + h * hs;
      for (let i = 0; i < hs; i++) {
        dinp[q + i] += dpre * scale * inp[k + i];
        dinp[k + i] += dpre * scale * inp[q + i];
      }
    }
  }
}

const GELU_SCALE = Math.sqrt(2 / Math.PI);

export function gelu_forward(out: Floats, inp: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + Math.tanh(GELU_SCALE * (x + 0.044715 * x * x * x)));
  }
}

// out (= gelu_forward(inp)) is what the wasm kernel takes its tanh from; the definition here
// computes the tanh again.
export function gelu_backward(dinp: Floats, inp: Floats, _out: Floats, dout: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const x = inp[i];
    const th = Math.tanh(GELU_SCALE * (x + 0.044715 * x * x * x));
    const local = 0.5 * (1 + th) + x * 0.5 * (1 - th * th) * GELU_SCALE * (1 + 3 * 0.044715 * x * x);
    dinp[i] = local * dout[i];
  }
}

export function residual_forward(out: Floats, inp1: Floats, inp2: Floats, N: number): void {
  for (let i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}

export function residual_backward(dinp1: Floats, dinp2: Floats, dout: Floats, N: number): void {
  for (let i = 0; i < N; i++) { dinp1[i] += dout[i]; dinp2[i] += dout[i]; }
}

export function softmax_forward(probs: Floats, logits: Floats, B: number, T: number, V: number): void {
  for (let n = 0; n < B * T; n++) {
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[n * V + i]);
    let total = 0;
    for (let i = 0; i < V; i++) total += Math.exp(logits[n * V + i] - max);
    for (let i = 0; i < V; i++) probs[n * V + i] = Math.exp(logits[n * V + i] - max) / total;
  }
}

// a negative target contributes no loss and no gradient
export function crossentropy_forward(losses: Floats, probs: Floats, targets: Int32Array,
                                     B: number, T: number, V: number): void {
  for (let n = 0; n < B * T; n++) losses[n] = targets[n] < 0 ? 0 : -Math.log(probs[n * V + targets[n]]);
}

export function crossentropy_softmax_backward(dlogits: Floats, dlosses: Floats, probs: Floats, targets: Int32Array,
                                              B: number, T: number, V: number): void {
  for (let n = 0; n < B * T; n++) {
    for (let i = 0; i < V; i++) dlogits[n * V + i] = targets[n] < 0 ? 0 : (probs[n * V + i] - (i === targets[n] ? 1 : 0)) * dlosses[n];
  }
}

// torch.optim.AdamW: decoupled weight decay first, then the bias-corrected Adam step, on the
// gradients times grad_scale
export function adamw_update(params: Floats, grads: Floats, m: Floats, v: Floats, N: number,
                             lr: number, beta1: number, beta2: number, eps: number, weight_decay: number,
                             t: number, grad_scale: number): void {
  const bc1 = 1 - beta1 ** t, bc2 = 1 - beta2 ** t;
  for (let i = 0; i < N; i++) {
    const g = grads[i] * grad_scale;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    params[i] *= 1 - lr * weight_decay;
    params[i] -= (lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
  }
}

export function sum_squares(x: Floats, N: number): number {
  let s = 0;
  for (let i = 0; i < N; i++) s += x[i] * x[i];
  return s;
}

export function scale_inplace(x: Floats, s: number, N: number): void {
  for (let i = 0; i < N; i++) x[i] *= s;
}
