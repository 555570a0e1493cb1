// The register-blocked matrix product shared by the linear layers (matmul.ts) and attention
// (attention.ts): Cm[i,j] (+)= sum_k A[i,k] * Bm[k,j], with A read through any row and k strides
// and Bm by rows or transposed, both packed into small buffers that tiles of 6 (or 4) rows x 8
// columns sweep with all their sums in registers.
//
// Every element is one chain c = a*b + c over k in order, from its start (the bias, zero or Cm),
// whichever tile, tail, chunk or thread computes it: a split of the work never changes a bit.
//
// Attention's products are causal: row i of the result needs only some columns, or only some k,
// and a mode says which (diag >= 0 is the offset of the diagonal):
//   CAUSAL_COLS  row i needs columns j <= i + diag (scores = q k^T). Tiles still fill whole
//                panels of 8 columns, so a few columns past the diagonal get written too.
//   CAUSAL_K_TO  row i sums over k <= i + diag (att v). The rows of a tile share the longest
//                range: A[i,k] must be zero past row i's own end, so extra terms add nothing.
//   CAUSAL_K_FROM row i sums over k >= i + diag (att^T dout); A[i,k] zero before row i's start.
import { axpy, madd, madd1, zero, load_part, store_part, touch } from './simd';
import { tile_6x8, tile_6x8_strided, tile_4x8, tile_1x8 } from './tiles';

export const DENSE = 0, CAUSAL_COLS = 1, CAUSAL_K_TO = 2, CAUSAL_K_FROM = 3;

// start a sum from zero: pass as init / bias (a row of zeros that every column reads)
export const ZEROS: usize = memory.data(64, 16);

