// The package as a user gets it: `npm pack`, installed (offline, from npm's cache) into an empty
// project; `npx gpt2 --help`; a Node script using the GPT2 API on a small local model; and the
// README's browser example (examples/vite-page) bundled by Vite from the installed package,
// served, and run in Chromium, streaming text from a small random model with GPT-2's vocabulary.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { GPT, GPT2, createBackend, hfConfigJson, modelToSafetensors } from '../src/index.js';
import { saveGPT2 } from '../src/node.js';
import { startWebServer, CHROMIUM, CHROMIUM_FLAGS, type Route } from '../scripts/web-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROMPT = 'How can entropy be reversed?';
const config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257 };

let work = '',
  app = '',
  modelDir = '';
const run = (cmd: string, args: string[], cwd: string) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'wasm-gpt-package-'));
  const tgz = run('npm', ['pack', '--silent', '--pack-destination', work], ROOT).trim().split('\n').at(-1)!;
  app = join(work, 'app');
  cpSync(join(ROOT, 'examples/vite-page'), app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  // the dependencies come from npm's cache, which `npm ci` filled: nothing is downloaded here
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, tgz)], app);
  const be = await createBackend('js');
  const model = new GPT(config, be, { seed: 21 });
  modelDir = join(work, 'model');
  saveGPT2(model, modelDir);
  model.dispose();
}, 300_000);
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the package, installed as a user would', () => {
  it('ships what it needs and nothing of the tests', () => {
    const files = run('npm', ['pack', '--dry-run', '--json'], ROOT);
    const paths: string[] = JSON.parse(files)[0].files.map((f: { path: string }) => f.path);
    for (const p of [
      'dist/index.js',
      'dist/advanced.js',
      'dist/node.js',
      'dist/cli/main.js',
      'build/kernels.wasm',
      'build/kernels-relaxed-shared.wasm',
    ])
      expect(paths).toContain(p);
    expect(paths.filter((p) => /(^|\/)tests?\//.test(p) || p.includes('mutate'))).toEqual([]);
  });

  it('npx gpt2 --help prints the usage', () => {
    expect(run('npx', ['--offline', 'gpt2', '--help'], app)).toContain('Usage:');
  });

  it("a Node script imports wasm-gpt and streams a completion equal to the source tree's", async () => {
    const script = `import { GPT2 } from 'wasm-gpt';
const gpt2 = await GPT2.load(process.argv[2], { threads: 2 });
let text = '';
for await (const piece of gpt2.stream(${JSON.stringify(PROMPT)}, { maxTokens: 20, temperature: 0 })) text += piece;
console.log(JSON.stringify({ text, again: await gpt2.complete(${JSON.stringify(PROMPT)}, { maxTokens: 20, temperature: 0 }) }));
gpt2.dispose();
`;
    writeFileSync(join(app, 'script.mjs'), script);
    const got = JSON.parse(run(process.execPath, ['script.mjs', modelDir], app));
    const here = await GPT2.load(modelDir, { threads: 1 });
    const want = await here.complete(PROMPT, { maxTokens: 20, temperature: 0 });
    here.dispose();
    expect(want.length).toBeGreaterThan(0);
    expect(got).toEqual({ text: want, again: want });
  });

  it("the README's browser example is the page bundled here", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const main = readFileSync(join(ROOT, 'examples/vite-page/main.js'), 'utf8');
    expect(readme).toContain(main.trim());
  });

  it('Vite bundles the example page from the installed package; in Chromium it streams text', async () => {
    if (!existsSync(CHROMIUM))
      throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (the README's test command)`);
    run(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], app);
    const dist = join(app, 'dist');
    const routes: Record<string, Route> = {};
    const walk = (dir: string): void => {
      for (const f of readdirSync(dir)) {
        const p = join(dir, f);
        if (statSync(p).isDirectory()) walk(p);
        else routes['/' + relative(dist, p)] = p;
      }
    };
    walk(dist);
    expect(
      Object.keys(routes).some((r) => r.endsWith('.wasm')),
      'the kernels are among the built assets',
    ).toBe(true);
    const be = await createBackend('js');
    const model = new GPT(config, be, { seed: 21 });
    routes['/models/bpe/config.json'] = new TextEncoder().encode(hfConfigJson(model));
    routes['/models/bpe/model.safetensors'] = modelToSafetensors(model);
    model.dispose();
    const server = await startWebServer({ isolated: true, routes });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${server.url}/index.html?model=/models/bpe/`);
      await page.evaluate(() => {
        const w = window as unknown as { lengths: number[] };
        w.lengths = [];
        new MutationObserver(() => w.lengths.push(document.querySelector('#out')!.textContent!.length)).observe(
          document.querySelector('#out')!,
          { childList: true, characterData: true, subtree: true },
        );
      });
      await page.waitForFunction(() => document.body.dataset.done === 'true', undefined, { timeout: 60_000 });
      expect(errors).toEqual([]);
      const text = (await page.textContent('#out'))!;
      expect(text.length).toBeGreaterThan(0);
      const lengths = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
      expect(new Set(lengths.filter((n) => n > 0)).size, 'the text grew piece by piece').toBeGreaterThan(2);
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
