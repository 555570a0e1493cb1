// A whole model held quantized (q8_0, q4_0) against the same model dequantized to f32 (identical
// weights): the forward pass (prefill: dequantized panels and the tiles), the cached decode steps
// (int16 activations, integer dots), threads, loading from safetensors, and the refusals.
import { describe, it, expect, beforeAll } from 'vitest';
import { WasmBackend, JsBackend, type Backend } from '../src/backend/index.js';
import { GPT, type WeightDType } from '../src/model/gpt.js';
import { weightBytes } from '../src/model/parameters.js';
import { GPT2_PRESETS } from '../src/model/config.js';
import { inferenceBytes } from '../src/model/memory.js';
import { checkModelFits } from '../src/weights/fetch.js';
import { argmax } from '../src/generate/sampling.js';
import { gptFromSafetensors, modelToSafetensors } from '../src/weights/gpt2.js';
import { generate } from '../src/generate/generate.js';
import { rng, randomArray } from './helpers.js';

const config = { n_layer: 2, n_head: 4, n_embd: 64, n_positions: 48, vocab_size: 101 };
const QUANTIZED: WeightDType[] = ['q8_0', 'q4_0'];

/** An f32 model holding exactly the quantized model's weights (dequantized). */
function dequantized(q: GPT, be: Backend): GPT {
  const m = new GPT(q.config, be, { init: 'none' });
  for (const s of m.parameterSpecs) m.loadParameter(s.name, (d) => d.set(q.parameterF32(s.name)));
  m.markParametersChanged();
  return m;
}

/** max |a - b| over max |b|. */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

let wasm: Backend, threaded: Backend;
beforeAll(async () => {
  wasm = await WasmBackend.create({ simd: 'plain' });
  threaded = await WasmBackend.create({ simd: 'plain', threads: 3 });
});

const tokens = Array.from({ length: 2 * 24 }, (_, i) => (i * 37 + 5) % config.vocab_size);

