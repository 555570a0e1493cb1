// Every wasm kernel against the JS reference on random inputs of odd shapes, forward and
// backward. Outputs start from random values, so that what accumulates (+=) and what is written (=) are both checked.
import { describe, it, beforeAll, expect } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import { bothBackends, rng, randomArray, tensorFrom, expectClose } from './helpers.js';
import * as reference from '../src/kernels/index.js';

type ArgSpec = {
  name: string;
  shape: number[];
  kind?: 'rand' | 'zero' | 'ids' | 'positive' | 'probs' | 'causal' | 'gelu' | 'null';
  max?: number; // for ids: values in [0, max); negative ids appear when ignore is set
  ignore?: boolean;
  scale?: number;
  check?: boolean; // compare after the call
};

let B: { wasm: Backend; relaxed: Backend; js: Backend };
beforeAll(async () => {
  B = await bothBackends();
});

function makeData(spec: ArgSpec, rand: () => number, previous: (ArrayLike<number> | null)[]): ArrayLike<number> | null {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.kind ?? 'rand') {
    case 'gelu': {
      // GELU of the argument before (as the forward pass keeps it beside its input)
      const a = new Float32Array(n);
      reference.gelu_forward(a, Float32Array.from(previous[previous.length - 1]!), n);
      return a;
    }
    case 'null':
      return null;
    case 'zero':
      return new Float32Array(n);
    case 'ids': {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = spec.ignore && rand() < 0.2 ? -1 : Math.floor(rand() * spec.max!);
      return a;
    }
    case 'positive': {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = 0.5 + rand();
      return a;
    }
    case 'probs': {
      // rows that sum to 1 along the last dim
      const a = new Float32Array(n),
        V = spec.shape[spec.shape.length - 1];
      for (let r = 0; r < n / V; r++) {
        let s = 0;
        for (let i = 0; i < V; i++) {
          a[r * V + i] = 0.05 + rand();
          s += a[r * V + i];
        }
        for (let i = 0; i < V; i++) a[r * V + i] /= s;
      }
      return a;
    }
    case 'causal': {
      // attention as the forward pass leaves it: square (T,T) blocks whose row t holds
      // probabilities over columns 0..t and zeros above the diagonal
      const a = new Float32Array(n),
        T = spec.shape[spec.shape.length - 1];
      for (let r = 0; r < n / T; r++) {
        const t = r % T;
        let s = 0;
        for (let i = 0; i <= t; i++) {
          a[r * T + i] = 0.05 + rand();
          s += a[r * T + i];
        }
        for (let i = 0; i <= t; i++) a[r * T + i] /= s;
      }
      return a;
    }
    default:
      return randomArray(n, rand, spec.scale ?? 1);
  }
}

/** Run one kernel on both backends with the same inputs and compare every checked tensor. */
function compare(kernel: string, args: ArgSpec[], scalars: number[], atol: number, rtol = 1e-4, seed = 1): void {
  const rand = rng(seed);
  const data: (ArrayLike<number> | null)[] = [];
  for (const a of args) data.push(makeData(a, rand, data));
  const results: Record<string, ArrayLike<number>[]> = {};
  for (const backend of [B.js, B.wasm, B.relaxed]) {
    const tensors = args.map((a, i) =>
      data[i] === null ? null : tensorFrom(backend, a.shape, data[i]!, a.kind === 'ids' ? 'i32' : 'f32', a.name),
    );
    const ret = (backend as unknown as Record<string, (...x: unknown[]) => number | void>)[kernel](
      ...tensors,
      ...scalars,
    );
    args.forEach((a, i) => {
      if (a.check && tensors[i]) (results[a.name] ??= []).push(Float32Array.from(tensors[i]!.view()));
    });
    if (typeof ret === 'number') (results['<return>'] ??= []).push([ret]);
    for (const t of tensors) if (t) backend.arena.release(t.ptr);
  }
  for (const [name, [j, w, r]] of Object.entries(results)) {
    expectClose(`${kernel} ${name} (plain SIMD)`, w, j, atol, rtol);
    expectClose(`${kernel} ${name} (relaxed SIMD)`, r, j, atol, rtol);
  }
}

