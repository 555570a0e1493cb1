// Causal multi-head self-attention: softmax(q k^T / sqrt(hs)) v, per head.
//
// Query rows go in pairs (t, t+1) so every key or value row loaded from memory serves two
// dot products or two sums (one load per two fused multiply-adds instead of one). Each element
// is computed with the same arithmetic whether its row is paired or alone (a decode step's
// single query included): a pair runs to the longer row's last key, and the shorter row's
// weight there is the zero above the causal diagonal, which adds nothing.
import { dot, zero, softmax, hsum, madd, madd1 } from './simd';

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
  const hs = C / NH;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const stride = <usize>(3 * C) << 2, rowBytes = <usize>Tk << 2, outStride = <usize>C << 2;
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / NH, h = bh % NH;
    const base = qkv + <usize>b * <usize>Tk * stride + (<usize>(h * hs) << 2);
    const k0 = base + (<usize>C << 2), v0 = base + (<usize>(2 * C) << 2);
    const rows = att + <usize>bh * <usize>Tq * rowBytes;
    const outs = out + <usize>b * <usize>Tq * outStride + (<usize>(h * hs) << 2);
    let t = 0;
    for (; t + 2 <= Tq; t += 2) {
      const n = t + Tk - Tq + 1; // keys row t sees (its absolute position + 1); row t + 1 sees n + 1
      const row = rows + <usize>t * rowBytes, q = base + <usize>(n - 1) * stride, o = outs + <usize>t * outStride;
      const n4 = n & ~3;
      scores_pair(row, row + rowBytes, q, q + stride, k0, stride, n4, hs, scale);
      scores_row(row, q, k0, stride, n4, n, hs, scale);
      scores_row(row + rowBytes, q + stride, k0, stride, n4, n + 1, hs, scale);
      softmax_row(row, n, Tk);
      softmax_row(row + rowBytes, n + 1, Tk);
      zero(o, hs); zero(o + outStride, hs);
      weighted_sum_pair(o, o + outStride, row, row + rowBytes, 4, v0, stride, n + 1, hs);
    }
    if (t < Tq) {
      const n = t + Tk - Tq + 1;
      const row = rows + <usize>t * rowBytes, q = base + <usize>(n - 1) * stride, o = outs + <usize>t * outStride;
      scores_row(row, q, k0, stride, 0, n, hs, scale);
      softmax_row(row, n, Tk);
      zero(o, hs);
      weighted_sum_into(o, row, 4, v0, stride, n, hs);
    }
  }
}

// Training shape only (Tq == Tk == T). dout (B,T,C) -> dinp (B,T,3C) +=. Reads att on and below
// the diagonal only.
// datt (B,NH,T,T) is written with d(pre-softmax scores), row by row, as working space.
export function attention_backward(dinp: usize, datt: usize, dout: usize, inp: usize, att: usize,
                                   B: i32, T: i32, C: i32, NH: i32): void {
  attention_backward_part(dinp, datt, dout, inp, att, B, T, C, NH, 0, B * NH);
}

