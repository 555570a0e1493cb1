// The ten-line API (GPT2.load, stream, complete, dispose) in Node: on a small random model with
// GPT-2's vocabulary made here (never committed), from a local directory and from a stand-in hub,
// held to the low-level pieces it is made of (the same greedy tokens), with stop strings, seeds
// and an AbortSignal.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  GPT2,
  GPT,
  GPT2Tokenizer,
  CharTokenizer,
  createBackend,
  modelToSafetensors,
  hfConfigJson,
} from '../src/index.js';
import { generate } from '../src/advanced.js';
import { saveGPT2 } from '../src/node.js';
import { StopMatcher } from '../src/api/stop.js';
import { startFakeHub } from './hub-server.js';

const dirs: string[] = [];
const tempDir = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};
let modelDir = '';
const config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257 };
const prompt = 'How can entropy be reversed?';

beforeAll(async () => {
  const be = await createBackend('js');
  const model = new GPT(config, be, { seed: 11 });
  modelDir = tempDir('wasm-gpt-api-');
  saveGPT2(model, modelDir);
  model.dispose();
});
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Greedy tokens the low-level way: the model, generate(), the tokenizer. */
async function greedyLowLevel(maxTokens: number): Promise<string> {
  const gpt2 = await GPT2.load(modelDir, { threads: 1 });
  const tok = new GPT2Tokenizer();
  const ids = [...generate(gpt2.model, tok.encode(prompt), { temperature: 0, maxTokens, stopToken: tok.endOfText })];
  gpt2.dispose();
  return tok.decode(ids);
}

describe('GPT2: load, stream, complete, dispose', () => {
  it('loads a local directory and completes greedily as the low-level pieces do; stream gives the same text in pieces', async () => {
    const gpt2 = await GPT2.load(modelDir, { threads: 2 });
    expect(gpt2.backend.threads).toBe(2);
    const text = await gpt2.complete(prompt, { maxTokens: 20, temperature: 0 });
    expect(text).toBe(await greedyLowLevel(20));
    expect(text.length).toBeGreaterThan(0);
    const pieces: string[] = [];
    for await (const piece of gpt2.stream(prompt, { maxTokens: 20, temperature: 0 })) pieces.push(piece);
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(text);
    gpt2.dispose();
  });

  it('a seed makes sampling reproducible; an empty prompt starts from <|endoftext|>', async () => {
    const gpt2 = await GPT2.load(modelDir, { threads: 1 });
    const a = await gpt2.complete(prompt, { maxTokens: 15, seed: 5, topP: 0.9 });
    expect(await gpt2.complete(prompt, { maxTokens: 15, seed: 5, topP: 0.9 })).toBe(a);
    expect(await gpt2.complete(prompt, { maxTokens: 15, seed: 6, topP: 0.9 })).not.toBe(a);
    const tok = new GPT2Tokenizer();
    const fromEnd = tok.decode([
      ...generate(gpt2.model, [tok.endOfText!], { maxTokens: 8, seed: 3, topK: 50, stopToken: tok.endOfText }),
    ]);
    expect(await gpt2.complete('', { maxTokens: 8, seed: 3 })).toBe(fromEnd);
    gpt2.dispose();
  });

  it('ends at a stop string, which is left out, even when it arrives split across tokens', async () => {
    const gpt2 = await GPT2.load(modelDir, { threads: 1 });
    const full = await gpt2.complete(prompt, { maxTokens: 30, temperature: 0 });
    const stop = full.slice(Math.floor(full.length / 2), Math.floor(full.length / 2) + 3);
    const cut = await gpt2.complete(prompt, { maxTokens: 30, temperature: 0, stop: ['\u0000never', stop] });
    expect(cut).toBe(full.slice(0, full.indexOf(stop)));
    gpt2.dispose();
  });

  it('an AbortSignal stops the stream with its reason and gives the KV cache back', async () => {
    const gpt2 = await GPT2.load(modelDir, { threads: 1 });
    const before = gpt2.backend.arena.bytesInUse;
    const controller = new AbortController();
    const got: string[] = [];
    const run = (async () => {
      for await (const piece of gpt2.stream(prompt, { maxTokens: 1000, temperature: 0, signal: controller.signal })) {
        got.push(piece);
        if (got.length === 3) controller.abort(new Error('enough'));
      }
    })();
    await expect(run).rejects.toThrow('enough');
    expect(got.length).toBe(3);
    expect(gpt2.backend.arena.bytesInUse).toBe(before);
    const aborted = AbortSignal.abort();
    await expect(gpt2.complete(prompt, { signal: aborted })).rejects.toThrow();
    gpt2.dispose();
  });

  it('loads a hub id through the Hugging Face cache (a stand-in hub on 127.0.0.1), with progress', async () => {
    const be = await createBackend('js');
    const model = new GPT(config, be, { seed: 11 });
    const files = {
      'config.json': new TextEncoder().encode(hfConfigJson(model)),
      'model.safetensors': modelToSafetensors(model),
    };
    model.dispose();
    const hub = await startFakeHub({ 'test-org/tiny-bpe': files });
    const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_HUB_CACHE: process.env.HF_HUB_CACHE };
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = tempDir('hf-cache-');
    try {
      const seen = new Set<string>();
      const gpt2 = await GPT2.load('test-org/tiny-bpe', { threads: 1, onProgress: (p) => seen.add(p.file) });
      expect([...seen].sort()).toEqual(['config.json', 'model.safetensors']);
      expect(await gpt2.complete(prompt, { maxTokens: 20, temperature: 0 })).toBe(await greedyLowLevel(20));
      gpt2.dispose();
    } finally {
      for (const [k, v] of Object.entries(env))
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      await hub.close();
    }
  });

  it('refuses what it cannot load with one line, and leaves nothing behind', async () => {
    await expect(GPT2.load(join(modelDir, 'missing'))).rejects.toThrow(
      /missing: no such file or directory, and not a hub id/,
    );
    const be = await createBackend('js');
    const model = new GPT({ ...config, vocab_size: 40 }, be);
    expect(() => GPT2.fromModel(model, new GPT2Tokenizer())).toThrow(
      "the model's vocab_size is 40, its tokenizer has 50257 tokens",
    );
    const chars = Array.from({ length: 40 }, (_, i) => String.fromCharCode(65 + i));
    const own = GPT2.fromModel(model, new CharTokenizer(chars));
    expect((await own.complete('ABC', { maxTokens: 8, temperature: 0 })).length).toBe(8);
    own.dispose();
  });
});

describe('StopMatcher', () => {
  it('holds back what may begin a stop string and cuts at the first stop', () => {
    const m = new StopMatcher(['o w', 'xyz']);
    expect(m.push('Hel')).toEqual({ text: 'Hel', done: false });
    expect(m.push('lo')).toEqual({ text: 'l', done: false }); // 'o' may begin 'o w'
    expect(m.push(' ')).toEqual({ text: '', done: false });
    expect(m.push('world')).toEqual({ text: '', done: true });
    expect(m.push('more')).toEqual({ text: '', done: true });
    const n = new StopMatcher('END');
    expect(n.push('aEN')).toEqual({ text: 'a', done: false });
    expect(n.push('x')).toEqual({ text: 'ENx', done: false });
    expect(n.push('E', true)).toEqual({ text: 'E', done: false });
    expect(new StopMatcher(undefined).push('anything')).toEqual({ text: 'anything', done: false });
    expect(() => new StopMatcher([3 as unknown as string])).toThrow('stop must be a string');
  });
});