// Cm (M,N) with row stride ldc; A element (i,k) at A + 4*(i*a_rs + k*a_ks); Bm (K,N) row stride
// ldb, or with bt, Bm stored transposed: element (k,j) at Bm + 4*(j*ldb + k). With bias = 0,
// Cm += A Bm; otherwise Cm = bias (one row of N, for every row; ZEROS for none) + A Bm, and the
// old contents of Cm are never read (the forward pass needs no separate pass writing the bias).
// causal and diag: see the top of the file. With CAUSAL_K_FROM every row must have a term
// (M - 1 + diag < K) when there is a bias: a row with none would never be written.
// colsum (dense, Bm by rows, M >= 4, N a multiple of 8): also colsum[j] += Bm[k,j] for every k in
// order, added as the packing copies each row of Bm (a bias's gradient is the column sums of
// dout, the Bm of dweight's product: this saves it a pass of its own over dout).
// packed: Bm's panels are already in packW (put there by pack_once with the same Bm, ldb, bt, K
// and N), so this product packs no Bm of its own; M >= 4, and K and N within packs_once.
export function gemm_nn(Cm: usize, ldc: i32, A: usize, a_rs: i32, a_ks: i32, Bm: usize, ldb: i32, bt: bool,
                        M: i32, N: i32, K: i32, bias: usize, causal: i32 = DENSE, diag: i32 = 0, colsum: usize = 0,
                        packed: bool = false): void {
  const aks = <usize>a_ks << 2, ars = <usize>a_rs << 2, crs = <usize>ldc << 2;
  const bks: usize = bt ? 4 : <usize>ldb << 2, bjs: usize = bt ? <usize>ldb << 2 : 4; // k and column strides of Bm
  const N8 = N & ~7;
  if (causal == CAUSAL_K_FROM && bias != 0 && M - 1 + diag >= K) unreachable();
  if (colsum != 0 && (causal != DENSE || bt || M < 4 || (N & 7) != 0)) unreachable();
  if (packed && (M < 4 || colsum != 0 || !packs_once(N, K))) unreachable();
  if (M < 4 && !bt) {
    // few rows (decode): stream Bm's rows once, four at a time; the output row stays in cache
    for (let i = 0; i < M; i++) {
      const c = Cm + <usize>i * crs;
      if (bias == ZEROS) zero(c, N);
      else if (bias != 0) memory.copy(c, bias, <usize>N << 2);
      const lo = k_from(causal, i, diag, K), hi = k_to(causal, i, 1, diag, K);
      let a = A + <usize>i * ars + <usize>lo * aks, b = Bm + <usize>lo * bks, k = lo;
      for (; k + 4 <= hi; k += 4) {
        axpy4(c, load<f32>(a), load<f32>(a + aks), load<f32>(a + 2 * aks), load<f32>(a + 3 * aks), b, bks, N);
        a += 4 * aks; b += 4 * bks;
      }
      for (; k < hi; k++) {
        axpy(c, load<f32>(a), b, N);
        a += aks; b += bks;
      }
    }
    return;
  }
  if (M < 4) {
    // few rows, Bm transposed (a decode step's attention scores): packing Bm would cost more than
    // the rows' products, so its rows are transposed in registers instead, 4 columns at a time
    for (let i = 0; i < M; i++) {
      const lo = k_from(causal, i, diag, K), hi = k_to(causal, i, 1, diag, K);
      row_bt(Cm + <usize>i * crs, A + <usize>i * ars, aks, Bm, bjs, columns(causal, i, 1, diag, N), lo, hi, bias);
    }
    return;
  }
  // k in chunks, each packed then swept by the tiles; a block of rows starts from the bias in the
  // chunk where its k range begins. A chunk stores its sums and the next one loads them back
  // (exactly), so every element is one chain c = a*b + c over k in order, from the bias or from
  // Cm, however K is cut. A chunk is as long as the packing buffer holds for this many columns
  // (KC x NB floats), up to KC_MAX: K = 384 or 512 with 128 columns (the toy model's dinp and
  // c_proj) then takes one chunk instead of two (measured 8.62 -> 8.10 ms at 4096 x 384 x 128,
  // 10.87 -> 10.38 at 4096 x 512 x 128).
  const chunk = k_chunk(N);
  for (let k0 = 0; k0 < K; k0 += chunk) {
    const kc = min(chunk, K - k0);
    gemm_nn_chunk(Cm, ldc, A + <usize>k0 * aks, a_rs, a_ks, Bm + <usize>k0 * bks, ldb, bt, M, N8, kc, bias, k0,
                  causal, causal == CAUSAL_COLS ? diag : diag - k0, colsum, packed);
  }
  // columns past the last multiple of 8, with the tiles' arithmetic, so every element comes out
  // the same whichever path or thread computes it
  for (let i = 0; i < M; i++) {
    const lo = k_from(causal, i, diag, K), hi = k_to(causal, i, 1, diag, K);
    const jn = columns(causal, i, 1, diag, N);
    for (let j = N8; j < jn; j++) {
      const c = Cm + <usize>i * crs + (<usize>j << 2);
      let s = load<f32>(bias != 0 ? column(bias, j) : c);
      let a = A + <usize>i * ars + <usize>lo * aks, b = Bm + <usize>j * bjs + <usize>lo * bks;
      for (let k = lo; k < hi; k++) { s = madd1(load<f32>(a), load<f32>(b), s); a += aks; b += bks; }
      store<f32>(c, s);
    }
  }
}

// c[j] += a0 b[j] + a1 b[step + j] + a2 b[2 step + j] + a3 b[3 step + j], added in that order (four
// axpy's arithmetic with one load and store of c instead of four)
@inline function axpy4(c: usize, a0: f32, a1: f32, a2: f32, a3: f32, b: usize, step: usize, N: i32): void {
  const s0 = f32x4.splat(a0), s1 = f32x4.splat(a1), s2 = f32x4.splat(a2), s3 = f32x4.splat(a3);
  const b1 = b + step, b2 = b1 + step, b3 = b2 + step;
  let j = 0;
  for (; j + 4 <= N; j += 4) {
    const o = <usize>j << 2;
    let x = madd(s0, v128.load(b + o), v128.load(c + o));
    x = madd(s1, v128.load(b1 + o), x);
    x = madd(s2, v128.load(b2 + o), x);
    v128.store(c + o, madd(s3, v128.load(b3 + o), x));
  }
  for (; j < N; j++) {
    const o = <usize>j << 2;
    let x = madd1(a0, load<f32>(b + o), load<f32>(c + o));
    x = madd1(a1, load<f32>(b1 + o), x);
    x = madd1(a2, load<f32>(b2 + o), x);
    store<f32>(c + o, madd1(a3, load<f32>(b3 + o), x));
  }
}

