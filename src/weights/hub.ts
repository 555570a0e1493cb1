// Models from the Hugging Face hub, through the standard cache (Node only).
//
// Cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub, laid out as the Python
// client does: models--{owner}--{name}/blobs/{etag}, snapshots/{commit}/{file} -> the blob, and
// refs/{revision} holding the commit a branch or tag pointed to when it was fetched. A file found
// there for the asked revision is used with no network; another revision is fetched.
//
// Download: @huggingface/hub gives the file's metadata (pathsInfo: LFS sha256 or git oid, size,
// last commit) and a Blob over the resolve URL (downloadFile). We stream it into
// blobs/{etag}.incomplete; an interrupted download resumes from what is on disk (a Range
// request via Blob.slice); the finished file is checked (size, then sha256 for LFS files or the
// git blob sha1 for small ones) before it is renamed into place. Progress goes to a callback
// (the CLI draws a bar on stderr), never to stdout.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, copyFileSync, createReadStream, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathsInfo, downloadFile } from '@huggingface/hub';
import { parseGGUF, NeedMoreBytes, type GGUFHeader } from './gguf.js';
import { ggufHeaderOf } from './gguf-node.js';

export { DEFAULT_MODEL, normalizeRepoId } from './repo.js';

export interface HubOptions {
  revision?: string;
  cacheDir?: string;
  hubUrl?: string;
  accessToken?: string;
  /** Do not touch the network; only the cache. Default: $HF_HUB_OFFLINE. */
  offline?: boolean;
  fetch?: typeof fetch;
  onProgress?: (file: string, done: number, total: number) => void;
}

export class HubError extends Error {
  override name = 'HubError';
}

export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(homedir(), '.cache', 'huggingface', 'hub');
}

function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

const COMMIT = /^[0-9a-f]{40}$/;

/** A revision or file name as a path inside the cache: relative, without '..' or empty parts. */
function checkPathPart(value: string, what: string): string {
  const parts = value.split('/');
  if (!value || value.startsWith('/') || value.includes('\\') || parts.some((p) => p === '' || p === '.' || p === '..'))
    throw new HubError(`${what} '${value}' is not a valid name (a branch, tag or commit; relative, no '..')`);
  return value;
}

/** The commit a revision names in the cache: itself when it is a commit id, else refs/{revision}. */
function cachedCommit(folder: string, revision: string): string | null {
  if (COMMIT.test(revision)) return revision;
  const ref = join(folder, 'refs', revision);
  if (!existsSync(ref) || !statSync(ref).isFile()) return null;
  const commit = readFileSync(ref, 'utf8').trim();
  return COMMIT.test(commit) ? commit : null;
}

/** The cached path of `file` in `repo` at `revision` (snapshots/{commit}/{file}, the commit from refs/{revision}), or null. */
export function cachedFile(repo: string, file: string, revision = 'main', cacheDir = hubCacheDir()): string | null {
  checkPathPart(revision, 'revision');
  checkPathPart(file, 'file');
  const folder = repoFolder(cacheDir, repo);
  const commit = cachedCommit(folder, revision);
  const p = commit && join(folder, 'snapshots', commit, file);
  return p && existsSync(p) ? p : null;
}

