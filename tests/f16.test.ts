// f16 weights: the conversion (JS and wasm, bit for bit), the f16 kernels (decode, prefill's tiles,
// the embedding) against the JS reference on both SIMD builds, threads bit for bit, a model holding
// f16 weights against its f32 self, and the f32 decoder's transposed copies kept in step.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { WasmBackend, type Backend } from '../src/backend/index.js';
import { f16ToF32, f32ToF16Bits } from '../src/backend/f16.js';
import { GPT } from '../src/model/gpt.js';
import { configFromHF } from '../src/model/config.js';
import { gptFromSafetensors, modelToSafetensors } from '../src/weights/gpt2.js';
import { argmax } from '../src/generate/sampling.js';
import { bothBackends, readShared, expectClose, tensorFrom, randomArray, rng, type TestBackends } from './helpers.js';

let be: TestBackends, two: WasmBackend;
beforeAll(async () => {
  be = await bothBackends();
  two = await WasmBackend.create({ threads: 2 });
});
afterAll(() => two.dispose());

const halves = (a: ArrayLike<number>) => Uint16Array.from(Array.from(a, f32ToF16Bits));

describe('f16 conversion', () => {
  it('rounds to nearest even, with subnormals, overflow and signed zero', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [65504, 0x7bff],
      [65520, 0x7c00],
      [1e9, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [3 * 2 ** -25, 0x0002],
      [2 ** -14, 0x0400],
      [-0, 0x8000],
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [2047 * 2 ** -25, 0x0400], // ties go to even; a carry rounds up to 2^-14
    ];
    for (const [x, h] of cases) expect(f32ToF16Bits(x), `f16(${x})`).toBe(h);
    expect(Number.isNaN(f16ToF32(f32ToF16Bits(NaN)))).toBe(true);
    // every finite half survives the round trip
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      expect(f32ToF16Bits(f16ToF32(h))).toBe(h === 0x8000 ? 0x8000 : h);
    }
  });

  it('the wasm kernel gives the same bits as the JS conversion (both builds)', () => {
    const r = rng(5);
    const x = Float32Array.from({ length: 4099 }, (_, i) =>
      i % 7 === 0 ? (r() - 0.5) * 2 ** (r() * 60 - 40) : (r() - 0.5) * 4,
    );
    x.set([0, -0, 65504, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1e-30, -1e30, 2047 * 2 ** -25], 0);
    // eight below f16's normals, ties among them, in one vector of lanes
    x.set(
      [2047 * 2 ** -25, 3 * 2 ** -25, 2 ** -25, -(2 ** -24), 5 * 2 ** -25, 1e-30, -3 * 2 ** -25, 2 ** -14 - 2 ** -26],
      16,
    );
    for (const b of [be.wasm, be.relaxed, be.js]) {
      const inp = tensorFrom(b, [x.length], x),
        out = tensorFrom(b, [x.length], new Uint16Array(x.length), 'f16');
      b.f32_to_f16(out, inp, x.length);
      expect(Array.from(out.halves()), b.name).toEqual(Array.from(x, f32ToF16Bits));
    }
  });

  it('threads split the conversion into ranges: the same bits, specials in every part', async () => {
    const three = await WasmBackend.create({ simd: 'plain', threads: 3 });
    try {
      const r = rng(6);
      const x = Float32Array.from({ length: 100_003 }, () => (r() - 0.5) * 2 ** (r() * 44 - 30));
      for (const at of [0, 33_340, 66_670, 100_002])
        x.set([0, -0, 65520, NaN, 2 ** -25, 65504, -Infinity], at - (at > 99_990 ? 7 : 0));
      const inp = tensorFrom(three, [x.length], x),
        out = tensorFrom(three, [x.length], new Uint16Array(x.length), 'f16');
      const before = three.parallelCalls;
      three.f32_to_f16(out, inp, x.length);
      expect(three.parallelCalls).toBe(before + 1);
      const want = Array.from(x, f32ToF16Bits),
        got = Array.from(out.halves());
      expect(got.findIndex((h, i) => h !== want[i])).toBe(-1);
    } finally {
      three.dispose();
    }
  });
});

