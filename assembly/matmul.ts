// Matrix multiplication with bias, forward and backward, and the tied LM head.
//
// Weights of the linear layers keep the layout Hugging Face stores for GPT-2's Conv1D:
// weight is (C, OC) = [in, out], so out = inp @ weight + bias. The LM head multiplies by
// the token embedding wte (V, C) transposed: logits = inp @ wte^T.
//
// Two register-blocked helpers do all the work:
//   gemm_nn (gemm.ts): Cm[i,j] += sum_k A[i,k] * Bm[k,j]  (A read with any row/k strides; Bm by
//            rows or transposed; both packed into small buffers that 6x8 tiles sweep)
//   gemm_nt: Cm[i,j] += sum_k A[i,k] * Bm[j,k]  (dot products of contiguous rows: the LM head,
//            whose 154 MB wte must stream from memory once)
import { axpy, add_into, hsum, madd, madd1 } from './simd';
import { gemm_nn, ZEROS, DENSE, k_chunk, packs_once, pack_once, packed_panels, PANEL_COLUMNS } from './gemm';
import { axpy_f16, dot_row_f16, f16_bits, f16_to_f32, widen_lo, widen_hi } from './f16';

// Cm (M,N) row stride ldc; A (M,K) row stride lda; Bm (N,K) row stride ldb.
// Bm is walked in panels of rows that fit in L2 (about 256 KiB), and every row of A visits a
// panel before the next one is read, so a large Bm (the 154 MB LM head) leaves DRAM once.
function gemm_nt(Cm: usize, ldc: i32, A: usize, lda: i32, Bm: usize, ldb: i32,
                 M: i32, N: i32, K: i32): void {
  let panel = (65536 / max(K, 1)) & ~3;
  if (panel < 4) panel = 4;
  for (let j0 = 0; j0 < N; j0 += panel) {
    const j1 = min(N, j0 + panel);
    gemm_nt_panel(Cm + (<usize>j0 << 2), ldc, A, lda, Bm + <usize>j0 * (<usize>ldb << 2), ldb, M, j1 - j0, K);
  }
}

// One dot product with the tiles' arithmetic: 4 lane sums over k < K4, reduced, then the tail.
@inline function dot_tile(a: usize, b: usize, K4: i32, K: i32): f32 {
  let s = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) {
    const o = <usize>k << 2;
    s = madd(v128.load(a + o), v128.load(b + o), s);
  }
  let r = hsum(s);
  for (let k = K4; k < K; k++) { const o = <usize>k << 2; r = madd1(load<f32>(a + o), load<f32>(b + o), r); }
  return r;
}

