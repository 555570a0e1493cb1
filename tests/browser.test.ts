// The library and the demo page in real headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): the ESM entry in a plain page, the demo's logits against PyTorch, streamed
// generation, training in the page, the attention view against PyTorch's attention, the threaded
// path (COOP/COEP) against one thread, the browser cache, and bad input. Screenshots of each tab go
// to test-output/screenshots/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startWebServer, CHROMIUM, CHROMIUM_FLAGS, type WebServer, type Route } from '../scripts/web-server.js';
import {
  SafetensorsFile,
  GPT,
  GPT2,
  CharTokenizer,
  JsBackend,
  gptFromSafetensors,
  modelToSafetensors,
  hfConfigJson,
  writeSafetensors,
  gpt2GGUFBytes,
} from '../src/advanced.js';
import { readShared, expectClose, SHARED } from './helpers.js';

const SHOTS = new URL('../test-output/screenshots/', import.meta.url);
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI)
  throw new Error(`${CHROMIUM} is missing: CI installs Debian's chromium (see .ci/run)`);

// The tiny reference model has 97 tokens and no tokenizer of its own; the page needs one to show
// text, so the test's server gives its config.json a character vocabulary of 97 visible characters.
const TINY_CHARS = [...Array.from({ length: 94 }, (_, i) => String.fromCharCode(33 + i)), 'é', 'ü', 'ß'];
const tinyConfig = () => {
  const c = JSON.parse(readFileSync(new URL('reference/tiny/config.json', SHARED), 'utf8'));
  return new TextEncoder().encode(JSON.stringify({ ...c, wasm_gpt_tokenizer: { type: 'char', chars: TINY_CHARS } }));
};

// A bigger random model (generated here from a seed, never committed) whose matmuls are large
// enough to be split across threads.
function midModel(): { config: Uint8Array; weights: Uint8Array } {
  const be = new JsBackend();
  const model = new GPT({ n_layer: 2, n_head: 4, n_embd: 256, n_positions: 64, vocab_size: 512 }, be, { seed: 7 });
  const chars = Array.from({ length: 512 }, (_, i) => String.fromCodePoint(0x100 + i));
  const out = {
    config: new TextEncoder().encode(hfConfigJson(model, { wasm_gpt_tokenizer: { type: 'char', chars } })),
    weights: modelToSafetensors(model),
  };
  model.dispose();
  return out;
}

/**
 * The tiny model's weights followed by an 8 MB causal-mask buffer (which loaders skip), 8.4 MB sent
 * slowly: the weights stream in at once, then there is time to press Cancel in the middle.
 */
const slowFile = (() => {
  const tiny = new SafetensorsFile(readShared('reference/tiny/model.safetensors'), 'tiny');
  const tensors = [...tiny.header.tensors.values()].map((t) => ({
    name: t.name,
    dtype: 'F32' as const,
    shape: t.shape,
    data: tiny.bytes.subarray(t.begin, t.end),
  }));
  tensors.push({ name: 'h.1.attn.masked_bias', dtype: 'F32', shape: [2025, 1000], data: new Uint8Array(8_100_000) });
  return writeSafetensors(tensors);
})();
const slowWeights: Route = (req, res, headers) => {
  const total = slowFile.length,
    step = 64 << 10;
  res.writeHead(200, { ...headers, 'content-type': 'application/octet-stream', 'content-length': String(total) });
  let sent = 0;
  const timer = setInterval(() => {
    if (sent >= total) {
      clearInterval(timer);
      res.end();
      return;
    }
    res.write(slowFile.subarray(sent, sent + step));
    sent += step;
  }, 40);
  res.on('close', () => clearInterval(timer));
};

