// AdamW and the global gradient norm: the plain-JS reference of assembly/adamw.ts and the
// declaration of its kernels.
import { kernel, reads, updates, dim, scalar, type Named, type Floats } from './declare.js';

// torch.optim.AdamW: decoupled weight decay first, then the bias-corrected Adam step, on the
// gradients times grad_scale
export function adamw_update(
  params: Floats,
  grads: Floats,
  m: Floats,
  v: Floats,
  N: number,
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weight_decay: number,
  t: number,
  grad_scale: number,
): void {
  const bc1 = 1 - beta1 ** t,
    bc2 = 1 - beta2 ** t;
  for (let i = 0; i < N; i++) {
    const g = grads[i] * grad_scale;
    m[i] = beta1 * m[i] + (1 - beta1) * g;
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    params[i] *= 1 - lr * weight_decay;
    params[i] -= ((lr / bc1) * m[i]) / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps);
  }
}

export function sum_squares(x: Floats, N: number): number {
  let s = 0;
  for (let i = 0; i < N; i++) s += x[i] * x[i];
  return s;
}

function adamwRules({ lr, beta1, beta2, eps, weight_decay, t, grad_scale }: Named): string | null {
  if (!Number.isInteger(t) || t < 1) return `step t must be an integer >= 1, got ${t}`;
  for (const [n, x] of Object.entries({ lr, beta1, beta2, eps, weight_decay, grad_scale })) {
    if (!Number.isFinite(x) || x < 0) return `${n} must be a finite number >= 0, got ${x}`;
  }
  return beta1 >= 1 || beta2 >= 1 ? `betas must be < 1, got ${beta1}, ${beta2}` : null;
}

export const adamwKernels = {
  adamw_update: kernel({
    ref: adamw_update,
    args: {
      params: updates('N'),
      grads: reads('N'),
      m: updates('N'),
      v: updates('N'),
      N: dim,
      lr: scalar,
      beta1: scalar,
      beta2: scalar,
      eps: scalar,
      weight_decay: scalar,
      t: scalar,
      grad_scale: scalar,
    },
    check: adamwRules,
    warm: [{ N: 4096, lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, t: 1, grad_scale: 1 }],
  }),
  sum_squares: kernel({
    ref: sum_squares,
    args: { x: reads('N'), N: dim },
    warm: [{ N: 4096 }],
  }),
};