describe('f16 kernels', () => {
  // the last two take the decode path that splits k into two halves (M < 4, C >= 256)
  const shapes = [
    { M: 1, C: 5, OC: 3 },
    { M: 3, C: 13, OC: 37 },
    { M: 7, C: 52, OC: 156 },
    { M: 1, C: 262, OC: 45 },
    { M: 3, C: 300, OC: 1031 },
  ];
  for (const { M, C, OC } of shapes) {
    it(`matmul_forward_f16 and lm_head_forward_f16, M${M} C${C} OC${OC}: wasm (both builds) equal the JS reference`, () => {
      const r = rng(M * 7 + C);
      const inp = randomArray(M * C, r),
        w = halves(randomArray(C * OC, r, 0.5)),
        b = randomArray(OC, r),
        wte = halves(randomArray(OC * C, r, 0.5));
      const run = (k: Backend) => {
        const out = tensorFrom(k, [1, M, OC], new Float32Array(M * OC)),
          x = tensorFrom(k, [1, M, C], inp);
        k.matmul_forward_f16(out, x, tensorFrom(k, [C, OC], w, 'f16'), tensorFrom(k, [OC], b), 1, M, C, OC);
        const noBias = tensorFrom(k, [1, M, OC], new Float32Array(M * OC));
        k.matmul_forward_f16(noBias, x, tensorFrom(k, [C, OC], w, 'f16'), null, 1, M, C, OC);
        const logits = tensorFrom(k, [1, M, OC], new Float32Array(M * OC));
        k.lm_head_forward_f16(logits, x, tensorFrom(k, [OC, C], wte, 'f16'), 1, M, C, OC);
        return [out.data().slice(), noBias.data().slice(), logits.data().slice()];
      };
      const ref = run(be.js);
      for (const k of [be.wasm, be.relaxed]) {
        const got = run(k);
        ['matmul', 'matmul without bias', 'lm head'].forEach((name, i) =>
          expectClose(`${name} (${(k as WasmBackend).simd})`, got[i], ref[i], 2e-5, 1e-5),
        );
      }
    });
  }

  it('large activations (beyond 60000) take the exact path too', () => {
    const M = 1,
      C = 300,
      OC = 64,
      r = rng(9);
    const inp = randomArray(M * C, r, 1e5),
      w = halves(randomArray(C * OC, r));
    const run = (k: Backend) => {
      const out = tensorFrom(k, [1, M, OC], new Float32Array(M * OC));
      k.matmul_forward_f16(out, tensorFrom(k, [1, M, C], inp), tensorFrom(k, [C, OC], w, 'f16'), null, 1, M, C, OC);
      return out.data().slice();
    };
    const ref = run(be.js);
    expect(ref.every(Number.isFinite)).toBe(true);
    // f32 rounding of sums of terms up to 1e5: held to 1e-6 of the sum of |terms|
    let scale = 0;
    for (let o = 0; o < OC; o++) for (let c = 0; c < C; c++) scale = Math.max(scale, Math.abs(inp[c]));
    expectClose('matmul with |x| up to 1e5', run(be.wasm), ref, 1e-6 * scale * C);
  });

  it('the embedding widens rows of wte and adds wpe', () => {
    const r = rng(4);
    const ids = Int32Array.from({ length: 10 }, () => Math.floor(r() * 9));
    const wte = halves(randomArray(9 * 20, r)),
      wpe = randomArray(6 * 20, r);
    const run = (k: Backend) => {
      const out = tensorFrom(k, [2, 5, 20], new Float32Array(200));
      k.encoder_forward_f16(
        out,
        tensorFrom(k, [2, 5], ids, 'i32'),
        tensorFrom(k, [9, 20], wte, 'f16'),
        tensorFrom(k, [6, 20], wpe),
        2,
        5,
        20,
      );
      return out.data().slice();
    };
    const ref = run(be.js);
    for (const k of [be.wasm, be.relaxed]) expect(run(k)).toEqual(ref);
  });

  it('two threads give the single-thread bits for prefill (columns split, widened panels)', () => {
    const M = 40,
      C = 200,
      OC = 1100,
      r = rng(6);
    const inp = randomArray(M * C, r),
      w = halves(randomArray(C * OC, r, 0.1)),
      b = randomArray(OC, r);
    const run = (k: Backend) => {
      const out = tensorFrom(k, [1, M, OC], new Float32Array(M * OC));
      k.matmul_forward_f16(
        out,
        tensorFrom(k, [1, M, C], inp),
        tensorFrom(k, [C, OC], w, 'f16'),
        tensorFrom(k, [OC], b),
        1,
        M,
        C,
        OC,
      );
      return out.data().slice();
    };
    const before = two.parallelCalls;
    const [a, c] = [run(be.relaxed), run(two)];
    expect(two.parallelCalls - before).toBe(1);
    expectClose('matmul f16 prefill, 2 threads vs 1', c, a, 0);
    expectClose('matmul f16 prefill vs the reference', a, run(be.js), 1e-4, 1e-5);
  });

  it('two threads give the single-thread bits (decode matmul halves and the LM head split)', async () => {
    const one = be.relaxed;
    const M = 1,
      C = 1030,
      OC = 1030,
      r = rng(3);
    const inp = randomArray(M * C, r),
      w = halves(randomArray(C * OC, r, 0.1)),
      b = randomArray(OC, r);
    const V = 2500,
      wte = halves(randomArray(V * C, r, 0.1));
    const run = (k: Backend) => {
      const out = tensorFrom(k, [1, M, OC], new Float32Array(M * OC)),
        logits = tensorFrom(k, [1, M, V], new Float32Array(M * V));
      const x = tensorFrom(k, [1, M, C], inp);
      k.matmul_forward_f16(out, x, tensorFrom(k, [C, OC], w, 'f16'), tensorFrom(k, [OC], b), 1, M, C, OC);
      k.lm_head_forward_f16(logits, x, tensorFrom(k, [V, C], wte, 'f16'), 1, M, C, V);
      return [out.data().slice(), logits.data().slice()];
    };
    const before = two.parallelCalls;
    const [a, c] = [run(one), run(two)];
    expect(two.parallelCalls - before).toBe(2);
    expectClose('matmul f16, 2 threads vs 1', c[0], a[0], 0);
    expectClose('lm head f16, 2 threads vs 1', c[1], a[1], 0);
  });
});

