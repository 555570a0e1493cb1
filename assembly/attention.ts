// Causal multi-head self-attention: softmax(q k^T / sqrt(hs)) v, per head.
import { dot, axpy, zero, exp4, exp1, hsum, madd, madd1 } from './simd';

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
  const C3 = <usize>(3 * C);
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / NH, h = bh % NH;
    const base = qkv + (<usize>b * <usize>Tk * C3 << 2);
    for (let t = 0; t < Tq; t++) {
      const tq = t + Tk - Tq; // absolute position of this query
      {
        const q = base + ((<usize>tq * C3 + <usize>(h * hs)) << 2);
        const row = att + ((((<usize>b * <usize>NH + <usize>h) * <usize>Tq + <usize>t) * <usize>Tk) << 2);
        // scores of 4 keys at a time (one horizontal reduction for four dot products), then the rest
        const n = tq + 1, kStride = C3 << 2, k0 = base + (<usize>(C + h * hs) << 2);
        const vscale = f32x4.splat(scale);
        let vmaxs = f32x4.splat(-Infinity);
        let t2 = 0;
        for (; t2 + 4 <= n; t2 += 4) {
          const sc = f32x4.mul(dot4(q, k0 + <usize>t2 * kStride, kStride, hs), vscale);
          v128.store(row + (<usize>t2 << 2), sc);
          vmaxs = f32x4.max(vmaxs, sc);
        }
        let maxv = f32x4.extract_lane(vmaxs, 0);
        maxv = max(maxv, max(f32x4.extract_lane(vmaxs, 1), max(f32x4.extract_lane(vmaxs, 2), f32x4.extract_lane(vmaxs, 3))));
        for (; t2 < n; t2++) {
          const s = dot(q, k0 + <usize>t2 * kStride, hs) * scale;
          store<f32>(row + (<usize>t2 << 2), s);
          if (s > maxv) maxv = s;
        }
        const vmax = f32x4.splat(maxv);
        let acc = f32x4.splat(0);
        t2 = 0;
        for (; t2 + 4 <= n; t2 += 4) {
          const p = row + (<usize>t2 << 2);
          const e = exp4(f32x4.sub(v128.load(p), vmax));
          v128.store(p, e);
          acc = f32x4.add(acc, e);
        }
        let total = hsum(acc);
        for (; t2 < n; t2++) {
          const p = row + (<usize>t2 << 2);
          const e = exp1(load<f32>(p) - maxv);
          store<f32>(p, e);
          total += e;
        }
        const inv: f32 = 1.0 / total, vinv = f32x4.splat(inv);
        for (t2 = 0; t2 + 4 <= n; t2 += 4) {
          const p = row + (<usize>t2 << 2);
          v128.store(p, f32x4.mul(v128.load(p), vinv));
        }
        for (; t2 < n; t2++) {
          const p = row + (<usize>t2 << 2);
          store<f32>(p, load<f32>(p) * inv);
        }
        if (tq + 1 < Tk) zero(row + (<usize>(tq + 1) << 2), Tk - tq - 1);
        const o = out + ((((<usize>b * <usize>Tq + <usize>t) * <usize>C) + <usize>(h * hs)) << 2);
        weighted_sum(o, row, base + (<usize>(2 * C + h * hs) << 2), kStride, n, hs);
      }
    }
  }
}

// Training shape only (Tq == Tk == T). dout (B,T,C) -> dinp (B,T,3C) +=.
// datt (B,NH,T,T) is written with d(att), row by row, as working space.
export function attention_backward(dinp: usize, datt: usize, dout: usize, inp: usize, att: usize,
                                   B: i32, T: i32, C: i32, NH: i32): void {
  attention_backward_part(dinp, datt, dout, inp, att, B, T, C, NH, 0, B * NH);
}

