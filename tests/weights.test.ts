// Checkpoints on disk: the reference directory loads straight into the arena and gives
// PyTorch's logits; save + load round-trips exactly; F16/BF16 copies and `transformer.`
// prefixed keys with the causal-mask buffers load too.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/index.js';
import { loadGPT2, saveGPT2 } from '../src/weights/node.js';
import { SafetensorsFile, writeSafetensors } from '../src/weights/safetensors.js';
import { GPT } from '../src/model/gpt.js';
import { writeRandomGPT2 } from '../scripts/random-gpt2.js';
import { bothBackends, readShared, expectClose, halfBytes, SHARED } from './helpers.js';

const ref = new SafetensorsFile(readShared('reference/tiny/reference.safetensors'));
const inputs = ref.ints('inputs'),
  targets = ref.ints('targets');
const [B, T] = ref.info('inputs').shape;
const tinyDir = fileURLToPath(new URL('reference/tiny', SHARED));

let backends: { wasm: Backend; js: Backend };
let dir: string;
beforeAll(async () => {
  backends = await bothBackends();
  dir = mkdtempSync(join(tmpdir(), 'wasm-gpt-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function convertedCopy(dtype: 'F16' | 'BF16', prefix: string): Uint8Array {
  const file = new SafetensorsFile(readShared('reference/tiny/model.safetensors'));
  const entries = file.names.map((name) => {
    const data = halfBytes(file.floats(name), dtype);
    return { name: prefix + name, dtype, shape: file.info(name).shape, data };
  });
  // the published gpt2 file also carries causal-mask buffers and, in some copies, lm_head.weight
  const C = 52;
  entries.push({ name: `${prefix}h.0.attn.bias`, dtype, shape: [1, 1, 32, 32], data: new Uint8Array(32 * 32 * 2) });
  entries.push({ name: `${prefix}h.1.attn.masked_bias`, dtype, shape: [], data: new Uint8Array(2) });
  entries.push({ name: 'lm_head.weight', dtype, shape: [97, C], data: entries[file.names.indexOf('wte.weight')].data });
  return writeSafetensors(entries);
}

describe('checkpoints on disk', () => {
  for (const name of ['wasm', 'js'] as const) {
    it(`${name}: the reference directory loads straight into the arena and gives PyTorch's logits`, () => {
      const model = loadGPT2(tinyDir, backends[name]);
      const { logits, loss } = model.forward(inputs, B, T, targets);
      expectClose('logits', logits.data(), ref.floats('logits'), 1e-5);
      expect(Math.abs(loss! - ref.floats('loss')[0])).toBeLessThan(1e-5);
      model.dispose();
    });
  }

  it('save then load gives back the same weights, bit for bit', () => {
    const model = new GPT({ n_layer: 3, n_head: 2, n_embd: 18, n_positions: 11, vocab_size: 29 }, backends.wasm, {
      seed: 5,
    });
    saveGPT2(model, dir);
    const back = loadGPT2(dir, backends.wasm);
    expect(back.config).toEqual(model.config);
    for (const s of model.parameterSpecs)
      expect(back.parameter(s.name).data(), s.name).toEqual(model.parameter(s.name).data());
    back.dispose();
    model.dispose();
  });

  it("a random checkpoint written tensor by tensor (scripts/random-gpt2.ts) is the file of the same seed's model", () => {
    const config = { n_layer: 3, n_head: 2, n_embd: 18, n_positions: 11, vocab_size: 29 };
    const model = new GPT(config, backends.wasm, { seed: 9 });
    const streamed = join(dir, 'streamed'),
      saved = join(dir, 'saved');
    writeRandomGPT2(config, streamed, 9);
    saveGPT2(model, saved);
    for (const f of ['model.safetensors', 'config.json'])
      expect(readFileSync(join(streamed, f)).equals(readFileSync(join(saved, f))), f).toBe(true);
    model.dispose();
  });

  for (const [dtype, prefix, tol] of [
    ['F16', '', 2e-2],
    ['BF16', 'transformer.', 1e-1],
  ] as const) {
    it(`a ${dtype} copy${prefix ? ' with the transformer. prefix' : ''}, mask buffers and lm_head.weight loads and stays close`, () => {
      const sub = join(dir, dtype);
      rmSync(sub, { recursive: true, force: true });
      mkdirSync(sub);
      writeFileSync(join(sub, 'model.safetensors'), convertedCopy(dtype, prefix));
      copyFileSync(join(tinyDir, 'config.json'), join(sub, 'config.json'));
      const model = loadGPT2(sub, backends.wasm);
      const { logits } = model.forward(inputs, B, T);
      expectClose(`${dtype} logits`, logits.data(), ref.floats('logits'), tol);
      model.dispose();
    });
  }
});
