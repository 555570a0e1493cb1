// The quantized-weight kernels (assembly/quant.ts): the quantizers against llama.cpp's reference
// algorithm on edge blocks and bit for bit against the JS reference, and the linear layer, the
// embedding and the dequantizer of both SIMD builds against the reference (the weights
// dequantized, then the product in f64).
import { describe, it, beforeAll, expect } from 'vitest';
import { Tensor, WasmBackend, dtypeBytes, type Backend, type BlockDType } from '../src/backend/index.js';
import { bothBackends, rng, randomArray, tensorFrom, expectClose } from './helpers.js';
import * as reference from '../src/kernels/index.js';
import { f16ToF32, f32ToF16Bits } from '../src/backend/f16.js';

let B: { wasm: Backend; relaxed: Backend; js: Backend };
beforeAll(async () => {
  B = await bothBackends();
});

const FORMATS: BlockDType[] = ['q8_0', 'q4_0'];
const BYTES = { q8_0: 34, q4_0: 18 };

function blocksIn(be: Backend, shape: number[], dtype: BlockDType, bytes?: Uint8Array): Tensor {
  const n = shape[0] * shape[1];
  const t = new Tensor(be.arena, be.arena.alloc(dtypeBytes(dtype, n), 'test blocks'), shape, dtype, 'w');
  if (bytes) t.blocks().set(bytes);
  return t;
}

function run(be: Backend, name: string, ...args: unknown[]): number | void {
  return (be as unknown as Record<string, (...a: unknown[]) => number | void>)[name](...args);
}

/** Quantize one f32 row of K values on a backend: the bytes and the count of values it refused. */
function quantizeOn(be: Backend, fmt: BlockDType, x: Float32Array, R = 1, trans = 0) {
  const K = x.length / R;
  const inp = tensorFrom(be, [R, K], x);
  const out = blocksIn(be, [R, K], fmt);
  const bad = run(be, `quantize_${fmt}`, out, inp, R, K, trans) as number;
  const bytes = Uint8Array.from(out.blocks());
  be.arena.release(inp.ptr);
  be.arena.release(out.ptr);
  return { bytes, bad };
}

