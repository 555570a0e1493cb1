// GPT-2 124M in headless Chromium (the demo page's worker, random weights in the published layout,
// f32): load from a local URL (download, then the browser cache), prefill of 128 tokens and decode,
// on 1 and 2 threads, with Node (same kernels, 1 thread) measured in the same run as the baseline.
//   npm run bench:browser            (needs /usr/bin/chromium; weights/gpt2-124m-random/ is made once)
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startWebServer, CHROMIUM, CHROMIUM_FLAGS } from '../scripts/web-server.js';
import { median } from './median.js';

const dir = fileURLToPath(new URL('../weights/gpt2-124m-random/', import.meta.url));
const PREFILL = 128,
  DECODE = 64,
  ROUNDS = 3;
if (!existsSync(`${dir}/model.safetensors`)) {
  // bench/generate.ts writes the checkpoint; its child with 0 work is enough to make it
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('generate.ts', import.meta.url)), '--make-weights'],
    { stdio: 'inherit' },
  );
  if (r.status !== 0 || !existsSync(`${dir}/model.safetensors`))
    throw new Error('could not write the random GPT-2 124M checkpoint');
}

function node(threads: number) {
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('generate.ts', import.meta.url)),
      '--child',
      'wasm',
      String(PREFILL),
      String(DECODE),
      String(threads),
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`node child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { load: number; prefillTokS: number; decodeTokS: number };
}

const server = await startWebServer({
  isolated: true,
  routes: {
    '/models/gpt2/config.json': `${dir}config.json`,
    '/models/gpt2/model.safetensors': `${dir}model.safetensors`,
  },
});
// a real profile on disk (not an incognito context, whose Cache Storage quota is small), made fresh
const profile = mkdtempSync(join(tmpdir(), 'wasm-gpt-bench-profile-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  args: CHROMIUM_FLAGS,
});
type W = { wasmGpt: { ready: Promise<void>; call(r: unknown): Promise<any> } };
const rows: string[][] = [];
try {
  for (const threads of [1, 2]) {
    const page = await context.newPage();
    await page.goto(`${server.url}/web/?threads=${threads}`);
    await page.evaluate(() => (window as unknown as W).wasmGpt.ready);
    const load = await page.evaluate(() =>
      (window as unknown as W).wasmGpt.call({ cmd: 'load-url', url: '/models/gpt2/' }),
    );
    const ids = Array.from({ length: PREFILL }, (_, i) => (i * 7919 + 13) % 50257);
    // greedy generation of n tokens after the prompt ids, in the page's worker
    const generate = (prompt: number[], n: number) =>
      page.evaluate(
        ({ ids, n }) =>
          (window as unknown as W).wasmGpt.call({
            cmd: 'generate',
            prompt: '',
            ids,
            maxTokens: n,
            temperature: 0,
            topK: 0,
            topP: 1,
            seed: 1,
          }),
        { ids: prompt, n },
      );
    await generate(ids.slice(0, 8), 8); // warms the kernels up
    const runs = [];
    for (let r = 0; r < ROUNDS; r++) runs.push(await generate(ids, DECODE + 1));
    // the same weights held as f16
    await page.evaluate(() =>
      (window as unknown as W).wasmGpt.call({ cmd: 'load-url', url: '/models/gpt2/', dtype: 'f16' }),
    );
    const f16runs = [];
    for (let r = 0; r < ROUNDS; r++) f16runs.push(await generate(ids, DECODE + 1));
    const decodeF16 = median(f16runs.map((s) => (s.generatedTokens - 1) / s.decodeSeconds));
    const prefill = median(runs.map((s) => s.promptTokens / s.prefillSeconds));
    const decode = median(runs.map((s) => (s.generatedTokens - 1) / s.decodeSeconds));
    const nodeRun = node(threads);
    rows.push([
      `${threads}`,
      `${load.loadSeconds.toFixed(2)} s (${load.fromCache ? 'cache' : 'download'})`,
      prefill.toFixed(1),
      nodeRun.prefillTokS.toFixed(1),
      (prefill / nodeRun.prefillTokS).toFixed(2),
      decode.toFixed(1),
      nodeRun.decodeTokS.toFixed(1),
      (decode / nodeRun.decodeTokS).toFixed(2),
      decodeF16.toFixed(1),
    ]);
    await page.close();
  }
  // a reload: the weights come from Cache Storage
  const page = await context.newPage();
  await page.goto(`${server.url}/web/?threads=2`);
  await page.evaluate(() => (window as unknown as W).wasmGpt.ready);
  const cached = await page.evaluate(() =>
    (window as unknown as W).wasmGpt.call({ cmd: 'load-url', url: '/models/gpt2/' }),
  );
  console.log(
    `GPT-2 124M (random f32) in Chromium ${context.browser()?.version() ?? ''}: a new page loads it from the browser cache in ${cached.loadSeconds.toFixed(2)} s ` +
      `(fromCache=${cached.fromCache}${rows.length ? '' : ''}); the first load downloaded it over loopback${cached.cacheError ? `; cache error: ${cached.cacheError}` : ''}`,
  );
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await server.close();
}
console.log(
  `prefill ${PREFILL} tokens, decode ${DECODE} after it (greedy); browser figures are medians of ${ROUNDS}; Node is one run of bench/generate's child`,
);
console.log(
  '| threads | page load | prefill tok/s (Chromium) | Node | ratio | decode tok/s (Chromium) | Node | ratio | decode, f16 weights (Chromium) |',
);
console.log('| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
