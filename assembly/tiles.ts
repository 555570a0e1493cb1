// The register tiles every matrix product ends in (gemm.ts packs their operands): 6 or 4 rows of A
// times a packed panel of 8 columns of Bm, kept in 12 (or 8) accumulators across k, and a 1x8 tile
// for the last rows.
import { madd } from './simd';

// c (6 rows of 8, row stride crs) = (init, or c if init = 0) + a (6 packed rows) x b (a packed
// panel: K rows of 8). 12 accumulators, two vectors of b and one broadcast of a: 15 of the 16 xmm
// registers. V8 allocates them without spilling only when the tile is a function of its own, so
// it is exported (the optimizer inlines a function with one caller, and then it spills: 2x slower).
export function tile_6x8(c0: usize, crs: usize, a: usize, b: usize, K: i32, init: usize): void {
  tile_rows(c0, crs, a, b, K, init, true, 24);
}

// the same with a's 6 floats for k at a + k*aks (in place, rows adjacent) instead of packed at 24
// bytes per k (a function of its own for the same reason: the packed tile keeps its constant step)
export function tile_6x8_strided(c0: usize, crs: usize, a: usize, aks: usize, b: usize, K: i32, init: usize): void {
  tile_rows(c0, crs, a, b, K, init, true, aks);
}

// the same for 4 rows (8 accumulators; a: packed at 6 floats per k, the first 4 used)
@inline export function tile_4x8(c0: usize, crs: usize, a: usize, b: usize, K: i32, init: usize): void {
  tile_rows(c0, crs, a, b, K, init, false, 24);
}

// 6 rows, or 4 when !six (a constant at every call, so the optimizer drops rows 4 and 5); a's
// floats for the next k are aks bytes on
@inline function tile_rows(c0: usize, crs: usize, a: usize, b: usize, K: i32, init: usize, six: bool,
                           aks: usize): void {
  const c1 = c0 + crs, c2 = c1 + crs, c3 = c2 + crs, c4 = c3 + crs, c5 = c4 + crs;
  let x00: v128, x01: v128, x10: v128, x11: v128, x20: v128, x21: v128;
  let x30: v128, x31: v128, x40 = f32x4.splat(0), x41 = f32x4.splat(0), x50 = f32x4.splat(0), x51 = f32x4.splat(0);
  if (init != 0) {
    x00 = v128.load(init); x01 = v128.load(init, 16);
    x10 = x00; x11 = x01; x20 = x00; x21 = x01; x30 = x00; x31 = x01;
    if (six) { x40 = x00; x41 = x01; x50 = x00; x51 = x01; }
  } else {
    x00 = v128.load(c0); x01 = v128.load(c0, 16);
    x10 = v128.load(c1); x11 = v128.load(c1, 16);
    x20 = v128.load(c2); x21 = v128.load(c2, 16);
    x30 = v128.load(c3); x31 = v128.load(c3, 16);
    if (six) { x40 = v128.load(c4); x41 = v128.load(c4, 16); x50 = v128.load(c5); x51 = v128.load(c5, 16); }
  }
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let s = v128.load32_splat(a);
    x00 = madd(s, b0, x00); x01 = madd(s, b1, x01);
    s = v128.load32_splat(a, 4);
    x10 = madd(s, b0, x10); x11 = madd(s, b1, x11);
    s = v128.load32_splat(a, 8);
    x20 = madd(s, b0, x20); x21 = madd(s, b1, x21);
    s = v128.load32_splat(a, 12);
    x30 = madd(s, b0, x30); x31 = madd(s, b1, x31);
    if (six) {
      s = v128.load32_splat(a, 16);
      x40 = madd(s, b0, x40); x41 = madd(s, b1, x41);
      s = v128.load32_splat(a, 20);
      x50 = madd(s, b0, x50); x51 = madd(s, b1, x51);
    }
    a += aks; b += 32;
  }
  v128.store(c0, x00); v128.store(c0, x01, 16);
  v128.store(c1, x10); v128.store(c1, x11, 16);
  v128.store(c2, x20); v128.store(c2, x21, 16);
  v128.store(c3, x30); v128.store(c3, x31, 16);
  if (six) { v128.store(c4, x40); v128.store(c4, x41, 16); v128.store(c5, x50); v128.store(c5, x51, 16); }
}

// one row of 8: c = (init, or c if init = 0) + a (k stride aks) x b (a packed panel: K rows of 8)
@inline export function tile_1x8(c0: usize, a: usize, aks: usize, b: usize, K: i32, init: usize): void {
  const from = init != 0 ? init : c0;
  let x0 = v128.load(from), x1 = v128.load(from, 16);
  for (let k = 0; k < K; k++) {
    const a0 = v128.load32_splat(a);
    x0 = madd(a0, v128.load(b), x0);
    x1 = madd(a0, v128.load(b, 16), x1);
    a += aks; b += 32;
  }
  v128.store(c0, x0); v128.store(c0, x1, 16);
}

