// The development server (npm run web): what it serves, what it refuses, and that a file vanishing
// mid-request (as during a rebuild) never takes it down.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, rmSync, symlinkSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startWebServer, type WebServer } from '../scripts/web-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// a scratch folder inside a served one (tests/browser/), removed afterwards
const SCRATCH = join(ROOT, 'tests', 'browser', `.scratch-${process.pid}`);
let server: WebServer;
beforeAll(async () => {
  mkdirSync(SCRATCH, { recursive: true });
  server = await startWebServer({ isolated: true });
});
afterAll(async () => {
  await server.close();
  rmSync(SCRATCH, { recursive: true, force: true });
});

const get = (path: string, method = 'GET') => fetch(server.url + path, { method });
const scratchUrl = (name: string) => `/tests/browser/.scratch-${process.pid}/${name}`;

describe('npm run web', () => {
  it('serves the page and the library with COOP/COEP and nosniff, and nothing outside the served folders', async () => {
    const page = await get('/web/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    expect(page.headers.get('cross-origin-opener-policy')).toBe('same-origin');
    expect(page.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
    expect((await get('/build/kernels.wasm', 'HEAD')).headers.get('content-type')).toBe('application/wasm');
    for (const path of [
      '/package.json',
      '/src/index.ts',
      '/.git/config',
      '/web/../package.json',
      '/%2e%2e/etc/passwd',
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(404);
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });

  it('refuses a symlink that leads outside the served folders, serves one that stays inside', async () => {
    symlinkSync(join(ROOT, 'package.json'), join(SCRATCH, 'escape.json'));
    symlinkSync(join(ROOT, 'web', 'index.html'), join(SCRATCH, 'inside.html'));
    expect((await get(scratchUrl('escape.json'))).status).toBe(404);
    const inside = await get(scratchUrl('inside.html'));
    expect(inside.status).toBe(200);
    expect(await inside.text()).toContain('<html');
  });

  it('a file replaced and removed while it is requested (a rebuild) gets an answer each time, and the server stays up', async () => {
    const file = join(SCRATCH, 'bundle.js');
    const body = 'x'.repeat(256 * 1024);
    writeFileSync(file, body);
    let rebuilding = true;
    const rebuild = (async () => {
      for (let i = 0; rebuilding; i++) {
        if (i % 2) rmSync(file, { force: true });
        else {
          writeFileSync(`${file}.tmp`, body);
          renameSync(`${file}.tmp`, file);
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    const statuses = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const r = await get(scratchUrl('bundle.js')).catch(() => null); // a cut answer is a failed fetch
      if (!r) continue;
      statuses.add(r.status);
      if (r.status === 200) expect((await r.text()).length).toBe(body.length);
      else await r.text();
    }
    rebuilding = false;
    await rebuild;
    expect(
      [...statuses].every((s) => s === 200 || s === 404),
      [...statuses].join(),
    ).toBe(true);
    expect((await get('/web/')).status).toBe(200);
  });
});
