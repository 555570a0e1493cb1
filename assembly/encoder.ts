// Token + position embedding.
import { add_into } from './simd';
import { widen_lo, widen_hi, f16_to_f32 } from './f16';

// inp (B,T) int32 token ids, wte (V,C), wpe (maxT,C) -> out (B,T,C) = wte[token] + wpe[t]
export function encoder_forward(out: usize, inp: usize, wte: usize, wpe: usize,
                                B: i32, T: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const bt = <usize>(b * T + t);
      const ix = <usize>load<i32>(inp + (bt << 2));
      const o = out + bt * rowBytes;
      memory.copy(o, wte + ix * rowBytes, rowBytes);
      add_into(o, wpe + <usize>t * rowBytes, C);
    }
  }
}

// the same with wte as f16 (V,C): each row widened to f32 exactly
export function encoder_forward_f16(out: usize, inp: usize, wte: usize, wpe: usize, B: i32, T: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let bt = 0; bt < B * T; bt++) {
    const o = out + <usize>bt * rowBytes, p = wpe + <usize>(bt % T) * rowBytes;
    const w = wte + <usize>load<i32>(inp + (<usize>bt << 2)) * (<usize>C << 1);
    let c = 0;
    for (; c + 8 <= C; c += 8) {
      const h = v128.load(w + (<usize>c << 1)), off = <usize>c << 2;
      v128.store(o + off, f32x4.add(widen_lo(h), v128.load(p + off)));
      v128.store(o + off, f32x4.add(widen_hi(h), v128.load(p + off, 16)), 16);
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      store<f32>(o + off, f16_to_f32(<u32>load<u16>(w + (<usize>c << 1))) + load<f32>(p + off));
    }
  }
}

// dout (B,T,C) -> dwte (V,C) += at each token's row, dwpe (maxT,C) += at each position's row
export function encoder_backward(dwte: usize, dwpe: usize, dout: usize, inp: usize,
                                 B: i32, T: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const bt = <usize>(b * T + t);
      const ix = <usize>load<i32>(inp + (bt << 2));
      const d = dout + bt * rowBytes;
      add_into(dwte + ix * rowBytes, d, C);
      add_into(dwpe + <usize>t * rowBytes, d, C);
    }
  }
}
