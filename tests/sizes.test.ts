// Sizes are checked from the numbers, before anything is allocated or downloaded: a config with
// ten million layers, a batch of a hundred million, a million threads. Each is refused with one
// line naming the limit, well under a second, in the library and in the CLI.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBackend, type Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { validateConfig, GPT2_PRESETS } from '../src/model/config.js';
import { trainingBytes } from '../src/model/memory.js';
import { Trainer, DEFAULT_TRAIN_CONFIG } from '../src/train/trainer.js';
import { TokenDataset } from '../src/train/data.js';
import { readShared } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const text = new TextDecoder().decode(readShared('data/tinyshakespeare.txt')).slice(0, 20000);
let dir: string, data: string, backend: Backend;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sizes-'));
  data = join(dir, 'data.txt');
  writeFileSync(data, text);
  backend = await createBackend('wasm', { threads: 1 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI with no hub reachable; returns its exit code, stderr and seconds. */
function gpt2(...args: string[]) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: join(dir, 'empty-cache') },
  });
  return { code: r.status, stderr: r.stderr.trim(), seconds: (performance.now() - t0) / 1000 };
}

describe('sizes are checked before anything is allocated or downloaded', () => {
  it('a config.json with ten million layers: one line in well under a second, for sampling and for training', () => {
    const model = join(dir, 'deep');
    mkdirSync(model);
    const config = { n_layer: 10_000_000, n_head: 1, n_embd: 4, n_positions: 8, vocab_size: 10 };
    writeFileSync(join(model, 'config.json'), JSON.stringify(config));
    writeFileSync(join(model, 'model.safetensors'), new Uint8Array(16));
    const want = `${join(model, 'config.json')}: n_layer 10000000 is more than the 4096 layers this runtime builds`;
    for (const args of [
      ['-p', 'hi', '--model', model],
      ['train', '--data', data, '--init', model, '--out', join(dir, 'deep-out')],
    ]) {
      const r = gpt2(...args);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^gpt2( train)?: ${want.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      expect(r.seconds).toBeLessThan(5); // process start included; the check itself is arithmetic
    }
    expect(() => validateConfig(config)).toThrow('n_layer 10000000 is more than the 4096 layers');
    expect(existsSync(join(dir, 'deep-out'))).toBe(false);
  });

  it('a batch of a hundred million: refused from the numbers, naming the largest batch that fits', () => {
    const r = gpt2('train', '--data', data, '--out', join(dir, 'wide'), '--batch-size', '1e8');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^gpt2 train: batch size 100000000 x block size 64 needs [\d.]+ GiB to train \([\d.]+ MiB of weights, gradients and AdamW moments, [\d.]+ GiB of activations and their gradients\), more than WebAssembly's 3\.94 GiB; at most batch size \d+ fits at this block size$/,
    );
    const most = Number(/at most batch size (\d+)/.exec(r.stderr)![1]);
    expect(existsSync(join(dir, 'wide'))).toBe(false);
    // the largest batch it names does fit, one more does not
    const vocab = new Set(text).size; // the char tokenizer's
    const config = { n_layer: 4, n_head: 4, n_embd: 128, n_positions: 64, vocab_size: vocab };
    expect(trainingBytes(config, most, 64).total).toBeLessThanOrEqual(2 ** 32 - 64 * 2 ** 20);
    expect(trainingBytes(config, most + 1, 64).total).toBeGreaterThan(2 ** 32 - 64 * 2 ** 20);
  });

  it('the library refuses the batch in the Trainer, before building one, and the arena is untouched', () => {
    const config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 256 };
    const model = new GPT(config, backend);
    const used = backend.arena.bytesInUse;
    const dataset = new TokenDataset(Array.from(new TextEncoder().encode(text)), 64);
    expect(() => new Trainer(model, dataset, { ...DEFAULT_TRAIN_CONFIG, batchSize: 1e8, blockSize: 64 })).toThrow(
      /^batch size 100000000 x block size 64 needs .* at most batch size \d+ fits/,
    );
    expect(backend.arena.bytesInUse).toBe(used);
    model.dispose();
    // GPT-2 124M at its full context trains at batch 1 (as the README says), not at 2
    expect(trainingBytes(GPT2_PRESETS.gpt2, 1, 1024).total).toBeLessThan(2 ** 32 - 64 * 2 ** 20);
    expect(trainingBytes(GPT2_PRESETS.gpt2, 2, 1024).total).toBeGreaterThan(2 ** 32);
  });

  it('a million threads: refused before the model is looked for, in the CLI and the library', async () => {
    for (const args of [
      ['-p', 'hi', '--threads', '1000000'],
      ['train', '--data', data, '--out', join(dir, 'threads'), '--threads', '1000000'],
    ]) {
      const r = gpt2(...args);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^gpt2( train)?: --threads must be (an integer )?in 1\.\.256, got '?1000000'?$/);
    }
    await expect(createBackend('wasm', { threads: 1e6 })).rejects.toThrow(
      'threads must be an integer from 1 to 256 (each takes a worker and its own tile buffer in wasm memory), got 1000000',
    );
  });
});
