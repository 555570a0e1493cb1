// Causal multi-head self-attention: softmax(q k^T / sqrt(hs)) v, per head.
//
// Each head is three causal matrix products through gemm.ts's register tiles, with a row-wise
// softmax between them: scores = q k^T (the keys each query sees), att = softmax(scores * scale),
// out = att v. The backward pass is the same products transposed. A tile's rows share the longest
// row's range of keys, which only ever adds a zero of att (or of d(scores)) above the diagonal:
// every element comes out the same whether its row is computed in a tile, alone, or as a decode
// step's single query.
import { zero, hsum, madd, softmax, lanes_below, load_part, store_part, copy, touch } from './simd';
import { gemm_nn, ZEROS, CAUSAL_COLS, CAUSAL_K_TO, CAUSAL_K_FROM } from './gemm';

// qkv (B,Tk,3C) holds q | k | v for every position; the queries are the last Tq positions
// (Tq == Tk in training; Tq < Tk when a KV cache holds earlier positions).
// -> out (B,Tq,C), att (B,NH,Tq,Tk) the softmaxed attention (zero above the causal diagonal)
export function attention_forward(out: usize, att: usize, qkv: usize,
                                  B: i32, Tq: i32, Tk: i32, C: i32, NH: i32): void {
  attention_forward_part(out, att, qkv, B, Tq, Tk, C, NH, 0, B * NH);
}

// The (batch, head) pairs bh0 <= b*NH + h < bh1 only: threads split the work by heads.
export function attention_forward_part(out: usize, att: usize, qkv: usize,
                                       B: i32, Tq: i32, Tk: i32, C: i32, NH: i32, bh0: i32, bh1: i32): void {
  const hs = C / NH, C3 = 3 * C, past = Tk - Tq; // query t is position t + past: it sees keys j <= t + past
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const stride = <usize>C3 << 2, rowBytes = <usize>Tk << 2;
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / NH, h = bh % NH;
    const base = qkv + <usize>b * <usize>Tk * stride + (<usize>(h * hs) << 2);
    const q = base + <usize>past * stride, k = base + (<usize>C << 2), v = base + (<usize>(2 * C) << 2);
    const rows = att + <usize>bh * <usize>Tq * rowBytes;
    const o = out + (<usize>b * <usize>Tq * <usize>C << 2) + (<usize>(h * hs) << 2);
    // meanwhile, the next head's lines of each row come in from memory (see the touching section)
    const next = bh + 1 < bh1, nb = (bh + 1) / NH, nh = (bh + 1) % NH;
    const nq = qkv + (<usize>nb * <usize>Tk + <usize>past) * stride + (<usize>(nh * hs) << 2);
    const natt = rows + <usize>Tq * rowBytes,
        nout = out + (<usize>nb * <usize>Tq * <usize>C << 2) + (<usize>(nh * hs) << 2);
    attend(o, C, rows, q, C3, k, C3, v, C3, Tq, Tk, hs, scale, next, nq, natt, nout);
  }
}

// With a KV cache (batch 1): qkv (1,Tq,3C) holds the Tq new positions' q | k | v (the c_attn
// matmul's output), kcache and vcache (NH,maxT,hs) every earlier position's keys and values, each head's
// a contiguous block. The new keys and values are stored at positions Tk-Tq .. Tk-1 first, then
// the queries attend over keys 0 .. Tk-1 -> out (1,Tq,C), att (1,NH,Tq,Tk).
// In a decode step the cache comes from memory (the weights streamed through the caches since the
// last step), and a head's keys and values are read most quickly as what they are here, two
// contiguous blocks, touched front to back before the products start (the products themselves
// read 16 keys at a time, a line of each, which the prefetcher does not follow). Read in place
// from q | k | v rows instead (a piece of hs floats every 3C, as attention_forward does), GPT-2's
// decode attention measured 66-73 us a layer at 80 keys and 423-446 at 500 (12 heads of 64; 120 or
// 40 layers' caches cycled); from this layout 52-55 and 211-215 (untouched: 90 at 80 keys).
// The products are the same as attention_forward's (only Bm's row stride differs), so every
// element comes out the same bits as there.
export function attention_forward_kv(out: usize, att: usize, qkv: usize, kcache: usize, vcache: usize,
                                     Tq: i32, Tk: i32, maxT: i32, C: i32, NH: i32): void {
  attention_forward_kv_part(out, att, qkv, kcache, vcache, Tq, Tk, maxT, C, NH, 0, NH);
}

