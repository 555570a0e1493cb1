// Small f32x4 helpers shared by the kernels. Every helper handles lengths that are not
// multiples of 4 with a scalar tail. Pointers are byte addresses into the one memory.

// a*b + c for four lanes: a fused multiply-add in the relaxed-SIMD build (f32x4.relaxed_madd,
// one rounding), mul then add otherwise. Every matmul path uses it, so a build gives the same
// result for an element whichever tile, tail or thread computes it.
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// a*b + c for one value with exactly the arithmetic of madd (for the scalar tails)
@inline export function madd1(a: f32, b: f32, c: f32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.extract_lane(f32x4.relaxed_madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
  }
  return a * b + c;
}

// sum_i a[i] * b[i]
@inline export function dot(a: usize, b: usize, n: i32): f32 {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    acc1 = f32x4.add(acc1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    acc0 = f32x4.add(acc0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = hsum(f32x4.add(acc0, acc1));
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return s;
}

// y[i] += alpha * x[i]
@inline export function axpy(y: usize, alpha: f32, x: usize, n: i32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(va, v128.load(x + o), v128.load(y + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, madd1(alpha, load<f32>(x + o), load<f32>(y + o)));
  }
}

// y[i] += x[i]
@inline export function add_into(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o));
  }
}

// sum_i x[i]: four chains of vector sums (one chain waits on each add's latency)
@inline export function sum(x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
  }
  for (; i + 4 <= n; i += 4) a0 = f32x4.add(a0, v128.load(x + (<usize>i << 2)));
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < n; i++) s += load<f32>(x + (<usize>i << 2));
  return s;
}

// sum_i (x[i] - m)^2, four chains as in sum
@inline export function sum_sq_dev(x: usize, n: i32, m: f32): f32 {
  const vm = f32x4.splat(m);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    const d0 = f32x4.sub(v128.load(p), vm), d1 = f32x4.sub(v128.load(p, 16), vm);
    const d2 = f32x4.sub(v128.load(p, 32), vm), d3 = f32x4.sub(v128.load(p, 48), vm);
    a0 = f32x4.add(a0, f32x4.mul(d0, d0)); a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    a2 = f32x4.add(a2, f32x4.mul(d2, d2)); a3 = f32x4.add(a3, f32x4.mul(d3, d3));
  }
  for (; i + 4 <= n; i += 4) {
    const d = f32x4.sub(v128.load(x + (<usize>i << 2)), vm);
    a0 = f32x4.add(a0, f32x4.mul(d, d));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < n; i++) { const d = load<f32>(x + (<usize>i << 2)) - m; s += d * d; }
  return s;
}

@inline export function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) +
         (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// x[i] = 0. Short runs (attention's rows) in vector stores: memory.fill is a call out of the
// compiled code, which costs more than the stores below a few hundred floats.
@inline export function zero(x: usize, n: i32): void {
  if (n > 256) { memory.fill(x, 0, <usize>n << 2); return; }
  const z = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + (<usize>i << 2), z);
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), 0);
}

// x[i] = y[i] for n floats (short runs: attention's pieces of a head; memory.copy is a call out
// of the compiled code, as memory.fill is in zero)
@inline export function copy(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + (<usize>i << 2), v128.load(y + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), load<f32>(y + (<usize>i << 2)));
}