describe('a model holding its weights as f16', () => {
  const config = configFromHF(JSON.parse(new TextDecoder().decode(readShared('reference/tiny/config.json'))));
  const bytes = readShared('reference/tiny/model.safetensors');

  it('gives the f32 logits within f16 rounding, the same on both backends, and the same greedy tokens', () => {
    const logitsOf = (b: Backend, dtype: 'f32' | 'f16') => {
      const model = gptFromSafetensors(bytes, config, b, 'tiny', dtype);
      expect(model.dtype).toBe(dtype);
      expect(model.weights.h[0].mlp.c_fc.weight.dtype).toBe(dtype);
      const cache = model.createKvCache();
      const rows: Float32Array[] = [];
      let logits = model.forwardCached([5, 17, 3, 60, 2, 91, 40, 8], cache).data(); // prefill: the tiles
      rows.push(logits.slice());
      for (let i = 0; i < 12; i++) {
        logits = model.forwardCached([argmax(logits)], cache).data();
        rows.push(logits.slice());
      }
      model.dispose();
      return rows;
    };
    const f32 = logitsOf(be.wasm, 'f32'),
      f16w = logitsOf(be.wasm, 'f16'),
      f16r = logitsOf(be.relaxed, 'f16'),
      f16js = logitsOf(be.js, 'f16');
    for (let i = 0; i < f32.length; i++) {
      expectClose(`step ${i}: f16 wasm vs f16 js`, f16w[i], f16js[i], 2e-5);
      expectClose(`step ${i}: f16 relaxed vs f16 js`, f16r[i], f16js[i], 2e-5);
      expectClose(`step ${i}: f16 vs f32`, f16w[i], f32[i], 5e-3);
      expect(argmax(f16w[i]), `greedy token at step ${i}`).toBe(argmax(f32[i]));
    }
  });

  it('holds half the bytes of f32, equals itself widened to f32, and refuses training and values past 65504', () => {
    const f = gptFromSafetensors(bytes, config, be.wasm);
    const h = gptFromSafetensors(bytes, config, be.wasm, 'tiny', 'f16');
    const w = new GPT(config, be.wasm, { init: 'none' });
    for (const s of w.parameterSpecs) w.loadParameter(s.name, (d) => d.set(h.parameterF32(s.name)));
    w.markParametersChanged();
    const ids = [5, 17, 3, 60, 2, 91, 40, 8];
    expectClose(
      'f16 model vs itself widened',
      h.forward(ids, 1, 8).logits.data(),
      w.forward(ids, 1, 8).logits.data(),
      1e-5,
    );
    const wide = (m: GPT) =>
      m.parameterSpecs.filter((s) => s.kind === 'matrix').reduce((n, s) => n + m.parameter(s.name).bytes, 0);
    expect(wide(h) * 2).toBe(wide(f));
    h.forward(ids, 1, 8, ids);
    expect(() => h.backward()).toThrow(/holds its weights as f16.*need f32 weights/);
    const big = modelToSafetensors(f);
    f.parameter('h.0.attn.c_proj.weight').data()[3] = 70000;
    expect(() => gptFromSafetensors(modelToSafetensors(f), config, be.wasm, 'big', 'f16')).toThrow(
      /big: tensor 'h.0.attn.c_proj.weight' holds 70000 at index 3, beyond f16's 65504/,
    );
    expect(big.length).toBeGreaterThan(0);
    for (const m of [f, h, w]) m.dispose();
  });
});

describe('the transposed copies single-token f32 steps read', () => {
  it('step() and markParametersChanged() remake them: cached steps stay equal to the full forward', () => {
    // 4 * 640 outputs: c_fc is wide enough to be read from a transposed copy
    const model = new GPT({ n_layer: 1, n_head: 2, n_embd: 640, n_positions: 8, vocab_size: 11 }, be.wasm, {
      seed: 2,
    });
    const ids = [1, 2, 3, 4];
    const check = (what: string) => {
      const c = model.createKvCache();
      model.forwardCached(ids.slice(0, 3), c);
      const cached = model.forwardCached([ids[3]], c).data().slice();
      c.dispose();
      const full = model
        .forward(ids, 1, 4)
        .logits.data()
        .slice(3 * 11);
      expectClose(what, cached, full, 1e-4);
      return cached;
    };
    const before = check('before');
    model.forward(ids, 1, 4, [2, 3, 4, 5]);
    model.backward();
    model.step({ lr: 0.1 });
    const after = check('after a step');
    expect(Math.max(...after.map((x, i) => Math.abs(x - before[i])))).toBeGreaterThan(1e-3);
    const w = model.weights.h[0].mlp.c_fc.weight.data();
    for (let i = 0; i < w.length; i++) w[i] *= -1;
    model.markParametersChanged();
    check('after a marked hand edit');
    model.dispose();
  });
});
