// GELU with the tanh approximation (GPT-2's): the plain-JS reference of assembly/gelu.ts and the
// declaration of both kernels.
import { kernel, reads, writes, dim, elementwise, type Floats } from './declare.js';

const GELU_SCALE = Math.sqrt(2 / Math.PI);

export function gelu_forward(out: Floats, inp: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + Math.tanh(GELU_SCALE * (x + 0.044715 * x * x * x)));
  }
}

// out (= gelu_forward(inp)) is what the wasm kernel takes its tanh from; the definition here
// computes the tanh again.
export function gelu_backward(dinp: Floats, inp: Floats, out: Floats, dout: Floats, N: number): void {
  for (let i = 0; i < N; i++) {
    const x = inp[i];
    const th = Math.tanh(GELU_SCALE * (x + 0.044715 * x * x * x));
    const local = 0.5 * (1 + th) + x * 0.5 * (1 - th * th) * GELU_SCALE * (1 + 3 * 0.044715 * x * x);
    dinp[i] = local * dout[i];
  }
}

export const geluKernels = {
  gelu_forward: kernel({
    ref: gelu_forward,
    args: { out: writes('N'), inp: reads('N'), N: dim },
    split: elementwise('gelu_forward', ['out', 'inp']),
    warm: [{ N: 1024 }],
  }),
  gelu_backward: kernel({
    ref: gelu_backward,
    args: { dinp: writes('N'), inp: reads('N'), out: reads('N'), dout: reads('N'), N: dim },
    split: elementwise('gelu_backward', ['dinp', 'inp', 'out', 'dout']),
    warm: [{ N: 1024 }],
  }),
};
