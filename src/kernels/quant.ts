// Quantized weights in llama.cpp's block formats (q8_0, q4_0): the plain-JS reference of
// assembly/quant.ts and the declaration of its kernels. A quantized matrix is (rows, K) with each
// row's K values in blocks of 32 (K a multiple of 32): an f16 scale d, then the values' bits
//   q8_0 (34 bytes): 32 int8 q, value q * d
//   q4_0 (18 bytes): 16 bytes, value j in the low nibble of byte j and value j + 16 in the high
//                    nibble, each q in 0..15, value (q - 8) * d
// A linear layer's weight is kept (OC, C): out = inp @ W^T + bias (llama.cpp's layout for GPT-2).
// The references say what the result is (the weights dequantized, then the f32 product); the wasm
// decode kernel quantizes activations to int16 on the way and lands within about 1e-5 of it.
import {
  kernel,
  reads,
  writes,
  optional,
  dim,
  scalar,
  splitRange,
  MIN_WORK,
  MIN_ELEMENTS,
  type Floats,
  type Named,
  type Job,
} from './declare.js';
import { f16ToF32, f32ToF16Bits } from '../backend/f16.js';
import { matmul_forward } from './matmul.js';
import { embeddingArgs, positions } from './encoder.js';

export type BlockFormat = 'q8_0' | 'q4_0';
const BLOCK_BYTES = { q8_0: 34, q4_0: 18 };

/** The K-value blocks of one f32 row into out at `at`, as llama.cpp's quantize_row_*_ref. Returns the values it cannot hold (non-finite, or a scale past f16). */
function quantizeBlock(fmt: BlockFormat, x: number[], out: Uint8Array, at: number): number {
  let bad = x.filter((v) => !Number.isFinite(v)).length;
  let amax = 0,
    max = 0;
  for (const v of x)
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  const f = Math.fround;
  const d = fmt === 'q8_0' ? f(amax / 127) : f(max / -8);
  const id = d !== 0 ? f(1 / d) : 0;
  const h = f32ToF16Bits(d);
  if ((h & 0x7c00) === 0x7c00) bad++;
  out[at] = h & 0xff;
  out[at + 1] = h >> 8;
  if (fmt === 'q8_0') {
    for (let j = 0; j < 32; j++) {
      const v = f(x[j] * id);
      const q = Math.floor(Math.abs(v) + 0.5); // roundf: halves away from zero
      out[at + 2 + j] = (v < 0 ? -q : q) & 0xff;
    }
  } else {
    for (let j = 0; j < 16; j++) {
      const q0 = Math.min(15, Math.trunc(f(f(x[j] * id) + 8.5)));
      const q1 = Math.min(15, Math.trunc(f(f(x[j + 16] * id) + 8.5)));
      out[at + 2 + j] = q0 | (q1 << 4);
    }
  }
  return bad;
}

/** Value j of the block at `at`. */
function blockValue(fmt: BlockFormat, b: Uint8Array, at: number, j: number): number {
  const d = f16ToF32(b[at] | (b[at + 1] << 8));
  if (fmt === 'q8_0') return ((b[at + 2 + j] << 24) >> 24) * d;
  const byte = b[at + 2 + (j % 16)];
  return ((j < 16 ? byte & 15 : byte >> 4) - 8) * d;
}

function quantize(
  fmt: BlockFormat,
  out: Uint8Array,
  inp: Floats,
  R: number,
  K: number,
  trans: number | boolean,
): number {
  let bad = 0;
  for (let r = 0; r < R; r++)
    for (let b = 0; b < K / 32; b++) {
      const x = Array.from({ length: 32 }, (_, j) => (trans ? inp[(b * 32 + j) * R + r] : inp[r * K + b * 32 + j]));
      bad += quantizeBlock(fmt, x, out, (r * (K / 32) + b) * BLOCK_BYTES[fmt]);
    }
  return bad;
}

function dequantize(fmt: BlockFormat, out: Floats, inp: Uint8Array, R: number, K: number): void {
  for (let r = 0; r < R; r++)
    for (let k = 0; k < K; k++)
      out[r * K + k] = blockValue(fmt, inp, (r * (K / 32) + Math.floor(k / 32)) * BLOCK_BYTES[fmt], k % 32);
}

/** f32 (R,K), or (K,R) with trans (a Conv1D weight kept (OC,C)), -> blocks (R,K). Returns how many values could not be held. */
export function quantize_q8_0(out: Uint8Array, inp: Floats, R: number, K: number, trans: number | boolean): number {
  return quantize('q8_0', out, inp, R, K, trans);
}
export function quantize_q4_0(out: Uint8Array, inp: Floats, R: number, K: number, trans: number | boolean): number {
  return quantize('q4_0', out, inp, R, K, trans);
}

/** blocks (R,K) -> f32 (R,K), exactly (a small integer times an f16). */
export function dequantize_q8_0(out: Floats, inp: Uint8Array, R: number, K: number): void {
  dequantize('q8_0', out, inp, R, K);
}
export function dequantize_q4_0(out: Floats, inp: Uint8Array, R: number, K: number): void {
  dequantize('q4_0', out, inp, R, K);
}

function encoder(
  fmt: BlockFormat,
  out: Floats,
  inp: Int32Array,
  wte: Uint8Array,
  wpe: Floats,
  B: number,
  T: number,
  C: number,
): void {
  for (let bt = 0; bt < B * T; bt++) {
    const row = inp[bt] * (C / 32) * BLOCK_BYTES[fmt];
    for (let c = 0; c < C; c++)
      out[bt * C + c] = Math.fround(
        blockValue(fmt, wte, row + Math.floor(c / 32) * BLOCK_BYTES[fmt], c % 32) + wpe[(bt % T) * C + c],
      );
  }
}

