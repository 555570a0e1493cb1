// Causal multi-head self-attention: the plain-JS reference of assembly/attention.ts and the
// declaration of its kernels. Threads split every one by heads.
import {
  kernel,
  reads,
  writes,
  updates,
  dim,
  splitRange,
  MIN_WORK,
  type Floats,
  type Named,
  type Job,
} from './declare.js';

// qkv (B,Tk,3C); queries are the last Tq positions -> out (B,Tq,C), att (B,NH,Tq,Tk)
export function attention_forward(
  out: Floats,
  att: Floats,
  qkv: Floats,
  B: number,
  Tq: number,
  Tk: number,
  C: number,
  NH: number,
): void {
  const hs = C / NH,
    scale = 1 / Math.sqrt(hs);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < Tq; t++)
      for (let h = 0; h < NH; h++) {
        const tq = t + Tk - Tq;
        const q = (b * Tk + tq) * 3 * C + h * hs;
        const row = ((b * NH + h) * Tq + t) * Tk;
        let max = -Infinity;
        for (let t2 = 0; t2 <= tq; t2++) {
          const k = (b * Tk + t2) * 3 * C + C + h * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += qkv[q + i] * qkv[k + i];
          att[row + t2] = s * scale;
          max = Math.max(max, att[row + t2]);
        }
        let total = 0;
        for (let t2 = 0; t2 <= tq; t2++) {
          att[row + t2] = Math.exp(att[row + t2] - max);
          total += att[row + t2];
        }
        for (let t2 = 0; t2 < Tk; t2++) att[row + t2] = t2 <= tq ? att[row + t2] / total : 0;
        const o = (b * Tq + t) * C + h * hs;
        for (let i = 0; i < hs; i++) {
          let s = 0;
          for (let t2 = 0; t2 <= tq; t2++) s += att[row + t2] * qkv[(b * Tk + t2) * 3 * C + 2 * C + h * hs + i];
          out[o + i] = s;
        }
      }
}

// With a KV cache (batch 1): the new positions' keys and values (qkv (1,Tq,3C)) go into kcache and vcache
// (NH,maxT,hs) at positions Tk-Tq..Tk-1; then attention_forward over the cache laid out as q|k|v
// rows (the new queries in the last Tq)
export function attention_forward_kv(
  out: Floats,
  att: Floats,
  qkv: Floats,
  kcache: Floats,
  vcache: Floats,
  Tq: number,
  Tk: number,
  maxT: number,
  C: number,
  NH: number,
): void {
  const hs = C / NH,
    past = Tk - Tq,
    rows = new Float64Array(Tk * 3 * C);
  for (let t = 0; t < Tq; t++)
    for (let h = 0; h < NH; h++)
      for (let i = 0; i < hs; i++) {
        kcache[(h * maxT + past + t) * hs + i] = qkv[t * 3 * C + C + h * hs + i];
        vcache[(h * maxT + past + t) * hs + i] = qkv[t * 3 * C + 2 * C + h * hs + i];
      }
  for (let t = 0; t < Tk; t++)
    for (let h = 0; h < NH; h++)
      for (let i = 0; i < hs; i++) {
        if (t >= past) rows[t * 3 * C + h * hs + i] = qkv[(t - past) * 3 * C + h * hs + i];
        rows[t * 3 * C + C + h * hs + i] = kcache[(h * maxT + t) * hs + i];
        rows[t * 3 * C + 2 * C + h * hs + i] = vcache[(h * maxT + t) * hs + i];
      }
  attention_forward(out, att, rows, 1, Tq, Tk, C, NH);
}

// Training shape (Tq == Tk == T): dout (B,T,C) -> dinp (B,T,3C), overwritten (=: it is the whole
// gradient of qkv); datt (B,NH,T,T) working space
export function attention_backward(
  dinp: Floats,
  datt: Floats,
  dout: Floats,
  inp: Floats,
  att: Floats,
  B: number,
  T: number,
  C: number,
  NH: number,
): void {
  const hs = C / NH,
    scale = 1 / Math.sqrt(hs);
  dinp.fill(0, 0, B * T * 3 * C);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let h = 0; h < NH; h++) {
        const row = ((b * NH + h) * T + t) * T;
        const q = (b * T + t) * 3 * C + h * hs;
        const g = (b * T + t) * C + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const v = (b * T + t2) * 3 * C + 2 * C + h * hs;
          let d = 0;
          for (let i = 0; i < hs; i++) {
            d += inp[v + i] * dout[g + i];
            dinp[v + i] += att[row + t2] * dout[g + i];
          }
          datt[row + t2] = d;
        }
        // softmax backward: dpre[t3] = sum_t2 att[t2] * (1[t2==t3] - att[t3]) * datt[t2]
        for (let t3 = 0; t3 <= t; t3++) {
          let dpre = 0;
          for (let t2 = 0; t2 <= t; t2++)
            dpre += att[row + t2] * ((t2 === t3 ? 1 : 0) - att[row + t3]) * datt[row + t2];
          const k = (b * T + t3) * 3 * C + C + h * hs;
          for (let i = 0; i < hs; i++) {
            dinp[q + i] += dpre * scale * inp[k + i];
            dinp[k + i] += dpre * scale * inp[q + i];
          }
        }
      }
}