// e^x for four lanes: Cody-Waite range reduction x = n ln2 + r, Cephes' degree-6 polynomial for
// e^r, then 2^n put straight into the exponent bits. About 1 ulp; x clamped to [-87, 88] so
// 2^n stays a normal float (e^-87 ~ 1.6e-38, e^88 ~ 1.7e38).
@inline export function exp4(x: v128): v128 {
  // pmin/pmax: one instruction each (min/max carry NaN and -0 rules)
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  // n = x log2(e) rounded to nearest, ties to even, by adding 1.5 * 2^23: the sum's low mantissa
  // bits hold n (two's complement), which plus 127 and shifted into the exponent field is 2^n;
  // subtracting the constant back gives n as a float. The same n as f32x4.nearest, without a
  // float-to-int conversion (which V8 expands to seven instructions for its saturation rules).
  const t = f32x4.add(f32x4.mul(x, f32x4.splat(1.44269504088896341)), f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = madd(n, f32x4.splat(-0.693359375), x);
  r = madd(n, f32x4.splat(2.12194440e-4), r);
  let p = madd(f32x4.splat(1.9875691500e-4), r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = f32x4.add(madd(p, f32x4.mul(r, r), r), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(t, i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

// out[0..n) = softmax(inp[0..n) * scale) (out may be inp); out[n..len) = 0. Vectors all the way:
// the last, partial vector is read whole when it stays inside [0, len) (its lanes past n masked
// off), else lane by lane. The maximum through pmax (one instruction; f32x4.max's NaN and -0 rules
// cost V8 six, in a loop-carried chain).
@inline export function softmax(out: usize, inp: usize, n: i32, len: i32, scale: f32): void {
  const full = n & ~3, rem = n & 3, whole = full + 4 <= len, mask = lanes_below(rem);
  let vmax = f32x4.splat(-Infinity), x = f32x4.splat(0);
  for (let j = 0; j < full; j += 4) vmax = f32x4.pmax(vmax, v128.load(inp + (<usize>j << 2)));
  if (rem != 0) {
    x = load_part(inp + (<usize>full << 2), rem, whole);
    vmax = f32x4.pmax(vmax, v128.bitselect(x, f32x4.splat(-Infinity), mask));
  }
  vmax = f32x4.pmax(vmax, v128.shuffle<f32>(vmax, vmax, 2, 3, 0, 1));
  const m = f32x4.pmax(vmax, v128.shuffle<f32>(vmax, vmax, 1, 0, 3, 2)); // the maximum in every lane
  const vscale = f32x4.splat(scale);
  // exps four vectors at a time (each is a long dependent chain; side by side they overlap),
  // summed in the same order as one at a time
  let acc = f32x4.splat(0), j = 0;
  for (; j + 16 <= full; j += 16) {
    const o = <usize>j << 2;
    const e0 = exp4(f32x4.mul(f32x4.sub(v128.load(inp + o), m), vscale));
    const e1 = exp4(f32x4.mul(f32x4.sub(v128.load(inp + o, 16), m), vscale));
    const e2 = exp4(f32x4.mul(f32x4.sub(v128.load(inp + o, 32), m), vscale));
    const e3 = exp4(f32x4.mul(f32x4.sub(v128.load(inp + o, 48), m), vscale));
    v128.store(out + o, e0); v128.store(out + o, e1, 16); v128.store(out + o, e2, 32); v128.store(out + o, e3, 48);
    acc = f32x4.add(f32x4.add(f32x4.add(f32x4.add(acc, e0), e1), e2), e3);
  }
  for (; j < full; j += 4) {
    const o = <usize>j << 2, e = exp4(f32x4.mul(f32x4.sub(v128.load(inp + o), m), vscale));
    v128.store(out + o, e);
    acc = f32x4.add(acc, e);
  }
  if (rem != 0) {
    x = v128.and(exp4(f32x4.mul(f32x4.sub(x, m), vscale)), mask);
    acc = f32x4.add(acc, x);
  }
  const inv = f32x4.splat(<f32>1.0 / hsum(acc));
  for (let j = 0; j < full; j += 4) {
    const p = out + (<usize>j << 2);
    v128.store(p, f32x4.mul(v128.load(p), inv));
  }
  if (rem != 0) store_part(out + (<usize>full << 2), f32x4.mul(x, inv), rem, whole);
  const z = rem != 0 && whole ? full + 4 : n;
  zero(out + (<usize>z << 2), len - z);
}

// all ones in lanes [0, r), zero in the others
@inline export function lanes_below(r: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(r));
}

// the r <= 4 floats at p (the rest zero): one load when the whole vector may be read
@inline export function load_part(p: usize, r: i32, whole: bool): v128 {
  if (whole) return v128.load(p);
  let x = f32x4.replace_lane(f32x4.splat(0), 0, load<f32>(p));
  if (r > 1) x = f32x4.replace_lane(x, 1, load<f32>(p, 4));
  if (r > 2) x = f32x4.replace_lane(x, 2, load<f32>(p, 8));
  if (r > 3) x = f32x4.replace_lane(x, 3, load<f32>(p, 12));
  return x;
}

// lanes [0, r) of x to p (with whole, all four: the caller's row wants the others too)
@inline export function store_part(p: usize, x: v128, r: i32, whole: bool): void {
  if (whole) { v128.store(p, x); return; }
  store<f32>(p, f32x4.extract_lane(x, 0));
  if (r > 1) store<f32>(p, f32x4.extract_lane(x, 1), 4);
  if (r > 2) store<f32>(p, f32x4.extract_lane(x, 2), 8);
  if (r > 3) store<f32>(p, f32x4.extract_lane(x, 3), 12);
}

// tanh for four lanes: a rational approximation x P(x^2) / Q(x^2) (Eigen's float tanh, degrees
// 13/6), one division and no exponential. Absolute error under 4e-7. u is clamped where the
// quotient rounds to exactly +-1, so it saturates cleanly; that point depends on the arithmetic:
// 7.9053 with a separate multiply and add, 7.9988 with fused ones (Eigen's two constants; with
// the first, fused arithmetic gave 1 - 2.4e-7 there, GELU(-1e4) = -0.0012 and its gradient -25518).
@inline export function tanh4(u: v128): v128 {
  const CLAMP: f32 = ASC_FEATURE_RELAXED_SIMD ? 7.99881172180175781 : 7.90531110763549805;
  const x = f32x4.pmin(f32x4.pmax(u, f32x4.splat(-CLAMP)), f32x4.splat(CLAMP));
  const x2 = f32x4.mul(x, x);
  let p = madd(x2, f32x4.splat(-2.76076847742355e-16), f32x4.splat(2.00018790482477e-13));
  p = madd(x2, p, f32x4.splat(-8.60467152213735e-11));
  p = madd(x2, p, f32x4.splat(5.12229709037114e-08));
  p = madd(x2, p, f32x4.splat(1.48572235717979e-05));
  p = madd(x2, p, f32x4.splat(6.37261928875436e-04));
  p = madd(x2, p, f32x4.splat(4.89352455891786e-03));
  let q = madd(x2, f32x4.splat(1.19825839466702e-06), f32x4.splat(1.18534705686654e-04));
  q = madd(x2, q, f32x4.splat(2.26843463243900e-03));
  q = madd(x2, q, f32x4.splat(4.89352518554385e-03));
  return f32x4.div(f32x4.mul(x, p), q);
}

// Load one word per 64 bytes of [p, p + bytes): wasm has no prefetch instruction, so this is how
// a kernel asks for lines it will need soon (the loads are independent, so they overlap each
// other and the work around them). Their xor goes to a global (each instance has its own) that an
// export reads, so no optimizer can drop them.
let warmed: u32 = 0;
export function warm_checksum(): u32 { return warmed; }
@inline export function touch(p: usize, bytes: usize): void {
  let x: u32 = 0;
  for (let o: usize = 0; o < bytes; o += 64) x ^= load<u32>(p + o);
  warmed ^= x;
}