// The (batch, head) pairs bh0 <= b*NH + h < bh1 only: each writes its own head's slice of dinp.
export function attention_backward_part(dinp: usize, datt: usize, dout: usize, inp: usize, att: usize,
                                        B: i32, T: i32, C: i32, NH: i32, bh0: i32, bh1: i32): void {
  const hs = C / NH;
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hs);
  const C3 = <usize>(3 * C);
  for (let bh = bh0; bh < bh1; bh++) {
    const b = bh / NH, h = bh % NH;
    const base = inp + (<usize>b * <usize>T * C3 << 2);
    const dbase = dinp + (<usize>b * <usize>T * C3 << 2);
    for (let t = 0; t < T; t++) {
      {
        const rowOff = (((<usize>b * <usize>NH + <usize>h) * <usize>T + <usize>t) * <usize>T) << 2;
        const a = att + rowOff, da = datt + rowOff;
        const q = base + ((<usize>t * C3 + <usize>(h * hs)) << 2);
        const dq = dbase + ((<usize>t * C3 + <usize>(h * hs)) << 2);
        const g = dout + ((((<usize>b * <usize>T + <usize>t) * <usize>C) + <usize>(h * hs)) << 2);
        // through out = sum_t2 att[t2] v[t2]: datt[t2] = v[t2] . dout (4 keys at a time), dv[t2] += att[t2] dout
        const n = t + 1, stride = C3 << 2;
        const v0 = base + (<usize>(2 * C + h * hs) << 2), k0 = base + (<usize>(C + h * hs) << 2);
        let t2 = 0;
        for (; t2 + 4 <= n; t2 += 4) v128.store(da + (<usize>t2 << 2), dot4(g, v0 + <usize>t2 * stride, stride, hs));
        for (; t2 < n; t2++) store<f32>(da + (<usize>t2 << 2), dot(v0 + <usize>t2 * stride, g, hs));
        let vs = f32x4.splat(0);
        for (t2 = 0; t2 + 4 <= n; t2 += 4) vs = madd(v128.load(a + (<usize>t2 << 2)), v128.load(da + (<usize>t2 << 2)), vs);
        let s = hsum(vs);
        for (; t2 < n; t2++) s += load<f32>(a + (<usize>t2 << 2)) * load<f32>(da + (<usize>t2 << 2));
        // through the softmax: dpre = att * (datt - sum(att * datt)) * scale (into datt), then the
        // scaled dot product: dq += sum dpre[t2] k[t2], dk[t2] += dpre[t2] q
        const vsum = f32x4.splat(s), vscale = f32x4.splat(scale);
        for (t2 = 0; t2 + 4 <= n; t2 += 4) {
          const p = da + (<usize>t2 << 2);
          v128.store(p, f32x4.mul(f32x4.mul(v128.load(a + (<usize>t2 << 2)), f32x4.sub(v128.load(p), vsum)), vscale));
        }
        for (; t2 < n; t2++) {
          const p = da + (<usize>t2 << 2);
          store<f32>(p, load<f32>(a + (<usize>t2 << 2)) * (load<f32>(p) - s) * scale);
        }
        weighted_sum_into(dq, da, 4, k0, stride, n, hs);
      }
    }
    // per key t2, over the queries t >= t2 that see it (columns of att and dpre), in order of t:
    // dv[t2] += sum att[t,t2] dout[t], dk[t2] += sum dpre[t,t2] q[t]
    const rows = att + ((<usize>bh * <usize>T * <usize>T) << 2), drows = datt + ((<usize>bh * <usize>T * <usize>T) << 2);
    const stride = C3 << 2, rowBytes = <usize>T << 2;
    const q0 = base + (<usize>(h * hs) << 2), g0 = dout + ((<usize>b * <usize>T * <usize>C + <usize>(h * hs)) << 2);
    const dv0 = dbase + (<usize>(2 * C + h * hs) << 2), dk0 = dbase + (<usize>(C + h * hs) << 2);
    for (let t2 = 0; t2 < T; t2++) {
      const col = <usize>t2 * rowBytes + (<usize>t2 << 2), count = T - t2;
      weighted_sum_into(dv0 + <usize>t2 * stride, rows + col, rowBytes, g0 + <usize>t2 * (<usize>C << 2), <usize>C << 2, count, hs);
      weighted_sum_into(dk0 + <usize>t2 * stride, drows + col, rowBytes, q0 + <usize>t2 * stride, stride, count, hs);
    }
  }
}

// q . k for 4 keys k, k + stride, k + 2 stride, k + 3 stride (n floats each), as one f32x4
@inline function dot4(q: usize, k: usize, stride: usize, n: i32): v128 {
  const k1 = k + stride, k2 = k1 + stride, k3 = k2 + stride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2, x = v128.load(q + o);
    a0 = madd(x, v128.load(k + o), a0);
    a1 = madd(x, v128.load(k1 + o), a1);
    a2 = madd(x, v128.load(k2 + o), a2);
    a3 = madd(x, v128.load(k3 + o), a3);
  }
  // transpose-and-add: lane j of the result is the sum of the lanes of a_j
  const u0 = f32x4.add(v128.shuffle<f32>(a0, a1, 0, 4, 1, 5), v128.shuffle<f32>(a0, a1, 2, 6, 3, 7));
  const u1 = f32x4.add(v128.shuffle<f32>(a2, a3, 0, 4, 1, 5), v128.shuffle<f32>(a2, a3, 2, 6, 3, 7));
  let r = f32x4.add(v128.shuffle<f32>(u0, u1, 0, 1, 4, 5), v128.shuffle<f32>(u0, u1, 2, 3, 6, 7));
  for (; i < n; i++) {
    const o = <usize>i << 2, x = f32x4.splat(load<f32>(q + o));
    const kv = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(k + o)),
      1, load<f32>(k1 + o)), 2, load<f32>(k2 + o)), 3, load<f32>(k3 + o));
    r = madd(x, kv, r);
  }
  return r;
}

// o (n floats) = sum over keys j < count of w[j] * v_j (v_j at v + j*stride), j in order: the
// output columns in blocks of 16 kept in registers across all keys
@inline function weighted_sum(o: usize, w: usize, v: usize, stride: usize, count: i32, n: i32): void {
  zero(o, n);
  weighted_sum_into(o, w, 4, v, stride, count, n);
}

// o += the same sum (o's old value first, then j in order); w[j] at w + j*wStride (bytes)
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