// One row c (N columns) = init + a (k stride aks) x Bm transposed (column j: the row at Bm + j*bjs),
// over k in [lo, hi): columns 16 at a time (four independent chains), then 4 (the last 1-4), each
// a chain over k in order as in the tiles.
@inline function row_bt(c: usize, a: usize, aks: usize, Bm: usize, bjs: usize, N: i32, lo: i32, hi: i32,
                        init: usize): void {
  let j = 0;
  for (; j + 16 <= N; j += 16) columns_bt(c, a, aks, Bm, bjs, j, 16, lo, hi, init, true);
  for (; j < N; j += 4) columns_bt(c, a, aks, Bm, bjs, j, min(4, N - j), lo, hi, init, false);
}

// columns [j, j + n) of row_bt (wide: n = 16, else n <= 4): 4 x 4 blocks of Bm transposed in
// registers. With n < 4 the missing columns read the last one's row again and their lanes are not
// stored, so every column is the same chain however the row's columns fall into groups.
@inline function columns_bt(c: usize, a: usize, aks: usize, Bm: usize, bjs: usize, j: i32, n: i32, lo: i32, hi: i32,
                            init: usize, wide: bool): void {
  const cj = c + (<usize>j << 2), from = init != 0 ? column(init, j) : cj, all = wide || n == 4;
  let x0 = load_part(from, n, all), x1 = f32x4.splat(0), x2 = f32x4.splat(0), x3 = f32x4.splat(0);
  if (wide) { x1 = v128.load(from, 16); x2 = v128.load(from, 32); x3 = v128.load(from, 48); }
  const s1: usize = all || n > 1 ? bjs : 0, s2: usize = all || n > 2 ? bjs : 0, s3: usize = all ? bjs : 0;
  const r0 = Bm + <usize>j * bjs, r4 = r0 + 4 * bjs, r8 = r4 + 4 * bjs, r12 = r8 + 4 * bjs;
  let k = lo;
  for (; k + 4 <= hi; k += 4) {
    const ak = a + <usize>k * aks, o = <usize>k << 2;
    const a0 = v128.load32_splat(ak), a1 = v128.load32_splat(ak + aks);
    const a2 = v128.load32_splat(ak + 2 * aks), a3 = v128.load32_splat(ak + 3 * aks);
    x0 = madd_block(x0, a0, a1, a2, a3, r0 + o, s1, s2, s3);
    if (wide) {
      x1 = madd_block(x1, a0, a1, a2, a3, r4 + o, bjs, bjs, bjs);
      x2 = madd_block(x2, a0, a1, a2, a3, r8 + o, bjs, bjs, bjs);
      x3 = madd_block(x3, a0, a1, a2, a3, r12 + o, bjs, bjs, bjs);
    }
  }
  for (; k < hi; k++) {
    const s = v128.load32_splat(a + <usize>k * aks), o = <usize>k << 2;
    x0 = madd(s, gather4(r0 + o, s1, s2, s3), x0);
    if (wide) {
      x1 = madd(s, gather4(r4 + o, bjs, bjs, bjs), x1);
      x2 = madd(s, gather4(r8 + o, bjs, bjs, bjs), x2);
      x3 = madd(s, gather4(r12 + o, bjs, bjs, bjs), x3);
    }
  }
  store_part(cj, x0, n, all);
  if (wide) { v128.store(cj, x1, 16); v128.store(cj, x2, 32); v128.store(cj, x3, 48); }
}

