// The residual add: the plain-JS reference of assembly/residual.ts and its declaration. Its backward
// is no kernel: the residual stream's gradient passes through each add unchanged (see the model's
// backward).
import { kernel, reads, writes, dim, elementwise, type Floats } from './declare.js';

export function residual_forward(out: Floats, inp1: Floats, inp2: Floats, N: number): void {
  for (let i = 0; i < N; i++) out[i] = inp1[i] + inp2[i];
}

export const residualKernels = {
  residual_forward: kernel({
    ref: residual_forward,
    args: { out: writes('N'), inp1: reads('N'), inp2: reads('N'), N: dim },
    split: elementwise('residual_forward', ['out', 'inp1', 'inp2']),
    warm: [{ N: 1024 }],
  }),
};