describe('a quantized model equals the same model dequantized to f32', () => {
  for (const dtype of QUANTIZED)
    it(`${dtype}: forward logits and cached decode steps within 1e-4 of the f32 model's`, () => {
      const q = new GPT(config, wasm, { dtype, seed: 5 });
      const f = dequantized(q, wasm);
      const lq = q.forward(tokens, 2, 24).logits.data().slice();
      const lf = f.forward(tokens, 2, 24).logits.data().slice();
      expect(relErr(lq, lf)).toBeLessThan(1e-4);
      // a prefill of 9 (tiles), then single tokens (int16 activations)
      const cq = q.createKvCache(),
        cf = f.createKvCache();
      let a = q.forwardCached(tokens.slice(0, 9), cq).data().slice();
      let b = f.forwardCached(tokens.slice(0, 9), cf).data().slice();
      expect(relErr(a, b)).toBeLessThan(1e-4);
      for (let t = 9; t < 20; t++) {
        a = q.forwardCached([tokens[t]], cq).data().slice();
        b = f.forwardCached([tokens[t]], cf).data().slice();
        expect(relErr(a, b), `step ${t}`).toBeLessThan(1e-4);
      }
      for (const m of [q, f]) m.dispose();
    });

  it('is the f32 model of the same seed quantized, and differs from it by what quantization loses', () => {
    const f = new GPT(config, wasm, { seed: 9 });
    const lf = f.forward(tokens, 2, 24).logits.data().slice();
    const errs = QUANTIZED.map((dtype) => {
      const q = new GPT(config, wasm, { seed: 9, dtype });
      const e = relErr(q.forward(tokens, 2, 24).logits.data(), lf);
      q.dispose();
      return e;
    });
    expect(errs[0]).toBeGreaterThan(1e-6); // quantized: not the f32 weights themselves
    expect(errs[0]).toBeLessThan(0.02);
    expect(errs[1]).toBeGreaterThan(errs[0]); // 4 bits lose more than 8
    expect(errs[1]).toBeLessThan(0.2);
    f.dispose();
  });

  it('holds only the quantized form: its parameters take 3.8x (q8_0) and 7x (q4_0) fewer bytes than f32 at GPT-2 124M', () => {
    const gpt2 = { n_layer: 12, n_head: 12, n_embd: 768, n_positions: 1024, vocab_size: 50257 };
    const f32 = weightBytes(gpt2, 'f32');
    expect(f32 / weightBytes(gpt2, 'q8_0')).toBeGreaterThan(3.6);
    expect(f32 / weightBytes(gpt2, 'q4_0')).toBeGreaterThan(6.2);
    const q = new GPT(config, wasm, { dtype: 'q4_0' });
    expect(q.params.bytes).toBe(weightBytes(config, 'q4_0'));
    q.dispose();
  });

  it('threads give the same bits as one thread', () => {
    for (const dtype of QUANTIZED) {
      const outs = [wasm, threaded].map((be) => {
        const q = new GPT(config, be, { dtype, seed: 3 });
        const l = q.forward(tokens, 2, 24).logits.data().slice();
        const c = q.createKvCache();
        q.forwardCached(tokens.slice(0, 5), c);
        const d = q.forwardCached([7], c).data().slice();
        q.dispose();
        return [l, d];
      });
      expect(outs[1][0]).toEqual(outs[0][0]);
      expect(outs[1][1]).toEqual(outs[0][1]);
    }
  });

  it('the JS reference backend runs a quantized model too, within 1e-4 of wasm', () => {
    const js = new JsBackend();
    const small = { ...config, n_layer: 1 };
    const a = new GPT(small, js, { dtype: 'q4_0', seed: 2 }),
      b = new GPT(small, wasm, { dtype: 'q4_0', seed: 2 });
    expect(
      relErr(a.forward(tokens.slice(0, 12), 1, 12).logits.data(), b.forward(tokens.slice(0, 12), 1, 12).logits.data()),
    ).toBeLessThan(1e-4);
    a.dispose();
    b.dispose();
  });

  it('loads from safetensors quantizing as it goes, and generates', () => {
    const f = new GPT(config, wasm, { seed: 4 });
    const bytes = modelToSafetensors(f);
    const q = gptFromSafetensors(bytes, config, wasm, 'random.safetensors', 'q8_0');
    const direct = new GPT(config, wasm, { seed: 4, dtype: 'q8_0' });
    expect(q.parameter('h.0.mlp.c_fc.weight').dtype).toBe('q8_0');
    expect(q.parameter('h.0.mlp.c_fc.weight').shape).toEqual([4 * 64, 64]); // (out, in)
    expect(q.parameter('wpe.weight').dtype).toBe('f32');
    expect(q.forward(tokens, 2, 24).logits.data().slice()).toEqual(direct.forward(tokens, 2, 24).logits.data().slice());
    const gen = generate(q, [1, 2, 3], { maxTokens: 5, temperature: 0 });
    const out: number[] = [];
    for (let n = gen.next(); !n.done; n = gen.next()) out.push(n.value);
    expect(out).toHaveLength(5);
    for (const m of [f, q, direct]) m.dispose();
  });
});

describe('refusals', () => {
  it('training a quantized model says it needs f32', () => {
    const q = new GPT(config, wasm, { dtype: 'q8_0' });
    q.forward(tokens, 2, 24, tokens);
    expect(() => q.backward()).toThrow(/holds its weights as q8_0.*need f32 weights/);
    q.dispose();
  });

  it('a width that is not whole blocks, an unknown dtype', () => {
    expect(() => new GPT({ ...config, n_embd: 52 }, wasm, { dtype: 'q4_0' })).toThrow(/multiple of 32.*52/);
    expect(() => new GPT(config, wasm, { dtype: 'q5_0' as WeightDType })).toThrow(
      /dtype must be one of f32, f16, q8_0, q4_0/,
    );
  });

  it('weights too large for a block scale, or not finite, are refused naming the tensor', () => {
    const f = new GPT(config, wasm, { seed: 1 });
    f.parameter('h.1.mlp.c_fc.weight').data()[70] = 1e7;
    const bytes = modelToSafetensors(f);
    expect(() => gptFromSafetensors(bytes, config, wasm, 'big.safetensors', 'q8_0')).toThrow(
      /big.safetensors: tensor 'h.1.mlp.c_fc.weight' has values too large for q8_0/,
    );
    f.parameter('h.1.mlp.c_fc.weight').data()[70] = Infinity;
    const inf = modelToSafetensors(f);
    expect(() => gptFromSafetensors(inf, config, wasm, 'inf.safetensors', 'q4_0')).toThrow(
      /inf.safetensors: tensor 'h.1.mlp.c_fc.weight' holds Infinity at index 70/,
    );
    f.dispose();
  });
});

