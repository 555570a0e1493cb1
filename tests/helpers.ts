import { JsBackend, WasmBackend, Tensor, type Backend, type DType } from '../src/backend/index.js';

/** Small deterministic PRNG (mulberry32) for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(n: number, rand: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rand() * 2 - 1) * scale;
  return a;
}

export interface TestBackends {
  wasm: Backend;
  relaxed: Backend;
  js: Backend;
}
let backends: Promise<TestBackends> | null = null;
/** The plain-SIMD wasm build, the relaxed-SIMD build (fused multiply-add) and the JS reference. */
export function bothBackends(): Promise<TestBackends> {
  backends ??= Promise.all([WasmBackend.create({ simd: 'plain' }), WasmBackend.create({ simd: 'relaxed' })]).then(
    ([wasm, relaxed]) => ({ wasm, relaxed, js: new JsBackend() }),
  );
  return backends;
}

export function tensorFrom(
  backend: Backend,
  shape: number[],
  data: ArrayLike<number>,
  dtype: DType = 'f32',
  name = '',
): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const ptr = backend.arena.alloc(size * 4, name || 'test tensor');
  const t = new Tensor(backend.arena, ptr, shape, dtype, name);
  t.view().set(data);
  return t;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; at: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0,
    at = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > diff || Number.isNaN(d)) {
      diff = d;
      at = i;
      if (Number.isNaN(d)) break;
    }
  }
  return { diff, at };
}

/**
 * Element-wise |a - e| <= atol + rtol * |e|. Throws naming the tensor, the max abs diff and
 * where it is, so a failing test says how far off it was.
 */
export function expectClose(
  name: string,
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol = 0,
): number {
  if (actual.length !== expected.length)
    throw new Error(`${name}: length ${actual.length}, expected ${expected.length}`);
  let worst = -1,
    worstExcess = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    const excess = d - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(d))) {
      worst = i;
      worstExcess = excess;
    }
  }
  const { diff, at } = maxAbsDiff(actual, expected);
  if (worst >= 0) {
    throw new Error(
      `${name}: max abs diff ${diff.toExponential(3)} at [${at}] (tolerance ${atol} + ${rtol}*|x|); ` +
        `worst at [${worst}]: got ${actual[worst]}, expected ${expected[worst]}`,
    );
  }
  return diff;
}

/** Read a file from ../shared, failing (never skipping) when it is missing. */
export const SHARED = new URL('../../shared/', import.meta.url);

import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Bytes of a file under ../shared. A missing file fails the test with its path (in CI and
 * everywhere else): these are the project's reference data, not optional extras.
 */
export function readShared(relative: string): Uint8Array {
  const path = fileURLToPath(new URL(relative, SHARED));
  if (!existsSync(path)) {
    throw new Error(`missing ${path}: the tests read ../shared beside the project root (see ../shared/README.md)`);
  }
  return readFileSync(path);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export { f32ToF16Bits } from '../src/backend/f16.js';
import { f32ToF16Bits } from '../src/backend/f16.js';

/** f32 -> bfloat16 bits, round to nearest even. */
export function f32ToBF16Bits(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0];
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Little-endian half-precision bytes of a float array. */
export function halfBytes(a: ArrayLike<number>, dtype: 'F16' | 'BF16'): Uint8Array {
  const out = new Uint8Array(a.length * 2),
    dv = new DataView(out.buffer);
  const conv = dtype === 'F16' ? f32ToF16Bits : f32ToBF16Bits;
  for (let i = 0; i < a.length; i++) dv.setUint16(2 * i, conv(a[i]), true);
  return out;
}