/** The local path of `file` from `repo`: from the cache, else downloaded into it. */
export async function hubFile(repo: string, file: string, options: HubOptions = {}): Promise<string> {
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const cached = cachedFile(repo, file, revision, cacheDir);
  if (cached) return cached;
  const offline = options.offline ?? ['1', 'true', 'yes'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  const at = revision === 'main' ? '' : ` at revision ${revision}`;
  const noCache = `${repo}/${file}${at} is not in the Hugging Face cache (${cacheDir})`;
  if (offline) throw new HubError(`${noCache} and HF_HUB_OFFLINE is set; pass a local directory with --model DIR (config.json + model.safetensors)`);

  const accessToken = options.accessToken ?? process.env.HF_TOKEN;
  const auth = accessToken ? { accessToken } : {};
  const folder = repoFolder(cacheDir, repo);
  // the commit the revision names now: snapshots are kept by commit, and refs/{revision} records it
  let commit = revision;
  if (!COMMIT.test(revision)) {
    commit = await revisionCommit(repo, revision, hubUrl, options.fetch ?? fetch, accessToken, noCache);
    writeRef(join(folder, 'refs', revision), commit);
    const there = join(folder, 'snapshots', commit, file);
    if (existsSync(there)) return there;
  }
  const common = { repo: { type: 'model' as const, name: repo }, revision: commit, hubUrl, fetch: options.fetch, ...auth };
  let info;
  try {
    [info] = await pathsInfo({ ...common, paths: [file], expand: true });
  } catch (e) {
    throw new HubError(`${noCache} and ${hubUrl} could not be reached (${oneLine(e)}); pass a local directory with --model DIR (config.json + model.safetensors)`);
  }
  if (!info || info.type !== 'file') throw new HubError(`${hubUrl}: ${repo} has no file ${file} at revision ${revision}`);
  // the hub's ids become file names: only hex of the right length may
  const sha256 = info.lfs?.oid;
  if (sha256 !== undefined && !/^[0-9a-f]{64}$/.test(sha256))
    throw new HubError(`${hubUrl}: ${repo}/${file} has LFS oid '${String(sha256).slice(0, 80)}', expected 64 hex digits (sha256)`);
  if (sha256 === undefined && !COMMIT.test(info.oid ?? ''))
    throw new HubError(`${hubUrl}: ${repo}/${file} has oid '${String(info.oid).slice(0, 80)}', expected 40 hex digits (git sha1)`);
  const etag = sha256 ?? info.oid;
  const size = info.lfs?.size ?? info.size;
  if (!Number.isSafeInteger(size) || size < 0) throw new HubError(`${hubUrl}: ${repo}/${file} has size ${size}, not a byte count`);
  const blobPath = join(folder, 'blobs', etag!);
  const pointer = join(folder, 'snapshots', commit, file);
  mkdirSync(dirname(blobPath), { recursive: true });
  mkdirSync(dirname(pointer), { recursive: true });

  if (!existsSync(blobPath)) {
    const incomplete = `${blobPath}.incomplete`;
    let have = existsSync(incomplete) ? statSync(incomplete).size : 0;
    if (have > size) { rmSync(incomplete); have = 0; }
    if (have < size) {
      let blob: Blob | null;
      try {
        blob = await downloadFile({ ...common, path: file, xet: false });
      } catch (e) {
        throw new HubError(`downloading ${repo}/${file} from ${hubUrl} failed (${oneLine(e)})`);
      }
      if (!blob) throw new HubError(`${hubUrl}: ${repo} has no file ${file} at revision ${revision}`);
      if (blob.size !== size) throw new HubError(`${hubUrl}: ${repo}/${file} is ${blob.size} bytes, its metadata says ${size}`);
      await appendStream(blob.slice(have), incomplete, (n) => options.onProgress?.(file, have + n, size), `${repo}/${file}`);
    }
    await verify(incomplete, size, sha256, info.oid || undefined, `${repo}/${file}`);
    renameSync(incomplete, blobPath);
  }
  linkInto(blobPath, pointer);
  return pointer;
}

/**
 * The header of a GGUF on the hub, from its first megabytes (Range requests), so that a model too
 * large is refused before its weights download. From the cache when the file is there.
 */
export async function hubGGUFHeader(repo: string, file: string, options: HubOptions = {}): Promise<GGUFHeader> {
  const cached = cachedFile(repo, file, options.revision ?? 'main', options.cacheDir ?? hubCacheDir());
  if (cached) return ggufHeaderOf(cached);
  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  const url = `${hubUrl}/${repo}/resolve/${encodeURIComponent(options.revision ?? 'main')}/${file}`;
  const token = options.accessToken ?? process.env.HF_TOKEN;
  let want = 4 << 20;
  for (;;) {
    let res: Response;
    try {
      res = await (options.fetch ?? fetch)(url, {
        headers: { Range: `bytes=0-${want - 1}`, ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      });
    } catch (e) {
      throw new HubError(`${repo}/${file} is not in the Hugging Face cache and ${hubUrl} could not be reached (${oneLine(e)})`);
    }
    if (res.status === 404) throw new HubError(`${hubUrl}: ${repo} has no file ${file}`);
    if (!res.ok) throw new HubError(`${url}: HTTP ${res.status}`);
    const size = Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? res.headers.get('content-length'));
    const bytes = new Uint8Array(await readAtMost(res, want));
    try {
      return parseGGUF(bytes, size, `${repo}/${file}`);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes) || e.bytes <= want) throw e;
      want = e.bytes;
    }
  }
}

