// Token and position embedding: the plain-JS reference of assembly/encoder.ts and the declaration
// of both kernels.
import { kernel, reads, writes, accumulates, dim, type Named, type Floats } from './declare.js';
import { f16ToF32 } from '../backend/f16.js';
import type { DType } from '../backend/tensor.js';

// inp (B,T) token ids, wte (V,C), wpe (maxT,C) -> out (B,T,C)
export function encoder_forward(
  out: Floats,
  inp: Int32Array,
  wte: Floats,
  wpe: Floats,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const ix = inp[b * T + t];
      for (let i = 0; i < C; i++) out[(b * T + t) * C + i] = wte[ix * C + i] + wpe[t * C + i];
    }
}

// the same with wte as f16 bits (V,C), each widened to f32 exactly
export function encoder_forward_f16(
  out: Floats,
  inp: Int32Array,
  wte: Uint16Array,
  wpe: Floats,
  B: number,
  T: number,
  C: number,
): void {
  encoder_forward(out, inp, Float32Array.from(wte, f16ToF32), wpe, B, T, C);
}

export function encoder_backward(
  dwte: Floats,
  dwpe: Floats,
  dout: Floats,
  inp: Int32Array,
  B: number,
  T: number,
  C: number,
): void {
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) {
      const ix = inp[b * T + t];
      for (let i = 0; i < C; i++) {
        const d = dout[(b * T + t) * C + i];
        dwte[ix * C + i] += d;
        dwpe[t * C + i] += d;
      }
    }
}

/** wpe must hold T positions. */
export const positions = ({ P, T }: Named) => ((P ?? T) >= T ? null : `wpe holds ${P} positions, fewer than T (${T})`);

/** The embedding's arguments, whatever wte is held as (f32, f16, a block format). */
export const embeddingArgs = (wte: DType) => ({
  out: writes('B,T,C'),
  inp: reads('B,T', 'i32'),
  wte: reads('V,C', wte),
  wpe: reads('P,C'),
  B: dim,
  T: dim,
  C: dim,
});

export const encoderKernels = {
  encoder_forward: kernel({
    ref: encoder_forward,
    args: embeddingArgs('f32'),
    check: positions,
    warm: [{ B: 2, T: 8, C: 64, V: 64, P: 8 }],
  }),
  encoder_forward_f16: kernel({
    ref: encoder_forward_f16,
    args: embeddingArgs('f16'),
    check: positions,
    warm: [{ B: 2, T: 8, C: 64, V: 64, P: 8 }],
  }),
  encoder_backward: kernel({
    ref: encoder_backward,
    args: {
      dwte: accumulates('V,C'),
      dwpe: accumulates('P,C'),
      dout: reads('B,T,C'),
      inp: reads('B,T', 'i32'),
      B: dim,
      T: dim,
      C: dim,
    },
    check: positions,
    warm: [{ B: 2, T: 8, C: 64, V: 64, P: 8 }],
  }),
};