// x + a0 * column 0 + a1 * column 1 + ... (in that order) of the 4 x 4 block whose rows (4 values
// of k for one column of the result) start at r, then each the given step (bytes) after the last
@inline function madd_block(x: v128, a0: v128, a1: v128, a2: v128, a3: v128, r: usize, s1: usize, s2: usize,
                            s3: usize): v128 {
  const p1 = r + s1, p2 = p1 + s2, p3 = p2 + s3;
  const y0 = v128.load(r), y1 = v128.load(p1), y2 = v128.load(p2), y3 = v128.load(p3);
  const t0 = v128.shuffle<f32>(y0, y1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(y2, y3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(y0, y1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(y2, y3, 2, 6, 3, 7);
  x = madd(a0, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), x);
  x = madd(a1, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), x);
  x = madd(a2, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), x);
  return madd(a3, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), x);
}

// the float at p and at three more places, each the given step (bytes) after the last
@inline function gather4(p: usize, s1: usize, s2: usize, s3: usize): v128 {
  const p1 = p + s1, p2 = p1 + s2, p3 = p2 + s3;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(v128.load32_splat(p),
    1, load<f32>(p1)), 2, load<f32>(p2)), 3, load<f32>(p3));
}

// Whether rows [i, ..) begin their k range in the chunk starting at k0 (d: the diagonal's offset
// in it): only a CAUSAL_K_FROM block can begin past the first chunk (at its first row's i + d;
// before the chunk's start it began in an earlier one, unless that is k = 0).
@inline function begins_here(causal: i32, i: i32, d: i32, k0: i32): bool {
  return k0 == 0 || (causal == CAUSAL_K_FROM && i + d >= 0);
}

// What rows [i, i + r) need, of K values of k (or N columns), d being the diagonal's offset: the
// k range [k_from, k_to) they sum over (the first row starts latest, the last ends latest), and
// the columns [0, columns) they fill.
@inline function k_from(causal: i32, i: i32, d: i32, K: i32): i32 {
  return causal == CAUSAL_K_FROM ? min(max(i + d, 0), K) : 0;
}
@inline function k_to(causal: i32, i: i32, r: i32, d: i32, K: i32): i32 {
  return causal == CAUSAL_K_TO ? min(max(i + r + d, 0), K) : K;
}
@inline function columns(causal: i32, i: i32, r: i32, d: i32, N: i32): i32 {
  return causal == CAUSAL_COLS ? min(max(i + r + d, 0), N) : N;
}

// the length of gemm_nn's k chunks for N columns
@inline export function k_chunk(N: i32): i32 { return min(KC_MAX, KC * NB / max(8, min(N & ~7, NB))); }

// Packing buffers, one set per instance (each thread runs its own instance over the shared
// memory, so the host gives each its own region: set_pack_buffer). A tile then reads A and Bm
// from two small contiguous buffers at fixed offsets, whatever the strides of the originals.
const KC = 256, NB = 512, KC_MAX = 512;       // k chunk with NB columns; columns packed at once; longest chunk
const PACK_BYTES: i32 = (6 * KC_MAX + 2 * KC * NB) * 4;
let packA: usize = 0;                         // 6 rows of A, k-major: (a0, .., a5) per k
let packB: usize = 0;                         // KC x NB floats of Bm, in panels of 8 columns, k-major
let packW: usize = 0;                         // the same for a Bm packed once for several products (pack_once)
export function set_pack_buffer(p: usize): void { packA = p; packB = p + 6 * KC_MAX * 4; packW = packB + KC * NB * 4; }
export function pack_bytes(): i32 { return PACK_BYTES; }
// For kernels that pack weights of their own (quant.ts): packW, which gemm_nn reads with packed,
// and packB as scratch (gemm_nn with packed never touches it).
@inline export function packed_panels(): usize { if (packW == 0) unreachable(); return packW; }
@inline export function pack_scratch(): usize { if (packB == 0) unreachable(); return packB; }
export const PANEL_COLUMNS = NB, SCRATCH_BYTES = KC * NB * 4;

