// GPT-2 weights over HTTP, for the browser (and any runtime with fetch): config.json and
// model.safetensors from a base URL or a Hugging Face repo id, with progress, cancellation and a
// Cache Storage copy so a reload does not download again. Nothing is cached or kept until the
// whole file has arrived and the model built from it; a failed load leaves nothing behind.
import type { Backend } from '../backend/backend.js';
import { MAX_BYTES, RESERVED_BYTES } from '../backend/arena.js';
import { configFromHF, type GPTConfig } from '../model/config.js';
import { countParameters, WEIGHT_DTYPES, type WeightDType } from '../model/parameters.js';
import { inferenceBytes } from '../model/memory.js';
import { checkFinite } from './gpt2.js';
import { SafetensorsStream, GGUFStream } from './stream.js';
import { configFromGGUF, ggufConfigJson, checkGGUFTokenizer } from './gguf-gpt2.js';
import { GPT } from '../model/gpt.js';
import { normalizeRepoId } from './repo.js';

export const HF_ENDPOINT = 'https://huggingface.co';
export const WEIGHTS_CACHE = 'wasm-gpt-weights';

export interface FetchProgress { file: string; loaded: number; total: number | null; fromCache: boolean }

export interface FetchModelOptions {
  onProgress?: (p: FetchProgress) => void;
  signal?: AbortSignal;
  /** Cache Storage name, or false for no cache. Default 'wasm-gpt-weights' where caches exist. */
  cache?: string | false;
  /** Refuse a model that needs more memory than this to run (default: wasm32's 4 GiB, less the kernels' room). */
  maxBytes?: number;
  /**
   * How the model holds its weights: 'f32' (default; a GGUF's own dtype), 'f16', 'q8_0' or 'q4_0'
   * (converted as they load), or a choice made from the config (and a GGUF's own dtype).
   */
  dtype?: WeightDType | ((config: GPTConfig, own?: WeightDType) => WeightDType);
  /** How the user asks for a dtype in a message that names one (see FitOptions.option). */
  dtypeOption?: string;
  /** Called before the weights download, with the dtype and the memory the model will take. */
  onPlan?: (plan: { config: GPTConfig; dtype: WeightDType; memoryBytes: number }) => void;
}

export interface FetchedModel {
  model: GPT;
  /** The parsed config.json (with any keys of ours, e.g. wasm_gpt_tokenizer). */
  configJson: Record<string, unknown>;
  /** Where the weights came from, and whether from the browser's cache. */
  url: string;
  fromCache: boolean;
  bytes: number;
  /** Why a downloaded model could not be kept in the browser cache (a full quota, a private window), if it could not. */
  cacheError?: string;
}

/**
 * A base URL (ending in / or not), a URL of a .safetensors file (config.json beside it), or a hub id
 * such as `openai-community/gpt2` (its `resolve/main/` URL on huggingface.co).
 */
export function modelUrls(source: string): { config: string; weights: string } {
  const s = source.trim();
  if (!s) throw new Error('no model given: a URL or a Hugging Face repo id such as openai-community/gpt2');
  let base: string;
  const repo = normalizeRepoId(s);
  if (repo) base = `${HF_ENDPOINT}/${repo}/resolve/main/`;
  else if (/^(https?:)?\/\//.test(s) || s.startsWith('/') || s.startsWith('.')) base = s;
  else throw new Error(`"${s}" is neither a URL nor a Hugging Face repo id (owner/name)`);
  const abs = absolute;
  if (/\.safetensors(\?.*)?$/.test(base)) return { weights: abs(base), config: abs(new URL('config.json', abs(base)).href) };
  if (!base.endsWith('/')) base += '/';
  return { config: abs(base + 'config.json'), weights: abs(base + 'model.safetensors') };
}

/** A GGUF's URL: a URL as it is, or a hub repo and file (owner/name/file.gguf) on huggingface.co. */
export function ggufUrl(source: string): string {
  const s = source.trim();
  const hub = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)\/([\w./-]+\.gguf)$/.exec(s);
  if (hub && !s.includes('..')) return `${HF_ENDPOINT}/${hub[1]}/resolve/main/${hub[2]}`;
  return absolute(s);
}

