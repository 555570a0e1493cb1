// GGUF files on disk (Node): the header read in growing prefixes (a GPT-2 GGUF's tokenizer keys
// take about 1.5 MB), each tensor with one positioned read; writing streams the header and one
// tensor at a time into a temp file renamed into place. Node-only: the browser entry never imports it.
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { basename } from 'node:path';
import type { Backend } from '../backend/backend.js';
import { GPT, type WeightDType } from '../model/gpt.js';
import { parseGGUF, NeedMoreBytes, GGUFError, type GGUFHeader } from './gguf.js';
import { configFromGGUF, ggufConfigJson, checkGGUFTokenizer, loadGGUFTensors, gpt2ToGGUF } from './gguf-gpt2.js';
import { checkModelFits } from './fetch.js';
import { writeFileAtomic } from './node.js';

function readAt(fd: number, begin: number, end: number, source: string): Uint8Array {
  const out = new Uint8Array(end - begin);
  for (let done = 0; done < out.length; ) {
    const n = readSync(fd, out, done, out.length - done, begin + done);
    if (n === 0) throw new GGUFError(`${source}: file ended at byte ${begin + done} while reading ${out.length} bytes`);
    done += n;
  }
  return out;
}

// the CLI asks a file's config, dtype and header more than once before loading it: parsed once
let last: { key: string; header: GGUFHeader } | null = null;

export function readGGUFHeader(fd: number, source: string): GGUFHeader {
  const st = fstatSync(fd);
  const key = `${source}\0${st.ino}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}`;
  if (last?.key === key) return last.header;
  const header = parseFile(fd, st.size, source);
  last = { key, header };
  return header;
}

function parseFile(fd: number, size: number, source: string): GGUFHeader {
  let want = Math.min(size, 4 << 20);
  for (;;) {
    try {
      return parseGGUF(readAt(fd, 0, want, source), size, source);
    } catch (e) {
      if (!(e instanceof NeedMoreBytes)) throw e;
      want = e.bytes;
    }
  }
}

function withFile<T>(path: string, use: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** The header of a GGUF file on disk. */
export function ggufHeaderOf(path: string): GGUFHeader {
  return withFile(path, (fd) => readGGUFHeader(fd, path));
}

/** A GGUF's config as Hugging Face's config.json names it, and the dtype of its linear weights. */
export function ggufConfig(path: string): { json: Record<string, unknown>; dtype: WeightDType } {
  return withFile(path, (fd) => {
    const h = readGGUFHeader(fd, path);
    const { config, dtype } = configFromGGUF(h, path);
    checkGGUFTokenizer(h, path);
    return { json: ggufConfigJson(config), dtype };
  });
}

/** A GPT from a GPT-2 GGUF file, held as `dtype` (default: the file's own). */
export function loadGGUF(path: string, backend: Backend, dtype?: WeightDType): GPT {
  const fd = openSync(path, 'r');
  try {
    const h = readGGUFHeader(fd, path);
    const { config, dtype: stored } = configFromGGUF(h, path);
    checkGGUFTokenizer(h, path);
    const as = dtype ?? stored;
    checkModelFits(config, path, { dtype: as, option: '--dtype %s' });
    const model = new GPT(config, backend, { init: 'none', dtype: as });
    try {
      loadGGUFTensors(model, h, (b, e) => readAt(fd, b, e, path), path); // each tensor checked finite
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  } finally {
    closeSync(fd);
  }
}

/** Write a GPT-2 model (GPT-2's BPE) as a GGUF in its own dtype, tensor by tensor: a temp file, renamed into place when whole. */
export function saveGGUF(model: GPT, path: string, name?: string): number {
  const { header, tensors } = gpt2ToGGUF(model, name ?? basename(path).replace(/\.gguf$/, ''));
  let size = 0;
  writeFileAtomic(path, (write) => {
    const put = (b: Uint8Array) => {
      write(b);
      size += b.length;
    };
    put(header);
    for (const t of tensors) {
      const data = t.data();
      put(data);
      if (data.length % 32) put(new Uint8Array(32 - (data.length % 32)));
    }
  });
  return size;
}