// The (batch, head) pairs bh0 <= b*NH + h < bh1 only: each writes its own head's slice of dinp.
export function attention_backward_part(dinp: usize, datt: usize, dout: usize, inp: usize, att: usize,
                                        B: i32, T: i32, C: i32, NH: i32, bh0: i32, bh1: i32): void {
  const hs = C / NH;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const stride = <usize>(3 * C) << 2, rowBytes = <usize>T << 2, gStride = <usize>C << 2;
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / NH, h = bh % NH;
    const off = <usize>b * <usize>T * stride + (<usize>(h * hs) << 2);
    const q0 = inp + off, k0 = q0 + (<usize>C << 2), v0 = q0 + (<usize>(2 * C) << 2);
    const dq0 = dinp + off, dk0 = dq0 + (<usize>C << 2), dv0 = dq0 + (<usize>(2 * C) << 2);
    const g0 = dout + <usize>b * <usize>T * gStride + (<usize>(h * hs) << 2);
    const rows = att + <usize>bh * <usize>T * rowBytes, drows = datt + <usize>bh * <usize>T * rowBytes;
    // per query t: through out[t] = sum_t2 att[t,t2] v[t2]: datt[t,t2] = dout[t] . v[t2]; through
    // the softmax and the scale into d(scores) (in datt); through scores = q k^T: dq[t] += sum_t2 d(scores)[t,t2] k[t2]
    let t = 0;
    for (; t + 2 <= T; t += 2) {
      const n = t + 1, n4 = n & ~3;
      const a = rows + <usize>t * rowBytes, da = drows + <usize>t * rowBytes;
      const g = g0 + <usize>t * gStride, dq = dq0 + <usize>t * stride;
      scores_pair(da, da + rowBytes, g, g + gStride, v0, stride, n4, hs, 1.0);
      scores_row(da, g, v0, stride, n4, n, hs, 1.0);
      scores_row(da + rowBytes, g + gStride, v0, stride, n4, n + 1, hs, 1.0);
      softmax_backward_row(da, a, n, scale);
      softmax_backward_row(da + rowBytes, a + rowBytes, n + 1, scale);
      store<f32>(da + (<usize>n << 2), 0); // row t's zero above the diagonal, where row t + 1 has its last key
      weighted_sum_pair(dq, dq + stride, da, da + rowBytes, 4, k0, stride, n + 1, hs);
    }
    if (t < T) {
      const a = rows + <usize>t * rowBytes, da = drows + <usize>t * rowBytes;
      scores_row(da, g0 + <usize>t * gStride, v0, stride, 0, t + 1, hs, 1.0);
      softmax_backward_row(da, a, t + 1, scale);
      weighted_sum_into(dq0 + <usize>t * stride, da, 4, k0, stride, t + 1, hs);
    }
    // per key t2, over the queries t >= t2 that see it (columns of att and d(scores)), in order of t:
    // dv[t2] += sum att[t,t2] dout[t], dk[t2] += sum d(scores)[t,t2] q[t]. Keys in pairs too: key
    // t2 takes row t2 alone (key t2 + 1 is above that row's diagonal), then both take rows t > t2.
    for (let t2 = 0; t2 < T; t2 += 2) {
      const col = <usize>t2 * rowBytes + (<usize>t2 << 2), next = col + rowBytes;
      const dv = dv0 + <usize>t2 * stride, dk = dk0 + <usize>t2 * stride;
      const g = g0 + <usize>t2 * gStride, q = q0 + <usize>t2 * stride;
      weighted_sum_into(dv, rows + col, rowBytes, g, gStride, 1, hs);
      weighted_sum_into(dk, drows + col, rowBytes, q, stride, 1, hs);
      if (t2 + 1 == T) break; // an odd T's last key has no partner
      weighted_sum_pair(dv, dv + stride, rows + next, rows + next + 4, rowBytes, g + gStride, gStride, T - t2 - 1, hs);
      weighted_sum_pair(dk, dk + stride, drows + next, drows + next + 4, rowBytes, q + stride, stride, T - t2 - 1, hs);
    }
  }
}

// ---- scores: row[j] = (q . k_j) * scale, keys k_j at k + j*stride ----
// Keys j < n & ~3 go four at a time (dot4's arithmetic), the rest one at a time (dot's).

// keys [0, n4) for two query rows at once (n4 a multiple of 4)
@inline function scores_pair(row0: usize, row1: usize, q0: usize, q1: usize, k: usize, stride: usize,
                             n4: i32, hs: i32, scale: f32): void {
  const vscale = f32x4.splat(scale);
  for (let j = 0; j < n4; j += 4) {
    const kj = k + <usize>j * stride, k1 = kj + stride, k2 = k1 + stride, k3 = k2 + stride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= hs; i += 4) {
      const o = <usize>i << 2, x = v128.load(q0 + o), y = v128.load(q1 + o);
      const w0 = v128.load(kj + o), w1 = v128.load(k1 + o), w2 = v128.load(k2 + o), w3 = v128.load(k3 + o);
      a0 = madd(x, w0, a0); b0 = madd(y, w0, b0);
      a1 = madd(x, w1, a1); b1 = madd(y, w1, b1);
      a2 = madd(x, w2, a2); b2 = madd(y, w2, b2);
      a3 = madd(x, w3, a3); b3 = madd(y, w3, b3);
    }
    let r0 = lane_sums(a0, a1, a2, a3), r1 = lane_sums(b0, b1, b2, b3);
    for (; i < hs; i++) {
      const o = <usize>i << 2, kv = gather4(kj, stride, o);
      r0 = madd(f32x4.splat(load<f32>(q0 + o)), kv, r0);
      r1 = madd(f32x4.splat(load<f32>(q1 + o)), kv, r1);
    }
    v128.store(row0 + (<usize>j << 2), f32x4.mul(r0, vscale));
    v128.store(row1 + (<usize>j << 2), f32x4.mul(r1, vscale));
  }
}

