// Loading checkpoints from disk in Node: the header is parsed from the first bytes, then each
// tensor is read with one positioned read straight into its place in the arena (F32 needs no
// copy at all; F16/BF16 pass through a small buffer and are widened). Node-only: the browser
// entry never imports this file.
import {
  openSync,
  readSync,
  closeSync,
  fstatSync,
  fsyncSync,
  existsSync,
  statSync,
  readFileSync,
  writeFileSync,
  renameSync,
  mkdirSync,
  rmSync,
} from 'node:fs';
import { join, dirname, basename } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { GPT, WeightDType } from '../model/gpt.js';
import { configFromHF, type GPTConfig } from '../model/config.js';
import { headerLength, parseHeader, decodeFloats, SafetensorsError, type SafetensorsHeader } from './safetensors.js';
import { ggufConfig, loadGGUF } from './gguf-node.js';
import { matchTensors, checkFinite, modelToSafetensors, buildModel, hfConfigJson } from './gpt2.js';
export { hfConfigJson };

function readExactly(fd: number, into: Uint8Array, position: number, source: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new SafetensorsError(`${source}: file ended at byte ${position + done} while reading ${into.length} bytes`);
    done += n;
  }
}

/** Parse the header of a safetensors file on disk without reading its data. */
export function readSafetensorsHeader(fd: number, source: string): SafetensorsHeader {
  const size = fstatSync(fd).size;
  const first = new Uint8Array(Math.min(8, size));
  readExactly(fd, first, 0, source);
  const n = headerLength(first, size, source);
  const header = new Uint8Array(n);
  readExactly(fd, header, 8, source);
  return parseHeader(header, size, source);
}

/** The config a safetensors file carries in its metadata (as the web page saves checkpoints), or null. */
function metadataConfig(path: string): string | null {
  return safetensorsMetadata(path).config ?? null;
}

/** The metadata of a safetensors file on disk, from its header alone. */
export function safetensorsMetadata(path: string): Record<string, string> {
  const fd = openSync(path, 'r');
  try {
    return readSafetensorsHeader(fd, path).metadata;
  } finally {
    closeSync(fd);
  }
}

/**
 * Resolve a directory (config.json + model.safetensors) or a .safetensors file (config.json beside
 * it, or else the config in its own metadata: then `config` is the .safetensors path itself).
 */
export function resolveCheckpoint(path: string): { weights: string; config: string } {
  if (!existsSync(path)) throw new Error(`${path}: no such file or directory`);
  const isDir = statSync(path).isDirectory();
  if (!isDir && path.endsWith('.gguf')) return { weights: path, config: path }; // config and tokenizer in its metadata
  const weights = isDir ? join(path, 'model.safetensors') : path;
  const config = isDir ? join(path, 'config.json') : join(path, '..', 'config.json');
  if (!existsSync(weights)) throw new Error(`${path}: no model.safetensors in this directory`);
  if (!existsSync(config)) {
    if (!isDir && metadataConfig(weights) !== null) return { weights, config: weights };
    throw new Error(`${weights}: no config.json beside it (Hugging Face GPT-2 layout expected)`);
  }
  return { weights, config };
}

/** config.json as parsed JSON (the CLI also reads our tokenizer entry from it); from a .safetensors path, the config in its metadata. */
export function readConfigJson(path: string): Record<string, unknown> {
  if (path.endsWith('.gguf')) return ggufConfig(path).json;
  let json: unknown;
  try {
    json = JSON.parse(path.endsWith('.safetensors') ? metadataConfig(path) ?? 'null' : readFileSync(path, 'utf8'));
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${path}: not a JSON object`);
  return json as Record<string, unknown>;
}

export function readConfig(path: string): GPTConfig {
  return configFromHF(readConfigJson(path), path);
}

/** Read a safetensors file's tensors straight into an existing model's parameters. */
export function loadWeightsFromFile(model: GPT, path: string): void {
  const fd = openSync(path, 'r');
  try {
    const header = readSafetensorsHeader(fd, path);
    const matched = matchTensors(model, header.tensors, path);
    for (const [name, info] of matched) {
      model.loadParameter(
        name,
        (dst) => {
          if (info.dtype === 'F32') {
            readExactly(fd, new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength), info.begin, path);
          } else {
            const raw = new Uint8Array(info.end - info.begin);
            readExactly(fd, raw, info.begin, path);
            decodeFloats(raw, info.dtype, dst, `${path}: tensor '${info.name}'`);
          }
        },
        path,
      );
    }
  } finally {
    closeSync(fd);
  }
  model.markParametersChanged();
  checkFinite(model, path);
}

/** A GPT from a checkpoint directory or file in Hugging Face GPT-2 layout. */
export function loadGPT2(path: string, backend: Backend, dtype?: WeightDType): GPT {
  const { weights, config } = resolveCheckpoint(path);
  return loadGPT2Files(config, weights, backend, dtype);
}

/** A GPT from a config.json and a model.safetensors that may live apart (as in the hub cache). */
export function loadGPT2Files(configPath: string, weightsPath: string, backend: Backend, dtype?: WeightDType): GPT {
  if (weightsPath.endsWith('.gguf')) return loadGGUF(weightsPath, backend, dtype);
  return buildModel(readConfig(configPath), backend, (model) => loadWeightsFromFile(model, weightsPath), dtype ?? 'f32');
}

/** The dtype a model file holds its linear weights in: a GGUF's own, f32 for safetensors (converted from F16/BF16 on load). */
export function fileDType(weightsPath: string): WeightDType {
  return weightsPath.endsWith('.gguf') ? ggufConfig(weightsPath).dtype : 'f32';
}

/** A file could not be written (a full disk, a size limit, permissions); the old file is unchanged. */
export class FileWriteError extends Error {
  override name = 'FileWriteError';
}

/**
 * Write a file atomically: a temp file in the same directory, flushed to disk, then one rename over
 * the old file. On any error (a full disk) the temp file is removed and the old file is untouched.
 */
export function writeFileAtomic(
  path: string,
  data: string | Uint8Array | ((write: (bytes: Uint8Array) => void) => void),
): void {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  try {
    // a fresh file: a leftover of that name may be a hard link to a file in use (a checkpoint's), which
    // opening it for writing would truncate
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, 'wx');
    try {
      // a function writes the file in pieces (a GGUF tensor by tensor), never whole in memory
      if (typeof data === 'function') data((b) => writeFileSync(fd, b));
      else writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new FileWriteError(`${path}: could not be written (${(e as Error).message}); the file is unchanged`);
  }
}

/** Flush a directory's entries (renames) to disk; not every platform can, so failures are ignored. */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Windows cannot open a directory for fsync; its renames are durable on their own
  }
}

/** Write config.json + model.safetensors, each atomically (weights first). */
export function saveGPT2(model: GPT, dir: string, options: { metadata?: Record<string, string>; extraConfig?: Record<string, unknown> } = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(join(dir, 'model.safetensors'), modelToSafetensors(model, options.metadata));
  writeFileAtomic(join(dir, 'config.json'), hfConfigJson(model, options.extraConfig));
}
