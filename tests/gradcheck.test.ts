// Every backward kernel of the JS reference against central finite differences of its
// forward kernel, in float64: loss = sum(out * R) for a random R, so dout = R.
import { describe, it } from 'vitest';
import * as ref from '../src/kernels/index.js';
import { rng, expectClose } from './helpers.js';

type F64 = Float64Array;
const rand = rng(42);
const randn = (n: number, scale = 1): F64 => Float64Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

/**
 * forward(inputs) -> output; backward(inputs, dout) -> gradients for the named inputs.
 * Checks every element (inputs here are small) against (L(x+h) - L(x-h)) / 2h.
 */
function gradcheck(
  name: string,
  inputs: Record<string, F64>,
  outSize: number,
  forward: (x: Record<string, F64>) => F64,
  backward: (x: Record<string, F64>, dout: F64) => Record<string, F64>,
): void {
  const R = randn(outSize);
  const loss = () => {
    const o = forward(inputs);
    let s = 0;
    for (let i = 0; i < o.length; i++) s += o[i] * R[i];
    return s;
  };
  const analytic = backward(inputs, R);
  const h = 1e-6;
  for (const [key, grad] of Object.entries(analytic)) {
    const x = inputs[key];
    const numeric = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const keep = x[i];
      x[i] = keep + h;
      const lp = loss();
      x[i] = keep - h;
      const lm = loss();
      x[i] = keep;
      numeric[i] = (lp - lm) / (2 * h);
    }
    expectClose(`${name} d${key}`, grad, numeric, 1e-6, 1e-5);
  }
}

describe('JS reference backward kernels equal finite differences (float64)', () => {
  it('encoder', () => {
    const B = 2,
      T = 3,
      C = 5,
      V = 7;
    const ids = Int32Array.from([1, 4, 1, 6, 0, 4]);
    gradcheck(
      'encoder',
      { wte: randn(V * C), wpe: randn(T * C) },
      B * T * C,
      (x) => {
        const o = new Float64Array(B * T * C);
        ref.encoder_forward(o, ids, x.wte, x.wpe, B, T, C);
        return o;
      },
      (x, d) => {
        const dwte = new Float64Array(V * C),
          dwpe = new Float64Array(T * C);
        ref.encoder_backward(dwte, dwpe, d, ids, B, T, C);
        return { wte: dwte, wpe: dwpe };
      },
    );
  });

  it('layernorm', () => {
    const N = 3,
      C = 7;
    gradcheck(
      'layernorm',
      { inp: randn(N * C, 2), weight: randn(C), bias: randn(C) },
      N * C,
      (x) => {
        const o = new Float64Array(N * C);
        ref.layernorm_forward(o, new Float64Array(N), new Float64Array(N), x.inp, x.weight, x.bias, N, C);
        return o;
      },
      (x, d) => {
        const o = new Float64Array(N * C),
          mean = new Float64Array(N),
          rstd = new Float64Array(N);
        ref.layernorm_forward(o, mean, rstd, x.inp, x.weight, x.bias, N, C);
        const g = { inp: new Float64Array(N * C), weight: new Float64Array(C), bias: new Float64Array(C) };
        ref.layernorm_backward(g.inp, g.weight, g.bias, d, x.inp, x.weight, mean, rstd, N, C);
        return g;
      },
    );
  });

  it('matmul with bias', () => {
    const B = 2,
      T = 3,
      C = 5,
      OC = 6;
    gradcheck(
      'matmul',
      { inp: randn(B * T * C), weight: randn(C * OC), bias: randn(OC) },
      B * T * OC,
      (x) => {
        const o = new Float64Array(B * T * OC);
        ref.matmul_forward(o, x.inp, x.weight, x.bias, B, T, C, OC);
        return o;
      },
      (x, d) => {
        const g = { inp: new Float64Array(B * T * C), weight: new Float64Array(C * OC), bias: new Float64Array(OC) };
        ref.matmul_backward(g.inp, g.weight, g.bias, d, x.inp, x.weight, B, T, C, OC);
        return g;
      },
    );
  });

  it('lm head', () => {
    const B = 2,
      T = 2,
      C = 5,
      V = 9;
    gradcheck(
      'lm_head',
      { inp: randn(B * T * C), wte: randn(V * C) },
      B * T * V,
      (x) => {
        const o = new Float64Array(B * T * V);
        ref.lm_head_forward(o, x.inp, x.wte, B, T, C, V);
        return o;
      },
      (x, d) => {
        const g = { inp: new Float64Array(B * T * C), wte: new Float64Array(V * C) };
        ref.lm_head_backward(g.inp, g.wte, d, x.inp, x.wte, B, T, C, V);
        return g;
      },
    );
  });

  it('attention', () => {
    const B = 2,
      T = 4,
      C = 6,
      NH = 2;
    gradcheck(
      'attention',
      { inp: randn(B * T * 3 * C) },
      B * T * C,
      (x) => {
        const o = new Float64Array(B * T * C);
        ref.attention_forward(o, new Float64Array(B * NH * T * T), x.inp, B, T, T, C, NH);
        return o;
      },
      (x, d) => {
        const o = new Float64Array(B * T * C),
          att = new Float64Array(B * NH * T * T);
        ref.attention_forward(o, att, x.inp, B, T, T, C, NH);
        const g = { inp: new Float64Array(B * T * 3 * C) };
        ref.attention_backward(g.inp, new Float64Array(B * NH * T * T), d, x.inp, att, B, T, C, NH);
        return g;
      },
    );
  });

  it('gelu', () => {
    const N = 11;
    gradcheck(
      'gelu',
      { inp: randn(N, 3) },
      N,
      (x) => {
        const o = new Float64Array(N);
        ref.gelu_forward(o, x.inp, N);
        return o;
      },
      (x, d) => {
        const g = { inp: new Float64Array(N) },
          o = new Float64Array(N);
        ref.gelu_forward(o, x.inp, N);
        ref.gelu_backward(g.inp, x.inp, o, d, N);
        return g;
      },
    );
  });

  it('residual', () => {
    const N = 9;
    gradcheck(
      'residual',
      { inp1: randn(N), inp2: randn(N) },
      N,
      (x) => {
        const o = new Float64Array(N);
        ref.residual_forward(o, x.inp1, x.inp2, N);
        return o;
      },
      (_x, d) => ({ inp1: Float64Array.from(d), inp2: Float64Array.from(d) }),
    ); // the add passes its gradient through to both
  });

  it('softmax + cross-entropy, with an ignored target', () => {
    const B = 2,
      T = 3,
      V = 7;
    const targets = Int32Array.from([3, -1, 0, 6, 2, -1]);
    gradcheck(
      'crossentropy',
      { logits: randn(B * T * V, 3) },
      B * T,
      (x) => {
        const p = new Float64Array(B * T * V),
          l = new Float64Array(B * T);
        ref.softmax_forward(p, x.logits, B, T, V);
        ref.crossentropy_forward(l, p, targets, B, T, V);
        return l;
      },
      (x, d) => {
        const p = new Float64Array(B * T * V);
        ref.softmax_forward(p, x.logits, B, T, V);
        const g = { logits: new Float64Array(B * T * V) };
        ref.crossentropy_softmax_backward(g.logits, d, p, targets, B, T, V);
        return g;
      },
    );
  });
});
