// Bad input is refused before any kernel runs, with an error naming the value and the limit,
// and the backend keeps working afterwards.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { GPT2_PRESETS, validateConfig, type GPTConfig } from '../src/model/config.js';
import { modelToSafetensors, gptFromSafetensors } from '../src/weights/gpt2.js';
import { writeSafetensors, SafetensorsFile } from '../src/weights/safetensors.js';
import { bothBackends, tensorFrom } from './helpers.js';

const tiny: GPTConfig = { n_layer: 2, n_head: 4, n_embd: 52, n_positions: 32, vocab_size: 97 };

let backends: { wasm: Backend; js: Backend };
beforeAll(async () => {
  backends = await bothBackends();
});

describe('bad input is refused with a message, nothing crashes', () => {
  it('a kernel call with (B,T,C) where (B,T,3C) is expected names both shapes', () => {
    for (const be of [backends.wasm, backends.js]) {
      const B = 2,
        T = 3,
        C = 8;
      const out = tensorFrom(be, [B, T, C], new Float32Array(B * T * C), 'f32', 'out');
      const att = tensorFrom(be, [B, 2, T, T], new Float32Array(B * 2 * T * T), 'f32', 'att');
      const qkv = tensorFrom(be, [B, T, C], new Float32Array(B * T * C), 'f32', 'qkv');
      expect(() => be.attention_forward(out, att, qkv, B, T, T, C, 2)).toThrow(
        'attention_forward: qkv is (2,3,8) but (2,3,24) is expected',
      );
      expect(() => be.matmul_forward(out, qkv, qkv, null, B, T, C, C)).toThrow(
        'matmul_forward: weight is (2,3,8) but (8,8) is expected',
      );
      expect(() => be.attention_forward(out, att, qkv, B, T, T, 9, 2)).toThrow('C (9) is not divisible by NH (2)');
      expect(() => be.gelu_forward(out, qkv, 0)).toThrow('N must be a positive integer, got 0');
      // the KV cache's attention: keys past the cache's length, a cache of the wrong layout
      const one = tensorFrom(be, [1, 1, C], new Float32Array(C), 'f32', 'out row'),
        att5 = tensorFrom(be, [1, 2, 1, 5], new Float32Array(10), 'f32', 'att row');
      const rows = tensorFrom(be, [1, 1, 3 * C], new Float32Array(3 * C), 'f32', 'qkv rows');
      const kc = tensorFrom(be, [2, 4, 4], new Float32Array(32), 'f32', 'kcache'),
        flat = tensorFrom(be, [32], new Float32Array(32), 'f32', 'flat');
      expect(() => be.attention_forward_kv(one, att5, rows, kc, kc, 1, 5, 4, C, 2)).toThrow(
        "attention_forward_kv: Tk (5) keys do not fit the cache's maxT (4) positions",
      );
      expect(() => be.attention_forward_kv(one, att5, rows, kc, flat, 1, 5, 5, C, 2)).toThrow(
        'attention_forward_kv: kcache is (2,4,4) but (2,5,4) is expected',
      );
      for (const t of [out, att, qkv, one, att5, rows, kc, flat]) be.arena.release(t.ptr);
    }
  });

  it('a tensor of another backend or of the wrong dtype is refused', () => {
    const a = tensorFrom(backends.wasm, [4], new Float32Array(4), 'f32', 'a');
    const b = tensorFrom(backends.js, [4], new Float32Array(4), 'f32', 'b');
    expect(() => backends.wasm.residual_forward(a, a, b, 4)).toThrow("lives in another backend's arena");
    const ids = tensorFrom(backends.wasm, [4], new Int32Array(4), 'i32', 'ids');
    expect(() => backends.wasm.residual_forward(a, a, ids, 4)).toThrow('inp2 must be f32, got i32');
    for (const t of [a, ids]) backends.wasm.arena.release(t.ptr);
    backends.js.arena.release(b.ptr);
  });

  it('configs that cannot be built', () => {
    expect(() => validateConfig({ ...tiny, n_head: 5 })).toThrow('n_embd (52) is not divisible by n_head (5)');
    expect(() => validateConfig({ ...tiny, n_layer: 0 })).toThrow('n_layer must be a positive integer, got 0');
    expect(() => validateConfig({ ...tiny, vocab_size: 1.5 })).toThrow(
      'vocab_size must be a positive integer, got 1.5',
    );
  });

  it('token ids, targets and T out of range', () => {
    for (const be of [backends.wasm, backends.js]) {
      const model = new GPT(tiny, be, { seed: 1 });
      expect(() => model.forward([1, 2, 97], 1, 3)).toThrow('token id 97 at [0,2] is outside the vocabulary 0..96');
      expect(() => model.forward([1, -2, 3], 1, 3)).toThrow('token id -2 at [0,1] is outside the vocabulary 0..96');
      expect(() => model.forward(new Array(33).fill(0), 1, 33)).toThrow(
        'T (33) exceeds the context length n_positions (32)',
      );
      expect(() => model.forward([1, 2], 1, 3)).toThrow('2 tokens given, B*T = 1*3 = 3 expected');
      expect(() => model.forward([1, 2, 3], 1, 3, [1, 2, 200])).toThrow(
        'target 200 at [0,2] is outside 0..96 (or -1 to ignore)',
      );
      expect(() => model.backward()).toThrow('backward() needs a forward pass with targets first');
      expect(() => model.step({ lr: 1e-3 })).toThrow('step() needs gradients');
      // the instance still works
      const { loss } = model.forward([1, 2, 3], 1, 3, [2, 3, 4]);
      expect(Number.isFinite(loss!)).toBe(true);
      model.dispose();
    }
  });

  it('memory beyond 4 GiB is refused naming the size and the limit, and the arena still works', async () => {
    const be = backends.wasm;
    // GPT-2 XL: 1.56 B parameters = 6.2 GB of f32, more than wasm32 can address
    expect(() => new GPT(GPT2_PRESETS['gpt2-xl'], be, { init: 'none' })).toThrow(
      /cannot allocate 5\.80 GiB for parameters .* wasm32 memory tops out at 4\.00 GiB/,
    );
    // activations too large for the memory left
    const model = new GPT(tiny, be, { seed: 1 });
    expect(() => model.forward(new Int32Array(32 * 32), 32, 32)).not.toThrow();
    const small = new GPT({ ...tiny, vocab_size: 50257, n_positions: 1024 }, be, { init: 'none' });
    expect(() => small.forward(new Int32Array(64 * 1024), 64, 1024)).toThrow(
      /cannot allocate .* for activations for B=64, T=1024/,
    );
    small.dispose();
    expect(model.forward([1, 2, 3], 1, 3, [2, 3, 4]).loss).toBeGreaterThan(0);
    model.dispose();
  });

  it('a checkpoint with a missing tensor, a wrong shape or NaN is refused, nothing half-loaded', () => {
    const be = backends.js;
    const good = new GPT(tiny, be, { seed: 2 });
    const bytes = modelToSafetensors(good);
    const file = new SafetensorsFile(bytes);
    const entries = file.names.map((n) => ({
      name: n,
      dtype: 'F32' as const,
      shape: file.info(n).shape,
      data: file.raw(n).slice(),
    }));

    const missing = writeSafetensors(entries.filter((e) => e.name !== 'h.1.mlp.c_fc.bias'));
    expect(() => gptFromSafetensors(missing, tiny, be, 'm.safetensors')).toThrow(
      "m.safetensors: tensor 'h.1.mlp.c_fc.bias' (208) is missing",
    );

    const wrong = writeSafetensors(
      entries.map((e) => (e.name === 'h.0.attn.c_attn.weight' ? { ...e, shape: [156, 52] } : e)),
    );
    expect(() => gptFromSafetensors(wrong, tiny, be, 'w.safetensors')).toThrow(
      "tensor 'h.0.attn.c_attn.weight' has shape (156,52), expected (52,156)",
    );

    const nanEntries = entries.map((e) => ({ ...e, data: e.data.slice() }));
    new Float32Array(nanEntries[3].data.buffer)[5] = NaN;
    expect(() => gptFromSafetensors(writeSafetensors(nanEntries), tiny, be, 'n.safetensors')).toThrow(
      `tensor '${nanEntries[3].name}' holds NaN at index 5`,
    );

    // the arena holds only the good model afterwards: the failed loads gave their memory back
    const inUse = be.arena.bytesInUse;
    const loaded = gptFromSafetensors(bytes, tiny, be);
    expect(loaded.parameter('wte.weight').data()).toEqual(good.parameter('wte.weight').data());
    loaded.dispose();
    expect(be.arena.bytesInUse).toBe(inUse);
    good.dispose();
  });
});