describe('quantizers follow llama.cpp (quantize_row_q8_0_ref, quantize_row_q4_0_ref)', () => {
  it('q8_0: scale max|x| / 127 as f16, values x / scale rounded half away from zero', () => {
    const x = new Float32Array(32);
    x[0] = 1.27;
    x[1] = -0.635; // -63.5 in units of the scale: rounds away from zero to -64
    x[2] = 0.005; // 0.5 units: rounds to 1
    x[3] = -0.004; // -0.4 units: 0
    for (const be of [B.js, B.wasm, B.relaxed]) {
      const { bytes, bad } = quantizeOn(be, 'q8_0', x);
      expect(bad).toBe(0);
      const d = Math.fround(Math.fround(1.27) / 127);
      expect(bytes[0] | (bytes[1] << 8)).toBe(f32ToF16Bits(d));
      const id = Math.fround(1 / d);
      const q = Array.from(bytes.subarray(2, 6), (b) => (b << 24) >> 24);
      const expected = [0, 1, 2, 3].map((j) => {
        const v = Math.fround(x[j] * id);
        return Math.sign(v) * Math.floor(Math.abs(v) + 0.5) || 0;
      });
      expect(q).toEqual(expected);
      expect(q[0]).toBe(127);
      expect(Array.from(bytes.subarray(6))).toEqual(new Array(28).fill(0));
    }
  });

  it("q4_0: scale is the signed max / -8, values trunc(x / scale + 8.5) capped at 15, ggml's nibble order", () => {
    const x = new Float32Array(32);
    x[0] = -3; // the max by magnitude, negative: d = 0.375, -3 / 0.375 = -8 -> 0
    x[1] = 3; // +8 -> 16.5 -> 16 -> capped 15
    x[16] = 0.375; // value 16: the high nibble of byte 0; +1 unit -> 9.5 -> 9
    x[17] = -0.1875; // 0.5 below zero in units: 8.5 - 0.5 = 8
    for (const be of [B.js, B.wasm, B.relaxed]) {
      const { bytes, bad } = quantizeOn(be, 'q4_0', x);
      expect(bad).toBe(0);
      expect(bytes[0] | (bytes[1] << 8)).toBe(f32ToF16Bits(-3 / -8));
      expect(bytes[2]).toBe(0 | (9 << 4));
      expect(bytes[3]).toBe(15 | (8 << 4));
      expect(bytes[4]).toBe(8 | (8 << 4)); // zeros are 8 in both nibbles
    }
  });

  it('an all-zero block has scale 0 and values 0 (q8_0) / 8 (q4_0); one outlier keeps the rest near zero', () => {
    for (const be of [B.js, B.wasm, B.relaxed]) {
      const z8 = quantizeOn(be, 'q8_0', new Float32Array(32)).bytes;
      expect(Array.from(z8)).toEqual(new Array(34).fill(0));
      const z4 = quantizeOn(be, 'q4_0', new Float32Array(32)).bytes;
      // max 0: d = 0 / -8 = -0, which f16 keeps (0x8000), as llama.cpp stores it
      expect(Array.from(z4)).toEqual([0, 0x80, ...new Array(16).fill(0x88)]);
      const x = new Float32Array(32).fill(0.01);
      x[5] = 1000;
      const q = quantizeOn(be, 'q8_0', x).bytes;
      expect(f16ToF32(q[0] | (q[1] << 8))).toBeCloseTo(1000 / 127, 2);
      expect((q[2 + 5] << 24) >> 24).toBe(127);
      expect(q[2]).toBe(0); // 0.01 is 0.0013 units
    }
  });

  it('refuses what it cannot hold: +-inf, NaN, a scale past f16', () => {
    for (const fmt of FORMATS)
      for (const be of [B.js, B.wasm, B.relaxed]) {
        for (const v of [Infinity, -Infinity, NaN]) {
          const x = new Float32Array(64);
          x[40] = v;
          expect(quantizeOn(be, fmt, x).bad, `${be.name} ${fmt} ${v}`).toBeGreaterThan(0);
        }
        const big = new Float32Array(32);
        big[3] = 3e38;
        expect(quantizeOn(be, fmt, big).bad, `${be.name} ${fmt} 3e38`).toBeGreaterThan(0);
        expect(quantizeOn(be, fmt, randomArray(64, rng(3))).bad).toBe(0);
      }
  });

  it('wasm quantizers equal the reference bit for bit, by rows and transposed', () => {
    const rand = rng(7);
    for (const fmt of FORMATS)
      for (const [R, K] of [
        [3, 64],
        [5, 96],
        [1, 32],
      ]) {
        const x = randomArray(R * K, rand, 0.1);
        x[7] = 0; // ties and exact values appear too
        for (const trans of [0, 1]) {
          const want = quantizeOn(B.js, fmt, x, R, trans).bytes;
          for (const be of [B.wasm, B.relaxed]) {
            const got = quantizeOn(be, fmt, x, R, trans).bytes;
            expect(Buffer.from(got).equals(Buffer.from(want)), `${be.name} ${fmt} ${R}x${K} trans ${trans}`).toBe(true);
          }
        }
      }
  });

  it('edge blocks equal the reference bit for bit: halves, equal magnitudes of both signs, zeros of both signs', () => {
    // scale 1 exactly (amax 127 for q8_0, signed max -8 for q4_0), so x / scale lands on halves
    const block = (fill: (j: number) => number) => Float32Array.from({ length: 32 }, (_, j) => fill(j));
    const blocks = [
      block((j) => (j === 0 ? 127 : j - 16 + 0.5)), // q8_0: every value a half, rounded away from zero
      block((j) => (j === 5 ? -8 : ((j % 16) - 8) / 2 + 0.25)), // q4_0: x + 8.5 lands on quarters
      block((j) => (j === 3 ? 2 : j === 9 ? -2 : j / 100)), // +2 first: q4_0's scale is -0.25
      block((j) => (j === 3 ? -2 : j === 9 ? 2 : j / 100)), // -2 first: +0.25
      block((j) => (j % 2 ? -0 : 0)),
      block((j) => (j === 31 ? 1e-30 : 0)), // a scale below f16's smallest subnormal
      // q8_0 with scale 1: 0.49999997 + 0.5 rounds up to 1 in f32, roundf gives 0
      block((j) => [127, 0.49999997, -0.49999997, 1.4999999, -2.5][j] ?? j / 64),
    ];
    const x = new Float32Array(blocks.length * 32);
    blocks.forEach((b, i) => x.set(b, i * 32));
    for (const fmt of FORMATS) {
      const want = quantizeOn(B.js, fmt, x, blocks.length);
      expect(want.bad).toBe(0);
      for (const be of [B.wasm, B.relaxed]) {
        const got = quantizeOn(be, fmt, x, blocks.length);
        expect(got.bad).toBe(0);
        expect(Buffer.from(got.bytes).equals(Buffer.from(want.bytes)), `${be.name} ${fmt}`).toBe(true);
      }
    }
  });

  it('threads split a tensor by rows: the same bytes as one thread, and the values every part refuses counted', async () => {
    const three = await WasmBackend.create({ simd: 'plain', threads: 3 });
    try {
      const [R, K] = [300, 256]; // 76,800 values: split across the three threads
      for (const trans of [0, 1]) {
        const x = randomArray(R * K, rng(12));
        // non-finite values in rows of every third of the tensor: 5 of them, in 4 blocks
        const at = (r: number, k: number) => (trans ? k * R + r : r * K + k);
        x[at(1, 3)] = Infinity;
        x[at(1, 4)] = NaN;
        x[at(150, 200)] = -Infinity;
        x[at(299, 0)] = NaN;
        x[at(299, 255)] = NaN;
        for (const fmt of FORMATS) {
          const want = quantizeOn(B.js, fmt, x, R, trans).bad;
          expect(want).toBeGreaterThanOrEqual(5);
          expect(quantizeOn(B.wasm, fmt, x, R, trans).bad, `${fmt} trans ${trans}`).toBe(want);
          expect(quantizeOn(three, fmt, x, R, trans).bad, `${fmt} trans ${trans}, 3 threads`).toBe(want);
          const finite = randomArray(R * K, rng(13));
          const one = quantizeOn(B.wasm, fmt, finite, R, trans).bytes;
          expect(Buffer.from(quantizeOn(three, fmt, finite, R, trans).bytes).equals(Buffer.from(one))).toBe(true);
        }
      }
      expect((three as WasmBackend).parallelCalls).toBeGreaterThan(0);
    } finally {
      three.dispose();
    }
  });

  it('transposed quantization equals quantizing the transpose', () => {
    const [R, K] = [6, 64],
      x = randomArray(R * K, rng(9));
    const xt = new Float32Array(R * K);
    for (let r = 0; r < R; r++) for (let k = 0; k < K; k++) xt[r * K + k] = x[k * R + r];
    for (const fmt of FORMATS)
      expect(
        Buffer.from(quantizeOn(B.wasm, fmt, x, R, 1).bytes).equals(
          Buffer.from(quantizeOn(B.wasm, fmt, xt, R, 0).bytes),
        ),
      ).toBe(true);
  });
});

