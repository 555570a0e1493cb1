// Token + position embedding.
import { add_into } from './simd';

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
