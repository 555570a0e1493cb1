// fetchGPT2 (weights over HTTP, the browser's loader) in Node against the test web server: URL
// forms, progress, PyTorch's logits after the load, and refusals that name what went wrong.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { startWebServer, type WebServer } from '../scripts/web-server.js';
import { fetchGPT2, modelUrls, SafetensorsFile, type FetchProgress } from '../src/advanced.js';
import { JsBackend } from '../src/backend/index.js';
import { readShared, expectClose, SHARED } from './helpers.js';

let server: WebServer;
beforeAll(async () => {
  server = await startWebServer({
    isolated: false,
    routes: {
      '/m/tiny/config.json': new URL('reference/tiny/config.json', SHARED).pathname,
      '/m/tiny/model.safetensors': new URL('reference/tiny/model.safetensors', SHARED).pathname,
      '/m/badjson/config.json': new TextEncoder().encode('{"n_layer": 2,'),
      '/m/short/config.json': new URL('reference/tiny/config.json', SHARED).pathname,
      // a Content-Length the body never reaches: the download "breaks off"
      '/m/short/model.safetensors': (_req, res, headers) => {
        res.writeHead(200, { ...headers, 'content-length': '100000' });
        res.end(new Uint8Array(1000));
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