function routes(): Record<string, Route> {
  const mid = midModel();
  const xl = JSON.stringify({
    model_type: 'gpt2',
    n_layer: 48,
    n_head: 25,
    n_embd: 1600,
    n_positions: 1024,
    vocab_size: 50257,
  });
  return {
    '/models/tiny/config.json': tinyConfig(),
    '/models/tiny/model.safetensors': new URL('reference/tiny/model.safetensors', SHARED).pathname,
    '/models/mid/config.json': mid.config,
    '/models/mid/model.safetensors': mid.weights,
    '/models/notsafetensors/config.json': tinyConfig(),
    '/models/notsafetensors/model.safetensors': new TextEncoder().encode(
      '<html>this is a web page, not a safetensors file</html>\n'.repeat(20),
    ),
    '/models/xl/config.json': new TextEncoder().encode(xl),
    '/models/slow/config.json': tinyConfig(),
    '/models/slow/model.safetensors': slowWeights,
    '/models/bpe-q8.gguf': ggufModel(),
  };
}

/** A small GPT-2-vocabulary model as a q8_0 GGUF (llama.cpp's layout), made here from a seed. */
function ggufModel(): Uint8Array {
  const model = new GPT({ n_layer: 2, n_head: 2, n_embd: 64, n_positions: 64, vocab_size: 50257 }, new JsBackend(), {
    seed: 9,
    dtype: 'q8_0',
  });
  const out = gpt2GGUFBytes(model, 'bpe-q8');
  model.dispose();
  return out;
}

const ref = haveChromium
  ? new SafetensorsFile(readShared('reference/tiny/reference.safetensors'), 'reference.safetensors')
  : null;
const refInputs = () => Array.from(new Int32Array(new Uint8Array(ref!.raw('inputs')).buffer));
const [B, T] = ref ? ref.info('inputs').shape : [0, 0];

type Hooks = {
  wasmGpt: {
    ready: Promise<void>;
    call(r: unknown): Promise<unknown>;
    state: {
      model: unknown;
      engine: { threads: number; isolated: boolean };
      trainLog: { steps: [number, number][]; evals: { iter: number; train: number; val: number }[] };
    };
  };
};