// shapes chosen to hit every tail: sizes not multiples of 4, 8 or 16, and single rows
const shapes = [
  { B: 1, T: 1, C: 5, OC: 3 },
  { B: 2, T: 3, C: 13, OC: 7 },
  { B: 3, T: 5, C: 52, OC: 156 },
  { B: 1, T: 7, C: 33, OC: 41 },
  { B: 2, T: 9, C: 64, OC: 200 },
  { B: 1, T: 3, C: 262, OC: 45 }, // decode: the matmul's two k halves (C >= 256, M < 4)
  { B: 1, T: 29, C: 140, OC: 70 }, // packed matmul's row blocks: 6s then 4 + 1 (M = 29), 6s then 4 + 4 (dweight's 140 rows); k tails of the packing
  { B: 1, T: 261, C: 300, OC: 530 }, // packed matmul: two k chunks (256), two column blocks (512) and a column tail, a single last row
];

describe('wasm kernels (plain and relaxed SIMD builds) equal the JS reference', () => {
  for (const { B: b, T, C, OC } of shapes) {
    const tag = `B${b} T${T} C${C} OC${OC}`;
    it(`encoder ${tag}`, () => {
      const V = OC + 3,
        maxT = T + 2;
      compare(
        'encoder_forward',
        [
          { name: 'out', shape: [b, T, C], check: true },
          { name: 'inp', shape: [b, T], kind: 'ids', max: V },
          { name: 'wte', shape: [V, C] },
          { name: 'wpe', shape: [maxT, C] },
        ],
        [b, T, C],
        1e-6,
      );
      compare(
        'encoder_backward',
        [
          { name: 'dwte', shape: [V, C], check: true },
          { name: 'dwpe', shape: [maxT, C], check: true },
          { name: 'dout', shape: [b, T, C] },
          { name: 'inp', shape: [b, T], kind: 'ids', max: 3 },
        ],
        [b, T, C],
        1e-5,
      );
    });
    it(`layernorm ${tag}`, () => {
      const N = b * T;
      compare(
        'layernorm_forward',
        [
          { name: 'out', shape: [N, C], check: true },
          { name: 'mean', shape: [N], check: true },
          { name: 'rstd', shape: [N], check: true },
          { name: 'inp', shape: [N, C], scale: 3 },
          { name: 'weight', shape: [C] },
          { name: 'bias', shape: [C] },
        ],
        [N, C],
        1e-5,
      );
      compare(
        'layernorm_backward',
        [
          { name: 'dinp', shape: [N, C], check: true },
          { name: 'dweight', shape: [C], check: true },
          { name: 'dbias', shape: [C], check: true },
          { name: 'dout', shape: [N, C] },
          { name: 'inp', shape: [N, C] },
          { name: 'weight', shape: [C] },
          { name: 'mean', shape: [N] },
          { name: 'rstd', shape: [N], kind: 'positive' },
        ],
        [N, C],
        1e-5,
      );
    });
    it(`matmul ${tag}`, () => {
      for (const bias of [true, false]) {
        compare(
          'matmul_forward',
          [
            { name: 'out', shape: [b, T, OC], check: true },
            { name: 'inp', shape: [b, T, C] },
            { name: 'weight', shape: [C, OC] },
            { name: 'bias', shape: [OC], kind: bias ? 'rand' : 'null' },
          ],
          [b, T, C, OC],
          1e-5,
        );
        for (const accumulate of [1, 0]) {
          // dweight and dbias += (from random values), or =
          compare(
            'matmul_backward',
            [
              { name: 'dinp', shape: [b, T, C], check: true },
              { name: 'dweight', shape: [C, OC], check: true },
              { name: 'dbias', shape: [OC], kind: bias ? 'rand' : 'null', check: true },
              { name: 'dout', shape: [b, T, OC] },
              { name: 'inp', shape: [b, T, C] },
              { name: 'weight', shape: [C, OC] },
            ],
            [b, T, C, OC, accumulate],
            1e-5,
          );
        }
      }
    });
    it(`lm head ${tag}`, () => {
      const V = OC;
      compare(
        'lm_head_forward',
        [
          { name: 'logits', shape: [b, T, V], check: true },
          { name: 'inp', shape: [b, T, C] },
          { name: 'wte', shape: [V, C] },
        ],
        [b, T, C, V],
        1e-5,
      );
      for (const accumulate of [1, 0]) {
        compare(
          'lm_head_backward',
          [
            { name: 'dinp', shape: [b, T, C], check: true },
            { name: 'dwte', shape: [V, C], check: true },
            { name: 'dlogits', shape: [b, T, V] },
            { name: 'inp', shape: [b, T, C] },
            { name: 'wte', shape: [V, C] },
          ],
          [b, T, C, V, accumulate],
          1e-5,
        );
      }
    });
    it(`gelu and residual ${tag}`, () => {
      const N = b * T * C;
      compare(
        'gelu_forward',
        [
          { name: 'out', shape: [N], check: true },
          { name: 'inp', shape: [N], scale: 4 },
        ],
        [N],
        1e-6,
      );
      compare(
        'gelu_backward',
        [
          { name: 'dinp', shape: [N], check: true },
          { name: 'inp', shape: [N], scale: 4 },
          { name: 'out', shape: [N], kind: 'gelu' },
          { name: 'dout', shape: [N] },
        ],
        [N],
        1e-6,
      );
      compare(
        'residual_forward',
        [
          { name: 'out', shape: [N], check: true },
          { name: 'inp1', shape: [N] },
          { name: 'inp2', shape: [N] },
        ],
        [N],
        0,
      );
    });
    it(`softmax and cross-entropy ${tag}`, () => {
      const V = OC;
      compare(
        'softmax_forward',
        [
          { name: 'probs', shape: [b, T, V], check: true },
          { name: 'logits', shape: [b, T, V], scale: 5 },
        ],
        [b, T, V],
        1e-6,
      );
      compare(
        'crossentropy_forward',
        [
          { name: 'losses', shape: [b, T], check: true },
          { name: 'probs', shape: [b, T, V], kind: 'probs' },
          { name: 'targets', shape: [b, T], kind: 'ids', max: V, ignore: true },
        ],
        [b, T, V],
        1e-5,
      );
      compare(
        'crossentropy_softmax_backward',
        [
          { name: 'dlogits', shape: [b, T, V], check: true },
          { name: 'dlosses', shape: [b, T] },
          { name: 'probs', shape: [b, T, V], kind: 'probs' },
          { name: 'targets', shape: [b, T], kind: 'ids', max: V, ignore: true },
        ],
        [b, T, V],
        1e-6,
      );
    });
    it(`adamw and norms ${tag}`, () => {
      const N = C * OC;
      for (const [step, gradScale] of [
        [1, 1],
        [7, 1],
        [7, 0.37],
      ]) {
        compare(
          'adamw_update',
          [
            { name: 'params', shape: [N], check: true },
            { name: 'grads', shape: [N], check: true },
            { name: 'm', shape: [N], check: true },
            { name: 'v', shape: [N], kind: 'positive', check: true },
          ],
          [N, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, gradScale],
          1e-6,
          1e-5,
        );
      }
      compare('sum_squares', [{ name: 'x', shape: [N] }], [N], 1e-9, 1e-9);
    });
  }

  it('gelu backward at zero, tiny, large and saturated inputs (its tanh comes from the forward output)', () => {
    const xs = [
      0, -0, 1e-38, -1e-38, 1e-30, 1e-20, -1e-20, 1e-7, -1e-3, 0.5, -0.5, 2, -2, 3.3, -3.3, 5.2, -5.2, 5.6, -5.6, 7, -7,
      9, -9, 30, -30, 1e4, -1e4, 3e18, -3e18,
    ];
    const N = xs.length,
      results: Float32Array[] = [];
    for (const be of [B.js, B.wasm, B.relaxed]) {
      const inp = tensorFrom(be, [N], Float32Array.from(xs)),
        out = tensorFrom(be, [N], new Float32Array(N));
      const dinp = tensorFrom(be, [N], new Float32Array(N)),
        dout = tensorFrom(be, [N], new Float32Array(N).fill(1));
      be.gelu_forward(out, inp, N);
      be.gelu_backward(dinp, inp, out, dout, N);
      results.push(Float32Array.from(dinp.view()));
      for (const t of [inp, out, dinp, dout]) be.arena.release(t.ptr);
    }
    for (const r of results) {
      for (let i = 0; i < N; i++) {
        expect(Number.isFinite(r[i]), `GELU'(${xs[i]}) = ${r[i]}`).toBe(true);
        // saturated: the gradient is exactly 1 far right and 0 far left (the tanh is exactly +-1)
        if (Math.abs(xs[i]) >= 30) expect(r[i], `GELU'(${xs[i]})`).toBe(xs[i] > 0 ? 1 : 0);
      }
    }
    expectClose('gelu_backward at edge inputs (plain SIMD)', results[1], results[0], 2e-6, 1e-5);
    expectClose('gelu_backward at edge inputs (relaxed SIMD)', results[2], results[0], 2e-6, 1e-5);
  });

  const attShapes = [
    { b: 1, T: 1, C: 4, NH: 1 },
    { b: 2, T: 5, C: 12, NH: 3 },
    { b: 3, T: 13, C: 52, NH: 4 },
    { b: 1, T: 17, C: 40, NH: 2 },
    { b: 1, T: 600, C: 32, NH: 2 }, // more keys than one k chunk of the tiles (512 with 16 columns)
  ];
  for (const { b, T, C, NH } of attShapes) {
    it(`attention B${b} T${T} C${C} NH${NH}`, () => {
      compare(
        'attention_forward',
        [
          { name: 'out', shape: [b, T, C], check: true },
          { name: 'att', shape: [b, NH, T, T], check: true },
          { name: 'qkv', shape: [b, T, 3 * C], scale: 2 },
        ],
        [b, T, T, C, NH],
        1e-5,
      );
      compare(
        'attention_backward',
        [
          { name: 'dinp', shape: [b, T, 3 * C], check: true },
          { name: 'datt', shape: [b, NH, T, T], kind: 'zero' },
          { name: 'dout', shape: [b, T, C] },
          { name: 'inp', shape: [b, T, 3 * C] },
          { name: 'att', shape: [b, NH, T, T], kind: 'causal' },
        ],
        [b, T, C, NH],
        1e-5,
      );
    });
    it(`attention with cached keys B${b} Tq<Tk C${C} NH${NH}`, () => {
      const Tk = T + 3,
        Tq = Math.max(1, T - 2);
      compare(
        'attention_forward',
        [
          { name: 'out', shape: [b, Tq, C], check: true },
          { name: 'att', shape: [b, NH, Tq, Tk], check: true },
          { name: 'qkv', shape: [b, Tk, 3 * C], scale: 2 },
        ],
        [b, Tq, Tk, C, NH],
        1e-5,
      );
      // the KV cache's kernel: the new keys and values stored (the cache's other positions untouched), then the same attention
      for (const tq of [1, Tq]) {
        const maxT = Tk + 2,
          hs = C / NH;
        compare(
          'attention_forward_kv',
          [
            { name: 'out', shape: [1, tq, C], check: true },
            { name: 'att', shape: [1, NH, tq, Tk], check: true },
            { name: 'qkv', shape: [1, tq, 3 * C], scale: 2 },
            { name: 'kcache', shape: [NH, maxT, hs], scale: 2, check: true },
            { name: 'vcache', shape: [NH, maxT, hs], check: true },
          ],
          [tq, Tk, maxT, C, NH],
          1e-5,
        );
      }
    });
  }

  it("attention with a KV cache gives attention_forward's bits, a decode step and a chunk of queries", () => {
    // the cache built position by position from one q|k|v tensor, then each way of attending compared bit for bit
    const C = 40,
      NH = 2,
      hs = C / NH,
      Tk = 36,
      maxT = 50;
    const qkv = randomArray(Tk * 3 * C, rng(11), 2);
    for (const be of [B.wasm, B.relaxed]) {
      const kc = tensorFrom(be, [NH, maxT, hs], new Float32Array(NH * maxT * hs)),
        vc = tensorFrom(be, [NH, maxT, hs], new Float32Array(NH * maxT * hs));
      const rows = (t0: number, n: number) => tensorFrom(be, [1, n, 3 * C], qkv.subarray(t0 * 3 * C, (t0 + n) * 3 * C));
      const run = (Tq: number, Tk: number, cached: boolean) => {
        const out = tensorFrom(be, [1, Tq, C], new Float32Array(Tq * C)),
          att = tensorFrom(be, [1, NH, Tq, Tk], new Float32Array(NH * Tq * Tk));
        if (cached) be.attention_forward_kv(out, att, rows(Tk - Tq, Tq), kc, vc, Tq, Tk, maxT, C, NH);
        else be.attention_forward(out, att, rows(0, Tk), 1, Tq, Tk, C, NH);
        return [
          new Uint32Array(Float32Array.from(out.view()).buffer),
          new Uint32Array(Float32Array.from(att.view()).buffer),
        ];
      };
      // a prefill of 13 (the tiles), then decode steps (one query), then a chunk of 9 (tiles with past keys)
      const steps = [13, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 9];
      let Tk2 = 0;
      for (const Tq of steps) {
        Tk2 += Tq;
        const [o1, a1] = run(Tq, Tk2, true),
          [o2, a2] = run(Tq, Tk2, false);
        expect(o1, `out, ${Tq} queries over ${Tk2} keys`).toEqual(o2);
        expect(a1, `att, ${Tq} queries over ${Tk2} keys`).toEqual(a2);
      }
      expect(Tk2).toBe(Tk);
    }
  });
});