// Heads h0 <= h < h1 only: each stores and reads its own heads' blocks of the cache.
export function attention_forward_kv_part(out: usize, att: usize, qkv: usize, kcache: usize, vcache: usize,
                                          Tq: i32, Tk: i32, maxT: i32, C: i32, NH: i32, h0: i32, h1: i32): void {
  const hs = C / NH, C3 = 3 * C, past = Tk - Tq;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const stride = <usize>C3 << 2, piece = <usize>hs << 2, headBytes = <usize>maxT * piece;
  for (let h = h0; h < h1; h++) {
    const q = qkv + (<usize>(h * hs) << 2), k = kcache + <usize>h * headBytes, v = vcache + <usize>h * headBytes;
    for (let t = 0; t < Tq; t++) {
      const r = q + <usize>t * stride, at = <usize>(past + t) * piece;
      copy(k + at, r + (<usize>C << 2), hs);
      copy(v + at, r + (<usize>(2 * C) << 2), hs);
    }
    if (Tq < 4) { touch(k, <usize>Tk * piece); touch(v, <usize>Tk * piece); }
    const rows = att + <usize>h * <usize>Tq * (<usize>Tk << 2);
    attend(out + (<usize>(h * hs) << 2), C, rows, q, C3, k, hs, v, hs, Tq, Tk, hs, scale, false, 0, 0, 0);
  }
}

// One head: Tq queries (row stride ldq floats; query t sees keys j <= t + Tk - Tq) over Tk keys
// and values (row strides ldk, ldv) -> att rows (Tq x Tk, the softmaxed scores) and out rows
// (stride ldo). With next, the next head's rows are touched meanwhile (nq: its first query row,
// natt, nout: its att and out rows; see the touching section).
@inline function attend(o: usize, ldo: i32, rows: usize, q: usize, ldq: i32, k: usize, ldk: i32, v: usize, ldv: i32,
                        Tq: i32, Tk: i32, hs: i32, scale: f32, next: bool, nq: usize, natt: usize, nout: usize): void {
  const past = Tk - Tq, rowBytes = <usize>Tk << 2;
  // scores[t,j] = q_t . k_j (k read transposed), then each row softmaxed in place
  gemm_nn(rows, Tk, q, ldq, 1, k, ldk, true, Tq, Tk, hs, ZEROS, CAUSAL_COLS, past);
  for (let t = 0; t < Tq; t++) {
    const row = rows + <usize>t * rowBytes;
    softmax(row, row, t + past + 1, Tk, scale);
    if (next) warm_forward_row(nq + (<usize>t * <usize>ldq << 2), ldq / 3, hs, // (next: q | k | v rows, ldq = 3C)
                                natt + <usize>t * rowBytes, min(Tk, t + past + 8), nout + (<usize>t * <usize>ldo << 2));
  }
  // out_t = sum_j att[t,j] v_j
  gemm_nn(o, ldo, rows, Tk, 1, v, ldv, false, Tq, hs, Tk, ZEROS, CAUSAL_K_TO, past);
}

// Training shape only (Tq == Tk == T). dout (B,T,C) -> dinp (B,T,3C), overwritten (=, not +=: it
// is the whole gradient of qkv, and accumulating would first read dinp back from memory, a cache
// miss at the start of every tile: measured 74 -> 67 us per head at the toy model's shape). att as
// attention_forward left it (zero above the diagonal). datt (B,NH,T,T) is working space for
// d(scores): a call uses the slice of its first head for every head it does, so that slice stays
// in cache.
export function attention_backward(dinp: usize, datt: usize, dout: usize, inp: usize, att: usize,
                                   B: i32, T: i32, C: i32, NH: i32): void {
  attention_backward_part(dinp, datt, dout, inp, att, B, T, C, NH, 0, B * NH);
}

// The (batch, head) pairs bh0 <= b*NH + h < bh1 only: each writes its own head's slice of dinp.
export function attention_backward_part(dinp: usize, datt: usize, dout: usize, inp: usize, att: usize,
                                        B: i32, T: i32, C: i32, NH: i32, bh0: i32, bh1: i32): void {
  const hs = C / NH, C3 = 3 * C;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const stride = <usize>C3 << 2, rowBytes = <usize>T << 2;
  const drows = datt + <usize>bh0 * <usize>T * rowBytes;
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / NH, h = bh % NH;
    const off = <usize>b * <usize>T * stride + (<usize>(h * hs) << 2);
    const q = inp + off, k = q + (<usize>C << 2), v = q + (<usize>(2 * C) << 2);
    const dq = dinp + off, dk = dq + (<usize>C << 2), dv = dq + (<usize>(2 * C) << 2);
    const g = dout + (<usize>b * <usize>T * <usize>C << 2) + (<usize>(h * hs) << 2);
    const rows = att + <usize>bh * <usize>T * rowBytes;
    // through out = att v: datt[t,j] = dout_t . v_j (v read transposed), then through the
    // softmax and the scale, row by row, into d(scores)
    gemm_nn(drows, T, g, C, 1, v, C3, true, T, T, hs, ZEROS, CAUSAL_COLS, 0);
    const next = bh + 1 < bh1, nb = (bh + 1) / NH, nh = (bh + 1) % NH;
    const noff = <usize>nb * <usize>T * stride + (<usize>(nh * hs) << 2);
    const ng = dout + (<usize>nb * <usize>T * <usize>C << 2) + (<usize>(nh * hs) << 2);
    for (let t = 0; t < T; t++) {
      softmax_backward_row(drows + <usize>t * rowBytes, rows + <usize>t * rowBytes, t + 1, T, scale);
      if (next) warm_backward_row(inp + noff + <usize>t * stride, dinp + noff + <usize>t * stride, C, hs,
                                  ng + (<usize>t * <usize>C << 2));
    }
    // through scores = q k^T: dq_t = sum_{j<=t} ds[t,j] k_j, dk_j = sum_{t>=j} ds[t,j] q_t, and
    // dv_j = sum_{t>=j} att[t,j] dout_t (att and d(scores) read transposed), all from zeros
    gemm_nn(dq, C3, drows, T, 1, k, C3, false, T, hs, T, ZEROS, CAUSAL_K_TO, 0);
    gemm_nn(dk, C3, drows, 1, T, q, C3, false, T, hs, T, ZEROS, CAUSAL_K_FROM, 0);
    gemm_nn(dv, C3, rows, 1, T, g, C, false, T, hs, T, ZEROS, CAUSAL_K_FROM, 0);
  }
}

