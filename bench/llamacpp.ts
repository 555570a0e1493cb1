// llama.cpp against this project in the same headless Chromium, on the same bytes: GPT-2 124M in
// the published shape (random weights from a seed) written as GGUF by this project at f32, f16,
// q8_0 and q4_0; wllama (llama.cpp compiled to WebAssembly, CPU only) and wasm-gpt each load it,
// then alternate, round by round: decode 128 tokens after a 16-token prompt, and prefill 1 x 128.
// llama.cpp's figures are its own timings (llama-server's prompt_ms / predicted_ms, counting every
// predicted token); ours are timed the same way in the same page. Ratios are ours / llama.cpp per
// round, then the median.
//   npm run bench:llamacpp [-- --rounds 3 --dtypes q8_0,q4_0 --threads 1,2]
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startWebServer, CHROMIUM, CHROMIUM_FLAGS } from '../scripts/web-server.js';
import { createBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { GPT2_PRESETS } from '../src/model/config.js';
import { WEIGHT_DTYPES, type WeightDType } from '../src/model/parameters.js';
import { saveGGUF } from '../src/weights/gguf-node.js';
import { median } from './median.js';

const args = process.argv.slice(2);
const opt = (name: string, def: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def);
const ROUNDS = Number(opt('rounds', '3'));
const DTYPES = opt('dtypes', WEIGHT_DTYPES.join(',')).split(',') as WeightDType[];
const THREADS = opt('threads', '1,2').split(',').map(Number);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || DTYPES.some((d) => !WEIGHT_DTYPES.includes(d))) {
  console.error('usage: npm run bench:llamacpp -- [--rounds N] [--dtypes f32,f16,q8_0,q4_0] [--threads 1,2]');
  process.exit(2);
}

// the files, made once (weights/ is not committed)
const dir = fileURLToPath(new URL('../weights/gguf-124m-random/', import.meta.url));
mkdirSync(dir, { recursive: true });
const backend = await createBackend('wasm', { threads: 2 });
for (const dtype of DTYPES) {
  if (existsSync(`${dir}${dtype}.gguf`)) continue;
  const model = new GPT(GPT2_PRESETS.gpt2, backend, { seed: 124, dtype });
  saveGGUF(model, `${dir}${dtype}.gguf`, `gpt2-124m-random-${dtype}`);
  model.dispose();
}

const routes = Object.fromEntries(DTYPES.map((d) => [`/m/${d}.gguf`, `${dir}${d}.gguf`]));
const server = await startWebServer({ isolated: true, routes });
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
const page = await browser.newPage();
page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
await page.goto(`${server.url}/tests/browser/llamacpp.html`);
await page.waitForFunction(() => document.getElementById('out')?.textContent === 'ready');

type Timing = { promptN: number; promptMs: number; decodeN: number; decodeMs: number };
type W = Record<string, (...a: unknown[]) => Promise<unknown>>;
const call = <T>(fn: string, ...a: unknown[]) =>
  page.evaluate(([f, rest]) => (window as unknown as W)[f as string](...(rest as unknown[])), [
    fn,
    a,
  ] as const) as Promise<T>;

// a 16-token prompt and a 128-token one (GPT-2's BPE gives both engines the same tokens)
const words = 'the history of the world is the story of people who moved from place to place and'.split(' ');
const text = (n: number) => Array.from({ length: n }, (_, i) => words[i % words.length]).join(' ');
const SHORT = text(16),
  LONG = text(128);

const rows: string[][] = [];
for (const dtype of DTYPES)
  for (const threads of THREADS) {
    const url = `${server.url}/m/${dtype}.gguf`;
    await call('openLlamacpp', url, threads);
    const info = await call<{ threads: number; simd: string }>('openOurs', url, threads);
    const r = {
      decode: { ours: [] as number[], theirs: [] as number[] },
      prefill: { ours: [] as number[], theirs: [] as number[] },
    };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 ? ['Ours', 'Llamacpp'] : ['Llamacpp', 'Ours'];
      for (const engine of order) {
        const d = await call<Timing>(`run${engine}`, SHORT, 128);
        const p = await call<Timing>(`run${engine}`, LONG, 1);
        if (d.promptN !== 16 || p.promptN !== 128)
          throw new Error(`${engine}: prompts of ${d.promptN} and ${p.promptN} tokens`);
        const who = engine === 'Ours' ? 'ours' : 'theirs';
        r.decode[who].push((d.decodeN / d.decodeMs) * 1000);
        r.prefill[who].push((p.promptN / p.promptMs) * 1000);
      }
    }
    await call('closeLlamacpp');
    await call('closeOurs');
    for (const w of ['decode', 'prefill'] as const) {
      const ratios = r[w].ours.map((o, i) => o / r[w].theirs[i]);
      rows.push([
        dtype,
        String(info.threads),
        w === 'decode' ? 'decode 128 after 16' : 'prefill 1x128',
        median(r[w].theirs).toFixed(1),
        median(r[w].ours).toFixed(1),
        `${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
      ]);
    }
    console.error(`${dtype}, ${threads} thread(s): done`);
  }
await browser.close();
await server.close();

const head = ['weights', 'threads', 'workload', 'llama.cpp tok/s', 'wasm-gpt tok/s', 'ours / llama.cpp'];
const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width[i])).join(' | ')} |`;
console.log(
  `GPT-2 124M (random weights, GGUF), headless Chromium, ${ROUNDS} rounds, ${new Date().toISOString().slice(0, 10)}`,
);
console.log([line(head), line(width.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n'));