// keys [j0, n) for one query row (j0 a multiple of 4)
@inline function scores_row(row: usize, q: usize, k: usize, stride: usize, j0: i32, n: i32, hs: i32, scale: f32): void {
  const vscale = f32x4.splat(scale);
  let j = j0;
  for (; j + 4 <= n; j += 4) {
    const kj = k + <usize>j * stride, k1 = kj + stride, k2 = k1 + stride, k3 = k2 + stride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let i = 0;
    for (; i + 4 <= hs; i += 4) {
      const o = <usize>i << 2, x = v128.load(q + o);
      a0 = madd(x, v128.load(kj + o), a0);
      a1 = madd(x, v128.load(k1 + o), a1);
      a2 = madd(x, v128.load(k2 + o), a2);
      a3 = madd(x, v128.load(k3 + o), a3);
    }
    let r = lane_sums(a0, a1, a2, a3);
    for (; i < hs; i++) {
      const o = <usize>i << 2;
      r = madd(f32x4.splat(load<f32>(q + o)), gather4(kj, stride, o), r);
    }
    v128.store(row + (<usize>j << 2), f32x4.mul(r, vscale));
  }
  for (; j < n; j++) store<f32>(row + (<usize>j << 2), dot(q, k + <usize>j * stride, hs) * scale);
}

// lane j of the result = the sum of a_j's four lanes (a transpose, then adds)
@inline function lane_sums(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const u0 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const u1 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), v128.shuffle<f32>(u0, u1, 2, 3, 6, 7));
}

// the float at byte offset o of four rows k, k + stride, k + 2 stride, k + 3 stride
@inline function gather4(k: usize, stride: usize, o: usize): v128 {
  const k1 = k + stride, k2 = k1 + stride, k3 = k2 + stride;
  return f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(k + o)),
    1, load<f32>(k1 + o)), 2, load<f32>(k2 + o)), 3, load<f32>(k3 + o));
}

// ---- softmax over one row of scores ----

// row[0..n) = softmax(row[0..n)); row[n..Tk) = 0 (the keys this query must not see)
@inline function softmax_row(row: usize, n: i32, Tk: i32): void {
  softmax(row, row, n);
  if (n < Tk) zero(row + (<usize>n << 2), Tk - n);
}

// da[0..n) holds d(att) for one row of att a; becomes d(scores) = a * (da - sum(a * da)) * scale
@inline function softmax_backward_row(da: usize, a: usize, n: i32, scale: f32): void {
  let vs = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) vs = madd(v128.load(a + (<usize>j << 2)), v128.load(da + (<usize>j << 2)), vs);
  let s = hsum(vs);
  for (; j < n; j++) s += load<f32>(a + (<usize>j << 2)) * load<f32>(da + (<usize>j << 2));
  const vsum = f32x4.splat(s), vscale = f32x4.splat(scale);
  for (j = 0; j + 4 <= n; j += 4) {
    const p = da + (<usize>j << 2);
    v128.store(p, f32x4.mul(f32x4.mul(v128.load(a + (<usize>j << 2)), f32x4.sub(v128.load(p), vsum)), vscale));
  }
  for (; j < n; j++) {
    const p = da + (<usize>j << 2);
    store<f32>(p, load<f32>(a + (<usize>j << 2)) * (load<f32>(p) - s) * scale);
  }
}

// ---- weighted sums of rows: o += sum over j < count of w[j] * v_j, j in order ----
// v_j at v + j*stride (n floats), w[j] at w + j*wStride (bytes). The output columns go in blocks
// of 16 kept in registers across all j (8 or 4 per row), so every element adds in the same order.