const heads = ({ C, NH }: Named) => (C % NH === 0 ? null : `C (${C}) is not divisible by NH (${NH})`);
const queries = (a: Named) => heads(a) ?? (a.Tq > a.Tk ? `Tq (${a.Tq}) queries cannot exceed Tk (${a.Tk}) keys` : null);

export const attentionKernels = {
  attention_forward: kernel({
    ref: attention_forward,
    args: {
      out: writes('B,Tq,C'),
      att: writes('B,NH,Tq,Tk'),
      qkv: reads('B,Tk,3*C'),
      B: dim,
      Tq: dim,
      Tk: dim,
      C: dim,
      NH: dim,
    },
    check: queries,
    split: {
      parts: ['attention_forward_part'],
      when: ({ B, Tq, Tk, C, NH }) => B * NH >= 2 && B * Tq * Tk * C >= MIN_WORK / 64,
      plan: ({ out, att, qkv, B, Tq, Tk, C, NH }, n) =>
        splitRange(B * NH, n, 1).map(([h0, h1]): Job => [
          'attention_forward_part',
          [out, att, qkv, B, Tq, Tk, C, NH, h0, h1],
        ]),
    },
    warm: [{ B: 2, Tq: 8, Tk: 8, C: 64, NH: 2 }],
  }),
  /**
   * With a KV cache (batch 1): qkv (1,Tq,3C) holds the Tq new positions' q|k|v. Their keys and values are
   * stored into kcache and vcache (NH,maxT,hs) at positions Tk-Tq..Tk-1, then the queries attend over keys 0..Tk-1.
   */
  attention_forward_kv: kernel({
    ref: attention_forward_kv,
    args: {
      out: writes('1,Tq,C'),
      att: writes('1,NH,Tq,Tk'),
      qkv: reads('1,Tq,3*C'),
      kcache: updates('NH,maxT,C/NH'),
      vcache: updates('NH,maxT,C/NH'),
      Tq: dim,
      Tk: dim,
      maxT: dim,
      C: dim,
      NH: dim,
    },
    check: (a) =>
      queries(a) ?? (a.Tk > a.maxT ? `Tk (${a.Tk}) keys do not fit the cache's maxT (${a.maxT}) positions` : null),
    split: {
      parts: ['attention_forward_kv_part'],
      when: ({ Tq, Tk, C, NH }) => NH >= 2 && Tq * Tk * C >= MIN_WORK / 64,
      plan: ({ out, att, qkv, kcache, vcache, Tq, Tk, maxT, C, NH }, n) =>
        splitRange(NH, n, 1).map(([h0, h1]): Job => [
          'attention_forward_kv_part',
          [out, att, qkv, kcache, vcache, Tq, Tk, maxT, C, NH, h0, h1],
        ]),
    },
    warm: [
      { Tq: 8, Tk: 8, maxT: 8, C: 64, NH: 2 },
      { Tq: 1, Tk: 8, maxT: 8, C: 64, NH: 2 },
    ],
  }),
  /** dinp is written (the whole gradient of qkv); att as attention_forward left it (zero above the causal diagonal); datt is working space. */
  attention_backward: kernel({
    ref: attention_backward,
    args: {
      dinp: writes('B,T,3*C'),
      datt: writes('B,NH,T,T'),
      dout: reads('B,T,C'),
      inp: reads('B,T,3*C'),
      att: reads('B,NH,T,T'),
      B: dim,
      T: dim,
      C: dim,
      NH: dim,
    },
    check: heads,
    split: {
      parts: ['attention_backward_part'],
      when: ({ B, T, C, NH }) => B * NH >= 2 && B * T * T * C >= MIN_WORK / 8,
      plan: ({ dinp, datt, dout, inp, att, B, T, C, NH }, n) =>
        splitRange(B * NH, n, 1).map(([h0, h1]): Job => [
          'attention_backward_part',
          [dinp, datt, dout, inp, att, B, T, C, NH, h0, h1],
        ]),
    },
    warm: [{ B: 2, T: 8, C: 64, NH: 2 }],
  }),
};