// ---- touching the next head's rows ahead of time ----
// A head's q, k, v and output rows are short pieces (hs floats) of long rows, and its att rows a
// block of the big att tensor: in a training step none of it is in cache, and the products wait
// for each line in turn. So while one head's rows are softmaxed (or their softmax backward is
// taken: work with few loads), the same rows of the next head are touched (simd.ts touch: one
// load per 64 bytes), and its lines are there when its products start. Measured at the toy
// model's shape (32 x 128, 4 heads of 32, relaxed build), a layer's heads in a loop: forward
// 48.1 -> 41.0 us per head, backward 68.9 -> 63.3; its whole step 4.7 ms less (median of 14
// alternating rounds, 12 of them faster). At GPT-2's (1 x 128, 12 heads of 64), with the data
// already in cache, the touches are pure cost: 58.1 -> 60.8 and 97.1 -> 102.1 us (+1 ms of a 2 s step).

// forward, one query row of the next head: q, k and v at its position (r: its q), the part of
// its att row that the forward writes (up to the diagonal, plus a tile's overhang: attFloats)
// and its output row
@inline function warm_forward_row(r: usize, C: i32, hs: i32, attRow: usize, attFloats: i32, outRow: usize): void {
  const piece = <usize>hs << 2;
  touch(r, piece); touch(r + (<usize>C << 2), piece); touch(r + (<usize>(2 * C) << 2), piece);
  touch(attRow, <usize>attFloats << 2);
  touch(outRow, piece);
}

// backward, one row of the next head: q, k, v (r), their gradients (dr: written whole, so their
// lines are fetched for the stores) and dout (g)
@inline function warm_backward_row(r: usize, dr: usize, C: i32, hs: i32, g: usize): void {
  const piece = <usize>hs << 2;
  for (let i = 0; i < 3; i++) {
    touch(r + (<usize>(i * C) << 2), piece);
    touch(dr + (<usize>(i * C) << 2), piece);
  }
  touch(g, piece);
}

// ---- the backward of one row's softmax (the forward is simd.ts softmax) ----

// da[0..n) holds d(att) for one row of att a; becomes d(scores) = a * (da - sum(a * da)) * scale.
// da[n..n+5) = 0: the other rows of a 6-row tile read these (above the diagonal) as zero terms.
@inline function softmax_backward_row(da: usize, a: usize, n: i32, T: i32, scale: f32): void {
  const full = n & ~3, rem = n & 3, whole = full + 4 <= T, mask = lanes_below(rem);
  let vs = f32x4.splat(0), x = f32x4.splat(0), y = f32x4.splat(0);
  for (let j = 0; j < full; j += 4) {
    const o = <usize>j << 2;
    vs = madd(v128.load(a + o), v128.load(da + o), vs);
  }
  if (rem != 0) {
    const o = <usize>full << 2;
    y = v128.and(load_part(a + o, rem, whole), mask);
    x = v128.and(load_part(da + o, rem, whole), mask);
    vs = madd(y, x, vs);
  }
  const s = f32x4.splat(hsum(vs)), vscale = f32x4.splat(scale);
  for (let j = 0; j < full; j += 4) {
    const o = <usize>j << 2;
    v128.store(da + o, f32x4.mul(f32x4.mul(v128.load(a + o), f32x4.sub(v128.load(da + o), s)), vscale));
  }
  if (rem != 0) store_part(da + (<usize>full << 2), v128.and(f32x4.mul(f32x4.mul(y, f32x4.sub(x, s)), vscale), mask),
                           rem, whole);
  const z = rem != 0 && whole ? full + 4 : n;
  const end = min(T, n + 5);
  if (end > z) zero(da + (<usize>z << 2), end - z);
}
