// A full GPT-2 124M-shaped model (random weights) builds, runs forward 1x64 and backward on
// the wasm backend, and takes an AdamW step at its full context (1x1024), within CI time and
// the 4 GiB wasm32 memory.
import { describe, it, expect } from 'vitest';
import { WasmBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { GPT2_PRESETS } from '../src/model/config.js';
import { countParameters } from '../src/model/parameters.js';
import { Random } from '../src/model/random.js';

describe('GPT-2 124M at full size', () => {
  it('has 124,439,808 parameters and runs forward + backward on 1x64 tokens', async () => {
    const config = GPT2_PRESETS.gpt2;
    expect(countParameters(config)).toBe(124_439_808);
    const backend = await WasmBackend.create();
    const t0 = performance.now();
    const model = new GPT(config, backend, { seed: 7 });
    expect(model.numParameters).toBe(124_439_808);
    const rand = new Random(3);
    const T = 64;
    const tokens = Array.from({ length: T }, () => rand.int(config.vocab_size));
    const targets = [...tokens.slice(1), rand.int(config.vocab_size)];
    const t1 = performance.now();
    const { logits, loss } = model.forward(tokens, 1, T, targets);
    const t2 = performance.now();
    expect(logits.shape).toEqual([1, T, config.vocab_size]);
    // random init at std 0.02: logits are small, so the loss is close to ln(V) = 10.825
    expect(loss!).toBeGreaterThan(10.5);
    expect(loss!).toBeLessThan(11.2);
    model.zeroGrad();
    model.backward();
    const t3 = performance.now();
    const norm = model.gradNorm();
    expect(Number.isFinite(norm) && norm > 0).toBe(true);
    // every parameter tensor got a gradient (wpe only at the 64 positions used)
    for (const name of ['wte.weight', 'h.0.attn.c_attn.weight', 'h.11.mlp.c_proj.bias', 'ln_f.weight']) {
      const g = model.gradient(name).data();
      let nonzero = 0;
      for (let i = 0; i < g.length; i++) if (g[i] !== 0) nonzero++;
      expect(nonzero, name).toBeGreaterThan(0);
    }
    console.log(
      `GPT-2 124M: init ${(t1 - t0).toFixed(0)} ms, forward 1x64 ${(t2 - t1).toFixed(0)} ms, ` +
        `backward ${(t3 - t2).toFixed(0)} ms, loss ${loss!.toFixed(4)}, grad norm ${norm.toFixed(4)}, ` +
        `arena ${(backend.arena.byteLength / 2 ** 20).toFixed(0)} MiB`,
    );
    model.dispose();
  });

  it('takes an AdamW step at its full context, 1x1024 tokens, within the 4 GiB of wasm32 memory', async () => {
    // parameters, gradients and the two AdamW moments take 2 GB; the activations kept for the
    // backward pass 1.7 GB; so the gradients of the activations must stay small (one residual
    // stream buffer, the rest shared by the layers: 0.3 GB; one per layer would not fit)
    const config = GPT2_PRESETS.gpt2;
    const backend = await WasmBackend.create({ threads: 2 });
    const model = new GPT(config, backend, { seed: 7 });
    const rand = new Random(5);
    const T = 1024;
    const tokens = Array.from({ length: T }, () => rand.int(config.vocab_size));
    const targets = [...tokens.slice(1), rand.int(config.vocab_size)];
    const t0 = performance.now();
    const { loss } = model.forward(tokens, 1, T, targets);
    expect(loss!).toBeGreaterThan(10.5);
    expect(loss!).toBeLessThan(11.2);
    model.zeroGrad();
    model.backward();
    const before = model.params.get('h.5.mlp.c_fc.weight').data().slice(0, 1000);
    model.step({ lr: 1e-4 });
    const after = model.params.get('h.5.mlp.c_fc.weight').data();
    let moved = 0;
    for (let i = 0; i < before.length; i++) if (after[i] !== before[i]) moved++;
    expect(moved).toBeGreaterThan(900);
    const second = model.forward(tokens, 1, T, targets).loss!;
    expect(second).toBeLessThan(loss!); // one step on this batch lowers its loss
    const used = backend.arena.byteLength; // (the allocations above throw if they do not fit)
    console.log(
      `GPT-2 124M at 1x1024: forward, backward and an AdamW step ${(performance.now() - t0).toFixed(0)} ms, ` +
        `loss ${loss!.toFixed(4)} -> ${second.toFixed(4)}, arena ${(used / 2 ** 20).toFixed(0)} MiB`,
    );
    model.dispose();
  });
});
