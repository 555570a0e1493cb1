// Models from the Hugging Face hub, through the standard cache (Node only).
//
// Cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub, laid out as the hub
// clients do: models--{owner}--{name}/blobs/{etag}, snapshots/{commit}/{file} -> the blob, and
// (from the Python client) refs/{revision} -> commit. A file found there is used with no network.
//
// Download: @huggingface/hub gives the file's metadata (pathsInfo: LFS sha256 or git oid, size,
// last commit) and a Blob over the resolve URL (downloadFile). We stream it into
// blobs/{etag}.incomplete; an interrupted download resumes from what is on disk (a Range
// request via Blob.slice); the finished file is checked (size, then sha256 for LFS files or the
// git blob sha1 for small ones) before it is renamed into place. Progress goes to a callback
// (the CLI draws a bar on stderr), never to stdout.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, copyFileSync, createReadStream } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { pathsInfo, downloadFile } from '@huggingface/hub';

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

/** The cached path of `file` in `repo` at `revision`, or null. */
export function cachedFile(repo: string, file: string, revision = 'main', cacheDir = hubCacheDir()): string | null {
  const folder = repoFolder(cacheDir, repo);
  const snapshots = join(folder, 'snapshots');
  if (!existsSync(snapshots)) return null;
  const candidates: string[] = [];
  if (/^[0-9a-f]{40}$/.test(revision)) candidates.push(revision);
  const ref = join(folder, 'refs', revision);
  if (existsSync(ref)) candidates.push(readFileSync(ref, 'utf8').trim());
  for (const c of candidates) {
    const p = join(snapshots, c, file);
    if (existsSync(p)) return p;
  }
  // the JS client names snapshots by the file's last commit and writes no refs: newest wins
  let best: string | null = null, bestTime = -1;
  for (const snap of readdirSync(snapshots)) {
    const p = join(snapshots, snap, file);
    if (existsSync(p)) {
      const t = statSync(p).mtimeMs;
      if (t > bestTime) { best = p; bestTime = t; }
    }
  }
  return best;
}

/** The local path of `file` from `repo`: from the cache, else downloaded into it. */
export async function hubFile(repo: string, file: string, options: HubOptions = {}): Promise<string> {
  const revision = options.revision ?? 'main';
  const cacheDir = options.cacheDir ?? hubCacheDir();
  const cached = cachedFile(repo, file, revision, cacheDir);
  if (cached) return cached;
  const offline = options.offline ?? ['1', 'true', 'yes'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
  const hubUrl = options.hubUrl ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  const noCache = `${repo}/${file} is not in the Hugging Face cache (${cacheDir})`;
  if (offline) throw new HubError(`${noCache} and HF_HUB_OFFLINE is set; pass a local directory with --model DIR (config.json + model.safetensors)`);

  const accessToken = options.accessToken ?? process.env.HF_TOKEN;
  const common = { repo: { type: 'model' as const, name: repo }, revision, hubUrl, fetch: options.fetch, ...(accessToken ? { accessToken } : {}) };
  let info;
  try {
    [info] = await pathsInfo({ ...common, paths: [file], expand: true });
  } catch (e) {
    throw new HubError(`${noCache} and ${hubUrl} could not be reached (${oneLine(e)}); pass a local directory with --model DIR (config.json + model.safetensors)`);
  }
  if (!info || info.type !== 'file') throw new HubError(`${hubUrl}: ${repo} has no file ${file} at revision ${revision}`);
  const sha256 = info.lfs?.oid;
  const etag = sha256 ?? info.oid;
  if (!etag) throw new HubError(`${hubUrl}: no checksum for ${repo}/${file} in the hub's answer`);
  const size = info.lfs?.size ?? info.size;
  const snapshot = /^[0-9a-f]{40}$/.test(revision) ? revision : info.lastCommit?.id ?? etag;
  const folder = repoFolder(cacheDir, repo);
  const blobPath = join(folder, 'blobs', etag);
  const pointer = join(folder, 'snapshots', snapshot, file);
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
