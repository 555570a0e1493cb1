// The linear layers (weight (C,OC), the Conv1D layout), the tied LM head (wte (V,C)) and their f16
// forms: the plain-JS reference of assembly/matmul.ts and the declaration of its kernels.
//
// Backward passes write dinp (the whole gradient of inp) and accumulate (+=) into the weights'
// gradients, or with accumulate 0 write them (the first backward after zeroing).
import {
  kernel,
  reads,
  writes,
  accumulates,
  optional,
  dim,
  accumulateFlag,
  splitRange,
  MIN_WORK,
  MIN_ELEMENTS,
  type Floats,
  type Named,
  type KernelSizes,
  type Split,
  type Job,
} from './declare.js';
import { f16ToF32, f32ToF16Bits } from '../backend/f16.js';

// inp (B,T,C), weight (C,OC), bias (OC) or null -> out (B,T,OC)
export function matmul_forward(
  out: Floats,
  inp: Floats,
  weight: Floats,
  bias: Floats | null,
  B: number,
  T: number,
  C: number,
  OC: number,
): void {
  for (let m = 0; m < B * T; m++)
    for (let o = 0; o < OC; o++) {
      let s = bias ? bias[o] : 0;
      for (let c = 0; c < C; c++) s += inp[m * C + c] * weight[c * OC + o];
      out[m * OC + o] = s;
    }
}

// the same with weight as f16 bits (C,OC): each weight widened to f32 exactly, then as above
export function matmul_forward_f16(
  out: Floats,
  inp: Floats,
  weight: Uint16Array,
  bias: Floats | null,
  B: number,
  T: number,
  C: number,
  OC: number,
): void {
  matmul_forward(out, inp, Float32Array.from(weight, f16ToF32), bias, B, T, C, OC);
}

export function f32_to_f16(out: Uint16Array, inp: Floats, n: number): void {
  for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(inp[i]);
}

export function matmul_backward(
  dinp: Floats,
  dweight: Floats,
  dbias: Floats | null,
  dout: Floats,
  inp: Floats,
  weight: Floats,
  B: number,
  T: number,
  C: number,
  OC: number,
  accumulate: number | boolean = 1,
): void {
  dinp.fill(0, 0, B * T * C); // dinp is written, dweight and dbias accumulate (or are written)
  if (!accumulate) {
    dweight.fill(0, 0, C * OC);
    dbias?.fill(0, 0, OC);
  }
  for (let m = 0; m < B * T; m++)
    for (let o = 0; o < OC; o++) {
      const d = dout[m * OC + o];
      if (dbias) dbias[o] += d;
      for (let c = 0; c < C; c++) {
        dinp[m * C + c] += weight[c * OC + o] * d;
        dweight[c * OC + o] += inp[m * C + c] * d;
      }
    }
}

// inp (B,T,C), wte (V,C) -> logits (B,T,V) = inp @ wte^T
export function lm_head_forward(
  logits: Floats,
  inp: Floats,
  wte: Floats,
  B: number,
  T: number,
  C: number,
  V: number,
): void {
  for (let m = 0; m < B * T; m++)
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let c = 0; c < C; c++) s += inp[m * C + c] * wte[v * C + c];
      logits[m * V + v] = s;
    }
}

export function lm_head_forward_f16(
  logits: Floats,
  inp: Floats,
  wte: Uint16Array,
  B: number,
  T: number,
  C: number,
  V: number,
): void {
  lm_head_forward(logits, inp, Float32Array.from(wte, f16ToF32), B, T, C, V);
}

export function lm_head_backward(
  dinp: Floats,
  dwte: Floats,
  dlogits: Floats,
  inp: Floats,
  wte: Floats,
  B: number,
  T: number,
  C: number,
  V: number,
  accumulate: number | boolean = 1,
): void {
  dinp.fill(0, 0, B * T * C); // dinp is written, dwte accumulates (or is written)
  if (!accumulate) dwte.fill(0, 0, V * C);
  for (let m = 0; m < B * T; m++)
    for (let v = 0; v < V; v++) {
      const d = dlogits[m * V + v];
      for (let c = 0; c < C; c++) {
        dinp[m * C + c] += wte[v * C + c] * d;
        dwte[v * C + c] += inp[m * C + c] * d;
      }
    }
}

