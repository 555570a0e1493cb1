// f16 weights: each half widened to f32 exactly, in SIMD lanes, and f32 rounded to f16 (the
// helpers of matmul.ts's f16 kernels).
import { hsum, madd, madd1 } from './simd';

// A half h, sign-extended to 32 bits and shifted left by 13, has its exponent and mantissa where
// an f32 has them and its sign in bits 28-31; masking bits 28-30 off (0x8fffffff) leaves an f32
// that is exactly h * 2^-112 (the exponent biases differ by 112; denormals come out right too).
// (Computed below in 16-bit lanes, in five operations per 8 weights.) The 2^112 goes into the other factor (once per
// weight row in
// axpy_f16) or into the lanes (dot_row_f16). Weights are checked finite when loaded, so inf/NaN
// need no care.

const TWO_112: f32 = 5.192296858534828e33;

@inline export function f16_to_f32(h: u32): f32 {
  const mag = reinterpret<f32>((h & 0x7fff) << 13) * TWO_112;
  return reinterpret<f32>(reinterpret<u32>(mag) | ((h & 0x8000) << 16));
}

// Eight halves h become two f32x4 of raw lanes (f32 * 2^-112) in the 16-bit lanes first: the
// upper halves of the results are (h >> 3 arithmetic) & 0x8fff (sign, three zeros, exponent, top
// 7 mantissa bits), the lower halves h << 13 (the low 3 mantissa bits); interleaving the two
// gives bit for bit what sign-extending, shifting by 13 and masking 0x8fffffff gives, in five
// operations per 8 weights instead of six.
@inline export function upper16(h: v128): v128 { return v128.and(i16x8.shr_s(h, 3), i16x8.splat(<i16>0x8fff)); }
@inline export function lower16(h: v128): v128 { return i16x8.shl(h, 13); }
// lanes 0-3 and 4-7 from lower16(h), upper16(h)
@inline export function raw_lo(lo: v128, up: v128): v128 {
  return i8x16.shuffle(lo, up, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
}
@inline export function raw_hi(lo: v128, up: v128): v128 {
  return i8x16.shuffle(lo, up, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31);
}
@inline export function widen_lo(h: v128): v128 {
  return f32x4.mul(raw_lo(lower16(h), upper16(h)), f32x4.splat(TWO_112));
}
@inline export function widen_hi(h: v128): v128 {
  return f32x4.mul(raw_hi(lower16(h), upper16(h)), f32x4.splat(TWO_112));
}

// y[i] += alpha * w[i] (w: n halves). alpha * 2^112 times the raw lanes is the same product as
// alpha times the weights, so the scale costs nothing per weight (unless alpha * 2^112 would
// overflow: then the lanes are scaled instead).
@inline export function axpy_f16(y: usize, alpha: f32, w: usize, n: i32): void {
  const big = Mathf.abs(alpha) > 60000;
  const va = f32x4.splat(big ? alpha : alpha * TWO_112);
  let i = 0;
  if (big) {
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(w + (<usize>i << 1)), o = <usize>i << 2;
      v128.store(y + o, madd(va, widen_lo(h), v128.load(y + o)));
      v128.store(y + o, madd(va, widen_hi(h), v128.load(y + o, 16)), 16);
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      const hb = w + (<usize>i << 1), o = y + (<usize>i << 2);
      const h0 = v128.load(hb), h1 = v128.load(hb, 16);
      const l0 = lower16(h0), u0 = upper16(h0), l1 = lower16(h1), u1 = upper16(h1);
      v128.store(o, madd(va, raw_lo(l0, u0), v128.load(o)));
      v128.store(o, madd(va, raw_hi(l0, u0), v128.load(o, 16)), 16);
      v128.store(o, madd(va, raw_lo(l1, u1), v128.load(o, 32)), 32);
      v128.store(o, madd(va, raw_hi(l1, u1), v128.load(o, 48)), 48);
    }
    for (; i + 8 <= n; i += 8) {
      const h = v128.load(w + (<usize>i << 1)), o = <usize>i << 2;
      const l = lower16(h), u = upper16(h);
      v128.store(y + o, madd(va, raw_lo(l, u), v128.load(y + o)));
      v128.store(y + o, madd(va, raw_hi(l, u), v128.load(y + o, 16)), 16);
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, madd1(alpha, f16_to_f32(<u32>load<u16>(w + (<usize>i << 1))), load<f32>(y + o)));
  }
}

// one dot product of an f32 row and an f16 row: 4 accumulators over 16 elements, then the tail
@inline export function dot_row_f16(a: usize, b: usize, K: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= K; k += 16) {
    const hb = b + (<usize>k << 1), o = <usize>k << 2;
    const h0 = v128.load(hb), h1 = v128.load(hb, 16);
    const l0 = lower16(h0), u0 = upper16(h0), l1 = lower16(h1), u1 = upper16(h1);
    s0 = madd(v128.load(a + o), raw_lo(l0, u0), s0);
    s1 = madd(v128.load(a + o, 16), raw_hi(l0, u0), s1);
    s2 = madd(v128.load(a + o, 32), raw_lo(l1, u1), s2);
    s3 = madd(v128.load(a + o, 48), raw_hi(l1, u1), s3);
  }
  // the lanes summed x * w * 2^-112: scaled back once (terms below f32's normal range lose bits,
  // but they are under 2^-126 / 2^-112 = 6e-5 of a unit weight times x: nothing a logit can see)
  let r = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3))) * TWO_112;
  for (; k < K; k++) r = madd1(load<f32>(a + (<usize>k << 2)), f16_to_f32(<u32>load<u16>(b + (<usize>k << 1))), r);
  return r;
}

@inline export function f16_bits(u: u32): u32 {
  const sign = (u >>> 16) & 0x8000, exp = <i32>((u >>> 23) & 0xff), m = u & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (m != 0 ? 0x200 : 0); // inf / NaN
  const e = exp - 112; // the f16 exponent field
  if (e >= 31) return sign | 0x7c00; // too large: inf
  if (e <= 0) {
    // subnormal or zero: the value in units of 2^-24
    if (e < -10) return sign;
    const mant = m | 0x800000, shift = <u32>(14 - e);
    let h = mant >>> shift;
    const rest = mant & ((<u32>1 << shift) - 1), half = <u32>1 << (shift - 1);
    if (rest > half || (rest == half && (h & 1) != 0)) h++;
    return sign | h;
  }
  let h = sign | (<u32>e << 10) | (m >>> 13);
  const rest = m & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1) != 0)) h++; // a carry into the exponent is right too
  return h;
}
