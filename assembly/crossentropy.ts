// Softmax over the vocabulary and the cross-entropy loss; the backward pass is fused.
import { softmax } from './simd';

// A negative target means "no loss at this position" (e.g. prompt tokens in fine-tuning).

// logits (B,T,V) -> probs (B,T,V)
export function softmax_forward(probs: usize, logits: usize, B: i32, T: i32, V: i32): void {
  const N = B * T;
  const rowBytes = <usize>V << 2;
  for (let n = 0; n < N; n++) softmax(probs + <usize>n * rowBytes, logits + <usize>n * rowBytes, V, V, 1.0);
}

// probs (B,T,V), targets (B,T) int32 -> losses (B,T) = -log probs[target] (0 where target < 0)
export function crossentropy_forward(losses: usize, probs: usize, targets: usize,
                                     B: i32, T: i32, V: i32): void {
  const N = B * T;
  for (let n = 0; n < N; n++) {
    const y = load<i32>(targets + (<usize>n << 2));
    const loss: f32 = y < 0 ? 0 : -Mathf.log(load<f32>(probs + ((<usize>n * <usize>V + <usize>y) << 2)));
    store<f32>(losses + (<usize>n << 2), loss);
  }
}

// dlosses (B,T), probs (B,T,V), targets (B,T) -> dlogits (B,T,V) = (probs - onehot(target)) * dloss
// (written; zero in the rows without a target)
export function crossentropy_softmax_backward(dlogits: usize, dlosses: usize, probs: usize, targets: usize,
                                              B: i32, T: i32, V: i32): void {
  const N = B * T;
  const rowBytes = <usize>V << 2;
  for (let n = 0; n < N; n++) {
    const y = load<i32>(targets + (<usize>n << 2));
    const p = probs + <usize>n * rowBytes, d = dlogits + <usize>n * rowBytes;
    if (y < 0) { memory.fill(d, 0, rowBytes); continue; }
    const g = load<f32>(dlosses + (<usize>n << 2));
    const vg = f32x4.splat(g);
    let i = 0;
    for (; i + 4 <= V; i += 4) {
      const o = <usize>i << 2;
      v128.store(d + o, f32x4.mul(v128.load(p + o), vg));
    }
    for (; i < V; i++) {
      const o = <usize>i << 2;
      store<f32>(d + o, load<f32>(p + o) * g);
    }
    const dy = d + (<usize>y << 2);
    store<f32>(dy, load<f32>(dy) - g);
  }
}
