// GELU, the tanh approximation GPT-2 uses: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
//
// Each GELU is one long chain of dependent operations (the tanh's polynomials and division), so
// the forward loop takes four vectors per iteration, side by side, to keep the FMA units busy
// (2M elements, relaxed build: one 2.68 ms, two 2.08, four 1.82; plain build: two 2.79, four 2.27).
// The argument and the final product are written as multiply-adds, 7 operations instead of 9
// around the tanh (relaxed build 1.82 -> 1.60 ms, plain 2.19 -> 2.12).
import { tanh4, madd } from './simd';

const GELU_SCALE: f32 = 0.7978845608028654; // sqrt(2/pi)

// tanh's argument for four lanes: sqrt(2/pi) (x + 0.044715 x^3) = x (sqrt(2/pi) + sqrt(2/pi) 0.044715 x^2)
@inline function gelu_arg(x: v128): v128 {
  return f32x4.mul(x, madd(f32x4.mul(x, x), f32x4.splat(GELU_SCALE * 0.044715), f32x4.splat(GELU_SCALE)));
}

// GELU of four lanes: (0.5 x) (1 + t) as (0.5 x) t + 0.5 x
@inline function gelu4(x: v128): v128 {
  const h = f32x4.mul(f32x4.splat(0.5), x);
  return madd(h, tanh4(gelu_arg(x)), h);
}

// d GELU / dx for four lanes, from x and g = gelu4(x), without a second tanh: g is (0.5 x) (1 + t)
// in one rounding (two in the plain build), so p = g / (0.5 x) is 1 + t again to within an ulp (where 0.5 x is too
// small to divide by, t rounds to 0 and p is 1). With 1 - t^2 = p (2 - p) and 0.5 x p = g:
//   GELU'(x) = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//            = 0.5 p + g (2 - p) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
// (measured 3.0 -> 1.15 ms on 2M elements: the tanh was most of the work).
@inline function gelu_grad4(x: v128, g: v128): v128 {
  const h = f32x4.mul(f32x4.splat(0.5), x);
  const p = v128.bitselect(f32x4.splat(1.0), f32x4.div(g, h), f32x4.lt(f32x4.abs(h), f32x4.splat(1e-30)));
  const w = madd(f32x4.splat(GELU_SCALE * 3.0 * 0.044715), f32x4.mul(x, x), f32x4.splat(GELU_SCALE));
  return madd(f32x4.splat(0.5), p, f32x4.mul(f32x4.mul(g, f32x4.sub(f32x4.splat(2.0), p)), w));
}

// inp (N) -> out (N)
export function gelu_forward(out: usize, inp: usize, N: i32): void {
  let i = 0;
  for (; i + 16 <= N; i += 16) {
    const o = <usize>i << 2;
    const a = gelu4(v128.load(inp + o)), b = gelu4(v128.load(inp + o, 16));
    const c = gelu4(v128.load(inp + o, 32)), d = gelu4(v128.load(inp + o, 48));
    v128.store(out + o, a); v128.store(out + o, b, 16); v128.store(out + o, c, 32); v128.store(out + o, d, 48);
  }
  for (; i + 4 <= N; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, gelu4(v128.load(inp + o)));
  }
  for (; i < N; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, f32x4.extract_lane(gelu4(f32x4.splat(load<f32>(inp + o))), 0));
  }
}

// dout (N) -> dinp (N) = (written), given out = gelu_forward(inp) (the forward pass keeps both)
export function gelu_backward(dinp: usize, inp: usize, out: usize, dout: usize, N: i32): void {
  let i = 0;
  for (; i + 8 <= N; i += 8) {
    const o = <usize>i << 2;
    const a = gelu_grad4(v128.load(inp + o), v128.load(out + o));
    const b = gelu_grad4(v128.load(inp + o, 16), v128.load(out + o, 16));
    v128.store(dinp + o, f32x4.mul(a, v128.load(dout + o)));
    v128.store(dinp + o, f32x4.mul(b, v128.load(dout + o, 16)), 16);
  }
  for (; i + 4 <= N; i += 4) {
    const o = <usize>i << 2;
    v128.store(dinp + o, f32x4.mul(gelu_grad4(v128.load(inp + o), v128.load(out + o)), v128.load(dout + o)));
  }
  for (; i < N; i++) {
    const o = <usize>i << 2;
    const local = f32x4.extract_lane(gelu_grad4(f32x4.splat(load<f32>(inp + o)), f32x4.splat(load<f32>(out + o))), 0);
    store<f32>(dinp + o, local * load<f32>(dout + o));
  }
}
