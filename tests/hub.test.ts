// The hub download path against a local stand-in of the hub (no real network).
import { describe, it, expect, afterAll } from 'vitest';
import {
  mkdtempSync,
  rmSync,
  existsSync,
  readFileSync,
  lstatSync,
  writeFileSync,
  mkdirSync,
  readdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubFile, cachedFile, hubCacheDir, normalizeRepoId } from '../src/weights/hub.js';
import { startFakeHub, fakeCommit } from './hub-server.js';

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

  it('--revision: each branch, tag or commit gets its own files (refs/{name} -> snapshots/{commit}), also once another is cached', async () => {
    const dev = new TextEncoder().encode('{"n_layer": 2}');
    const hub = await startFakeHub({ ...repos, 'test-org/tiny-gpt2@dev': { 'config.json': dev } });
    const cacheDir = tempCache();
    const get = (revision?: string, offline = false) =>
      hubFile('test-org/tiny-gpt2', 'config.json', { hubUrl: hub.url, cacheDir, revision, offline });
    const main = await get();
    expect(readFileSync(main, 'utf8')).toBe('{"n_layer": 1}');
    const atDev = await get('dev');
    expect(readFileSync(atDev, 'utf8')).toBe('{"n_layer": 2}');
    const folder = join(cacheDir, 'models--test-org--tiny-gpt2');
    expect(atDev).toBe(join(folder, 'snapshots', fakeCommit('dev'), 'config.json'));
    expect(readFileSync(join(folder, 'refs', 'dev'), 'utf8')).toBe(fakeCommit('dev'));
    expect(readFileSync(join(folder, 'refs', 'main'), 'utf8')).toBe(fakeCommit('main'));
    // a commit id names its snapshot directly; cached, it needs no request
    const before = hub.requests.length;
    expect(await get(fakeCommit('dev'))).toBe(atDev);
    expect(hub.requests.length).toBe(before);
    await hub.close();
    expect(await get('main', true)).toBe(main);
    expect(await get('dev', true)).toBe(atDev);
    await expect(get('v2.0', true)).rejects.toThrow(
      /^test-org\/tiny-gpt2\/config\.json at revision v2\.0 is not in the Hugging Face cache .* HF_HUB_OFFLINE is set/,
    );
    await expect(get('b'.repeat(40), true)).rejects.toThrow(/at revision b{40} is not in the Hugging Face cache/);
    await expect(get('../../../etc')).rejects.toThrow("revision '../../../etc' is not a valid name");
  });

  it('a revision the hub does not have is named', async () => {
    const hub = await startFakeHub(repos);
    await expect(
      hubFile('test-org/tiny-gpt2', 'config.json', { hubUrl: hub.url, cacheDir: tempCache(), revision: 'nope' }),
    ).rejects.toThrow(`${hub.url}: test-org/tiny-gpt2 at revision nope: no such repository or revision`);
    await hub.close();
  });

  it.each([
    [{ sha: '../../../escaped' }, ['config.json', 'model.safetensors'], /commit id '..\/..\/..\/escaped' is not 40/],
    [{ lfsOid: '../../../escaped' }, ['model.safetensors'], /has LFS oid '..\/..\/..\/escaped', expected 64 hex/],
    [{ oid: '../../../escaped' }, ['config.json'], /config\.json has oid '..\/..\/..\/escaped', expected 40 hex/],
    [{ lastCommit: '../../../escaped' }, [], null], // not used for paths
  ])("a hostile hub's ids never become paths outside the cache: %o", async (lie, refused, error) => {
    const hub = await startFakeHub(repos, { lie });
    const root = tempCache();
    const cacheDir = join(root, 'a', 'b', 'hub');
    mkdirSync(cacheDir, { recursive: true });
    for (const file of ['config.json', 'model.safetensors']) {
      const got = hubFile('test-org/tiny-gpt2', file, { hubUrl: hub.url, cacheDir });
      if ((refused as string[]).includes(file)) await expect(got).rejects.toThrow(error!);
      else expect(readFileSync(await got).length).toBeGreaterThan(0);
    }
    expect(readdirSync(root)).toEqual(['a']);
    expect(readdirSync(join(root, 'a'))).toEqual(['b']);
    expect(readdirSync(join(root, 'a', 'b'))).toEqual(['hub']);
    await hub.close();
  });
});
