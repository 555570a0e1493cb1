// LayerNorm (eps 1e-5): the plain-JS reference of assembly/layernorm.ts and the declaration of
// both kernels. The backward accumulates into dinp, the residual stream's gradient, which gathers
// every layer's.
import { kernel, reads, writes, accumulates, dim, splitRange, MIN_ELEMENTS, type Job, type Floats } from './declare.js';

// inp (N,C) -> out (N,C), mean (N), rstd (N)
export function layernorm_forward(
  out: Floats,
  mean: Floats,
  rstd: Floats,
  inp: Floats,
  weight: Floats,
  bias: Floats,
  N: number,
  C: number,
): void {
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

export function layernorm_backward(
  dinp: Floats,
  dweight: Floats,
  dbias: Floats,
  dout: Floats,
  inp: Floats,
  weight: Floats,
  mean: Floats,
  rstd: Floats,
  N: number,
  C: number,
): void {
  for (let n = 0; n < N; n++) {
    let dnormMean = 0,
      dnormNormMean = 0;
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

export const layernormKernels = {
  layernorm_forward: kernel({
    ref: layernorm_forward,
    args: {
      out: writes('N,C'),
      mean: writes('N'),
      rstd: writes('N'),
      inp: reads('N,C'),
      weight: reads('C'),
      bias: reads('C'),
      N: dim,
      C: dim,
    },
    // each range of rows is the same kernel on fewer rows
    split: {
      parts: ['layernorm_forward'],
      when: ({ N, C }) => N * C >= MIN_ELEMENTS && N >= 2,
      plan: ({ out, mean, rstd, inp, weight, bias, N, C }, n) =>
        splitRange(N, n, 1).map(([r0, r1]): Job => [
          'layernorm_forward',
          [out + 4 * r0 * C, mean + 4 * r0, rstd + 4 * r0, inp + 4 * r0 * C, weight, bias, r1 - r0, C],
        ]),
    },
    warm: [{ N: 16, C: 64 }],
  }),
  layernorm_backward: kernel({
    ref: layernorm_backward,
    args: {
      dinp: accumulates('N,C'),
      dweight: accumulates('C'),
      dbias: accumulates('C'),
      dout: reads('N,C'),
      inp: reads('N,C'),
      weight: reads('C'),
      mean: reads('N'),
      rstd: reads('N'),
      N: dim,
      C: dim,
    },
    warm: [{ N: 16, C: 64 }],
  }),
};