/** Random blocks: scales of about `scale` / 127 and values spread over the whole range. */
function randomBlocks(fmt: BlockDType, R: number, K: number, rand: () => number, scale = 0.1): Uint8Array {
  const q = new Uint8Array(dtypeBytes(fmt, R * K));
  reference[`quantize_${fmt}`](q, randomArray(R * K, rand, scale), R, K, 0);
  return q;
}

describe('quantized kernels (plain and relaxed SIMD builds) equal the JS reference', () => {
  it('dequantize is exact', () => {
    for (const fmt of FORMATS) {
      const bytes = randomBlocks(fmt, 3, 96, rng(1));
      const results = [B.js, B.wasm, B.relaxed].map((be) => {
        const w = blocksIn(be, [3, 96], fmt, bytes);
        const out = tensorFrom(be, [3, 96], new Float32Array(288).fill(7));
        run(be, `dequantize_${fmt}`, out, w, 3, 96);
        const r = Float32Array.from(out.data());
        be.arena.release(w.ptr);
        be.arena.release(out.ptr);
        return r;
      });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
    }
  });

  it('the embedding dequantizes rows of wte and adds wpe', () => {
    const [Bn, T, C, V, P] = [2, 5, 64, 11, 7];
    const rand = rng(2);
    const ids = Int32Array.from({ length: Bn * T }, () => Math.floor(rand() * V));
    const wpe = randomArray(P * C, rand);
    for (const fmt of FORMATS) {
      const bytes = randomBlocks(fmt, V, C, rand);
      const results = [B.js, B.wasm, B.relaxed].map((be) => {
        const out = tensorFrom(be, [Bn, T, C], new Float32Array(Bn * T * C).fill(3));
        const inp = tensorFrom(be, [Bn, T], ids, 'i32');
        const wte = blocksIn(be, [V, C], fmt, bytes);
        const pe = tensorFrom(be, [P, C], wpe);
        run(be, `encoder_forward_${fmt}`, out, inp, wte, pe, Bn, T, C);
        const r = Float32Array.from(out.data());
        for (const t of [out, inp, wte, pe]) be.arena.release(t.ptr);
        return r;
      });
      expect(results[1]).toEqual(results[0]);
      expect(results[2]).toEqual(results[0]);
    }
  });

  // decode (M < 4: int16 activations, integer dots), prefill (M >= 4: dequantized panels and the
  // tiles), column tails (OC not a multiple of 8), two column blocks (OC > 512), k chunks (C > 256)
  const shapes = [
    { M: 1, C: 32, OC: 8 },
    { M: 1, C: 96, OC: 13 },
    { M: 2, C: 64, OC: 40 },
    { M: 3, C: 800, OC: 19 },
    { M: 4, C: 64, OC: 16 },
    { M: 7, C: 96, OC: 45 },
    { M: 29, C: 160, OC: 72 },
    { M: 13, C: 800, OC: 530 },
  ];
  for (const fmt of FORMATS)
    for (const { M, C, OC } of shapes)
      for (const withBias of [true, false])
        it(`linear_${fmt} M=${M} C=${C} OC=${OC}${withBias ? '' : ' no bias'}`, () => {
          const rand = rng(M * 1000 + C + OC);
          const x = randomArray(M * C, rand),
            bias = randomArray(OC, rand),
            w = randomBlocks(fmt, OC, C, rand);
          const results = [B.js, B.wasm, B.relaxed].map((be) => {
            const out = tensorFrom(be, [1, M, OC], new Float32Array(M * OC).fill(5));
            const inp = tensorFrom(be, [1, M, C], x);
            const wt = blocksIn(be, [OC, C], fmt, w);
            const b = withBias ? tensorFrom(be, [OC], bias) : null;
            run(be, `linear_${fmt}`, out, inp, wt, b, 1, M, C, OC);
            const r = Float32Array.from(out.data());
            for (const t of [out, inp, wt, b]) if (t) be.arena.release(t.ptr);
            return r;
          });
          // int16 activations (decode) are within 2^-15 of each block's largest value: a dot
          // product of C terms of about 0.1 * 1 is off by about 1e-5 * sqrt(C); prefill is f32 rounding
          const atol = M < 4 ? 2e-5 * Math.sqrt(C) : 1e-5;
          expectClose(`linear_${fmt} plain`, results[1], results[0], atol, 1e-5);
          expectClose(`linear_${fmt} relaxed`, results[2], results[0], atol, 1e-5);
        });

  it('refuses a row length that is not whole blocks', () => {
    const be = B.wasm;
    const inp = tensorFrom(be, [1, 1, 40], new Float32Array(40));
    const out = tensorFrom(be, [1, 1, 8], new Float32Array(8));
    const w = new Tensor(be.arena, be.arena.alloc(1000, 'w'), [8, 40], 'q8_0', 'w');
    expect(() => be.linear_q8_0(out, inp, w, null, 1, 1, 40, 8)).toThrow(/C \(40\) must be a multiple of 32/);
    const inp64 = tensorFrom(be, [1, 1, 64], new Float32Array(64));
    expect(() => be.linear_q8_0(out, inp64, inp64, null, 1, 1, 64, 8)).toThrow(/weight must be q8_0, got f32/);
  });
});

// the per-block layout constants are llama.cpp's
it('block sizes are ggml sizeof(block_q8_0) = 34, sizeof(block_q4_0) = 18', () => {
  for (const fmt of FORMATS) expect(dtypeBytes(fmt, 64)).toBe(2 * BYTES[fmt]);
});
