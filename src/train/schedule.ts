// nanoGPT's learning-rate schedule: linear warmup, cosine decay to minLr, then minLr.
export interface Schedule {
  lr: number;
  minLr: number;
  warmupIters: number;
  decayIters: number;
}

export function learningRate(iter: number, s: Schedule): number {
  if (iter < s.warmupIters) return (s.lr * (iter + 1)) / (s.warmupIters + 1);
  if (iter > s.decayIters) return s.minLr;
  const ratio = (iter - s.warmupIters) / Math.max(1, s.decayIters - s.warmupIters);
  return s.minLr + 0.5 * (1 + Math.cos(Math.PI * ratio)) * (s.lr - s.minLr);
}