describe('what each GPT-2 size takes', () => {
  it('every size fits wasm32 in q8_0 and q4_0; gpt2-xl does not in f32, and the check says so before a download', () => {
    for (const size of ['gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl'] as const) {
      const cfg = GPT2_PRESETS[size];
      for (const dtype of ['f32', 'f16', 'q8_0', 'q4_0'] as const) {
        const refused = size === 'gpt2-xl' && dtype === 'f32';
        const check = () => checkModelFits(cfg, size, { dtype });
        if (refused) expect(check, `${size} ${dtype}`).toThrow(/more than WebAssembly's/);
        else expect(check, `${size} ${dtype}`).not.toThrow();
      }
      // the weights' bytes: f16 about 2x, q8_0 3.7x and q4_0 6.8-7x fewer than f32 (wpe and the vectors stay f32)
      expect(weightBytes(cfg, 'f32') / weightBytes(cfg, 'f16')).toBeGreaterThan(1.98);
      expect(weightBytes(cfg, 'f32') / weightBytes(cfg, 'q8_0')).toBeGreaterThan(3.68);
      expect(weightBytes(cfg, 'f32') / weightBytes(cfg, 'q4_0')).toBeGreaterThan(6.8);
    }
  });
});

describe('gpt2-xl (1.56 B parameters) runs quantized', () => {
  // GPT-2 XL's published shape with random weights, each tensor set through loadParameter as a
  // file load sets it (f32 values in the checkpoint's layout, quantized one tensor at a time)
  for (const dtype of QUANTIZED)
    it(`${dtype}: built within wasm32 memory, generates a token; f32 is refused from the config`, async () => {
      const cfg = GPT2_PRESETS['gpt2-xl'];
      expect(() => checkModelFits(cfg, 'gpt2-xl', { option: '--dtype %s' })).toThrow(
        /needs 6\.\d+ GB to run with f32 weights, more than WebAssembly's 4\.\d+ GB; with f16 weights it needs 4\.\d+ GB, with q8_0 weights it needs 2\.\d+ GB, .*\(--dtype q8_0\)/,
      );
      expect(() => checkModelFits(cfg, 'gpt2-xl', { dtype })).not.toThrow();
      const be = await WasmBackend.create({ threads: 2 });
      try {
        const m = new GPT(cfg, be, { dtype, init: 'none' });
        // uniform values in +-0.02 from a table, copied at a stride that moves them around
        const table = randomArray(65537, rng(11), 0.02);
        let at = 0;
        for (const s of m.parameterSpecs)
          m.loadParameter(s.name, (d) => {
            if (s.kind === 'layernorm') return d.fill(s.name.endsWith('.weight') ? 1 : 0);
            for (let i = 0; i < d.length; i += 65536) {
              at = (at + 7919) % 65536;
              d.set(table.subarray(at, at + Math.min(65536, d.length - i)), i);
            }
          });
        m.markParametersChanged();
        // the weights and nothing in f32 beside them: the memory grew to what the plan says, no more
        expect(m.params.bytes).toBe(weightBytes(cfg, dtype));
        const cache = m.createKvCache();
        const logits = m.forwardCached([464, 2068, 7586], cache).data();
        const next = m.forwardCached([argmax(logits)], cache).data();
        expect(next.every(Number.isFinite)).toBe(true);
        expect(be.arena.byteLength).toBeLessThanOrEqual(inferenceBytes(cfg, dtype) + 64 * 2 ** 20);
        m.dispose();
      } finally {
        be.dispose();
      }
    }, 240_000);
});
