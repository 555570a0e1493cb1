// GPT-2 124M written in the exact layout OpenAI's checkpoint is published in on the hub
// (model.safetensors with every key, the twelve h.N.attn.bias mask buffers, F32; config.json as
// published), generated at test time from a seed and never committed. It loads with and without
// the `transformer.` prefix and as F16/BF16 copies, generates, and the gpt2 command downloads it
// from a local stand-in of the hub and streams text.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WasmBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { GPT2_PRESETS } from '../src/model/config.js';
import { writeSafetensors, type TensorToWrite } from '../src/weights/safetensors.js';
import { loadGPT2 } from '../src/weights/node.js';
import { generate } from '../src/generate/generate.js';
import { GPT2Tokenizer } from '../src/tokenizer/gpt2.js';
import { startFakeHub, type FakeHub } from './hub-server.js';
import { halfBytes } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
// config.json as published for openai-community/gpt2
const PUBLISHED_CONFIG = {
  activation_function: 'gelu_new',
  architectures: ['GPT2LMHeadModel'],
  attn_pdrop: 0.1,
  bos_token_id: 50256,
  embd_pdrop: 0.1,
  eos_token_id: 50256,
  initializer_range: 0.02,
  layer_norm_epsilon: 1e-5,
  model_type: 'gpt2',
  n_ctx: 1024,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  resid_pdrop: 0.1,
  summary_activation: null,
  summary_first_dropout: 0.1,
  summary_proj_to_labels: true,
  summary_type: 'cls_index',
  summary_use_proj: true,
  task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
  vocab_size: 50257,
};

let dir: string;
let backend: WasmBackend;
let source: GPT;
let expected: number[];
const prompt = new GPT2Tokenizer().encode('How can entropy be reversed?');
let f32Bytes: Uint8Array;

function f32(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** The published file's tensors: our parameters plus the causal-mask buffers, optionally prefixed. */
function checkpoint(model: GPT, dtype: 'F32' | 'F16' | 'BF16', prefix: string): Uint8Array {
  const T = 1024;
  const mask = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = 0; j <= i; j++) mask[i * T + j] = 1;
  const maskBytes = dtype === 'F32' ? f32(mask) : halfBytes(mask, dtype);
  const entries: TensorToWrite[] = [];
  for (const s of model.parameterSpecs) {
    const d = model.parameter(s.name).data();
    entries.push({
      name: prefix + s.name,
      dtype,
      shape: s.shape,
      data: dtype === 'F32' ? f32(d) : halfBytes(d, dtype),
    });
  }
  for (let l = 0; l < 12; l++)
    entries.push({ name: `${prefix}h.${l}.attn.bias`, dtype, shape: [1, 1, T, T], data: maskBytes });
  if (prefix) entries.push({ name: 'lm_head.weight', dtype, shape: [50257, 768], data: entries[0].data });
  entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  return writeSafetensors(entries, { format: 'pt' });
}

function writeModelDir(name: string, bytes: Uint8Array): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'model.safetensors'), bytes);
  writeFileSync(join(d, 'config.json'), JSON.stringify(PUBLISHED_CONFIG, null, 2));
  return d;
}

function greedy(model: GPT, n = 6): number[] {
  return [...generate(model, prompt, { temperature: 0, maxTokens: n })];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gpt2-124m-'));
  backend = await WasmBackend.create();
  source = new GPT(GPT2_PRESETS.gpt2, backend, { seed: 2024 });
  expected = greedy(source);
  f32Bytes = checkpoint(source, 'F32', '');
  writeModelDir('f32', f32Bytes);
}, 300_000);

