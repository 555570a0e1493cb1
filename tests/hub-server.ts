// A stand-in for the Hugging Face hub on 127.0.0.1, in the hub's URL layout, for tests and
// benchmarks (no real network): GET /api/models/{repo}/revision/{rev} (the commit a branch names),
// POST /api/models/{repo}/paths-info/{rev} and GET /{repo}/resolve/{rev}/{file} with Range
// requests. Large files are served as LFS (sha256 oid), small ones as git blobs (sha1 oid), as the
// hub does. A repo key 'owner/name@branch' holds that branch's files ('owner/name' is main); each
// branch has its own commit id.
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export interface FakeHubOptions {
  /** Cut the connection after this many body bytes of the next full or ranged GET of a file. */
  cutNextDownloadAfter?: number;
  /** Serve these bytes in place of the real content (the metadata keeps the real checksum). */
  corrupt?: boolean;
  /** A hostile hub: these ids in place of the real commit (revision API), lastCommit and oids. */
  lie?: { sha?: string; lastCommit?: string; oid?: string; lfsOid?: string };
}

export interface FakeHub {
  url: string;
  requests: { method: string; path: string; range?: string }[];
  options: FakeHubOptions;
  close(): Promise<void>;
}

/** The commit id the fake hub gives a branch: 'a' x 40 for main, else a hash of the branch name. */
export function fakeCommit(branch: string): string {
  return branch === 'main' ? 'a'.repeat(40) : createHash('sha1').update(branch).digest('hex');
}

export async function startFakeHub(
  repos: Record<string, Record<string, Uint8Array>>,
  options: FakeHubOptions = {},
): Promise<FakeHub> {
  const requests: FakeHub['requests'] = [];
  const meta = new Map<string, { sha256?: string; gitOid: string; size: number }>();
  const branches = new Map<string, string>(); // a branch name or its commit -> the branch
  const files = new Map<string, Uint8Array>(); // 'owner/name@branch/file' -> bytes
  for (const [key, content] of Object.entries(repos)) {
    const [repo, branch = 'main'] = key.split('@');
    branches.set(branch, branch).set(fakeCommit(branch), branch);
    for (const [file, data] of Object.entries(content)) {
      files.set(`${repo}@${branch}/${file}`, data);
      const lfs = data.length > 1024 || file.endsWith('.safetensors');
      meta.set(`${repo}@${branch}/${file}`, {
        sha256: lfs ? createHash('sha256').update(data).digest('hex') : undefined,
        gitOid: createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex'),
        size: data.length,
      });
    }
  }
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = decodeURIComponent((req.url ?? '').split('?')[0]);
    requests.push({ method: req.method ?? '', path, range: req.headers.range });
    const lie = options.lie ?? {};
    const revision = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/);
    if (req.method === 'GET' && revision) {
      const branch = branches.get(revision[2]);
      if (!repos[revision[1]] || !branch) {
        res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' });
        res.end('{"error":"Invalid rev id"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: revision[1], sha: lie.sha ?? fakeCommit(branch) }));
      return;
    }
    const info = path.match(/^\/api\/models\/([^/]+\/[^/]+)\/paths-info\/([^/]+)$/);
    if (req.method === 'POST' && info) {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const { paths } = JSON.parse(body) as { paths: string[] };
        const at = `${info[1]}@${branches.get(info[2]) ?? info[2]}`;
        const out = paths
          .filter((p) => meta.has(`${at}/${p}`))
          .map((p) => {
            const m = meta.get(`${at}/${p}`)!;
            return {
              type: 'file',
              path: p,
              oid: lie.oid ?? m.gitOid,
              size: m.size,
              ...(m.sha256 ? { lfs: { oid: lie.lfsOid ?? m.sha256, size: m.size, pointerSize: 134 } } : {}),
              lastCommit: {
                id: lie.lastCommit ?? fakeCommit(branches.get(info[2]) ?? 'main'),
                title: 'test',
                date: '2026-01-01T00:00:00.000Z',
              },
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
      const branch = branches.get(resolve[2]) ?? resolve[2];
      const data = files.get(`${resolve[1]}@${branch}/${resolve[3]}`);
      const m = meta.get(`${resolve[1]}@${branch}/${resolve[3]}`);
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
        'X-Repo-Commit': fakeCommit(branch),
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