// two outputs o0, o1 with weights w0, w1 over the same rows v_j (each v_j loaded once)
@inline function weighted_sum_pair(o0: usize, o1: usize, w0: usize, w1: usize, wStride: usize,
                                   v: usize, stride: usize, count: i32, n: i32): void {
  let c = 0;
  for (; c + 16 <= n; c += 16) {
    const vc = v + (<usize>c << 2), p0 = o0 + (<usize>c << 2), p1 = o1 + (<usize>c << 2);
    let x0 = v128.load(p0), x1 = v128.load(p0, 16), x2 = v128.load(p0, 32), x3 = v128.load(p0, 48);
    let y0 = v128.load(p1), y1 = v128.load(p1, 16), y2 = v128.load(p1, 32), y3 = v128.load(p1, 48);
    let wj = w0, r = vc; // running pointers (measured faster than j * stride)
    const w10 = w1 - w0;
    for (let j = 0; j < count; j++) {
      const a = v128.load32_splat(wj), e = v128.load32_splat(wj + w10);
      wj += wStride;
      const r0 = v128.load(r); x0 = madd(a, r0, x0); y0 = madd(e, r0, y0);
      const r1 = v128.load(r, 16); x1 = madd(a, r1, x1); y1 = madd(e, r1, y1);
      const r2 = v128.load(r, 32); x2 = madd(a, r2, x2); y2 = madd(e, r2, y2);
      const r3 = v128.load(r, 48); x3 = madd(a, r3, x3); y3 = madd(e, r3, y3);
      r += stride;
    }
    v128.store(p0, x0); v128.store(p0, x1, 16); v128.store(p0, x2, 32); v128.store(p0, x3, 48);
    v128.store(p1, y0); v128.store(p1, y1, 16); v128.store(p1, y2, 32); v128.store(p1, y3, 48);
  }
  if (c < n) {
    weighted_sum_cols(o0, w0, wStride, v, stride, count, c, n);
    weighted_sum_cols(o1, w1, wStride, v, stride, count, c, n);
  }
}

// one output
@inline function weighted_sum_into(o: usize, w: usize, wStride: usize, v: usize, stride: usize, count: i32, n: i32): void {
  let c = 0;
  for (; c + 16 <= n; c += 16) {
    const vc = v + (<usize>c << 2), oc = o + (<usize>c << 2);
    let x0 = v128.load(oc), x1 = v128.load(oc, 16), x2 = v128.load(oc, 32), x3 = v128.load(oc, 48);
    for (let j = 0; j < count; j++) {
      const a = f32x4.splat(load<f32>(w + <usize>j * wStride)), r = vc + <usize>j * stride;
      x0 = madd(a, v128.load(r), x0);
      x1 = madd(a, v128.load(r, 16), x1);
      x2 = madd(a, v128.load(r, 32), x2);
      x3 = madd(a, v128.load(r, 48), x3);
    }
    v128.store(oc, x0); v128.store(oc, x1, 16); v128.store(oc, x2, 32); v128.store(oc, x3, 48);
  }
  if (c < n) weighted_sum_cols(o, w, wStride, v, stride, count, c, n);
}

// columns [c, n) of one output (fewer than 16): four at a time, then one
@inline function weighted_sum_cols(o: usize, w: usize, wStride: usize, v: usize, stride: usize, count: i32, c: i32, n: i32): void {
  for (; c + 4 <= n; c += 4) {
    const vc = v + (<usize>c << 2);
    let x0 = v128.load(o + (<usize>c << 2));
    for (let j = 0; j < count; j++) x0 = madd(f32x4.splat(load<f32>(w + <usize>j * wStride)), v128.load(vc + <usize>j * stride), x0);
    v128.store(o + (<usize>c << 2), x0);
  }
  for (; c < n; c++) {
    const vc = v + (<usize>c << 2);
    let x = load<f32>(o + (<usize>c << 2));
    for (let j = 0; j < count; j++) x = madd1(load<f32>(w + <usize>j * wStride), load<f32>(vc + <usize>j * stride), x);
    store<f32>(o + (<usize>c << 2), x);
  }
}