afterAll(() => {
  source?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('GPT-2 124M in the published checkpoint layout', () => {
  it('the F32 file (no prefix, with the attn.bias buffers) loads bit for bit and generates the same tokens', () => {
    expect(f32Bytes.length).toBeGreaterThan(548_000_000); // 124,439,808 x 4 + 12 x 4 MiB of mask buffers + header
    const model = loadGPT2(join(dir, 'f32'), backend);
    for (const s of model.parameterSpecs) {
      expect(
        Buffer.compare(
          Buffer.from(f32(model.parameter(s.name).data())),
          Buffer.from(f32(source.parameter(s.name).data())),
        ),
        s.name,
      ).toBe(0);
    }
    expect(greedy(model)).toEqual(expected);
    model.dispose();
  });

  it('the same with the transformer. prefix and lm_head.weight', () => {
    writeModelDir('prefixed', checkpoint(source, 'F32', 'transformer.'));
    const model = loadGPT2(join(dir, 'prefixed'), backend);
    expect(
      Buffer.compare(
        Buffer.from(f32(model.parameter('h.11.mlp.c_fc.weight').data())),
        Buffer.from(f32(source.parameter('h.11.mlp.c_fc.weight').data())),
      ),
    ).toBe(0);
    expect(greedy(model)).toEqual(expected);
    model.dispose();
    rmSync(join(dir, 'prefixed'), { recursive: true });
  });

  for (const [dtype, rel] of [
    ['F16', 1e-3],
    ['BF16', 8e-3],
  ] as const) {
    it(`an ${dtype} copy loads (widened to f32) and generates`, () => {
      writeModelDir(dtype, checkpoint(source, dtype, ''));
      const model = loadGPT2(join(dir, dtype), backend);
      for (const name of ['wte.weight', 'h.5.attn.c_attn.weight', 'ln_f.weight']) {
        const a = model.parameter(name).data(),
          b = source.parameter(name).data();
        for (let i = 0; i < a.length; i += 97)
          expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(rel * Math.abs(b[i]) + 3e-8); // f16 subnormal spacing is 6e-8
      }
      const out = greedy(model);
      expect(out.length).toBe(6);
      model.dispose();
      rmSync(join(dir, dtype), { recursive: true });
    });
  }

  describe('the gpt2 command with the hub (a local stand-in on 127.0.0.1)', () => {
    let hub: FakeHub;
    let cache: string;
    beforeAll(async () => {
      hub = await startFakeHub({
        'openai-community/gpt2': {
          'model.safetensors': f32Bytes,
          'config.json': new TextEncoder().encode(JSON.stringify(PUBLISHED_CONFIG)),
        },
      });
      cache = join(dir, 'hf-cache');
    });
    afterAll(() => hub?.close());

    const run = (args: string[], env: Record<string, string>) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, HF_HUB_CACHE: cache, ...env } });
        let stdout = '',
          stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    it('downloads openai-community/gpt2 into the cache with progress on stderr, then streams text on stdout', async () => {
      const args = ['-p', 'How can entropy be reversed?', '--max-tokens', '6', '--temperature', '0', '--stats'];
      const first = await run(args, { HF_ENDPOINT: hub.url });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/model\.safetensors \[#+\] 100% 548\.\d\/548\.\d MB/);
      expect(first.stderr).toMatch(
        /prompt tokens 6, generated 6 .*\nload [\d.]+ s, prefill [\d.]+ tok\/s, decode [\d.]+ tok\/s/,
      );
      expect(first.stdout).toBe(new GPT2Tokenizer().decode(expected) + '\n'); // stdout: the continuation alone
      // again, offline: the cache answers and the hub sees no new request
      const before = hub.requests.length;
      const second = await run(args, { HF_ENDPOINT: hub.url, HF_HUB_OFFLINE: '1' });
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout).toBe(first.stdout);
      expect(hub.requests.length).toBe(before);
    }, 120_000);

    it('sampling with a seed is reproducible from the command line', async () => {
      const args = ['-p', 'Hello', '--max-tokens', '5', '--seed', '42', '--model', join(dir, 'f32')];
      const a = await run(args, {}),
        b = await run(args, {});
      expect(a.code, a.stderr).toBe(0);
      expect(a.stdout).toBe(b.stdout);
      expect(a.stdout.length).toBeGreaterThan(1);
    }, 120_000);
  });
});