// One panel: tiles of 4 rows of A x 2 rows of Bm, 8 accumulators over k, reduced at the end.
function gemm_nt_panel(Cm: usize, ldc: i32, A: usize, lda: i32, Bm: usize, ldb: i32,
                       M: i32, N: i32, K: i32): void {
  const ra = <usize>lda << 2, rb = <usize>ldb << 2, rc = <usize>ldc << 2;
  const K4 = K & ~3;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = A + <usize>i * ra, a1 = a0 + ra, a2 = a1 + ra, a3 = a2 + ra;
    let j = 0;
    for (; j + 2 <= N; j += 2) {
      const b0 = Bm + <usize>j * rb, b1 = b0 + rb;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0), s21 = f32x4.splat(0), s30 = f32x4.splat(0), s31 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const w0 = v128.load(b0 + o), w1 = v128.load(b1 + o);
        const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o);
        const x2 = v128.load(a2 + o), x3 = v128.load(a3 + o);
        s00 = madd(x0, w0, s00); s01 = madd(x0, w1, s01);
        s10 = madd(x1, w0, s10); s11 = madd(x1, w1, s11);
        s20 = madd(x2, w0, s20); s21 = madd(x2, w1, s21);
        s30 = madd(x3, w0, s30); s31 = madd(x3, w1, s31);
      }
      let r00 = hsum(s00), r01 = hsum(s01), r10 = hsum(s10), r11 = hsum(s11);
      let r20 = hsum(s20), r21 = hsum(s21), r30 = hsum(s30), r31 = hsum(s31);
      for (let k = K4; k < K; k++) {
        const o = <usize>k << 2;
        const w0 = load<f32>(b0 + o), w1 = load<f32>(b1 + o);
        const x0 = load<f32>(a0 + o), x1 = load<f32>(a1 + o), x2 = load<f32>(a2 + o), x3 = load<f32>(a3 + o);
        r00 = madd1(x0, w0, r00); r01 = madd1(x0, w1, r01); r10 = madd1(x1, w0, r10); r11 = madd1(x1, w1, r11);
        r20 = madd1(x2, w0, r20); r21 = madd1(x2, w1, r21); r30 = madd1(x3, w0, r30); r31 = madd1(x3, w1, r31);
      }
      const c = Cm + <usize>i * rc + (<usize>j << 2);
      store<f32>(c, load<f32>(c) + r00); store<f32>(c + 4, load<f32>(c + 4) + r01);
      store<f32>(c + rc, load<f32>(c + rc) + r10); store<f32>(c + rc + 4, load<f32>(c + rc + 4) + r11);
      store<f32>(c + 2 * rc, load<f32>(c + 2 * rc) + r20); store<f32>(c + 2 * rc + 4, load<f32>(c + 2 * rc + 4) + r21);
      store<f32>(c + 3 * rc, load<f32>(c + 3 * rc) + r30); store<f32>(c + 3 * rc + 4, load<f32>(c + 3 * rc + 4) + r31);
    }
    for (; j < N; j++) {
      const b0 = Bm + <usize>j * rb;
      const c = Cm + <usize>i * rc + (<usize>j << 2);
      store<f32>(c, load<f32>(c) + dot_tile(a0, b0, K4, K));
      store<f32>(c + rc, load<f32>(c + rc) + dot_tile(a1, b0, K4, K));
      store<f32>(c + 2 * rc, load<f32>(c + 2 * rc) + dot_tile(a2, b0, K4, K));
      store<f32>(c + 3 * rc, load<f32>(c + 3 * rc) + dot_tile(a3, b0, K4, K));
    }
  }
  for (; i < M; i++) {
    // single rows (decode, e.g. the LM head at M=1): one row of Bm at a time, read front to back
    // (one sequential stream is what DRAM prefetching serves best: measured 1.8x faster than
    // 4 or 8 interleaved rows), with 4 independent accumulator chains to hide the add latency
    const a0 = A + <usize>i * ra;
    const c = Cm + <usize>i * rc;
    for (let j = 0; j < N; j++) {
      const cj = c + (<usize>j << 2);
      store<f32>(cj, load<f32>(cj) + dot_row(a0, Bm + <usize>j * rb, K4, K));
    }
  }
}

// One dot product for the single-row path: lanes of 4 accumulators over k < K16, then k < K4, then the tail.
@inline function dot_row(a: usize, b: usize, K4: i32, K: i32): f32 {
  const K16 = K & ~15;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let k = 0;
  for (; k < K16; k += 16) {
    const o = <usize>k << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    s1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), s1);
    s2 = madd(v128.load(a + o, 32), v128.load(b + o, 32), s2);
    s3 = madd(v128.load(a + o, 48), v128.load(b + o, 48), s3);
  }
  for (; k < K4; k += 4) {
    const o = <usize>k << 2;
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
  }
  let r = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
  for (k = K4; k < K; k++) { const o = <usize>k << 2; r = madd1(load<f32>(a + o), load<f32>(b + o), r); }
  return r;
}

// inp (B,T,C), weight (C,OC), bias (OC) or 0 -> out (B,T,OC)
export function matmul_forward(out: usize, inp: usize, weight: usize, bias: usize,
                               B: i32, T: i32, C: i32, OC: i32): void {
  const M = B * T;
  if (decode_halves(M, C, OC)) {
    matmul_forward_half(out, inp, weight, bias, M, C, OC, 0);
    matmul_forward_half(out, inp, weight, bias, M, C, OC, 1);
    matmul_forward_join(out, M, OC);
    return;
  }
  matmul_forward_part(out, inp, weight, bias, M, C, OC, 0, M, 0, OC);
}

// Decode (M < 4 rows) is a stream through the weight at memory speed. Its k range is cut in two
// halves at a fixed point: the first half accumulates into out (from the bias), the second into a
// scratch row (from zero), then out += scratch. Two threads can then each stream a contiguous half
// of the weight (splitting by columns instead reads short strided pieces: measured 2x slower), and
// one thread does the same arithmetic, so results do not depend on the thread count.
const DECODE_SCRATCH_FLOATS = 3 * 16384;
const decodeScratch = memory.data(DECODE_SCRATCH_FLOATS * 4, 16);