// Whether a Bm of K x N fits gemm_nn's packing whole (one k chunk, one block of columns), so
// that it can be packed once for several products: pack_once, then gemm_nn with packed.
@inline export function packs_once(N: i32, K: i32): bool { return N <= NB && K <= k_chunk(N); }

// Bm's panels into packW, as gemm_nn_chunk packs them into packB (Bm by rows, or transposed)
export function pack_once(Bm: usize, ldb: i32, bt: bool, K: i32, N: i32): void {
  if (packA == 0 || !packs_once(N, K)) unreachable();
  pack_panels(packW, Bm, <usize>ldb << 2, bt, K, N & ~7);
}

// Columns [0, N8) of one k chunk (K <= KC_MAX, K x min(N8, NB) <= KC x NB), in tiles of 6 rows x 8 columns (12
// accumulators).
// Up to NB columns of Bm are packed panel by panel (or were, into packW: packed), then each block of 6 rows of A is
// packed
// and sweeps them (the packed columns stay in L2, the packed rows in L1). Sums start from the
// row at init (the bias, or ZEROS) in the chunk where a block's k range begins (k0: this chunk's
// first k), else, or with init = 0, from Cm. A causal block packs and sweeps only its k range
// [lo, hi) and its columns [0, jn) (d: the diagonal's offset in this chunk). colsum: see gemm_nn.
function gemm_nn_chunk(Cm: usize, ldc: i32, A: usize, a_rs: i32, a_ks: i32, Bm: usize, ldb: i32, bt: bool,
                       M: i32, N8: i32, K: i32, init: usize, k0: i32, causal: i32, d: i32, colsum: usize,
                       packed: bool): void {
  const aks = <usize>a_ks << 2, ars = <usize>a_rs << 2, crs = <usize>ldc << 2, lb = <usize>ldb << 2;
  // Relaxed build: rows in blocks of 6, the last 2-5 in blocks of 4 (M = 6q + 2 as 6(q-1) + 4 + 4)
  // and of 1. Plain build: blocks of 4, as its mul and add need one more register (the product):
  // 6-row tiles spill there (measured 1.4x slower).
  const r = M % 6, M6 = ASC_FEATURE_RELAXED_SIMD ? M - (r == 2 && M >= 8 ? 8 : r) : 0, M4 = M6 + (M - M6) / 4 * 4;
  const panelBytes = <usize>K << 5;
  if (packA == 0) unreachable(); // the host did not give this instance its buffer: trap, never write at 0
  const panels = packed ? packW : packB; // packed: pack_once did it (one block of columns: j0 = 0)
  // attention's dk and dv products read A transposed (rows adjacent: att^T, d(scores)^T), a
  // block's 6 floats per k already side by side as packA holds them, one line per k over at most
  // T lines that stay in L1 across the block's tiles: its 6-row blocks read them in place
  // (measured at the toy model's shape, four in-process A/Bs of 40-60 rounds: its attention
  // backward 0.25-0.92 ms less a step, 34 ms). dweight's A is the same layout over 252-512 lines
  // a chunk, which do not stay: read in place there it measured slower.
  const inPlace = causal == CAUSAL_K_FROM && ars == 4;
  for (let j0 = 0; j0 < N8; j0 += NB) {
    const nb = min(NB, N8 - j0), dj = d - j0;
    if (columns(causal, M - 1, 1, dj, nb) <= 0) break; // no row needs these columns
    if (colsum != 0) pack_b_sum(Bm + (<usize>j0 << 2), lb, K, nb, colsum + (<usize>j0 << 2));
    else if (!packed) pack_panels(packB, Bm + <usize>j0 * (bt ? lb : 4), lb, bt, K, nb);
    const cj = Cm + (<usize>j0 << 2), ij = column(init, j0);
    for (let i = 0; i < M; ) {
      const rows = i < M6 ? 6 : i < M4 ? 4 : 1;
      const lo = k_from(causal, i, d, K), hi = k_to(causal, i, rows, d, K), jn = columns(causal, i, rows, dj, nb);
      const ci = cj + <usize>i * crs, ai = A + <usize>i * ars + <usize>lo * aks, b = panels + (<usize>lo << 5);
      const bi = begins_here(causal, i, d, k0) ? ij : 0;
      if (hi > lo) {
        const direct = inPlace && rows == 6;
        if (rows > 1 && !direct) pack_a(ai, ars, aks, hi - lo, rows == 6);
        if (aks == 4 && i + 18 <= M) warm_rows(ai + 12 * ars, ars, (hi - lo) << 2);
        for (let j = 0; j < jn; j += 8) {
          const c = ci + (<usize>j << 2), panel = b + (<usize>(j >> 3)) * panelBytes, from = column(bi, j);
          if (direct) tile_6x8_strided(c, crs, ai, aks, panel, hi - lo, from);
          else if (rows == 6) tile_6x8(c, crs, packA, panel, hi - lo, from);
          else if (rows == 4) tile_4x8(c, crs, packA, panel, hi - lo, from);
          else tile_1x8(c, ai, aks, panel, hi - lo, from);
        }
      }
      i += rows;
    }
  }
}

