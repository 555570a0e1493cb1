// Softmax and cross-entropy: the plain-JS reference of assembly/crossentropy.ts and the declaration
// of its kernels. A negative target contributes no loss and no gradient.
import { kernel, reads, writes, dim, splitRange, MIN_ELEMENTS, type Job, type Floats } from './declare.js';

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
export function crossentropy_forward(
  losses: Floats,
  probs: Floats,
  targets: Int32Array,
  B: number,
  T: number,
  V: number,
): void {
  for (let n = 0; n < B * T; n++) losses[n] = targets[n] < 0 ? 0 : -Math.log(probs[n * V + targets[n]]);
}

export function crossentropy_softmax_backward(
  dlogits: Floats,
  dlosses: Floats,
  probs: Floats,
  targets: Int32Array,
  B: number,
  T: number,
  V: number,
): void {
  for (let n = 0; n < B * T; n++) {
    for (let i = 0; i < V; i++)
      dlogits[n * V + i] = targets[n] < 0 ? 0 : (probs[n * V + i] - (i === targets[n] ? 1 : 0)) * dlosses[n];
  }
}

export const crossentropyKernels = {
  softmax_forward: kernel({
    ref: softmax_forward,
    args: { probs: writes('B,T,V'), logits: reads('B,T,V'), B: dim, T: dim, V: dim },
    split: {
      parts: ['softmax_forward'],
      when: ({ B, T, V }) => B * T * V >= MIN_ELEMENTS && B * T >= 2,
      plan: ({ probs, logits, B, T, V }, n) =>
        splitRange(B * T, n, 1).map(([r0, r1]): Job => [
          'softmax_forward',
          [probs + 4 * r0 * V, logits + 4 * r0 * V, 1, r1 - r0, V],
        ]),
    },
    warm: [{ B: 2, T: 8, V: 64 }],
  }),
  crossentropy_forward: kernel({
    ref: crossentropy_forward,
    args: { losses: writes('B,T'), probs: reads('B,T,V'), targets: reads('B,T', 'i32'), B: dim, T: dim, V: dim },
    warm: [{ B: 2, T: 8, V: 64 }],
  }),
  crossentropy_softmax_backward: kernel({
    ref: crossentropy_softmax_backward,
    args: {
      dlogits: writes('B,T,V'),
      dlosses: reads('B,T'),
      probs: reads('B,T,V'),
      targets: reads('B,T', 'i32'),
      B: dim,
      T: dim,
      V: dim,
    },
    warm: [{ B: 2, T: 8, V: 64 }],
  }),
};
