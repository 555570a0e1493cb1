// LayerNorm over the last dimension, eps 1e-5 as in GPT-2.
import { sum, sum_sq_dev, hsum } from './simd';

// inp (N,C) -> out (N,C); saves mean (N) and rstd (N) for the backward pass
export function layernorm_forward(out: usize, mean: usize, rstd: usize,
                                  inp: usize, weight: usize, bias: usize,
                                  N: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let n = 0; n < N; n++) {
    const x = inp + <usize>n * rowBytes;
    const o = out + <usize>n * rowBytes;
    const m = sum(x, C) / <f32>C;
    // variance in a second pass over the row: exact enough and cheap at these widths
    const v = sum_sq_dev(x, C, m) / <f32>C;
    const s: f32 = 1.0 / Mathf.sqrt(v + 1e-5);
    const vm = f32x4.splat(m), vs = f32x4.splat(s);
    let i = 0;
    for (; i + 4 <= C; i += 4) {
      const off = <usize>i << 2;
      const norm = f32x4.mul(f32x4.sub(v128.load(x + off), vm), vs);
      v128.store(o + off, f32x4.add(f32x4.mul(norm, v128.load(weight + off)), v128.load(bias + off)));
    }
    for (; i < C; i++) {
      const off = <usize>i << 2;
      store<f32>(o + off, (load<f32>(x + off) - m) * s * load<f32>(weight + off) + load<f32>(bias + off));
    }
    store<f32>(mean + (<usize>n << 2), m);
    store<f32>(rstd + (<usize>n << 2), s);
  }
}

// dout (N,C) -> dinp (N,C) +=, dweight (C) +=, dbias (C) +=
export function layernorm_backward(dinp: usize, dweight: usize, dbias: usize,
                                   dout: usize, inp: usize, weight: usize,
                                   mean: usize, rstd: usize, N: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let n = 0; n < N; n++) {
    const x = inp + <usize>n * rowBytes;
    const dy = dout + <usize>n * rowBytes;
    const dx = dinp + <usize>n * rowBytes;
    const m = load<f32>(mean + (<usize>n << 2));
    const s = load<f32>(rstd + (<usize>n << 2));
    const vm = f32x4.splat(m), vs = f32x4.splat(s);
    // two reductions: mean of dnorm and mean of dnorm * norm
    // (two chains of each, 8 floats a step: one chain waits on each add's latency)
    let a1 = f32x4.splat(0), a2 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0);
    let i = 0;
    for (; i + 8 <= C; i += 8) {
      const off = <usize>i << 2;
      const norm = f32x4.mul(f32x4.sub(v128.load(x + off), vm), vs);
      const dnorm = f32x4.mul(v128.load(weight + off), v128.load(dy + off));
      const norm1 = f32x4.mul(f32x4.sub(v128.load(x + off, 16), vm), vs);
      const dnorm1 = f32x4.mul(v128.load(weight + off, 16), v128.load(dy + off, 16));
      a1 = f32x4.add(a1, dnorm); a2 = f32x4.add(a2, f32x4.mul(dnorm, norm));
      b1 = f32x4.add(b1, dnorm1); b2 = f32x4.add(b2, f32x4.mul(dnorm1, norm1));
    }
    for (; i + 4 <= C; i += 4) {
      const off = <usize>i << 2;
      const norm = f32x4.mul(f32x4.sub(v128.load(x + off), vm), vs);
      const dnorm = f32x4.mul(v128.load(weight + off), v128.load(dy + off));
      a1 = f32x4.add(a1, dnorm);
      a2 = f32x4.add(a2, f32x4.mul(dnorm, norm));
    }
    let dnormMean = hsum(f32x4.add(a1, b1)), dnormNormMean = hsum(f32x4.add(a2, b2));
    for (; i < C; i++) {
      const off = <usize>i << 2;
      const norm = (load<f32>(x + off) - m) * s;
      const dnorm = load<f32>(weight + off) * load<f32>(dy + off);
      dnormMean += dnorm;
      dnormNormMean += dnorm * norm;
    }
    dnormMean /= <f32>C;
    dnormNormMean /= <f32>C;
    const vdm = f32x4.splat(dnormMean), vdnm = f32x4.splat(dnormNormMean);
    i = 0;
    for (; i + 4 <= C; i += 4) {
      const off = <usize>i << 2;
      const norm = f32x4.mul(f32x4.sub(v128.load(x + off), vm), vs);
      const g = v128.load(dy + off);
      const dnorm = f32x4.mul(v128.load(weight + off), g);
      v128.store(dbias + off, f32x4.add(v128.load(dbias + off), g));
      v128.store(dweight + off, f32x4.add(v128.load(dweight + off), f32x4.mul(norm, g)));
      const t = f32x4.mul(f32x4.sub(f32x4.sub(dnorm, vdm), f32x4.mul(norm, vdnm)), vs);
      v128.store(dx + off, f32x4.add(v128.load(dx + off), t));
    }
    for (; i < C; i++) {
      const off = <usize>i << 2;
      const norm = (load<f32>(x + off) - m) * s;
      const g = load<f32>(dy + off);
      const dnorm = load<f32>(weight + off) * g;
      store<f32>(dbias + off, load<f32>(dbias + off) + g);
      store<f32>(dweight + off, load<f32>(dweight + off) + norm * g);
      store<f32>(dx + off, load<f32>(dx + off) + (dnorm - dnormMean - norm * dnormNormMean) * s);
    }
  }
}
