// The toy Shakespeare-sized model and the timed training step that bench:compare and
// bench:ceiling share, so that both time exactly the same thing.
import type { GPT } from '../src/model/gpt.js';
import { median } from './median.js';

/** 4 layers, 4 heads, 128 wide, vocab 65 (Tiny Shakespeare's characters), batch 32 x 128. */
export const TOY = { B: 32, T: 128, L: 4, H: 4, C: 128, V: 65 };

/** gpt2_torch.py's arguments for the same model's training step on PyTorch. */
export function toyTorchTrain(threads: number): string[] {
  return ['train', ...[TOY.B, TOY.T, TOY.L, TOY.H, TOY.C, TOY.V].map(String), String(threads)];
}

/** n token ids below V from a seeded linear congruential generator (the same ids in every engine). */
export function randomIds(n: number, seed: number, V = 50257): number[] {
  let x = seed >>> 0;
  return Array.from({ length: n }, () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x % V;
  });
}

/**
 * A training step's tok/s (forward, backward, gradient clipping, AdamW): the median of `steps`
 * timed steps after two untimed ones. PyTorch's side (bench/compare/gpt2_torch.py bench_train)
 * does the same: zeroed gradients, loss, backward, clipping at 1, AdamW.
 */
export function trainSteps(m: GPT, B: number, T: number, V: number, steps: number): number {
  const x = Int32Array.from(randomIds(B * T, 3, V)),
    y = Int32Array.from(randomIds(B * T, 4, V));
  const step = () => {
    m.zeroGrad();
    m.forward(x, B, T, y);
    m.backward();
    const norm = m.gradNorm(); // clipped at 1, as the PyTorch side does
    m.step({
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.99,
      eps: 1e-8,
      weightDecay: 0.1,
      decay: 'matrices',
      gradScale: norm > 1 ? 1 / norm : 1,
    });
  };
  step();
  step();
  const ts: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    ts.push(performance.now() - t0);
  }
  return (B * T) / (median(ts) / 1000);
}
