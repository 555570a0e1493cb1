// IEEE half precision <-> f32, for f16 weight storage (decode reads half the bytes) and for F16
// safetensors. Plain and exact: f16 -> f32 is exact; f32 -> f16 rounds to nearest, ties to even.

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 0x1f,
    f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

const f32 = new Float32Array(1),
  u32 = new Uint32Array(f32.buffer);

export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const u = u32[0],
    sign = (u >>> 16) & 0x8000,
    exp = (u >>> 23) & 0xff,
    m = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0); // inf / NaN
  const e = exp - 112; // f16 exponent field
  if (e >= 31) return sign | 0x7c00; // too large: inf
  if (e <= 0) {
    // subnormal (or zero): the value in units of 2^-24, rounded to nearest even
    if (e < -10) return sign;
    const mant = m | 0x800000,
      shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1),
      half = 1 << (shift - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = sign | (e << 10) | (m >>> 13);
  const rest = m & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry into the exponent is right too
  return h;
}

/** f32 values -> f16 bits. */
export function toF16(src: ArrayLike<number>, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) out[i] = f32ToF16Bits(src[i]);
  return out;
}