/** inp (B,T) token ids, wte (V,C) blocks, wpe (P,C) -> out (B,T,C) = wte[token] + wpe[t] */
export function encoder_forward_q8_0(
  out: Floats,
  inp: Int32Array,
  wte: Uint8Array,
  wpe: Floats,
  B: number,
  T: number,
  C: number,
): void {
  encoder('q8_0', out, inp, wte, wpe, B, T, C);
}
export function encoder_forward_q4_0(
  out: Floats,
  inp: Int32Array,
  wte: Uint8Array,
  wpe: Floats,
  B: number,
  T: number,
  C: number,
): void {
  encoder('q4_0', out, inp, wte, wpe, B, T, C);
}

function linear(
  fmt: BlockFormat,
  out: Floats,
  inp: Floats,
  weight: Uint8Array,
  bias: Floats | null,
  B: number,
  T: number,
  C: number,
  OC: number,
): void {
  const w = new Float64Array(OC * C);
  dequantize(fmt, w, weight, OC, C);
  const wt = new Float64Array(C * OC); // (C, OC), as matmul_forward reads a weight
  for (let o = 0; o < OC; o++) for (let c = 0; c < C; c++) wt[c * OC + o] = w[o * C + c];
  matmul_forward(out, inp, wt, bias, B, T, C, OC);
}

/** inp (B,T,C), weight (OC,C) blocks, bias (OC) or null -> out (B,T,OC) = inp @ weight^T + bias (the LM head: wte, no bias) */
export function linear_q8_0(
  out: Floats,
  inp: Floats,
  weight: Uint8Array,
  bias: Floats | null,
  B: number,
  T: number,
  C: number,
  OC: number,
): void {
  linear('q8_0', out, inp, weight, bias, B, T, C, OC);
}
export function linear_q4_0(
  out: Floats,
  inp: Floats,
  weight: Uint8Array,
  bias: Floats | null,
  B: number,
  T: number,
  C: number,
  OC: number,
): void {
  linear('q4_0', out, inp, weight, bias, B, T, C, OC);
}

const whole = (K: string) => (a: Named) =>
  a[K] % 32 === 0 ? null : `${K} (${a[K]}) must be a multiple of 32 (blocks of 32 values)`;

/** The quantizer; threads split a tensor by rows of blocks, and the counts of values refused add up. */
function quantizer(fmt: BlockFormat, ref: typeof quantize_q8_0) {
  const part = `quantize_${fmt}_part`;
  return kernel({
    ref,
    args: { out: writes('R,K', fmt), inp: reads('R,K'), R: dim, K: dim, trans: scalar },
    check: whole('K'),
    split: {
      parts: [part],
      when: ({ R, K }) => R * K >= MIN_ELEMENTS,
      plan: ({ out, inp, R, K, trans }, n) =>
        splitRange(R, n, 1).map(([r0, r1]): Job => [part, [out, inp, R, K, trans, r0, r1]]),
      sums: true,
    },
    warm: [{ R: 2, K: 64, trans: 0 }],
  });
}

function dequantizer(fmt: BlockFormat, ref: typeof dequantize_q8_0) {
  return kernel({
    ref,
    args: { out: writes('R,K'), inp: reads('R,K', fmt), R: dim, K: dim },
    check: whole('K'),
    warm: [{ R: 2, K: 64 }],
  });
}

function embedding(fmt: BlockFormat, ref: typeof encoder_forward_q8_0) {
  return kernel({
    ref,
    args: embeddingArgs(fmt),
    check: (a) => whole('C')(a) ?? positions(a),
    warm: [{ B: 2, T: 4, C: 64, V: 8, P: 4 }],
  });
}

/**
 * The linear layer over blocks. Threads split the outputs (rows of the weight, contiguous in
 * memory: each streams its own), in multiples of 8 so that prefill's 8-column panels fall the same
 * way in any split. Decode steps split from 1 M weights, as the f32 ones.
 */
function linearKernel(fmt: BlockFormat, ref: typeof linear_q8_0) {
  const part = `linear_${fmt}_part`;
  return kernel({
    ref,
    args: {
      out: writes('B,T,OC'),
      inp: reads('B,T,C'),
      weight: reads('OC,C', fmt),
      bias: optional(reads('OC')),
      B: dim,
      T: dim,
      C: dim,
      OC: dim,
    },
    check: whole('C'),
    split: {
      parts: [part],
      when: ({ B, T, C, OC }) => (B * T < 4 ? C * OC >= 1 << 20 : B * T * C * OC >= MIN_WORK),
      plan: ({ out, inp, weight, bias, B, T, C, OC }, n) =>
        splitRange(OC, n, 8).map(([n0, n1]): Job => [part, [out, inp, weight, bias, B * T, C, OC, n0, n1]]),
    },
    warm: [
      { B: 1, T: 1, C: 64, OC: 72 },
      { B: 2, T: 4, C: 64, OC: 72 },
    ],
  });
}

export const quantKernels = {
  quantize_q8_0: quantizer('q8_0', quantize_q8_0),
  quantize_q4_0: quantizer('q4_0', quantize_q4_0),
  dequantize_q8_0: dequantizer('q8_0', dequantize_q8_0),
  dequantize_q4_0: dequantizer('q4_0', dequantize_q4_0),
  encoder_forward_q8_0: embedding('q8_0', encoder_forward_q8_0),
  encoder_forward_q4_0: embedding('q4_0', encoder_forward_q4_0),
  linear_q8_0: linearKernel('q8_0', linear_q8_0),
  linear_q4_0: linearKernel('q4_0', linear_q4_0),
};
