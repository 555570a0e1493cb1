// Threaded kernels give the same results as one thread, bit for bit: every kernel part computes
// its elements with the same arithmetic whatever the split.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { WasmBackend, type Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { configFromHF } from '../src/model/config.js';
import { gptFromSafetensors } from '../src/weights/gpt2.js';
import { Random } from '../src/model/random.js';
import { readShared, tensorFrom, randomArray, rng } from './helpers.js';

let one: WasmBackend, two: WasmBackend, three: WasmBackend, oneR: WasmBackend, twoR: WasmBackend;
beforeAll(async () => {
  one = await WasmBackend.create({ threads: 1, simd: 'plain' });
  two = await WasmBackend.create({ threads: 2, simd: 'plain' });
  three = await WasmBackend.create({ threads: 3, simd: 'plain' });
  oneR = await WasmBackend.create({ threads: 1, simd: 'relaxed' });
  twoR = await WasmBackend.create({ threads: 2, simd: 'relaxed' });
});
afterAll(() => {
  two.dispose();
  three.dispose();
  twoR.dispose();
});

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(Float32Array.from(a).buffer);
}

/** Where two bit patterns first differ, with both values (-1: identical); fast on large arrays, unlike toEqual. */
function firstDiff(a: Uint32Array, b: Uint32Array): string | -1 {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return `element ${i}: ${new Float32Array(a.buffer)[i]} vs ${new Float32Array(b.buffer)[i]}`;
  }
  return -1;
}

