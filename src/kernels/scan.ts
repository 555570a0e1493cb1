// Scans over a tensor's values: the plain-JS reference of assembly/scan.ts and its declaration.
import { kernel, reads, dim, scalar, splitRange, MIN_ELEMENTS, type Floats, type Job } from './declare.js';

const f32 = new Float32Array(1),
  u32 = new Uint32Array(f32.buffer);

/** The bits of the f32 nearest x (count_beyond's limit: f32Bits(Infinity), f32Bits(65520)). */
export function f32Bits(x: number): number {
  f32[0] = x;
  return u32[0];
}

/** How many of inp's N values have a magnitude whose f32 bits are `limit` or more (NaN and inf at f32Bits(Infinity)). */
export function count_beyond(inp: Floats, N: number, limit: number): number {
  let n = 0;
  for (let i = 0; i < N; i++) if ((f32Bits(inp[i]) & 0x7fffffff) >= limit) n++;
  return n;
}

export const scanKernels = {
  /** Threads split the values into ranges and their counts add up. */
  count_beyond: kernel({
    ref: count_beyond,
    args: { inp: reads('N'), N: dim, limit: scalar },
    split: {
      parts: ['count_beyond'],
      when: (a) => a.N >= MIN_ELEMENTS,
      plan: ({ inp, N, limit }, n) =>
        splitRange(N, n, 8).map(([i0, i1]): Job => ['count_beyond', [inp + 4 * i0, i1 - i0, limit]]),
      sums: true,
    },
    warm: [{ N: 1024, limit: 0x7f800000 }],
  }),
};