/** A URL made absolute against the page's (or http://localhost/ where there is no page). */
function absolute(u: string): string {
  const g = globalThis as { location?: { href: string } };
  return new URL(u, g.location?.href ?? 'http://localhost/').href;
}

function openCache(name: string | false | undefined): Promise<Cache | null> {
  const g = globalThis as { caches?: CacheStorage };
  if (name === false || !g.caches) return Promise.resolve(null);
  return g.caches.open(name ?? WEIGHTS_CACHE).catch(() => null);
}

function formatBytes(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`;
}


/** A response to read: from `cache` when it holds the URL, else fetched. */
interface Body {
  res: Response;
  /** Content-Length, when the server gave it (and no content-encoding changes the length). */
  total: number | null;
  fromCache: boolean;
}

async function openBody(url: string, file: string, cache: Cache | null, options: FetchModelOptions): Promise<Body> {
  const cached = cache ? await cache.match(url) : undefined;
  let res: Response;
  if (cached) {
    res = cached;
  } else {
    try {
      res = await fetch(url, { signal: options.signal });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw abortError(file);
      throw new Error(`${file}: could not fetch ${url} (${(e as Error).message})`);
    }
    if (!res.ok) throw new Error(`${file}: ${url} answered HTTP ${res.status}${res.status === 404 ? ' (not found)' : ''}`);
  }
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 && !res.headers.get('content-encoding') ? length : null;
  return { res, total, fromCache: !!cached };
}

/** Every chunk of the body to `onChunk`, in order, with progress and cancellation; returns the bytes read. */
async function readBody(body: Body, url: string, file: string, options: FetchModelOptions, onChunk: (v: Uint8Array) => void): Promise<number> {
  const { res, total, fromCache } = body;
  const report = (loaded: number) => options.onProgress?.({ file, loaded, total, fromCache });
  if (!res.body) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onChunk(bytes);
    report(bytes.length);
    return bytes.length;
  }
  const reader = res.body.getReader();
  let loaded = 0, lastReport = 0;
  const onAbort = () => { reader.cancel().catch(() => {}); };
  options.signal?.addEventListener('abort', onAbort);
  try {
    report(0);
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        if (options.signal?.aborted) throw abortError(file);
        throw new Error(`${file}: the download of ${url} broke off after ${formatBytes(loaded)} (${(e as Error).message})`);
      }
      if (options.signal?.aborted) throw abortError(file);
      if (chunk.done) break;
      const v = chunk.value;
      if (total !== null && loaded + v.length > total) throw new Error(`${file}: ${url} sent more than its Content-Length of ${total} bytes`);
      onChunk(v);
      loaded += v.length;
      if (loaded - lastReport >= 1 << 20) { report(loaded); lastReport = loaded; }
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (total !== null && loaded !== total) throw new Error(`${file}: ${url} ended after ${loaded} of ${total} bytes`);
  report(loaded);
  return loaded;
}

/** The whole body of `url`, read in chunks with progress; from `cache` when it holds it. */
export async function fetchBytes(url: string, file: string, cache: Cache | null, options: FetchModelOptions = {}): Promise<{ bytes: Uint8Array; fromCache: boolean }> {
  const body = await openBody(url, file, cache, options);
  const { total } = body;
  if (total !== null && total > (options.maxBytes ?? MAX_BYTES)) {
    throw new Error(`${file}: ${url} is ${formatBytes(total)}, more than this runtime's WebAssembly memory can hold (${formatBytes(options.maxBytes ?? MAX_BYTES)})`);
  }
  let out = new Uint8Array(total ?? 1 << 20), loaded = 0;
  await readBody(body, url, file, options, (v) => {
    if (loaded + v.length > out.length) {
      const bigger = new Uint8Array(Math.max(out.length * 2, loaded + v.length));
      bigger.set(out.subarray(0, loaded));
      out = bigger;
    }
    out.set(v, loaded);
    loaded += v.length;
  });
  return { bytes: loaded === out.length ? out : out.slice(0, loaded), fromCache: body.fromCache };
}