describe('threads', () => {
  it('the pools have the threads asked for', () => {
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(three.threads).toBe(3);
  });

  it('every threaded kernel equals one thread bit for bit, on odd shapes', () => {
    // the last two are decode shapes (M < 4) big enough for the matmul's k halves to go to two threads;
    // with OC a multiple of 8, dbias is summed while dout is packed (OC <= C: on one thread only,
    // split threads take a loop of their own; OC > C: every thread, by dweight's columns). M 261
    // and M 700: one thread takes dout in chunks of 252 and 330 rows through dinp's and dweight's
    // products (dbias summed in a loop of its own, and while dout is packed; at M 700 the weight
    // packed once for every chunk's dinp).
    const shapes = [
      { M: 1, C: 52, OC: 156 },
      { M: 3, C: 33, OC: 97 },
      { M: 13, C: 64, OC: 200 },
      { M: 37, C: 128, OC: 390 },
      { M: 261, C: 300, OC: 530 },
      { M: 200, C: 256, OC: 128 },
      { M: 100, C: 96, OC: 400 },
      { M: 700, C: 64, OC: 392 },
      { M: 1, C: 1030, OC: 1030 },
      { M: 3, C: 771, OC: 1403 },
    ];
    for (const { M, C, OC } of shapes) {
      const before = two.parallelCalls;
      const r = rng(M * 1000 + C);
      const data = {
        inp: randomArray(M * C, r),
        w: randomArray(C * OC, r),
        b: randomArray(OC, r),
        dout: randomArray(M * OC, r),
        di: randomArray(M * C, r),
        dw: randomArray(C * OC, r),
        db: randomArray(OC, r),
      };
      const results = [one, two, three, oneR, twoR].map((be: Backend) => {
        const t = (shape: number[], d: Float32Array) => tensorFrom(be, shape, d);
        const inp = t([1, M, C], data.inp),
          w = t([C, OC], data.w),
          b = t([OC], data.b),
          out = t([1, M, OC], new Float32Array(M * OC));
        be.matmul_forward(out, inp, w, b, 1, M, C, OC);
        const di = t([1, M, C], data.di),
          dw = t([C, OC], data.dw),
          db = t([OC], data.db),
          dout = t([1, M, OC], data.dout);
        be.matmul_backward(di, dw, db, dout, inp, w, 1, M, C, OC);
        const wte = t([OC, C], data.w),
          logits = t([1, M, OC], new Float32Array(M * OC));
        be.lm_head_forward(logits, inp, wte, 1, M, C, OC);
        const di2 = t([1, M, C], data.di),
          dwte = t([OC, C], data.dw);
        be.lm_head_backward(di2, dwte, dout, inp, wte, 1, M, C, OC);
        // the same backwards writing the parameters' gradients instead of adding to them
        const di3 = t([1, M, C], data.di),
          dw3 = t([C, OC], data.dw),
          db3 = t([OC], data.db);
        be.matmul_backward(di3, dw3, db3, dout, inp, w, 1, M, C, OC, false);
        const di4 = t([1, M, C], data.di),
          dwte4 = t([OC, C], data.dw);
        be.lm_head_backward(di4, dwte4, dout, inp, wte, 1, M, C, OC, false);
        return [out, di, dw, db, logits, di2, dwte, dw3, db3, dwte4].map((x) => bits(x.data()));
      });
      for (let k = 0; k < results[0].length; k++) {
        expect(firstDiff(results[1][k], results[0][k]), `M${M} C${C} OC${OC} output ${k}, 2 threads`).toBe(-1);
        expect(firstDiff(results[2][k], results[0][k]), `M${M} C${C} OC${OC} output ${k}, 3 threads`).toBe(-1);
        expect(
          firstDiff(results[4][k], results[3][k]),
          `M${M} C${C} OC${OC} output ${k}, relaxed SIMD, 2 threads`,
        ).toBe(-1);
      }
      if (M < 4 && C >= 256)
        expect(two.parallelCalls - before, 'the decode matmul and LM head ran split').toBeGreaterThanOrEqual(1);
    }
  });

  it('element- and row-wise kernels split by ranges equal one thread bit for bit', () => {
    const N = 70_003,
      rows = 701,
      C = 101; // above the split threshold, not multiples of 4
    const r = rng(11);
    const x = randomArray(N, r, 4),
      y = randomArray(N, r),
      z = randomArray(N, r),
      w = randomArray(C, r),
      b = randomArray(C, r);
    const results = [one, two, three, oneR, twoR].map((be: Backend) => {
      const before = be instanceof WasmBackend ? be.parallelCalls : 0;
      const t = (shape: number[], d: Float32Array) => tensorFrom(be, shape, d);
      const inp = t([N], x),
        out = t([N], new Float32Array(N)),
        d1 = t([N], y);
      be.gelu_forward(out, inp, N);
      be.gelu_backward(d1, inp, out, t([N], z), N);
      const res = t([N], new Float32Array(N));
      be.residual_forward(res, inp, t([N], y), N);
      const lnIn = t([rows, C], x.subarray(0, rows * C)),
        lnOut = t([rows, C], new Float32Array(rows * C));
      const mean = t([rows], new Float32Array(rows)),
        rstd = t([rows], new Float32Array(rows));
      be.layernorm_forward(lnOut, mean, rstd, lnIn, t([C], w), t([C], b), rows, C);
      const probs = t([1, rows, C], new Float32Array(rows * C));
      be.softmax_forward(probs, lnIn, 1, rows, C);
      const split = be.threads > 1 ? (be as WasmBackend).parallelCalls - before : 5;
      expect(split, `all five calls split on ${be.threads} threads`).toBe(5);
      return [out, d1, res, lnOut, mean, rstd, probs].map((v) => bits(v.data()));
    });
    for (let k = 0; k < results[0].length; k++) {
      expect(firstDiff(results[1][k], results[0][k]), `output ${k}, 2 threads`).toBe(-1);
      expect(firstDiff(results[2][k], results[0][k]), `output ${k}, 3 threads`).toBe(-1);
      expect(firstDiff(results[4][k], results[3][k]), `output ${k}, relaxed SIMD, 2 threads`).toBe(-1);
    }
  });

  it('attention, forward and backward, equals one thread bit for bit', () => {
    const B = 2,
      T = 17,
      C = 48,
      NH = 4;
    const r = rng(5);
    const qkv = randomArray(B * T * 3 * C, r, 2),
      dout = randomArray(B * T * C, r);
    const results = [one, two, three].map((be: Backend) => {
      const t = (shape: number[], d: Float32Array) => tensorFrom(be, shape, d);
      const q = t([B, T, 3 * C], qkv),
        out = t([B, T, C], new Float32Array(B * T * C)),
        att = t([B, NH, T, T], new Float32Array(B * NH * T * T));
      be.attention_forward(out, att, q, B, T, T, C, NH);
      const dq = t([B, T, 3 * C], new Float32Array(B * T * 3 * C)),
        datt = t([B, NH, T, T], new Float32Array(B * NH * T * T));
      be.attention_backward(dq, datt, t([B, T, C], dout), q, att, B, T, C, NH);
      return [out, att, dq].map((x) => bits(x.data()));
    });
    for (let k = 0; k < 3; k++) {
      expect(results[1][k]).toEqual(results[0][k]);
      expect(results[2][k]).toEqual(results[0][k]);
    }
  });

  it('attention with a KV cache equals one thread bit for bit (heads split), decode step and chunk', () => {
    const C = 64,
      NH = 4,
      hs = C / NH,
      maxT = 700;
    const r = rng(6);
    const qkv = randomArray(16 * 3 * C, r, 2),
      kcache = randomArray(NH * maxT * hs, r, 2),
      vcache = randomArray(NH * maxT * hs, r);
    for (const [Tq, Tk] of [
      [1, 650],
      [16, 600],
    ]) {
      const before = two.parallelCalls;
      const results = [one, two, three, oneR, twoR].map((be: Backend) => {
        const t = (shape: number[], d: Float32Array) => tensorFrom(be, shape, d);
        const out = t([1, Tq, C], new Float32Array(Tq * C)),
          att = t([1, NH, Tq, Tk], new Float32Array(NH * Tq * Tk));
        const kc = t([NH, maxT, hs], kcache),
          vc = t([NH, maxT, hs], vcache);
        be.attention_forward_kv(out, att, t([1, Tq, 3 * C], qkv.subarray(0, Tq * 3 * C)), kc, vc, Tq, Tk, maxT, C, NH);
        return [out, att, kc, vc].map((x) => bits(x.data()));
      });
      expect(two.parallelCalls, `Tq ${Tq}: split across the threads`).toBe(before + 1);
      for (let k = 0; k < 4; k++) {
        expect(firstDiff(results[1][k], results[0][k]), `Tq ${Tq} output ${k}, 2 threads`).toBe(-1);
        expect(firstDiff(results[2][k], results[0][k]), `Tq ${Tq} output ${k}, 3 threads`).toBe(-1);
        expect(firstDiff(results[4][k], results[3][k]), `Tq ${Tq} output ${k}, relaxed SIMD, 2 threads`).toBe(-1);
      }
    }
  });

  it('a whole model trains identically on 1 and 2 threads, and generation with the KV cache matches', () => {
    const config = configFromHF(JSON.parse(new TextDecoder().decode(readShared('reference/tiny/config.json'))));
    const bytes = readShared('reference/tiny/model.safetensors');
    const losses = [one, two].map((be) => {
      const m = gptFromSafetensors(bytes, config, be);
      const rand = new Random(4);
      const toks = Array.from({ length: 3 * 32 }, () => rand.int(97));
      const out: number[] = [];
      for (let i = 0; i < 5; i++) {
        out.push(m.forward(toks, 3, 32, toks).loss!);
        m.zeroGrad();
        m.backward();
        m.step({ lr: 1e-3 });
      }
      const cache = m.createKvCache();
      const logits = Float32Array.from(m.forwardCached(toks.slice(0, 20), cache).data());
      m.dispose();
      return { out, logits };
    });
    expect(losses[1].out).toEqual(losses[0].out);
    expect(bits(losses[1].logits)).toEqual(bits(losses[0].logits));
  });

  it('decode steps that read a wide layer transposed (c_fc past 2,304 outputs) give the same logits on 1, 2 and 3 threads', () => {
    const logits = [one, two, three].map((be) => {
      const m = new GPT({ n_layer: 1, n_head: 10, n_embd: 640, n_positions: 8, vocab_size: 97 }, be, { seed: 4 });
      const cache = m.createKvCache();
      m.forwardCached([3, 1, 4], cache);
      const rows = [1, 5, 9].map((id) => bits(m.forwardCached([id], cache).data()));
      m.dispose();
      return rows;
    });
    for (const k of [1, 2]) expect(logits[k]).toEqual(logits[0]);
  });
});