/**
 * A decode step (M < 4 rows) is a stream through the weight: the kernel cuts its k range in two
 * contiguous halves of the weight, which two threads stream, then out += the second half's sums
 * (assembly/matmul.ts). Split by columns instead, each thread reads short strided pieces of every
 * weight row (2x slower). Its own condition, and a weight of at least 1 M floats (a 768x768 is
 * faster on one thread).
 */
function decodeHalves({ B, T, C, OC }: Named, sizes: KernelSizes): boolean {
  const M = B * T;
  return M < 4 && C >= 256 && M * OC <= sizes.decodeScratchFloats;
}

function halves(half: string, { out, inp, weight, bias, B, T, C, OC }: Named): Split {
  const M = B * T;
  const parts: Split = [
    [half, [out, inp, weight, bias, M, C, OC, 0]],
    [half, [out, inp, weight, bias, M, C, OC, 1]],
  ];
  parts.finish = ['matmul_forward_join', [out, M, OC]];
  return parts;
}

/** The LM head's logits split by vocabulary ranges, each thread streaming its rows of wte. */
function vocabulary(part: string) {
  return {
    parts: [part],
    when: ({ B, T, C, V }: Named) => B * T * C * V >= MIN_WORK,
    plan: ({ logits, inp, wte, B, T, C, V }: Named, n: number) =>
      splitRange(V, n, 8).map(([v0, v1]): Job => [part, [logits, inp, wte, B * T, C, V, v0, v1]]),
  };
}

const linearShapes = { out: writes('B,T,OC'), inp: reads('B,T,C') };
const decodeWarm = [
  { B: 2, T: 8, C: 64, OC: 192 },
  { B: 1, T: 1, C: 64, OC: 192 },
];