// for the host's thread split, which must know when a decode step takes the two halves
export function decode_scratch_floats(): i32 { return DECODE_SCRATCH_FLOATS; }

@inline function decode_halves(M: i32, C: i32, OC: i32): bool {
  return M < 4 && C >= 256 && M * OC <= DECODE_SCRATCH_FLOATS;
}

// half 0: out[m] = bias + sum over k < C/2; half 1: scratch[m] = sum over k >= C/2 (k in order)
export function matmul_forward_half(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                                    half: i32): void {
  decode_half<f32>(out, inp, weight, bias, M, C, OC, half);
}

// One k half of a decode step, for f32 weights (W = f32) or f16 ones (W = u16, see below).
// One weight row at a time, front to back: two rows interleaved stream worse (measured 2.4x slower).
@inline function decode_half<W>(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                                half: i32): void {
  const h = (C >> 1) & ~3, rowBytes = <usize>OC << 2, wRow = <usize>OC * sizeof<W>();
  const k0 = half == 0 ? 0 : h, k1 = half == 0 ? h : C;
  for (let m = 0; m < M; m++) {
    const o = half == 0 ? out + <usize>m * rowBytes : decodeScratch + <usize>m * rowBytes;
    if (half == 0 && bias != 0) memory.copy(o, bias, rowBytes);
    else memory.fill(o, 0, rowBytes);
    const x = inp + (<usize>m * <usize>C << 2);
    let w = weight + <usize>k0 * wRow;
    for (let k = k0; k < k1; k++) {
      if (isInteger<W>()) axpy_f16(o, load<f32>(x + (<usize>k << 2)), w, OC);
      else axpy(o, load<f32>(x + (<usize>k << 2)), w, OC);
      w += wRow;
    }
  }
}

export function matmul_forward_join(out: usize, M: i32, OC: i32): void {
  add_into(out, decodeScratch, M * OC);
}

// dout (B,T,OC) -> dinp (B,T,C) = (written: the whole gradient of inp), dweight (C,OC) +=,
// dbias (OC) += (if not 0); with accumulate false, dweight and dbias = (see matmul_backward_part)
export function matmul_backward(dinp: usize, dweight: usize, dbias: usize,
                                dout: usize, inp: usize, weight: usize,
                                B: i32, T: i32, C: i32, OC: i32, accumulate: bool): void {
  const M = B * T;
  matmul_backward_part(dinp, dweight, dbias, dout, inp, weight, M, C, OC, 0, M, 0, C, 0, OC, 0, OC, accumulate);
}

// inp (B,T,C), wte (V,C) -> logits (B,T,V) = inp @ wte^T (the tied LM head, no bias)
export function lm_head_forward(logits: usize, inp: usize, wte: usize,
                                B: i32, T: i32, C: i32, V: i32): void {
  lm_head_forward_part(logits, inp, wte, B * T, C, V, 0, V);
}

// dlogits (B,T,V) -> dinp (B,T,C) = (written), dwte (V,C) += (= with accumulate false)
export function lm_head_backward(dinp: usize, dwte: usize, dlogits: usize, inp: usize, wte: usize,
                                 B: i32, T: i32, C: i32, V: i32, accumulate: bool): void {
  lm_head_backward_part(dinp, dwte, dlogits, inp, wte, B * T, C, V, 0, C, 0, V, accumulate);
}

// ---- parts: each computes a disjoint block of the outputs, for threads to share the work. ----
// Every element is computed with the same arithmetic whatever the block, so any split gives
// results bit-identical to the whole call. M = B*T rows.

// rows [m0,m1) x columns [n0,n1) of out
export function matmul_forward_part(out: usize, inp: usize, weight: usize, bias: usize,
                                    M: i32, C: i32, OC: i32, m0: i32, m1: i32, n0: i32, n1: i32): void {
  const rowBytes = <usize>OC << 2, n0b = <usize>n0 << 2, nb = <usize>(n1 - n0) << 2;
  if (bias == 0) for (let m = m0; m < m1; m++) memory.fill(out + <usize>m * rowBytes + n0b, 0, nb);
  gemm_nn(out + <usize>m0 * rowBytes + n0b, OC, inp + (<usize>m0 * <usize>C << 2), C, 1, weight + n0b, OC, false,
          m1 - m0, n1 - n0, C,
          bias != 0 ? bias + n0b : 0);
}

