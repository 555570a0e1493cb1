// The scan that the loaders run over every weight (assembly/scan.ts): how many values are NaN,
// infinite or beyond f16's range, on both SIMD builds and split across threads, against the
// reference; and the index a loader names.
import { describe, it, beforeAll, afterAll, expect } from 'vitest';
import { WasmBackend, type Backend } from '../src/backend/index.js';
import { count_beyond, f32Bits } from '../src/kernels/index.js';
import { firstBeyond } from '../src/model/parameters.js';
import { bothBackends, tensorFrom, randomArray, rng } from './helpers.js';

let B: { wasm: Backend; relaxed: Backend; js: Backend }, three: WasmBackend;
beforeAll(async () => {
  B = await bothBackends();
  three = await WasmBackend.create({ simd: 'plain', threads: 3 });
});
afterAll(() => three.dispose());

const INF = f32Bits(Infinity),
  F16 = f32Bits(65520);

/** n random values with `planted` written at their indices. */
function values(n: number, planted: [number, number][]): Float32Array {
  const x = randomArray(n, rng(n), 1000);
  for (const [i, v] of planted) x[i] = v;
  return x;
}

describe('count_beyond', () => {
  it('counts NaN, infinities and magnitudes at or past the limit, at every tail length', () => {
    const edge: number[] = [NaN, Infinity, -Infinity, 65520, -65520, 65519.99, 65504, -0, 1e-45, 3.4e38];
    for (const n of [1, 7, 8, 9, 31, 100]) {
      const x = values(
        n,
        edge.slice(0, n).map((v, i): [number, number] => [n - 1 - i, v]),
      );
      for (const limit of [INF, F16]) {
        const want = count_beyond(x, n, limit);
        for (const be of [B.wasm, B.relaxed, B.js]) {
          const t = tensorFrom(be, [n], x);
          expect(be.count_beyond(t, n, limit), `${be.name} n ${n} limit ${limit.toString(16)}`).toBe(want);
          be.arena.release(t.ptr);
        }
      }
    }
    // the reference itself: NaN and +-inf at the inf limit; and also +-65520 and 3.4e38 at f16's
    const x = Float32Array.from(edge);
    expect(count_beyond(x, x.length, INF)).toBe(3);
    expect(count_beyond(x, x.length, F16)).toBe(6);
  });

  it('threads split the values and add up their counts', () => {
    const n = 300_001;
    const x = values(n, [
      [0, NaN],
      [150_000, Infinity],
      [150_001, 70000],
      [299_999, -Infinity],
      [300_000, NaN],
    ]);
    const t = tensorFrom(three, [n], x);
    const before = three.parallelCalls;
    expect(three.count_beyond(t, n, INF)).toBe(4);
    expect(three.count_beyond(t, n, F16)).toBe(5);
    expect(three.parallelCalls).toBe(before + 2);
    three.arena.release(t.ptr);
  });

  it('firstBeyond names the first such value, or -1', () => {
    const be = B.wasm;
    const t = tensorFrom(
      be,
      [4, 50],
      values(200, [
        [123, 70000],
        [150, NaN],
      ]),
    );
    expect(firstBeyond(be, t)).toBe(150);
    expect(firstBeyond(be, t, 65520)).toBe(123);
    expect(firstBeyond(be, tensorFrom(be, [3], [1, -2, 3]))).toBe(-1);
  });
});