// Touch the 6 rows of A two blocks ahead (k contiguous: the forward's and dinp's activations),
// so that their cache lines come in from memory while this block's tiles run; packing them later
// then finds them in cache. (Measured: the toy model's matmuls 1.5-2.5 ms less per layer, its
// attention 1-3 us less per head, a whole step 6 ms less; GPT-2's shapes at M = 128 unchanged.)
@inline function warm_rows(a: usize, ars: usize, bytes: usize): void {
  for (let r = 0; r < 6; r++) touch(a + <usize>r * ars, bytes);
}

// panel p of to (packB or packW), row k = Bm[k, 8p .. 8p+8) (nb columns, a multiple of 8), panel by panel: the
// writes are one sequential stream. (Row by row, each row's 32 bytes went to nb/8 places K*32
// bytes apart, which share their L1 sets: the toy model's dweight at 4096 x 128 x 384 measured
// 8.38 -> 7.81 ms, at 4096 x 128 x 512 11.26 -> 10.25 ms. Two panels at a time, reading whole
// 64-byte rows: in between.)
@inline function pack_b(to: usize, Bm: usize, bks: usize, K: i32, nb: i32): void {
  let dst = to;
  for (let j = 0; j < nb; j += 8) {
    let s = Bm + (<usize>j << 2);
    for (let k = 0; k < K; k++) {
      v128.store(dst, v128.load(s)); v128.store(dst, v128.load(s, 16), 16);
      dst += 32; s += bks;
    }
  }
}

// pack_b, and each panel's 8 columns summed over k in order into sums (8 floats per panel)
@inline function pack_b_sum(Bm: usize, bks: usize, K: i32, nb: i32, sums: usize): void {
  let dst = packB;
  for (let j = 0; j < nb; j += 8) {
    let s = Bm + (<usize>j << 2);
    const sj = sums + (<usize>j << 2);
    let s0 = v128.load(sj), s1 = v128.load(sj, 16);
    for (let k = 0; k < K; k++) {
      const x0 = v128.load(s), x1 = v128.load(s, 16);
      v128.store(dst, x0); v128.store(dst, x1, 16);
      s0 = f32x4.add(s0, x0); s1 = f32x4.add(s1, x1);
      dst += 32; s += bks;
    }
    v128.store(sj, s0); v128.store(sj, s1, 16);
  }
}

// Bm's nb columns from the one at Bm into panels at to (packB or packW), Bm by rows or transposed
@inline function pack_panels(to: usize, Bm: usize, lb: usize, bt: bool, K: i32, nb: i32): void {
  if (bt) pack_bt(to, Bm, lb, K, nb);
  else pack_b(to, Bm, lb, K, nb);
}