/** The first `n` bytes of a response body (a server that ignores Range sends all: the rest is not read). */
async function readAtMost(res: Response, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  const reader = res.body!.getReader();
  while (have < n) {
    const { value, done } = await reader.read();
    if (done) break;
    const take = Math.min(value.length, n - have);
    out.set(value.subarray(0, take), have);
    have += take;
  }
  await reader.cancel().catch(() => {});
  return out.subarray(0, have);
}

/** The commit id a branch or tag points to, from the hub's revision API (a 40-hex id, or an error). */
async function revisionCommit(repo: string, revision: string, hubUrl: string, fetchFn: typeof fetch, accessToken: string | undefined, noCache: string): Promise<string> {
  const url = `${hubUrl}/api/models/${repo}/revision/${encodeURIComponent(revision)}`;
  let res: Response;
  try {
    res = await fetchFn(url, { headers: accessToken ? { Authorization: `Bearer ${accessToken}` } : {} });
  } catch (e) {
    throw new HubError(`${noCache} and ${hubUrl} could not be reached (${oneLine(e)}); pass a local directory with --model DIR (config.json + model.safetensors)`);
  }
  if (!res.ok) {
    const reason = res.status === 404 ? 'no such repository or revision' : `HTTP ${res.status}`;
    throw new HubError(`${hubUrl}: ${repo} at revision ${revision}: ${reason}`);
  }
  let sha: unknown;
  try {
    sha = ((await res.json()) as { sha?: unknown }).sha;
  } catch (e) {
    throw new HubError(`${url}: not JSON (${oneLine(e)})`);
  }
  if (typeof sha !== 'string' || !COMMIT.test(sha))
    throw new HubError(`${url}: commit id '${String(sha).slice(0, 80)}' is not 40 hex digits`);
  return sha;
}

/** refs/{revision} holds the commit, written atomically (a reader never sees half an id). */
function writeRef(ref: string, commit: string): void {
  mkdirSync(dirname(ref), { recursive: true });
  const tmp = `${ref}.tmp-${process.pid}`;
  writeFileSync(tmp, commit);
  renameSync(tmp, ref);
}

async function appendStream(blob: Blob, path: string, progress: (n: number) => void, what: string): Promise<void> {
  const out = createWriteStream(path, { flags: 'a' });
  let done = 0;
  try {
    const reader = blob.stream().getReader();
    progress(0);
    for (;;) {
      const { value, done: end } = await reader.read();
      if (end) break;
      if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
      done += value.length;
      progress(done);
    }
  } catch (e) {
    throw new HubError(`download of ${what} was interrupted after ${done} more bytes (${oneLine(e)}); run again to resume`);
  } finally {
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  }
}

/** Size, then sha256 (LFS files) or git's blob sha1 (small files). A bad file is deleted. */
async function verify(path: string, size: number, sha256: string | undefined, gitOid: string | undefined, what: string): Promise<void> {
  const actual = statSync(path).size;
  const fail = (why: string) => { rmSync(path, { force: true }); return new HubError(`${what}: ${why}; the partial file was deleted, run again to download it anew`); };
  if (actual !== size) throw fail(`downloaded ${actual} bytes, expected ${size}`);
  const hash = sha256 ? createHash('sha256') : createHash('sha1').update(`blob ${size}\0`);
  await new Promise<void>((resolve, reject) => {
    createReadStream(path).on('data', (d) => hash.update(d)).on('end', () => resolve()).on('error', reject);
  });
  const digest = hash.digest('hex');
  const want = sha256 ?? gitOid;
  if (want && digest !== want) throw fail(`checksum mismatch: got ${sha256 ? 'sha256' : 'git sha1'} ${digest}, expected ${want}`);
}

function linkInto(blob: string, pointer: string): void {
  if (existsSync(pointer)) return;
  try {
    symlinkSync(relative(dirname(pointer), blob), pointer);
  } catch {
    copyFileSync(blob, pointer); // file systems without symlinks
  }
}

function oneLine(e: unknown): string {
  const err = e as Error & { cause?: Error };
  const msg = err?.message ?? String(e);
  return (err?.cause?.message ? `${msg}: ${err.cause.message}` : msg).split('\n')[0];
}