// dinp rows [m0,m1), dweight rows [c0,c1) x columns [o0,o1), dbias columns [n0,n1). dweight and
// dbias accumulate (+=) when accumulate, else they are written (=): the first backward after the
// gradients were zeroed then never reads them (the tiles start from zero, not from lines of
// memory; the same bits as adding to zeros).
export function matmul_backward_part(dinp: usize, dweight: usize, dbias: usize,
                                     dout: usize, inp: usize, weight: usize, M: i32, C: i32, OC: i32,
                                     m0: i32, m1: i32, c0: i32, c1: i32, o0: i32, o1: i32, n0: i32, n1: i32,
                                     accumulate: bool): void {
  // dinp[m,c] = sum_o dout[m,o] * weight[c,o]: weight read transposed (row stride 1, k stride OC),
  // sums from zero (dinp is written, never read: reading it back would start every tile with
  // loads of lines not in cache).
  // dweight[c,o] = sum_m inp[m,c] * dout[m,o]: inp read transposed (row stride 1, k stride C).
  // dbias[o] = sum_m dout[m,o], in order over m: when this call has dbias's columns for its
  // dweight's, the packing of dout adds them up as it copies (one pass over dout fewer: measured
  // in the toy model's step, the pass took 5.4 ms); else a loop of its own, in the same order.
  const fused = dbias != 0 && n0 == o0 && n1 == o1 && c1 - c0 >= 4 && ((o1 - o0) & 7) == 0;
  if (dbias != 0 && !accumulate) memory.fill(dbias + (<usize>n0 << 2), 0, <usize>max(0, n1 - n0) << 2);
  const dw = c1 > c0 && o1 > o0, colsum = fused ? dbias + (<usize>o0 << 2) : 0;
  // A part with all of dinp and a block of dweight (one thread doing the whole backward) takes
  // dout in chunks of rows, each through dinp's product and then dweight's while it is still in
  // L2: as many rows as dweight's gemm takes in one k chunk anyway, rounded down to whole 6-row
  // blocks of dinp. dweight's sums over m are the same chains in the same order as in one call
  // (a chunk starts from the sums the last one stored). Measured in the toy model's step (in-step
  // A/B, both orders): the backward of c_attn 1.1 and 0.9 ms less, of c_fc 0.7 and 0.7, the other
  // two unchanged.
  // The weight, transposed into the tiles' panels for dinp's product, is then packed once for all
  // the chunks where it fits (every shape of the toy model), not once per chunk: measured in its
  // step (three in-step A/Bs, the builds' order alternating), the four backward shapes together
  // 0.8-1.9 ms less. Bit-identical: the same panels.
  const R = m0 == 0 && m1 == M && dw ? k_chunk(o1 - o0) / 6 * 6 : M;
  const once = R < M && packs_once(C, OC);
  if (once) pack_once(weight, OC, true, OC, C);
  for (let r0 = 0; r0 < M; r0 += R) {
    const r1 = min(M, r0 + R), i0 = max(r0, m0), i1 = min(r1, m1);
    if (i1 > i0) gemm_nn(dinp + (<usize>i0 * <usize>C << 2), C, dout + (<usize>i0 * <usize>OC << 2), OC, 1, weight,
                         OC, true, i1 - i0, C, OC, ZEROS,
                         DENSE, 0, 0, once && i1 - i0 >= 4);
    if (dw) gemm_nn(dweight + ((<usize>c0 * <usize>OC + <usize>o0) << 2), OC,
                    inp + ((<usize>r0 * <usize>C + <usize>c0) << 2), 1, C,
                    dout + ((<usize>r0 * <usize>OC + <usize>o0) << 2), OC, false, c1 - c0, o1 - o0, r1 - r0,
                    accumulate || r0 > 0 ? 0 : ZEROS, DENSE, 0, colsum);
  }
  if (dbias != 0 && n1 > n0 && !fused) {
    const rowBytes = <usize>OC << 2;
    for (let m = 0; m < M; m++) {
      const d = dout + <usize>m * rowBytes;
      let o = n0;
      for (; o + 4 <= n1; o += 4) {
        const off = <usize>o << 2;
        v128.store(dbias + off, f32x4.add(v128.load(dbias + off), v128.load(d + off)));
      }
      for (; o < n1; o++) {
        const off = <usize>o << 2;
        store<f32>(dbias + off, load<f32>(dbias + off) + load<f32>(d + off));
      }
    }
  }
}