// column j of a row given by its address (ZEROS: zero in every column), or 0 for no row (the tiles' init)
@inline function column(row: usize, j: i32): usize { return row != 0 && row != ZEROS ? row + (<usize>j << 2) : row; }

// the same panels from a transposed Bm (column j of Bm is the row at Bm + j*ljs, k contiguous):
// 4 k x 4 columns at a time, transposed in registers
@inline function pack_bt(to: usize, Bm: usize, ljs: usize, K: i32, nb: i32): void {
  const panelBytes = <usize>K << 5, K4 = K & ~3;
  for (let j = 0; j < nb; j += 4) {
    const r0 = Bm + <usize>j * ljs, r1 = r0 + ljs, r2 = r1 + ljs, r3 = r2 + ljs;
    let dst = to + <usize>(j >> 3) * panelBytes + (<usize>(j & 4) << 2);
    let k = 0;
    for (; k < K4; k += 4) {
      const o = <usize>k << 2;
      store_transposed(dst, 32, v128.load(r0 + o), v128.load(r1 + o), v128.load(r2 + o), v128.load(r3 + o));
      dst += 128;
    }
    for (; k < K; k++) {
      const o = <usize>k << 2;
      store<f32>(dst, load<f32>(r0 + o)); store<f32>(dst, load<f32>(r1 + o), 4);
      store<f32>(dst, load<f32>(r2 + o), 8); store<f32>(dst, load<f32>(r3 + o), 12);
      dst += 32;
    }
  }
}

// rows x0..x3 (4 floats each) stored as columns: lane i of every row at dst + i*step
@inline export function store_transposed(dst: usize, step: usize, x0: v128, x1: v128, x2: v128, x3: v128): void {
  const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + step, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * step, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * step, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

// packA = A[0..6, k] (or A[0..4, k] when !six) for each k, at 6 floats per k. Fast paths for the
// two layouts the callers have: rows adjacent (A read transposed: dweight) and k contiguous
// (forward, dinp).
@inline function pack_a(A: usize, ars: usize, aks: usize, K: i32, six: bool): void {
  let a = A, dst = packA, k = 0;
  if (ars == 4) {
    for (; k < K; k++) {
      v128.store(dst, v128.load(a));
      if (six) store<u64>(dst, load<u64>(a, 16), 16);
      a += aks; dst += 24;
    }
    return;
  }
  if (aks == 4) {
    // 4 k of 6 rows at a time: rows 0-3 transposed in registers, rows 4-5 interleaved in pairs
    const a1 = a + ars, a2 = a1 + ars, a3 = a2 + ars, a4 = a3 + ars, a5 = a4 + ars;
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k << 2;
      store_transposed(dst, 24, v128.load(a + o), v128.load(a1 + o), v128.load(a2 + o), v128.load(a3 + o));
      if (six) {
        const x4 = v128.load(a4 + o), x5 = v128.load(a5 + o);
        const u = v128.shuffle<f32>(x4, x5, 0, 4, 1, 5), w = v128.shuffle<f32>(x4, x5, 2, 6, 3, 7);
        v128.store64_lane(dst, u, 0, 16); v128.store64_lane(dst, u, 1, 40);
        v128.store64_lane(dst, w, 0, 64); v128.store64_lane(dst, w, 1, 88);
      }
      dst += 96;
    }
    a += <usize>k << 2;
  }
  for (; k < K; k++) {
    store<f32>(dst, load<f32>(a)); store<f32>(dst, load<f32>(a + ars), 4);
    store<f32>(dst, load<f32>(a + 2 * ars), 8); store<f32>(dst, load<f32>(a + 3 * ars), 12);
    if (six) { store<f32>(dst, load<f32>(a + 4 * ars), 16); store<f32>(dst, load<f32>(a + 5 * ars), 20); }
    a += aks; dst += 24;
  }
}