export const matmulKernels = {
  matmul_forward: kernel({
    ref: matmul_forward,
    args: { ...linearShapes, weight: reads('C,OC'), bias: optional(reads('OC')), B: dim, T: dim, C: dim, OC: dim },
    split: {
      parts: ['matmul_forward_part', 'matmul_forward_half', 'matmul_forward_join'],
      when: (a, n, sizes) =>
        a.B * a.T < 4 ? decodeHalves(a, sizes) && a.C * a.OC >= 1 << 20 : a.B * a.T * a.C * a.OC >= MIN_WORK,
      plan: (a, n, sizes) => {
        if (decodeHalves(a, sizes)) return halves('matmul_forward_half', a);
        const { out, inp, weight, bias, C, OC } = a,
          M = a.B * a.T;
        // rows when the activations outnumber the weight's columns (training batches); otherwise
        // columns (prefill), so that each thread packs and reads only its part of the weight
        if (M >= 4 * n && M >= OC)
          return splitRange(M, n, 4).map(([m0, m1]): Job => [
            'matmul_forward_part',
            [out, inp, weight, bias, M, C, OC, m0, m1, 0, OC],
          ]);
        return splitRange(OC, n, 8).map(([n0, n1]): Job => [
          'matmul_forward_part',
          [out, inp, weight, bias, M, C, OC, 0, M, n0, n1],
        ]);
      },
    },
    warm: decodeWarm,
  }),
  matmul_backward: kernel({
    ref: matmul_backward,
    args: {
      dinp: writes('B,T,C'),
      dweight: accumulates('C,OC'),
      dbias: optional(accumulates('OC')),
      dout: reads('B,T,OC'),
      inp: reads('B,T,C'),
      weight: reads('C,OC'),
      B: dim,
      T: dim,
      C: dim,
      OC: dim,
      accumulate: accumulateFlag,
    },
    split: {
      parts: ['matmul_backward_part'],
      when: ({ B, T, C, OC }) => B * T * C * OC >= MIN_WORK,
      plan: ({ dinp, dweight, dbias, dout, inp, weight, B, T, C, OC, accumulate }, n) => {
        const M = B * T,
          ms = splitRange(M, n, 4);
        // dweight = inp^T dout is split along its longer side: each thread then packs its share of
        // the larger operand (dout's columns when OC > C) and all of the smaller one
        const whole = (k: number) => ms.map((): [number, number] => [0, k]);
        const cs = OC > C ? whole(C) : splitRange(C, n, 4);
        const os = OC > C ? splitRange(OC, n, 8) : whole(OC);
        // dbias by the same columns as dweight where those are split, so the kernel sums them while it packs dout
        const ns = OC > C ? os : splitRange(OC, n, 4);
        return ms.map(([m0, m1], i): Job => [
          'matmul_backward_part',
          [
            dinp,
            dweight,
            dbias,
            dout,
            inp,
            weight,
            M,
            C,
            OC,
            m0,
            m1,
            cs[i][0],
            cs[i][1],
            os[i][0],
            os[i][1],
            ns[i][0],
            ns[i][1],
            accumulate,
          ],
        ]);
      },
    },
    warm: [{ B: 2, T: 8, C: 64, OC: 192, accumulate: 1 }],
  }),
  lm_head_forward: kernel({
    ref: lm_head_forward,
    args: { logits: writes('B,T,V'), inp: reads('B,T,C'), wte: reads('V,C'), B: dim, T: dim, C: dim, V: dim },
    split: vocabulary('lm_head_forward_part'),
    warm: [
      { B: 2, T: 8, C: 64, V: 64 },
      { B: 1, T: 1, C: 64, V: 64 },
    ],
  }),
  lm_head_backward: kernel({
    ref: lm_head_backward,
    args: {
      dinp: writes('B,T,C'),
      dwte: accumulates('V,C'),
      dlogits: reads('B,T,V'),
      inp: reads('B,T,C'),
      wte: reads('V,C'),
      B: dim,
      T: dim,
      C: dim,
      V: dim,
      accumulate: accumulateFlag,
    },
    split: {
      parts: ['lm_head_backward_part'],
      when: ({ B, T, C, V }) => B * T * C * V >= MIN_WORK,
      plan: ({ dinp, dwte, dlogits, inp, wte, B, T, C, V, accumulate }, n) => {
        const cs = splitRange(C, n, 8),
          vs = splitRange(V, n, 4);
        return cs.map(([c0, c1], i): Job => [
          'lm_head_backward_part',
          [dinp, dwte, dlogits, inp, wte, B * T, C, V, c0, c1, vs[i][0], vs[i][1], accumulate],
        ]);
      },
    },
    warm: [{ B: 2, T: 8, C: 64, V: 64, accumulate: 1 }],
  }),
  // the same forwards with f16 weights (f32 inputs, accumulation and outputs): decode reads half the bytes
  matmul_forward_f16: kernel({
    ref: matmul_forward_f16,
    args: {
      ...linearShapes,
      weight: reads('C,OC', 'f16'),
      bias: optional(reads('OC')),
      B: dim,
      T: dim,
      C: dim,
      OC: dim,
    },
    split: {
      // decode: the two k halves; prefill (4 rows or more): columns, each thread widening its own
      parts: ['matmul_forward_f16_half', 'matmul_forward_join', 'matmul_forward_f16', 'matmul_forward_f16_part'],
      when: (a, n, sizes) =>
        a.B * a.T >= 4 ? a.B * a.T * a.C * a.OC >= MIN_WORK : decodeHalves(a, sizes) && a.C * a.OC >= 1 << 20,
      plan: (a, n, sizes) => {
        const M = a.B * a.T;
        if (M >= 4)
          return splitRange(a.OC, n, 8).map(([n0, n1]): Job => [
            'matmul_forward_f16_part',
            [a.out, a.inp, a.weight, a.bias, M, a.C, a.OC, n0, n1],
          ]);
        return decodeHalves(a, sizes)
          ? halves('matmul_forward_f16_half', a)
          : [['matmul_forward_f16', [a.out, a.inp, a.weight, a.bias, a.B, a.T, a.C, a.OC]]];
      },
    },
    warm: decodeWarm,
  }),
  lm_head_forward_f16: kernel({
    ref: lm_head_forward_f16,
    args: { logits: writes('B,T,V'), inp: reads('B,T,C'), wte: reads('V,C', 'f16'), B: dim, T: dim, C: dim, V: dim },
    split: vocabulary('lm_head_forward_f16_part'),
    warm: [{ B: 1, T: 1, C: 64, V: 64 }],
  }),
  /** f16 bits of n f32 values, rounded to nearest even (f16 weights as they load); threads split the values into ranges. */
  f32_to_f16: kernel({
    ref: f32_to_f16,
    args: { out: writes('n', 'f16'), inp: reads('n'), n: dim },
    split: {
      parts: ['f32_to_f16'],
      when: (a) => a.n >= MIN_ELEMENTS,
      plan: ({ out, inp, n }, k) =>
        splitRange(n, k, 8).map(([i0, i1]): Job => ['f32_to_f16', [out + 2 * i0, inp + 4 * i0, i1 - i0]]),
    },
    warm: [{ n: 64 }],
  }),
};