function abortError(file: string): Error {
  const e = new Error(`${file}: download cancelled`);
  e.name = 'AbortError';
  return e;
}

/** Refuse, before any download, a model whose f32 weights cannot fit in WebAssembly memory. */
export interface FitOptions {
  /** Memory available (default: wasm32's 4 GiB, less room for the kernels and the thread pool). */
  maxBytes?: number;
  /** How the weights will be held (default f32). */
  dtype?: WeightDType;
  /** How the caller's user asks for a dtype, %s the dtype: '--dtype %s' (the CLI), "dtype: '%s'" (the API). */
  option?: string;
}

/**
 * Refuse a model that cannot run in wasm memory with the weights held as `dtype`, from its config
 * alone (before its weights are downloaded): the message says what it needs and which dtype fits.
 */
export function checkModelFits(config: GPTConfig, source: string, options: FitOptions = {}): void {
  const { maxBytes = MAX_BYTES - RESERVED_BYTES, dtype = 'f32', option = "dtype: '%s'" } = options;
  const need = inferenceBytes(config, dtype);
  if (need <= maxBytes) return;
  // what fits instead, and the one to suggest: q8_0 (near f32's numbers, faster) where it fits
  const fits = WEIGHT_DTYPES.filter((d) => d !== dtype && inferenceBytes(config, d) <= maxBytes);
  const pick = fits.includes('q8_0') ? 'q8_0' : fits.at(-1);
  const instead = pick
    ? '; with ' +
      fits.map((d) => `${d} weights it needs ${formatBytes(inferenceBytes(config, d))}`).join(', with ') +
      ` (${option.replace('%s', pick)})`
    : '; no dtype makes it fit';
  throw new RangeError(
    `${source}: this model has ${countParameters(config).toLocaleString('en-US')} parameters and needs ` +
      `${formatBytes(need)} to run with ${dtype} weights, more than WebAssembly's ${formatBytes(maxBytes)}${instead}`,
  );
}

