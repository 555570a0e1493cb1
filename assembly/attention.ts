// Causal multi-head self-attention: softmax(q k^T / sqrt(hs)) v, per head.
import { dot, axpy, zero, exp4, exp1, hsum } from './simd';

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
        let maxv: f32 = -Infinity;
        for (let t2 = 0; t2 <= tq; t2++) {
          const k = base + ((<usize>t2 * C3 + <usize>(C + h * hs)) << 2);
          const s = dot(q, k, hs) * scale;
          store<f32>(row + (<usize>t2 << 2), s);
          if (s > maxv) maxv = s;
        }
        const n = tq + 1, vmax = f32x4.splat(maxv);
        let acc = f32x4.splat(0);
        let t2 = 0;
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
        const inv: f32 = 1.0 / total;
        for (let t2 = 0; t2 <= tq; t2++) {
          const p = row + (<usize>t2 << 2);
          store<f32>(p, load<f32>(p) * inv);
        }
        if (tq + 1 < Tk) zero(row + (<usize>(tq + 1) << 2), Tk - tq - 1);
        const o = out + ((((<usize>b * <usize>Tq + <usize>t) * <usize>C) + <usize>(h * hs)) << 2);
        zero(o, hs);
        for (let t2 = 0; t2 <= tq; t2++) {
          const v = base + ((<usize>t2 * C3 + <usize>(2 * C + h * hs)) << 2);
          axpy(o, load<f32>(row + (<usize>t2 << 2)), v, hs);
        }
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
        // through out = sum_t2 att[t2] v[t2]
        let s: f32 = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const vOff = (<usize>t2 * C3 + <usize>(2 * C + h * hs)) << 2;
          const at = load<f32>(a + (<usize>t2 << 2));
          const d = dot(base + vOff, g, hs);
          store<f32>(da + (<usize>t2 << 2), d);
          s += at * d;
          axpy(dbase + vOff, at, g, hs);
        }
        // through the softmax: dpre = att * (datt - sum(att * datt)), then the scaled dot product
        for (let t2 = 0; t2 <= t; t2++) {
          const kOff = (<usize>t2 * C3 + <usize>(C + h * hs)) << 2;
          const dpre = load<f32>(a + (<usize>t2 << 2)) * (load<f32>(da + (<usize>t2 << 2)) - s) * scale;
          axpy(dq, dpre, base + kOff, hs);
          axpy(dbase + kOff, dpre, q, hs);
        }
      }
    }
  }
}