// logits columns [v0,v1) for every row
export function lm_head_forward_part(logits: usize, inp: usize, wte: usize, M: i32, C: i32, V: i32, v0: i32,
                                     v1: i32): void {
  const rowBytes = <usize>V << 2, v0b = <usize>v0 << 2;
  for (let m = 0; m < M; m++) memory.fill(logits + <usize>m * rowBytes + v0b, 0, <usize>(v1 - v0) << 2);
  gemm_nt(logits + v0b, V, inp, C, wte + (<usize>v0 * <usize>C << 2), C, M, v1 - v0, C);
}

// dinp columns [c0,c1) for every row, dwte rows [v0,v1) (+= when accumulate, else =, as in matmul_backward_part)
export function lm_head_backward_part(dinp: usize, dwte: usize, dlogits: usize, inp: usize, wte: usize,
                                      M: i32, C: i32, V: i32, c0: i32, c1: i32, v0: i32, v1: i32,
                                      accumulate: bool): void {
  // dinp[m,c] = sum_v dlogits[m,v] * wte[v,c], from zero
  if (c1 > c0) gemm_nn(dinp + (<usize>c0 << 2), C, dlogits, V, 1, wte + (<usize>c0 << 2), C, false, M, c1 - c0, V,
                       ZEROS);
  // dwte[v,c] = sum_m dlogits[m,v] * inp[m,c]: dlogits read transposed
  if (v1 > v0) gemm_nn(dwte + (<usize>v0 * <usize>C << 2), C, dlogits + (<usize>v0 << 2), 1, V, inp, C, false,
                       v1 - v0, C, M, accumulate ? 0 : ZEROS);
}

// ---- f16 weights (decode): the same sums with each weight widened to f32 exactly ----
// (the widening and rounding themselves are in f16.ts)

// inp (B,T,C), weight (C,OC) f16, bias (OC) or 0 -> out (B,T,OC)
export function matmul_forward_f16(out: usize, inp: usize, weight: usize, bias: usize,
                                   B: i32, T: i32, C: i32, OC: i32): void {
  const M = B * T;
  if (decode_halves(M, C, OC)) {
    matmul_forward_f16_half(out, inp, weight, bias, M, C, OC, 0);
    matmul_forward_f16_half(out, inp, weight, bias, M, C, OC, 1);
    matmul_forward_join(out, M, OC);
    return;
  }
  if (M >= 4) {
    matmul_forward_f16_part(out, inp, weight, bias, M, C, OC, 0, OC);
    return;
  }
  const rowBytes = <usize>OC << 2, wRow = <usize>OC << 1;
  for (let m = 0; m < M; m++) {
    const o = out + <usize>m * rowBytes, x = inp + (<usize>m * <usize>C << 2);
    if (bias != 0) memory.copy(o, bias, rowBytes);
    else memory.fill(o, 0, rowBytes);
    for (let k = 0; k < C; k++) axpy_f16(o, load<f32>(x + (<usize>k << 2)), weight + <usize>k * wRow, OC);
  }
}

// Columns [n0,n1) of out, M >= 4 rows (prefill): up to PANEL_COLUMNS columns and a k chunk of the
// weight at a time are widened into the tiles' panels (8 halves a row, exactly), and gemm_nn's
// tiles sweep them as they do f32 weights; columns past the last multiple of 8 are dot products.
export function matmul_forward_f16_part(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32,
                                        OC: i32, n0: i32, n1: i32): void {
  const n8 = n0 + ((n1 - n0) & ~7), panels = packed_panels(), wRow = <usize>OC << 1;
  for (let j0 = n0; j0 < n8; j0 += PANEL_COLUMNS) {
    const nb = min(PANEL_COLUMNS, n8 - j0), kc = k_chunk(nb);
    for (let k0 = 0; k0 < C; k0 += kc) {
      const kk = min(kc, C - k0);
      for (let p = 0; p < nb; p += 8) {
        let dst = panels + <usize>(p >> 3) * (<usize>kk << 5), w = weight + <usize>k0 * wRow + (<usize>(j0 + p) << 1);
        for (let k = 0; k < kk; k++) {
          const h = v128.load(w);
          v128.store(dst, widen_lo(h)); v128.store(dst, widen_hi(h), 16);
          dst += 32; w += wRow;
        }
      }
      const init: usize = k0 > 0 ? 0 : bias != 0 ? bias + (<usize>j0 << 2) : ZEROS;
      gemm_nn(out + (<usize>j0 << 2), OC, inp + (<usize>k0 << 2), C, 1, 0, 0, true, M, nb, kk, init, DENSE, 0, 0,
              true);
    }
  }
  for (let j = n8; j < n1; j++) {
    for (let m = 0; m < M; m++) {
      const x = inp + (<usize>m * <usize>C << 2);
      let s: f32 = bias != 0 ? load<f32>(bias + (<usize>j << 2)) : 0;
      const wj = weight + (<usize>j << 1);
      for (let k = 0; k < C; k++) {
        s = madd1(load<f32>(x + (<usize>k << 2)), f16_to_f32(<u32>load<u16>(wj + <usize>k * wRow)), s);
      }
      store<f32>(out + ((<usize>m * <usize>OC + <usize>j) << 2), s);
    }
  }
}

