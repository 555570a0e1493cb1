// The hub download path against a local stand-in of the hub (no real network).
import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, existsSync, readFileSync, lstatSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubFile, cachedFile, hubCacheDir, normalizeRepoId } from '../src/weights/hub.js';
import { startFakeHub } from './hub-server.js';

const dirs: string[] = [];
const tempCache = () => {
  const d = mkdtempSync(join(tmpdir(), 'hf-cache-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const weights = new Uint8Array(300_000).map((_, i) => (i * 7919) & 0xff);
const config = new TextEncoder().encode('{"n_layer": 1}');
const repos = { 'test-org/tiny-gpt2': { 'model.safetensors': weights, 'config.json': config } };

describe('Hugging Face hub and cache', () => {
  it('finds the cache where the hub clients put it', () => {
    expect(hubCacheDir({ HF_HUB_CACHE: '/x/hub' })).toBe('/x/hub');
    expect(hubCacheDir({ HF_HOME: '/y' })).toBe('/y/hub');
    expect(hubCacheDir({})).toMatch(/\.cache\/huggingface\/hub$/);
    expect(normalizeRepoId('gpt2')).toBe('openai-community/gpt2');
    expect(normalizeRepoId('openai-community/gpt2-xl')).toBe('openai-community/gpt2-xl');
    expect(normalizeRepoId('./weights/x')).toBeNull();
  });

  it('downloads into the standard layout, verified, then works offline', async () => {
    const hub = await startFakeHub(repos);
    const cacheDir = tempCache();
    const progress: number[] = [];
    const path = await hubFile('test-org/tiny-gpt2', 'model.safetensors', {
      hubUrl: hub.url,
      cacheDir,
      onProgress: (_f, done) => progress.push(done),
    });
    expect(new Uint8Array(readFileSync(path))).toEqual(weights);
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    expect(path).toContain(join('models--test-org--tiny-gpt2', 'snapshots'));
    expect(progress.at(-1)).toBe(weights.length);
    const cfg = await hubFile('test-org/tiny-gpt2', 'config.json', { hubUrl: hub.url, cacheDir }); // git sha1-verified
    expect(readFileSync(cfg, 'utf8')).toBe('{"n_layer": 1}');
    await hub.close();
    // no server any more: the cache answers
    expect(await hubFile('test-org/tiny-gpt2', 'model.safetensors', { hubUrl: hub.url, cacheDir, offline: true })).toBe(
      path,
    );
    expect(cachedFile('test-org/tiny-gpt2', 'model.safetensors', 'main', cacheDir)).toBe(path);
  });

  it('uses a cache written by the Python client (refs/main -> snapshot)', async () => {
    const cacheDir = tempCache();
    const snap = join(cacheDir, 'models--openai-community--gpt2', 'snapshots', 'b'.repeat(40));
    mkdirSync(snap, { recursive: true });
    mkdirSync(join(cacheDir, 'models--openai-community--gpt2', 'refs'), { recursive: true });
    writeFileSync(join(cacheDir, 'models--openai-community--gpt2', 'refs', 'main'), 'b'.repeat(40));
    writeFileSync(join(snap, 'config.json'), '{}');
    expect(
      await hubFile('openai-community/gpt2', 'config.json', { cacheDir, hubUrl: 'http://127.0.0.1:9', offline: true }),
    ).toBe(join(snap, 'config.json'));
  });

  it('resumes an interrupted download from the bytes already on disk', async () => {
    const hub = await startFakeHub(repos, { cutNextDownloadAfter: 100_000 });
    const cacheDir = tempCache();
    await expect(hubFile('test-org/tiny-gpt2', 'model.safetensors', { hubUrl: hub.url, cacheDir })).rejects.toThrow(
      /interrupted .* run again to resume/,
    );
    const path = await hubFile('test-org/tiny-gpt2', 'model.safetensors', { hubUrl: hub.url, cacheDir });
    expect(new Uint8Array(readFileSync(path))).toEqual(weights);
    const ranged = hub.requests.filter((r) => r.range && r.range !== 'bytes=0-0');
    expect(ranged.at(-1)!.range).toMatch(/^bytes=(\d+)-299999$/);
    expect(Number(ranged.at(-1)!.range!.match(/bytes=(\d+)/)![1])).toBeGreaterThan(0);
    await hub.close();
  });

  it('refuses a download whose checksum does not match, and keeps nothing of it', async () => {
    const hub = await startFakeHub(repos, { corrupt: true });
    const cacheDir = tempCache();
    await expect(hubFile('test-org/tiny-gpt2', 'model.safetensors', { hubUrl: hub.url, cacheDir })).rejects.toThrow(
      /checksum mismatch: got sha256 [0-9a-f]{64}, expected [0-9a-f]{64}/,
    );
    expect(cachedFile('test-org/tiny-gpt2', 'model.safetensors', 'main', cacheDir)).toBeNull();
    await hub.close();
  });

  it('with no network and no cache, says so in one line and how to pass a local file', async () => {
    const cacheDir = tempCache();
    const err = await hubFile('openai-community/gpt2', 'model.safetensors', {
      cacheDir,
      hubUrl: 'http://127.0.0.1:9',
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg.split('\n').length).toBe(1);
    expect(msg).toMatch(
      /openai-community\/gpt2\/model\.safetensors is not in the Hugging Face cache .* could not be reached .* --model DIR/,
    );
    expect(existsSync(join(cacheDir, 'models--openai-community--gpt2', 'blobs'))).toBe(false);
  });

  it('a file the repository does not have is named', async () => {
    const hub = await startFakeHub(repos);
    await expect(hubFile('test-org/tiny-gpt2', 'nope.bin', { hubUrl: hub.url, cacheDir: tempCache() })).rejects.toThrow(
      'test-org/tiny-gpt2 has no file nope.bin at revision main',
    );
    await hub.close();
  });
});
