// Residual connection: out = inp1 + inp2. Its backward is no kernel: the residual stream's
// gradient passes through each add unchanged.

// inp1 (N), inp2 (N) -> out (N)
export function residual_forward(out: usize, inp1: usize, inp2: usize, N: i32): void {
  let i = 0;
  for (; i + 4 <= N; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(inp1 + o), v128.load(inp2 + o)));
  }
  for (; i < N; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(inp1 + o) + load<f32>(inp2 + o));
  }
}
