// The development server (`npm run web`): serves the demo page and what it imports from the project
// root: web/ (the page and its bundle), dist/ and build/ (the library and its wasm), gpt-tokenizer's
// ESM build, tests/browser/ (the browser tests' pages), wllama's ESM build (llama.cpp, for the tests) and Tiny Shakespeare from ../shared at
// /data/tinyshakespeare.txt; nothing else (no sources, no secrets; a symlink that leads elsewhere is
// refused). It sends COOP/COEP so the page is cross-origin isolated (threads), nosniff on every
// answer, and answers a file it cannot read with an error instead of going down. The browser
// tests start it in-process (isolated or not) and add routes of their own (the tiny reference model).
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, realpathSync } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import { extname, join, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's Chromium and the flags the browser tests and benchmarks start it with (no network of its own). */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const REAL_ROOT = realpathSync(ROOT);
const SHAKESPEARE = resolve(ROOT, '../shared/data/tinyshakespeare.txt');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.safetensors': 'application/octet-stream',
  '.map': 'application/json',
};

/** Folders of the project the server shows; nothing else (no sources, no secrets). */
const SERVED = [
  'web/',
  'dist/',
  'build/',
  'node_modules/gpt-tokenizer/esm/',
  'tests/browser/',
  'node_modules/@wllama/wllama/esm/', // llama.cpp in WebAssembly, for the side-by-side tests
];

/** A path relative to the root that lies in one of the served folders. */
function servable(rel: string): boolean {
  return (
    !rel.startsWith('..') && !rel.startsWith(sep) && SERVED.some((p) => (rel.split(sep).join('/') + '/').startsWith(p))
  );
}

export interface WebServerOptions {
  port?: number;
  host?: string;
  /** Send COOP/COEP (default true): SharedArrayBuffer, so kernel threads. */
  isolated?: boolean;
  /** Extra files: URL path -> file path, bytes, or a handler (given the headers the server would send). */
  routes?: Record<string, Route>;
}

export type Route =
  string | Uint8Array | ((req: IncomingMessage, res: ServerResponse, headers: Record<string, string>) => void);

export interface WebServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

export function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const isolated = options.isolated ?? true;
  const routes: Record<string, Route> = { '/data/tinyshakespeare.txt': SHAKESPEARE, ...options.routes };
  const server = createServer(async (req, res) => {
    const headers: Record<string, string> = { 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' };
    if (isolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    headers['cross-origin-resource-policy'] = 'same-origin';
    const fail = (status: number, text: string) => {
      res.writeHead(status, { ...headers, 'content-type': 'text/plain; charset=utf-8' });
      res.end(text + '\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'method not allowed');
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return fail(400, 'bad URL');
    }
    if (path === '/' || path === '/web') {
      res.writeHead(302, { ...headers, location: '/web/' });
      return res.end();
    }
    let file: Route | undefined = routes[path];
    if (typeof file === 'function') return file(req, res, headers);
    const routed = file !== undefined;
    if (file === undefined) {
      const rel = normalize(path.slice(1) + (path.endsWith('/') ? 'index.html' : ''));
      if (!servable(rel)) return fail(404, `not found: ${path}`);
      file = join(ROOT, rel);
      if (!file.startsWith(ROOT + sep)) return fail(404, `not found: ${path}`);
    }
    if (typeof file !== 'string') {
      res.writeHead(200, {
        ...headers,
        'content-type': TYPES[extname(path)] ?? 'application/octet-stream',
        'content-length': String(file.length),
      });
      return res.end(req.method === 'HEAD' ? undefined : file);
    }
    // one open file answers the request: a file removed or replaced meanwhile (a rebuild) is
    // either served whole as it was opened or refused, and a read error never takes the server down
    try {
      if (!routed && !servable(relative(REAL_ROOT, await realpath(file)))) return fail(404, `not found: ${path}`);
      const fh = await open(file, 'r');
      const stat = await fh.stat().catch(async (e: Error) => {
        await fh.close();
        throw e;
      });
      if (!stat.isFile()) {
        await fh.close();
        return fail(404, `not found: ${path}`);
      }
      res.writeHead(200, {
        ...headers,
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'content-length': String(stat.size),
      });
      if (req.method === 'HEAD') {
        await fh.close();
        return res.end();
      }
      const stream = fh.createReadStream();
      stream.on('error', () => res.destroy()); // the status is sent: cutting the answer short says it failed
      stream.pipe(res);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (res.headersSent) return res.destroy();
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return fail(404, `not found: ${path}`);
      return fail(500, `could not read ${path}`);
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      const a = server.address();
      const port = typeof a === 'object' && a ? a.port : options.port;
      resolvePromise({
        url: `http://${options.host ?? '127.0.0.1'}:${port}`,
        server,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const portArg = args.indexOf('--port');
  const port = portArg >= 0 ? Number(args[portArg + 1]) : 8080;
  const isolated = !args.includes('--no-isolation');
  if (!existsSync(join(ROOT, 'web/dist/app.js'))) {
    console.error('web/dist/app.js is missing: run `npm run build:web` (npm run web does)');
    process.exit(1);
  }
  startWebServer({ port, isolated, host: 'localhost' }).then(
    (s) => {
      console.log(
        `wasm-gpt demo: ${s.url.replace('127.0.0.1', 'localhost')}/web/  (${isolated ? 'cross-origin isolated: threads' : 'not isolated: one thread'}; Ctrl-C stops)`,
      );
    },
    (e) => {
      console.error(`could not serve on port ${port}: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