/** Download (or take from the cache) a GPT-2 checkpoint and build it on `backend`. */
export async function fetchGPT2(source: string, backend: Backend, options: FetchModelOptions = {}): Promise<FetchedModel> {
  if (/\.gguf(\?.*)?$/i.test(source.trim())) return fetchGGUF(ggufUrl(source), backend, options);
  const urls = modelUrls(source);
  const cache = await openCache(options.cache);
  const cfg = await fetchBytes(urls.config, 'config.json', cache, options);
  let configJson: Record<string, unknown>;
  try {
    configJson = JSON.parse(new TextDecoder().decode(cfg.bytes));
  } catch (e) {
    throw new Error(`config.json: ${urls.config} is not JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof configJson !== 'object' || configJson === null || Array.isArray(configJson)) throw new Error(`config.json: ${urls.config} is not a JSON object`);
  const config = configFromHF(configJson, urls.config);
  const dtype = typeof options.dtype === 'function' ? options.dtype(config) : (options.dtype ?? 'f32');
  checkModelFits(config, urls.config, { maxBytes: options.maxBytes, dtype, option: options.dtypeOption });
  options.onPlan?.({ config, dtype, memoryBytes: inferenceBytes(config, dtype) });
  // The weights stream into the model tensor by tensor (quantized as they come when dtype asks),
  // never held whole; a download goes to the cache as it arrives, and is kept only if the model
  // was built from it (a failure errors the cache's copy, so Cache Storage drops it).
  const model = new GPT(config, backend, { init: 'none', dtype });
  let sink: SafetensorsStream;
  const got = await download(urls.weights, 'model.safetensors', cache, options, {
    start: (total) => (sink = new SafetensorsStream(model, total ?? Number.MAX_SAFE_INTEGER, urls.weights)),
    push: (v) => sink.push(v),
    finish: () => {
      sink.finish();
      checkFinite(model, urls.weights);
    },
    fail: () => model.dispose(),
    // weights first, so a cached config always has its weights
    extra: { url: urls.config, bytes: cfg.bytes, type: 'application/json' },
  });
  return { model, configJson, url: urls.weights, ...got };
}

/** A GPT-2 GGUF from a URL (llama.cpp's layout, F32 / F16 / Q8_0 / Q4_0), streamed into the model in its own dtype unless options.dtype says otherwise. */
async function fetchGGUF(url: string, backend: Backend, options: FetchModelOptions): Promise<FetchedModel> {
  const cache = await openCache(options.cache);
  let sink: GGUFStream;
  let configJson: Record<string, unknown> = {};
  const got = await download(url, url.split('/').pop()!.split('?')[0], cache, options, {
    start: (total) =>
      (sink = new GGUFStream(total ?? Number.MAX_SAFE_INTEGER, url, (h) => {
        const { config, dtype: stored } = configFromGGUF(h, url);
        checkGGUFTokenizer(h, url);
        const dtype = typeof options.dtype === 'function' ? options.dtype(config, stored) : (options.dtype ?? stored);
        checkModelFits(config, url, { maxBytes: options.maxBytes, dtype, option: options.dtypeOption });
        options.onPlan?.({ config, dtype, memoryBytes: inferenceBytes(config, dtype) });
        configJson = ggufConfigJson(config);
        return new GPT(config, backend, { init: 'none', dtype });
      })),
    push: (v) => sink.push(v),
    finish: () => sink.finish(), // each tensor checked finite as it loads
    fail: () => sink?.model?.dispose(),
  });
  return { model: sink!.model!, configJson, url, ...got };
}

interface Sink {
  start(total: number | null): void;
  push(v: Uint8Array): void;
  finish(): void;
  fail(): void;
  /** A small file to cache beside this one once it is kept (config.json). */
  extra?: { url: string; bytes: Uint8Array; type: string };
}

/** Stream a download (or the cached copy) into `sink`, teeing a download into the cache; the copy is kept only if `finish` succeeds. */
async function download(
  url: string,
  file: string,
  cache: Cache | null,
  options: FetchModelOptions,
  sink: Sink,
): Promise<{ fromCache: boolean; bytes: number; cacheError?: string }> {
  let body: Body;
  try {
    body = await openBody(url, file, cache, options);
  } catch (e) {
    sink.fail();
    throw e;
  }
  let toCache: ReadableStreamDefaultController<Uint8Array> | undefined; // set by the stream's start
  let cacheError: string | undefined;
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
  if (body.total !== null) headers['content-length'] = String(body.total);
  const put = cache && !body.fromCache
    ? cache.put(url, new Response(new ReadableStream<Uint8Array>({ start: (c) => { toCache = c; } }), { headers }))
    : null;
  put?.catch(() => {}); // its failure is read below
  let loaded: number;
  try {
    sink.start(body.total);
    loaded = await readBody(body, url, file, options, (v) => {
      sink.push(v);
      try {
        toCache?.enqueue(v);
      } catch {
        toCache = undefined; // the cache gave up on it (a full quota): the model still loads
      }
    });
    sink.finish();
  } catch (e) {
    try {
      toCache?.error(e);
    } catch {
      // already closed or errored
    }
    sink.fail();
    if (put) {
      await put.catch(() => {});
      await cache!.delete(url).catch(() => false);
    }
    throw e;
  }
  if (put) {
    try {
      toCache?.close();
      await put;
      const x = sink.extra;
      if (x) await cache!.put(x.url, new Response(x.bytes as BufferSource, { headers: { 'content-type': x.type, 'content-length': String(x.bytes.length) } }));
    } catch (e) {
      // a full quota (or a private window) only costs the next load a download
      cacheError = `${(e as Error).name}: ${(e as Error).message}`;
      await cache!.delete(url).catch(() => false);
    }
  }
  return { fromCache: body.fromCache, bytes: loaded, cacheError };
}

/** Forget the cached copies of a model (or of all models). */
export async function clearWeightsCache(source?: string, cacheName = WEIGHTS_CACHE): Promise<void> {
  const g = globalThis as { caches?: CacheStorage };
  if (!g.caches) return;
  if (!source) { await g.caches.delete(cacheName); return; }
  const cache = await g.caches.open(cacheName);
  const urls = modelUrls(source);
  await cache.delete(urls.config);
  await cache.delete(urls.weights);
}