// the two k halves of a decode step, as matmul_forward_half (same scratch, same join)
export function matmul_forward_f16_half(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                                        half: i32): void {
  decode_half<u16>(out, inp, weight, bias, M, C, OC, half);
}

// inp (B,T,C), wte (V,C) f16 -> logits (B,T,V)
export function lm_head_forward_f16(logits: usize, inp: usize, wte: usize, B: i32, T: i32, C: i32, V: i32): void {
  lm_head_forward_f16_part(logits, inp, wte, B * T, C, V, 0, V);
}

// logits columns [v0,v1) for every row; one wte row at a time (two rows sharing the loads of x
// measured 2.8x slower: two interleaved streams again)
export function lm_head_forward_f16_part(logits: usize, inp: usize, wte: usize, M: i32, C: i32, V: i32, v0: i32,
                                         v1: i32): void {
  const wRow = <usize>C << 1;
  for (let m = 0; m < M; m++) {
    const x = inp + (<usize>m * <usize>C << 2), l = logits + (<usize>m * <usize>V << 2);
    for (let v = v0; v < v1; v++) store<f32>(l + (<usize>v << 2), dot_row_f16(x, wte + <usize>v * wRow, C));
  }
}

// f32 -> f16 bits, rounded to nearest, ties to even (f16 weights, as they load). Eight at a time
// in lanes unless one rounds to an f16 infinity (|x| >= 65520, inf, NaN: then those eight go one
// by one through f16_bits). A normal half has its exponent rebiased by 112 in place and is rounded
// to 10 mantissa bits by adding 0xfff plus the bit that stays (a carry into the exponent is right
// too); below 2^-14 a half counts units of 2^-24, which |x| * 2^24 (exact) rounded to the nearest
// integer, ties to even, is (1024, the smallest normal, included).
export function f32_to_f16(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = inp + (<usize>i << 2), o = out + (<usize>i << 1);
    const a = v128.load(p), b = v128.load(p, 16);
    const ma = v128.and(a, i32x4.splat(0x7fffffff)), mb = v128.and(b, i32x4.splat(0x7fffffff));
    const big = i32x4.splat(0x477fe000); // 65520
    if (v128.any_true(v128.or(i32x4.ge_s(ma, big), i32x4.ge_s(mb, big)))) {
      for (let j = 0; j < 8; j++) store<u16>(o + (<usize>j << 1), <u16>f16_bits(load<u32>(p + (<usize>j << 2))));
      continue;
    }
    v128.store(o, i16x8.narrow_i32x4_u(half_bits(a, ma), half_bits(b, mb)));
  }
  for (; i < n; i++) store<u16>(out + (<usize>i << 1), <u16>f16_bits(load<u32>(inp + (<usize>i << 2))));
}

// x's f16 bits (x with magnitude bits m, below 65520) in the low 16 bits of each lane
@inline function half_bits(x: v128, m: v128): v128 {
  const t = i32x4.sub(m, i32x4.splat(0x38000000));
  const odd = v128.and(i32x4.shr_u(t, 13), i32x4.splat(1));
  const normal = i32x4.shr_u(i32x4.add(t, i32x4.add(i32x4.splat(0xfff), odd)), 13);
  const small = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(m, f32x4.splat(16777216))));
  const r = v128.bitselect(small, normal, i32x4.lt_s(m, i32x4.splat(0x38800000))); // below 2^-14
  return v128.or(r, v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000)));
}
