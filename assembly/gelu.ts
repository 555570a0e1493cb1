// GELU, the tanh approximation GPT-2 uses: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
import { tanh4 } from './simd';

const GELU_SCALE: f32 = 0.7978845608028654; // sqrt(2/pi)

// inp (N) -> out (N)
export function gelu_forward(out: usize, inp: usize, N: i32): void {
  const s = f32x4.splat(GELU_SCALE), c = f32x4.splat(0.044715), half = f32x4.splat(0.5), one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= N; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    const u = f32x4.mul(s, f32x4.add(x, f32x4.mul(c, f32x4.mul(x, f32x4.mul(x, x)))));
    v128.store(out + o, f32x4.mul(f32x4.mul(half, x), f32x4.add(one, tanh4(u))));
  }
  for (; i < N; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const t = f32x4.extract_lane(tanh4(f32x4.splat(GELU_SCALE * (x + 0.044715 * x * x * x))), 0);
    store<f32>(out + o, 0.5 * x * (1.0 + t));
  }
}

// dout (N) -> dinp (N) +=
export function gelu_backward(dinp: usize, inp: usize, dout: usize, N: i32): void {
  const s = f32x4.splat(GELU_SCALE), c = f32x4.splat(0.044715), c3 = f32x4.splat(3.0 * 0.044715);
  const half = f32x4.splat(0.5), one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= N; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    const x2 = f32x4.mul(x, x);
    const t = tanh4(f32x4.mul(s, f32x4.add(x, f32x4.mul(c, f32x4.mul(x, x2)))));
    const sech2 = f32x4.sub(one, f32x4.mul(t, t));
    // 0.5 (1 + t) + 0.5 x sech^2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)
    const local = f32x4.add(f32x4.mul(half, f32x4.add(one, t)),
      f32x4.mul(f32x4.mul(f32x4.mul(half, x), sech2), f32x4.mul(s, f32x4.add(one, f32x4.mul(c3, x2)))));
    v128.store(dinp + o, f32x4.add(v128.load(dinp + o), f32x4.mul(local, v128.load(dout + o))));
  }
  for (; i < N; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const t = f32x4.extract_lane(tanh4(f32x4.splat(GELU_SCALE * (x + 0.044715 * x * x * x))), 0);
    const local: f32 = 0.5 * (1.0 + t) + x * 0.5 * (1.0 - t * t) * GELU_SCALE * (1.0 + 3.0 * 0.044715 * x * x);
    store<f32>(dinp + o, load<f32>(dinp + o) + local * load<f32>(dout + o));
  }
}
