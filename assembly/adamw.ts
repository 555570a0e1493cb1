// AdamW, exactly as torch.optim.AdamW computes it (decoupled weight decay applied first).

// params, grads, m, v all (N); t is the 1-based step number. Each gradient is multiplied by
// grad_scale as it is read (clipping by the global norm, or the mean over micro-batches, without a
// pass of their own over the gradients: at GPT-2 124M's 0.5 GB that pass took 20 ms of a 2.1 s
// step). grad_scale = 1 leaves every bit as it was.
export function adamw_update(params: usize, grads: usize, m: usize, v: usize, N: i32,
                             lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
                             t: i32, grad_scale: f32): void {
  const bc1 = <f32>(1.0 - Math.pow(<f64>beta1, <f64>t));
  const sqrtBc2 = <f32>Math.sqrt(1.0 - Math.pow(<f64>beta2, <f64>t));
  const stepSize = lr / bc1;
  const decay: f32 = 1.0 - lr * weight_decay;
  const vb1 = f32x4.splat(beta1), vb1c = f32x4.splat(1.0 - beta1), vb2 = f32x4.splat(beta2),
      vb2c = f32x4.splat(1.0 - beta2);
  const vdecay = f32x4.splat(decay), vstep = f32x4.splat(stepSize), vbc2 = f32x4.splat(sqrtBc2),
      veps = f32x4.splat(eps);
  const vscale = f32x4.splat(grad_scale);
  let i = 0;
  for (; i + 4 <= N; i += 4) {
    const o = <usize>i << 2;
    const g = f32x4.mul(v128.load(grads + o), vscale);
    const mi = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(vb1c, g));
    const vi = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(f32x4.mul(vb2c, g), g));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const p = f32x4.mul(v128.load(params + o), vdecay);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vi), vbc2), veps);
    v128.store(params + o, f32x4.sub(p, f32x4.div(f32x4.mul(vstep, mi), denom)));
  }
  for (; i < N; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o) * grad_scale;
    const mi = beta1 * load<f32>(m + o) + (1.0 - beta1) * g;
    const vi = beta2 * load<f32>(v + o) + (1.0 - beta2) * g * g;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const p = load<f32>(params + o) * decay;
    store<f32>(params + o, p - stepSize * mi / (Mathf.sqrt(vi) / sqrtBc2 + eps));
  }
}

// sum of squares of x (N), accumulated in f64 (for the global gradient norm): four f64x2 sums
// (lanes i mod 8), added together at the end, then the tail
export function sum_squares(x: usize, N: i32): f64 {
  let s0 = f64x2.splat(0), s1 = f64x2.splat(0), s2 = f64x2.splat(0), s3 = f64x2.splat(0);
  let i = 0;
  for (; i + 8 <= N; i += 8) {
    const o = <usize>i << 2, a = v128.load(x + o), b = v128.load(x + o, 16);
    const a0 = f64x2.promote_low_f32x4(a), a1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(a, a, 2, 3, 0, 1));
    const b0 = f64x2.promote_low_f32x4(b), b1 = f64x2.promote_low_f32x4(v128.shuffle<f32>(b, b, 2, 3, 0, 1));
    s0 = f64x2.add(s0, f64x2.mul(a0, a0)); s1 = f64x2.add(s1, f64x2.mul(a1, a1));
    s2 = f64x2.add(s2, f64x2.mul(b0, b0)); s3 = f64x2.add(s3, f64x2.mul(b1, b1));
  }
  const v = f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3));
  let s = f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
  for (; i < N; i++) { const a = <f64>load<f32>(x + (<usize>i << 2)); s += a * a; }
  return s;
}
