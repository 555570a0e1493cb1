// fetchGPT2 (weights over HTTP, the browser's loader) in Node against the test web server: URL
// forms, progress, PyTorch's logits after the load, and refusals that name what went wrong.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { startWebServer, type WebServer } from '../scripts/web-server.js';
import {
  fetchGPT2,
  modelUrls,
  SafetensorsFile,
  GPT,
  writeSafetensors,
  gptFromSafetensors,
  type FetchProgress,
} from '../src/advanced.js';
import { f32Bytes } from '../src/weights/safetensors.js';
import { JsBackend } from '../src/backend/index.js';
import { readShared, expectClose, SHARED } from './helpers.js';

const Q_CONFIG = { n_layer: 2, n_head: 2, n_embd: 64, n_positions: 16, vocab_size: 70 };
const Q_FILE = (() => {
  const m = new GPT(Q_CONFIG, new JsBackend(), { seed: 8 });
  const f = writeSafetensors(
    [...m.parameterSpecs].reverse().map((sp) => ({
      name: sp.name,
      dtype: 'F32' as const,
      shape: sp.shape,
      data: f32Bytes(m.parameterF32(sp.name)),
    })),
  );
  m.dispose();
  return f;
})();

let server: WebServer;
beforeAll(async () => {
  server = await startWebServer({
    isolated: false,
    routes: {
      '/m/tiny/config.json': new URL('reference/tiny/config.json', SHARED).pathname,
      '/m/tiny/model.safetensors': new URL('reference/tiny/model.safetensors', SHARED).pathname,
      '/m/badjson/config.json': new TextEncoder().encode('{"n_layer": 2,'),
      // a model 64 wide (whole blocks of 32), its tensors in reverse order in the file
      '/m/q/config.json': new TextEncoder().encode(JSON.stringify({ model_type: 'gpt2', ...Q_CONFIG })),
      '/m/q/model.safetensors': Q_FILE,
      '/m/short/config.json': new URL('reference/tiny/config.json', SHARED).pathname,
      // the real file's Content-Length and its first 1000 bytes: the download "breaks off" after
      // the header, inside the first tensor
      '/m/short/model.safetensors': (_req, res, headers) => {
        const whole = readFileSync(new URL('reference/tiny/model.safetensors', SHARED));
        res.writeHead(200, { ...headers, 'content-length': String(whole.length) });
        res.end(whole.subarray(0, 1000));
      },
    },
  });
});
afterAll(() => server.close());

describe('fetchGPT2', () => {
  it('maps hub ids and URLs to config.json and model.safetensors', () => {
    expect(modelUrls('openai-community/gpt2')).toEqual({
      config: 'https://huggingface.co/openai-community/gpt2/resolve/main/config.json',
      weights: 'https://huggingface.co/openai-community/gpt2/resolve/main/model.safetensors',
    });
    expect(modelUrls('https://example.org/a/b')).toEqual({
      config: 'https://example.org/a/b/config.json',
      weights: 'https://example.org/a/b/model.safetensors',
    });
    expect(modelUrls('https://example.org/a/x.safetensors')).toEqual({
      config: 'https://example.org/a/config.json',
      weights: 'https://example.org/a/x.safetensors',
    });
    expect(() => modelUrls('')).toThrow(/no model given/);
    expect(() => modelUrls('not a model')).toThrow(/neither a URL nor a Hugging Face repo id/);
  });

  it("loads the tiny model over HTTP with progress; its logits equal PyTorch's", async () => {
    const seen: FetchProgress[] = [];
    const { model, fromCache, bytes } = await fetchGPT2(`${server.url}/m/tiny/`, new JsBackend(), {
      onProgress: (p) => seen.push(p),
    });
    expect(fromCache).toBe(false);
    expect(bytes).toBe(readFileSync(new URL('reference/tiny/model.safetensors', SHARED)).length);
    const last = seen.filter((p) => p.file === 'model.safetensors').pop()!;
    expect(last.loaded).toBe(bytes);
    expect(last.total).toBe(bytes);
    const ref = new SafetensorsFile(readShared('reference/tiny/reference.safetensors'));
    const [B, T] = ref.info('inputs').shape;
    const ids = new Int32Array(new Uint8Array(ref.raw('inputs')).buffer);
    expectClose('logits', model.forward(ids, B, T).logits.data(), ref.floats('logits'), 1e-5);
  });

  it('streams the weights into a quantized model tensor by tensor, whatever their order in the file', async () => {
    const be = new JsBackend();
    const seen: number[] = [];
    for (const dtype of ['f32', 'q8_0', 'q4_0'] as const) {
      const { model, bytes } = await fetchGPT2(`${server.url}/m/q/`, be, {
        dtype,
        onProgress: (p) => seen.push(p.loaded),
      });
      expect(bytes).toBe(Q_FILE.length);
      const direct = gptFromSafetensors(Q_FILE, Q_CONFIG, be, 'q.safetensors', dtype);
      expect(model.dtype).toBe(dtype);
      const ids = [1, 5, 9, 2, 69];
      expect(model.forward(ids, 1, 5).logits.data().slice()).toEqual(direct.forward(ids, 1, 5).logits.data().slice());
      model.dispose();
      direct.dispose();
    }
    expect(seen.at(-1)).toBe(Q_FILE.length);
  });

  it('refuses a 404, a bad config, a broken download and a cancelled one, naming the file', async () => {
    const be = new JsBackend();
    await expect(fetchGPT2(`${server.url}/m/none/`, be)).rejects.toThrow(
      /^config\.json: http:\/\/127\.0\.0\.1:\d+\/m\/none\/config\.json answered HTTP 404 \(not found\)$/,
    );
    await expect(fetchGPT2(`${server.url}/m/badjson/`, be)).rejects.toThrow(
      /^config\.json: .*\/m\/badjson\/config\.json is not JSON/,
    );
    await expect(fetchGPT2(`${server.url}/m/short/`, be)).rejects.toThrow(
      /^model\.safetensors: .*(ended after|broke off after)/,
    );
    const abort = new AbortController();
    abort.abort();
    await expect(fetchGPT2(`${server.url}/m/tiny/`, be, { signal: abort.signal })).rejects.toMatchObject({
      name: 'AbortError',
      message: 'config.json: download cancelled',
    });
    expect(be.arena.bytesInUse).toBe(0); // nothing half-loaded stays
  });
});
