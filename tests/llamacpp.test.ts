// llama.cpp side by side, in headless Chromium: wllama (llama.cpp compiled to WebAssembly, CPU
// only) and this project load the same GGUF files, written by `gpt2 convert` from one random
// GPT-2-shaped model, and greedy-decode the same prompt: the same model must give the same text.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startWebServer, CHROMIUM, CHROMIUM_FLAGS, type WebServer } from '../scripts/web-server.js';
import { createBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { saveGGUF, loadGGUF } from '../src/weights/gguf-node.js';
import { saveGPT2, loadGPT2 } from '../src/weights/node.js';
import { WEIGHT_DTYPES } from '../src/model/parameters.js';

type Run = { text: string; load: number; seconds: number };
type Hooks = {
  llamacpp(url: string, prompt: string, n: number, threads?: number): Promise<Run>;
  ours(url: string, prompt: string, n: number, threads?: number): Promise<Run>;
};

const config = { n_layer: 2, n_head: 4, n_embd: 128, n_positions: 128, vocab_size: 50257 };
let dir: string, server: WebServer, browser: Browser, page: Page;
const errors: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llamacpp-'));
  const backend = await createBackend('wasm', { threads: 1 });
  // GPT-2's init (std 0.02) with the 2-D weights scaled up, so that greedy text varies from token to token
  const f32 = new GPT(config, backend, { seed: 5 });
  for (const s of f32.parameterSpecs)
    if (s.shape.length === 2)
      f32
        .parameter(s.name)
        .data()
        .forEach((v, i, a) => (a[i] = v * 6));
  f32.markParametersChanged();
  saveGPT2(f32, join(dir, 'hf'));
  f32.dispose();
  const routes: Record<string, string> = {};
  for (const dtype of WEIGHT_DTYPES) {
    const model = loadGPT2(join(dir, 'hf'), backend, dtype);
    saveGGUF(model, join(dir, `${dtype}.gguf`));
    routes[`/m/${dtype}.gguf`] = join(dir, `${dtype}.gguf`);
    model.dispose();
    if (dtype === 'q8_0' || dtype === 'q4_0') {
      // the same quantized model's weights dequantized, as an f32 GGUF: what the quantized model means
      const exact = loadGGUF(join(dir, `${dtype}.gguf`), backend, 'f32');
      saveGGUF(exact, join(dir, `${dtype}-dequantized.gguf`));
      routes[`/m/${dtype}-dequantized.gguf`] = join(dir, `${dtype}-dequantized.gguf`);
      exact.dispose();
    }
  }
  server = await startWebServer({ isolated: true, routes });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  page = await browser.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${server.url}/tests/browser/llamacpp.html`);
  await page.waitForFunction(() => document.getElementById('out')?.textContent === 'ready');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const prompt = 'The quick brown fox jumps over the lazy dog. It';
const N = 24;
const run = (engine: keyof Hooks, file: string) =>
  page.evaluate(
    ([e, u, p, n]) => (window as unknown as Hooks)[e as keyof Hooks](u as string, p as string, n as number),
    [engine, `${server.url}/m/${file}.gguf`, prompt, N] as const,
  );

describe('llama.cpp (wllama) and wasm-gpt on the same GGUF', () => {
  it.each(['f32', 'f16'])(
    '%s: the same greedy text, token for token',
    async (dtype) => {
      const theirs = await run('llamacpp', dtype);
      const ours = await run('ours', dtype);
      console.log(
        `${dtype}: llama.cpp ${JSON.stringify(theirs.text)}\n${dtype}: ours      ${JSON.stringify(ours.text)}`,
      );
      expect(ours.text.length).toBeGreaterThan(N); // varied text, not one token repeated
      expect(ours.text).toBe(theirs.text);
      expect(errors).toEqual([]);
    },
    120_000,
  );

  it.each(['q8_0', 'q4_0'])(
    '%s: ours is the quantized model exactly (llama.cpp on its weights dequantized to f32 agrees); llama.cpp on the blocks agrees until its 8-bit activations tip a near tie',
    async (dtype) => {
      const ours = await run('ours', dtype);
      const exactTheirs = await run('llamacpp', `${dtype}-dequantized`);
      const exactOurs = await run('ours', `${dtype}-dequantized`);
      const theirs = await run('llamacpp', dtype);
      let same = 0;
      while (same < ours.text.length && ours.text[same] === theirs.text[same]) same++;
      console.log(
        `${dtype}: ours                       ${JSON.stringify(ours.text)}\n` +
          `${dtype}: llama.cpp, dequantized f32 ${JSON.stringify(exactTheirs.text)}\n` +
          `${dtype}: llama.cpp, ${dtype} blocks    ${JSON.stringify(theirs.text)} (same for ${same} characters)`,
      );
      expect(ours.text).toBe(exactTheirs.text);
      expect(ours.text).toBe(exactOurs.text);
      expect(same).toBeGreaterThan(20);
      expect(errors).toEqual([]);
    },
    120_000,
  );
});
