// A stand-in for the Hugging Face hub on 127.0.0.1, in the hub's URL layout, for tests and
// benchmarks (no real network): POST /api/models/{repo}/paths-info/{rev} and
// GET /{repo}/resolve/{rev}/{file} with Range requests. Large files are served as LFS
// (sha256 oid), small ones as git blobs (sha1 oid), as the hub does.
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface FakeHubOptions {
  /** Cut the connection after this many body bytes of the next full or ranged GET of a file. */
  cutNextDownloadAfter?: number;
  /** Serve these bytes in place of the real content (the metadata keeps the real checksum). */
  corrupt?: boolean;
}

export interface FakeHub {
  url: string;
  requests: { method: string; path: string; range?: string }[];
  options: FakeHubOptions;
  close(): Promise<void>;
}

const COMMIT = 'a'.repeat(40);

export async function startFakeHub(
  repos: Record<string, Record<string, Uint8Array>>,
  options: FakeHubOptions = {},
): Promise<FakeHub> {
  const requests: FakeHub['requests'] = [];
  const meta = new Map<string, { sha256?: string; gitOid: string; size: number }>();
  for (const [repo, files] of Object.entries(repos)) {
    for (const [file, data] of Object.entries(files)) {
      const lfs = data.length > 1024 || file.endsWith('.safetensors');
      meta.set(`${repo}/${file}`, {
        sha256: lfs ? createHash('sha256').update(data).digest('hex') : undefined,
        gitOid: createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex'),
        size: data.length,
      });
    }
  }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]);
    requests.push({ method: req.method ?? '', path, range: req.headers.range });
    const info = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/);
    if (req.method === 'POST' && info) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const { paths } = JSON.parse(body) as { paths: string[] };
        const out = paths
          .filter((p) => meta.has(`${info[1]}/${p}`))
          .map((p) => {
            const m = meta.get(`${info[1]}/${p}`)!;
            return {
              type: 'file',
              path: p,
              oid: m.gitOid,
              size: m.size,
              ...(m.sha256 ? { lfs: { oid: m.sha256, size: m.size, pointerSize: 134 } } : {}),
              lastCommit: { id: COMMIT, title: 'test', date: '2026-01-01T00:00:00.000Z' },
            };
          });
        if (!repos[info[1]]) {
          res.writeHead(404, { 'X-Error-Code': 'RepoNotFound' });
          res.end('{"error":"Repository not found"}');
          return;
        }
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(out));
      });
      return;
    }
    const resolve = path.match(/^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/);
    if (req.method === 'GET' && resolve) {
      const data = repos[resolve[1]]?.[resolve[3]];
      const m = meta.get(`${resolve[1]}/${resolve[3]}`);
      if (!data || !m) {
        res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' });
        res.end('Entry not found');
        return;
      }
      let start = 0,
        end = data.length - 1,
        status = 200;
      const range = req.headers.range?.match(/^bytes=(\d+)-(\d*)$/);
      if (range) {
        start = Number(range[1]);
        end = range[2] ? Math.min(Number(range[2]), data.length - 1) : data.length - 1;
        status = 206;
      }
      const headers: Record<string, string> = {
        'Content-Type': 'application/octet-stream',
        'Accept-Ranges': 'bytes',
        'Content-Length': String(end - start + 1),
        ETag: `"${m.sha256 ?? m.gitOid}"`,
        'X-Repo-Commit': COMMIT,
        ...(m.sha256 ? { 'X-Linked-ETag': `"${m.sha256}"`, 'X-Linked-Size': String(m.size) } : {}),
      };
      if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${data.length}`;
      res.writeHead(status, headers);
      let body = data.subarray(start, end + 1);
      if (options.corrupt && body.length > 1) {
        body = body.slice();
        body[body.length >> 1] ^= 0xff;
      }
      const cut = options.cutNextDownloadAfter;
      if (cut !== undefined && body.length > 1) {
        options.cutNextDownloadAfter = undefined;
        res.write(body.subarray(0, cut), () => res.destroy());
        return;
      }
      res.end(body);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    options,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
