// Scans over a tensor's values: how many are NaN, infinite or of too large a magnitude (the
// loaders check every weight before a model runs on it).

// How many of the N floats at inp have a magnitude whose f32 bits are limit or more: with limit
// the bits of +inf (0x7f800000), the NaNs and infinities; with those of 65520, also what rounds to
// an f16 infinity. Compared as integers: for non-negative floats the bits order as the values do.
export function count_beyond(inp: usize, N: i32, limit: i32): i32 {
  const mask = i32x4.splat(0x7fffffff), lim = i32x4.splat(limit);
  let c0 = i32x4.splat(0), c1 = i32x4.splat(0), i = 0;
  for (; i + 8 <= N; i += 8) {
    const p = inp + (<usize>i << 2);
    c0 = i32x4.sub(c0, i32x4.ge_s(v128.and(v128.load(p), mask), lim)); // true lanes are -1
    c1 = i32x4.sub(c1, i32x4.ge_s(v128.and(v128.load(p, 16), mask), lim));
  }
  const c = i32x4.add(c0, c1);
  let n = i32x4.extract_lane(c, 0) + i32x4.extract_lane(c, 1) + i32x4.extract_lane(c, 2) + i32x4.extract_lane(c, 3);
  for (; i < N; i++) if ((load<i32>(inp + (<usize>i << 2)) & 0x7fffffff) >= limit) n++;
  return n;
}