describe.skipIf(!haveChromium)('in Chromium', () => {
  let browser: Browser, isolated: WebServer, plain: WebServer, context: BrowserContext;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(new URL('../web/dist/app.js', import.meta.url)))
      throw new Error('web/dist/app.js is missing: npm run build builds it');
    mkdirSync(SHOTS, { recursive: true });
    const r = routes();
    [isolated, plain] = await Promise.all([
      startWebServer({ isolated: true, routes: r }),
      startWebServer({ isolated: false, routes: r }),
    ]);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  });

  afterAll(async () => {
    await browser?.close();
    await isolated?.close();
    await plain?.close();
  });

  async function open(server: WebServer, path: string): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${path}: ${e.message}`));
    await page.goto(server.url + path);
    return page;
  }

  async function openDemo(server: WebServer, query = ''): Promise<Page> {
    const page = await open(server, `/web/${query}`);
    await page.evaluate(() => (window as unknown as Hooks).wasmGpt.ready);
    return page;
  }

  async function loadUrl(page: Page, url: string): Promise<string> {
    await page.fill('#model-url', url);
    await page.click('#load-url');
    await page.waitForFunction(
      () => document.body.dataset.busy === '' && !document.querySelector('#load-url')!.hasAttribute('disabled'),
    );
    const error = (await page.locator('#error').isVisible()) ? await page.textContent('#error') : null;
    if (error) return `error: ${error}`;
    return (await page.textContent('#model-status')) ?? '';
  }

  it('the package ESM entry runs in a plain <script type=module> page (import map, no bundler)', async () => {
    const page = await open(plain, '/tests/browser/esm.html');
    await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const r = await page.evaluate(
      ({ ids, B, T }) =>
        (
          window as unknown as {
            run(
              u: string,
              i: number[],
              b: number,
              t: number,
            ): Promise<{ logits: number[]; tokens: number[]; simd: string; threads: number }>;
          }
        ).run('/models/tiny/', ids, B, T),
      { ids: refInputs(), B, T },
    );
    expectClose('logits (ESM page, main thread)', r.logits, ref!.floats('logits'), 1e-5);
    expect(r.tokens).toEqual([2437, 460, 40709, 307, 17687, 30]);
    expect(r.threads).toBe(1);
    // GPT2.load / stream in the page give what they give in Node on the same weights
    const pieces = await page.evaluate(() =>
      (window as unknown as { complete(u: string, p: string, n: number): Promise<string[]> }).complete(
        '/models/tiny/',
        'ABC',
        12,
      ),
    );
    const be = new JsBackend();
    const model = gptFromSafetensors(
      readShared('reference/tiny/model.safetensors'),
      JSON.parse(new TextDecoder().decode(tinyConfig())),
      be,
    );
    const inNode = await GPT2.fromModel(model, new CharTokenizer(TINY_CHARS)).complete('ABC', {
      maxTokens: 12,
      temperature: 0,
    });
    model.dispose();
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.join('')).toBe(inNode);
    await page.close();
  });

  for (const dtype of ['q8_0', 'q4_0'])
    it(`GPT-2 XL runs in the page with ${dtype} weights: built in its published shape within wasm32 memory, a decode step`, async () => {
      const page = await open(plain, '/tests/browser/esm.html');
      await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      const r = await page.evaluate(
        (d) =>
          (
            window as unknown as {
              xl(d: string): Promise<{
                finite: boolean;
                vocab: number;
                paramsBytes: number;
                expected: number;
                memoryBytes: number;
                built: number;
                step: number;
              }>;
            }
          ).xl(d),
        dtype,
      );
      expect(r.finite).toBe(true);
      expect(r.vocab).toBe(50257);
      expect(r.paramsBytes).toBe(r.expected);
      expect(r.memoryBytes).toBeLessThan(3 * 2 ** 30);
      console.log(
        `gpt2-xl ${dtype} in Chromium: built in ${r.built.toFixed(1)} s, a decode step ${(r.step * 1000).toFixed(0)} ms, wasm memory ${(r.memoryBytes / 2 ** 30).toFixed(2)} GiB`,
      );
      await page.close();
    }, 240_000);

  it('the demo loads the tiny model from a URL; its logits equal PyTorch; generation streams into the page', async () => {
    const page = await openDemo(plain);
    expect(await page.textContent('#engine-badge')).toContain('not cross-origin isolated');
    const status = await loadUrl(page, '/models/tiny/');
    expect(status).toContain('Loaded /models/tiny/');
    const r = (await page.evaluate(
      ({ ids, B, T }) => (window as unknown as Hooks).wasmGpt.call({ cmd: 'logits', ids, B, T }),
      { ids: refInputs(), B, T },
    )) as { logits: Float32Array };
    expectClose('logits (demo worker, 1 thread)', r.logits, ref!.floats('logits'), 1e-5);

    // streaming: count the changes of the output while it is written
    await page.evaluate(() => {
      const w = window as unknown as { mutations: number[] };
      w.mutations = [];
      new MutationObserver(() =>
        w.mutations.push(document.querySelector('#output .generated')!.textContent!.length),
      ).observe(document.querySelector('#output .generated')!, { childList: true, characterData: true, subtree: true });
    });
    await page.fill('#prompt', 'ROMEO:');
    await page.fill('#max-tokens', '25');
    await page.fill('#seed', '42');
    await page.click('#generate');
    await page.waitForFunction(
      () => document.body.dataset.generated !== undefined && document.body.dataset.busy === '',
    );
    const text = await page.textContent('#output .generated');
    const mutations = await page.evaluate(() => (window as unknown as { mutations: number[] }).mutations);
    expect(text!.length).toBeGreaterThan(0);
    expect(new Set(mutations).size).toBeGreaterThan(5); // many partial states: streamed, not set at once
    expect(await page.textContent('#gen-stats')).toMatch(/tokens at [\d.]+ tok\/s/);
    // same seed, same text
    await page.click('#generate');
    await page.waitForFunction(() => document.body.dataset.busy === '');
    expect(await page.textContent('#output .generated')).toBe(text);
    expect(await page.textContent('#gen-stats')).toMatch(/f32 weights$/);
    // the same model held as f16: generates too, and says so
    await page.selectOption('#dtype', 'f16');
    expect(await loadUrl(page, '/models/tiny/')).toContain('Loaded /models/tiny/');
    expect(await page.textContent('#model-badge')).toMatch(/f16 weights, [\d.]+ [kM]B to run$/);
    await page.click('#generate');
    await page.waitForFunction(() => document.body.dataset.busy === '');
    expect(await page.textContent('#gen-stats')).toMatch(/f16 weights$/);
    expect((await page.textContent('#output .generated'))!.length).toBeGreaterThan(0);
    await page.selectOption('#dtype', 'auto');
    await page.screenshot({ path: new URL('generate.png', SHOTS).pathname, fullPage: true });
    await page.close();
  });

  it('the demo loads a q8_0 GGUF from a URL and from the file picker, holds it as q8_0 and generates', async () => {
    const page = await openDemo(plain);
    expect(await loadUrl(page, '/models/bpe-q8.gguf')).toContain('Loaded /models/bpe-q8.gguf');
    expect(await page.textContent('#model-badge')).toMatch(/q8_0 weights, [\d.]+ MB to run$/);
    await page.fill('#prompt', 'The quick brown fox');
    await page.fill('#max-tokens', '12');
    await page.fill('#temperature', '0');
    await page.click('#generate');
    await page.waitForFunction(() => document.body.dataset.busy === '');
    const text = await page.textContent('#output .generated');
    expect(text!.length).toBeGreaterThan(0);
    expect(await page.textContent('#gen-stats')).toMatch(/q8_0 weights$/);
    // the same file chosen from disk gives the same greedy text
    await page.setInputFiles('#model-files', {
      name: 'bpe-q8.gguf',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(ggufModel()),
    });
    await page.waitForFunction(() =>
      /Loaded bpe-q8\.gguf/.test(document.querySelector('#model-status')?.textContent ?? ''),
    );
    await page.click('#generate');
    await page.waitForFunction(() => document.body.dataset.busy === '');
    expect(await page.textContent('#output .generated')).toBe(text);
    await page.close();
  });

  it("the attention view renders for the tiny model and its weights equal PyTorch's attn.* tensors", async () => {
    const page = await openDemo(plain);
    await loadUrl(page, '/models/tiny/');
    await page.click('[data-tab=attention]');
    const ids = refInputs().slice(0, T); // batch row 0
    const sentence = ids.map((i) => TINY_CHARS[i]).join('');
    const H = 4;
    for (const layer of [0, 1]) {
      const a = (await page.evaluate(
        ({ sentence, layer }) => (window as unknown as Hooks).wasmGpt.call({ cmd: 'attention', text: sentence, layer }),
        { sentence, layer },
      )) as { att: Float32Array; T: number; nHead: number; tokens: string[] };
      expect(a.T).toBe(T);
      expect(a.nHead).toBe(H);
      expect(a.tokens.join('')).toBe(sentence);
      expectClose(`attn.${layer} (batch row 0)`, a.att, ref!.floats(`attn.${layer}`).subarray(0, H * T * T), 1e-6);
    }
    await page.fill('#att-text', sentence);
    await page.selectOption('#att-layer', '1');
    await page.selectOption('#att-head', '2');
    await page.click('#show-attention');
    await page.waitForFunction(() => document.body.dataset.attention === `1:${13}`);
    expect(await page.locator('#att-grid canvas').count()).toBe(H);
    expect(await page.textContent('#att-title')).toBe('Layer 1, head 2');
    // the big heatmap is drawn: the cell of the first token attending to itself is fully dark
    const px = await page.evaluate(() => {
      const c = document.querySelector('#att-canvas') as HTMLCanvasElement;
      const d = window.devicePixelRatio || 1,
        cell = (560 - 96 - 8) / 13;
      return Array.from(c.getContext('2d')!.getImageData((96 + cell / 2) * d, (96 + cell / 2) * d, 1, 1).data);
    });
    expect(px.slice(0, 3)).toEqual([31, 58, 160]);
    await page.screenshot({ path: new URL('attention.png', SHOTS).pathname, fullPage: true });
    await page.close();
  });

  it('training in the page lowers the loss on the chart; the checkpoint saves, and loads back as a file', async () => {
    const page = await openDemo(plain);
    await page.click('[data-tab=train]');
    const text = readFileSync(new URL('data/tinyshakespeare.txt', SHARED), 'utf8').slice(0, 30_000);
    await page.fill('#train-text', text);
    for (const [id, v] of [
      ['n-layer', '2'],
      ['n-head', '2'],
      ['n-embd', '64'],
      ['block-size', '32'],
      ['batch-size', '8'],
      ['max-iters', '60'],
      ['lr', '0.003'],
      ['eval-interval', '20'],
    ]) {
      await page.fill(`#${id}`, v);
    }
    await page.click('#train');
    await page.waitForFunction(() => document.body.dataset.busy === 'training');
    await page.waitForFunction(() => document.body.dataset.busy === '', undefined, { timeout: 120_000 });
    expect(await page.locator('#error').isVisible()).toBe(false);
    const log = await page.evaluate(() => (window as unknown as Hooks).wasmGpt.state.trainLog);
    expect(log.steps.length).toBe(60);
    expect(log.evals.map((e) => e.iter)).toEqual([0, 20, 40, 60]);
    const first = log.evals[0],
      last = log.evals[log.evals.length - 1];
    expect(last.train).toBeLessThan(first.train - 0.5);
    expect(last.val).toBeLessThan(first.val - 0.5);
    expect(await page.locator('#chart svg polyline, #chart svg path').count()).toBeGreaterThan(0);
    expect(await page.textContent('#train-status')).toMatch(/Done after 60 steps: train loss [\d.]+, val loss [\d.]+/);
    expect((await page.textContent('#train-sample'))!.length).toBeGreaterThan(20);
    expect(await page.textContent('#model-badge')).toContain('2 layers');
    await page.screenshot({ path: new URL('train.png', SHOTS).pathname, fullPage: true });

    // save: a safetensors download with the config (and the character vocabulary) in its metadata
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const bytes = readFileSync(await download.path());
    const file = new SafetensorsFile(new Uint8Array(bytes), download.suggestedFilename());
    expect(file.info('wte.weight').shape).toEqual([new Set(text).size, 64]);
    expect(JSON.parse(file.metadata.config).wasm_gpt_tokenizer.type).toBe('char');
    // the gpt2 command samples it as it is (no config.json beside it: the config is in the metadata)
    const dir = mkdtempSync(join(tmpdir(), 'wasm-gpt-web-'));
    writeFileSync(join(dir, download.suggestedFilename()), bytes);
    const cli = execFileSync(
      process.execPath,
      [
        fileURLToPath(new URL('../dist/cli/main.js', import.meta.url)),
        '-p',
        'ROMEO:',
        '--model',
        join(dir, download.suggestedFilename()),
        '--max-tokens',
        '30',
        '--seed',
        '1',
      ],
      { encoding: 'utf8' },
    );
    expect(cli.length).toBeGreaterThan(10);
    rmSync(dir, { recursive: true, force: true });

    // and load it back from a file chosen by the user
    const page2 = await openDemo(plain);
    await page2.setInputFiles('#model-files', {
      name: download.suggestedFilename(),
      mimeType: 'application/octet-stream',
      buffer: bytes,
    });
    await page2.waitForFunction(() => document.querySelector('#model-status')!.textContent!.startsWith('Loaded'));
    const logits = (await page2.evaluate(() =>
      (window as unknown as Hooks).wasmGpt.call({ cmd: 'logits', ids: [1, 2, 3], B: 1, T: 3 }),
    )) as { logits: Float32Array };
    const again = (await page.evaluate(() =>
      (window as unknown as Hooks).wasmGpt.call({ cmd: 'logits', ids: [1, 2, 3], B: 1, T: 3 }),
    )) as { logits: Float32Array };
    expect(Array.from(logits.logits)).toEqual(Array.from(again.logits));
    await page.close();
    await page2.close();
  });

  it('Stop interrupts training, and the model trained so far is kept', async () => {
    const page = await openDemo(plain);
    await page.click('[data-tab=train]');
    await page.fill('#train-text', readFileSync(new URL('data/tinyshakespeare.txt', SHARED), 'utf8').slice(0, 20_000));
    for (const [id, v] of [
      ['n-layer', '1'],
      ['n-head', '2'],
      ['n-embd', '32'],
      ['block-size', '16'],
      ['batch-size', '4'],
      ['max-iters', '1000000'],
      ['eval-interval', '1000'],
    ]) {
      await page.fill(`#${id}`, v);
    }
    await page.click('#train');
    await page.waitForFunction(() => (window as unknown as Hooks).wasmGpt.state.trainLog.steps.length >= 20);
    await page.click('#stop-train');
    await page.waitForFunction(() => document.body.dataset.busy === '');
    const status = (await page.textContent('#train-status'))!;
    const steps = Number(/^Stopped after (\d+) steps: train loss [\d.]+, val loss [\d.]+/.exec(status)?.[1]);
    expect(steps).toBeGreaterThanOrEqual(20);
    expect(steps).toBeLessThan(1_000_000);
    expect(await page.textContent('#model-status')).toContain(`${steps} steps`);
    await page.close();
  });

  it('cross-origin isolated: the kernels run on 2 threads and give the single-thread logits', async () => {
    const threaded = await openDemo(isolated, '?threads=2');
    const single = await openDemo(plain);
    const info = await threaded.evaluate(() => (window as unknown as Hooks).wasmGpt.state.engine);
    expect(info.isolated).toBe(true);
    expect(info.threads).toBe(2);
    expect(await threaded.textContent('#engine-badge')).toMatch(/^2 threads/);
    // the tiny model against PyTorch on the threaded page
    await loadUrl(threaded, '/models/tiny/');
    const tiny = (await threaded.evaluate(
      ({ ids, B, T }) => (window as unknown as Hooks).wasmGpt.call({ cmd: 'logits', ids, B, T }),
      { ids: refInputs(), B, T },
    )) as { logits: Float32Array };
    expectClose('logits (demo worker, 2 threads)', tiny.logits, ref!.floats('logits'), 1e-5);
    // a model big enough for the kernels to split: bit-identical to one thread
    const ids = Array.from({ length: 4 * 64 }, (_, i) => (i * 37 + 11) % 512);
    const results = [];
    for (const page of [threaded, single]) {
      expect(await loadUrl(page, '/models/mid/')).toContain('Loaded');
      results.push(
        (await page.evaluate(
          (ids) => (window as unknown as Hooks).wasmGpt.call({ cmd: 'logits', ids, B: 4, T: 64 }),
          ids,
        )) as { logits: Float32Array; parallelCalls: number },
      );
    }
    expect(results[0].parallelCalls).toBeGreaterThan(0);
    expect(results[1].parallelCalls).toBe(0);
    expectClose('mid logits, 2 threads vs 1', results[0].logits, results[1].logits, 0);
    await threaded.close();
    await single.close();
  });

  it('a reload takes the weights from the browser cache', async () => {
    const page = await openDemo(isolated);
    await page.evaluate(() => (window as unknown as Hooks).wasmGpt.call({ cmd: 'clear-cache' }));
    expect(await loadUrl(page, '/models/tiny/')).toContain('downloaded');
    await page.reload();
    await page.evaluate(() => (window as unknown as Hooks).wasmGpt.ready);
    expect(await loadUrl(page, '/models/tiny/')).toContain('from the browser cache');
    await page.close();
  });

  it('bad input: a 404, a file that is not safetensors, a model too large, a cancelled download; the page stays usable', async () => {
    const page = await openDemo(plain);
    await loadUrl(page, '/models/tiny/');
    expect(await loadUrl(page, '/models/nothing-here/')).toMatch(
      /error: Could not load the model: config\.json: .*\/models\/nothing-here\/config\.json answered HTTP 404 \(not found\)\. The page still uses \/models\/tiny\//,
    );
    expect(await loadUrl(page, '/models/notsafetensors/')).toMatch(
      /error: Could not load the model: .*notsafetensors\/model\.safetensors.*The page still uses/,
    );
    // GPT-2 XL: with f32 weights refused from its config.json, naming the choice that fits; with
    // auto, planned as q8_0 (its size shown before the weights download, which this server lacks)
    await page.selectOption('#dtype', 'f32');
    expect(await loadUrl(page, '/models/xl/')).toMatch(
      /error: Could not load the model: .*1,557,611,200 parameters and needs 6\.\d+ GB to run with f32 weights, more than WebAssembly's 4\.\d+ GB; with f16 weights it needs 4\.\d+ GB, with q8_0 weights it needs 2\.\d+ GB, .*\(Weights: q8_0\)/,
    );
    await page.selectOption('#dtype', 'auto');
    expect(await loadUrl(page, '/models/xl/')).toMatch(/error: Could not load the model: model\.safetensors: .*404/);
    expect(await page.textContent('#model-status')).toMatch(
      /^Loading 1558 M parameters as q8_0: 2\.\d+ GB of memory to run$/,
    );
    await page.selectOption('#dtype', 'f32');
    // a file that is not safetensors, chosen by the user
    await page.setInputFiles('#model-files', {
      name: 'notes.safetensors',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from('hello, not a model'),
    });
    await page.waitForFunction(
      () =>
        /notes\.safetensors/.test(document.querySelector('#error')!.textContent!) && document.body.dataset.busy === '',
    );
    expect(await page.textContent('#error')).toMatch(
      /^Could not load the model: notes\.safetensors: .*The page still uses \/models\/tiny\/\.$/,
    );
    // a chosen file whose metadata describes GPT-2 XL: refused from its header, before reading the rest
    const xlFile = writeSafetensors([], {
      config: JSON.stringify({
        model_type: 'gpt2',
        n_layer: 48,
        n_head: 25,
        n_embd: 1600,
        n_positions: 1024,
        vocab_size: 50257,
      }),
    });
    await page.setInputFiles('#model-files', {
      name: 'xl.safetensors',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from(xlFile),
    });
    await page.waitForFunction(
      () => /xl\.safetensors/.test(document.querySelector('#error')!.textContent!) && document.body.dataset.busy === '',
    );
    expect(await page.textContent('#error')).toMatch(
      /^Could not load the model: xl\.safetensors: this model has 1,557,611,200 parameters and needs 6\.\d+ GB to run with f32 weights, .*\(Weights: q8_0\)/,
    );
    await page.selectOption('#dtype', 'auto');
    // cancel a slow download in the middle
    await page.fill('#model-url', '/models/slow/');
    await page.click('#load-url');
    await page.waitForFunction(
      () =>
        /model\.safetensors: [\d.]+ MB of 8\.4 MB/.test(
          document.querySelector('#progress .label')?.textContent ?? '',
        ) && !/: 0\.0 MB/.test(document.querySelector('#progress .label')!.textContent!),
    );
    await page.click('#cancel-load');
    await page.waitForFunction(() => document.body.dataset.busy === '');
    expect(await page.textContent('#error')).toBe(
      'Download cancelled; nothing was kept. The page still uses /models/tiny/.',
    );
    // still usable: the tiny model generates
    await page.fill('#prompt', 'abc');
    await page.fill('#max-tokens', '5');
    await page.click('#generate');
    await page.waitForFunction(
      () => document.body.dataset.busy === '' && document.body.dataset.generated !== undefined,
    );
    expect(await page.locator('#error').isVisible()).toBe(false);
    expect((await page.textContent('#output .generated'))!.length).toBeGreaterThan(0);
    await page.close();
    expect(pageErrors).toEqual([]);
  });
});
