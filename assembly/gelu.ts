// GELU, the tanh approximation GPT-2 uses.
const GELU_SCALE: f32 = 0.7978845608028654; // sqrt(2/pi)

// inp (N) -> out (N)
export function gelu_forward(out: usize, inp: usize, N: i32): void {
  for (let i = 0; i < N; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const cube: f32 = 0.044715 * x * x * x;
    store<f32>(out + o, 0.5 * x * (1.0 + Mathf.tanh(GELU_SCALE * (x + cube))));
  }
}

// dout (N) -> dinp (N) +=
export function gelu_backward(dinp: usize, inp: usize, dout: usize, N: i32): void {
  for (let i = 0; i < N; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const cube: f32 = 0.044715 * x * x * x;
    const arg = GELU_SCALE * (x + cube);
    const th = Mathf.tanh(arg);
    const sech2: f32 = 1.0 - th * th;
    const local: f32 = 0.5 * (1.0 + th) + x * 0.5 * sech2 * GELU_SCALE * (1.0 + 3.0 * 0.044715 * x * x);
    store<f32>(dinp + o, load<f32>(dinp + o) + local * load<f32>(dout + o));
  }
}
