// Safetensors, read and written by hand (the format is small): an 8-byte little-endian header
// length N, N bytes of JSON ({name: {dtype, shape, data_offsets: [begin, end]}, __metadata__}),
// then the raw little-endian data; offsets are relative to the end of the header.
// Every check names the source, the tensor and what was expected.
import { f16ToF32 } from '../backend/f16.js';

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export const DTYPE_BYTES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
  F8_E4M3: 1, F8_E5M2: 1,
} as const;
export type SafetensorsDType = keyof typeof DTYPE_BYTES;

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** Byte offsets into the whole file (header included). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** First byte of the data section in the file. */
  dataStart: number;
  fileSize: number;
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  /** Tensor names come from the file: control and bidi characters are shown escaped, so a name cannot break the line or rewrite the terminal. */
  constructor(message: string) {
    super(escapeControls(message));
  }
}

export function escapeControls(text: string): string {
  return text.replace(
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Read the 8-byte header length from the first bytes of a file. */
export function headerLength(first8: Uint8Array, fileSize: number, source: string): number {
  if (fileSize < 8 || first8.length < 8) throw new SafetensorsError(`${source}: ${fileSize} bytes is too short for a safetensors file (needs at least 8)`);
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`${source}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  if (Number(n) + 8 > fileSize) throw new SafetensorsError(`${source}: header length ${n} runs past the end of the ${fileSize}-byte file`);
  if (n < 2n) throw new SafetensorsError(`${source}: header length ${n} is too short for a JSON header`);
  return Number(n);
}

/** Parse and validate the JSON header (the bytes after the length prefix). */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, source: string): SafetensorsHeader {
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    // the parser quotes the bad input, which may hold newlines or control bytes: keep it one line
    const why = (e as Error).message.replace(/[\s\x00-\x1f\x7f]+/g, ' ').slice(0, 200);
    throw new SafetensorsError(`${source}: the header is not valid UTF-8 JSON (${why})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError(`${source}: the header is not a JSON object`);
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SafetensorsError(`${source}: __metadata__ is not an object`);
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof v !== 'object' || v === null) throw new SafetensorsError(`${source}: tensor '${name}' is not an object`);
    if (typeof v.dtype !== 'string' || !(v.dtype in DTYPE_BYTES)) {
      throw new SafetensorsError(`${source}: tensor '${name}' has unknown dtype ${JSON.stringify(v.dtype)}`);
    }
    const dtype = v.dtype as SafetensorsDType;
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${source}: tensor '${name}' has an invalid shape ${JSON.stringify(v.shape)}`);
    }
    const shape = v.shape as number[];
    const offs = v.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new SafetensorsError(`${source}: tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [b, e] = offs as [number, number];
    if (b > e || e > dataSize) {
      throw new SafetensorsError(`${source}: tensor '${name}' data_offsets [${b}, ${e}] lie outside the ${dataSize}-byte data section`);
    }
    const want = shape.reduce((x, y) => x * y, 1) * DTYPE_BYTES[dtype];
    if (e - b !== want) {
      throw new SafetensorsError(`${source}: tensor '${name}' ${dtype} (${shape.join(',')}) needs ${want} bytes but its offsets span ${e - b}`);
    }
    tensors.set(name, { name, dtype, shape, begin: dataStart + b, end: dataStart + e });
  }
  // no two tensors may share bytes
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new SafetensorsError(`${source}: tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
    }
  }
  return { tensors, metadata, dataStart, fileSize };
}

/** Parse the header of a whole file held in memory. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors'): SafetensorsHeader {
  const n = headerLength(bytes.subarray(0, 8), bytes.length, source);
  return parseHeader(bytes.subarray(8, 8 + n), bytes.length, source);
}


/**
 * Convert raw little-endian tensor bytes of a float dtype into `out` (f32). F32 bytes are copied
 * as they are; F16 and BF16 are widened.
 */
export function decodeFloats(raw: Uint8Array, dtype: SafetensorsDType, out: Float32Array, what: string): void {
  const n = out.length;
  if (raw.length !== n * DTYPE_BYTES[dtype]) throw new SafetensorsError(`${what}: ${raw.length} bytes for ${n} ${dtype} values`);
  switch (dtype) {
    case 'F32':
      new Uint8Array(out.buffer, out.byteOffset, n * 4).set(raw);
      return;
    case 'F16': {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
      for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(2 * i, true));
      return;
    }
    case 'BF16': {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
      const u = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return;
    }
    case 'F64': {
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return;
    }
    default:
      throw new SafetensorsError(`${what}: dtype ${dtype} is not a float type this loader reads (F32, F16, BF16, F64)`);
  }
}

/** A whole safetensors file in memory, with typed access to its tensors. */
export class SafetensorsFile {
  readonly header: SafetensorsHeader;

  constructor(readonly bytes: Uint8Array, readonly source = 'safetensors') {
    this.header = parseSafetensors(bytes, source);
  }

  get names(): string[] { return [...this.header.tensors.keys()]; }
  get metadata(): Record<string, string> { return this.header.metadata; }

  info(name: string): TensorInfo {
    const t = this.header.tensors.get(name);
    if (!t) throw new SafetensorsError(`${this.source}: no tensor named '${name}'`);
    return t;
  }

  raw(name: string): Uint8Array {
    const t = this.info(name);
    return this.bytes.subarray(t.begin, t.end);
  }

  /** A float tensor as f32 (a fresh array). */
  floats(name: string): Float32Array {
    const t = this.info(name);
    const out = new Float32Array(t.shape.reduce((a, b) => a * b, 1));
    decodeFloats(this.raw(name), t.dtype, out, `${this.source}: tensor '${name}'`);
    return out;
  }

  /** An I32 or I64 tensor as int32. */
  ints(name: string): Int32Array {
    const t = this.info(name);
    const raw = this.raw(name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.length);
    const out = new Int32Array(n);
    if (t.dtype === 'I32') for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
    else if (t.dtype === 'I64') for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(8 * i, true));
    else throw new SafetensorsError(`${this.source}: tensor '${name}' is ${t.dtype}, not an integer type`);
    return out;
  }
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'F16' | 'BF16' | 'I32';
  shape: number[];
  /** Raw little-endian bytes of exactly numel * itemsize. */
  data: Uint8Array;
}

/** The first bytes of a safetensors file holding these tensors in this order (the length, then the JSON header, padded so the data starts 8-aligned), and how many bytes of data follow. */
export function safetensorsHeader(
  tensors: Omit<TensorToWrite, 'data'>[],
  metadata: Record<string, string> = {},
): { head: Uint8Array; dataBytes: number } {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + json.length) % 8)) % 8); // the data section starts 8-aligned
  const headerBytes = new TextEncoder().encode(json);
  const head = new Uint8Array(8 + headerBytes.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  head.set(headerBytes, 8);
  return { head, dataBytes: offset };
}

/** Serialize tensors (in the given order) into one safetensors file. */
export function writeSafetensors(tensors: TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  for (const t of tensors) {
    const want = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (t.data.length !== want) throw new SafetensorsError(`writeSafetensors: tensor '${t.name}' has ${t.data.length} bytes, its shape needs ${want}`);
  }
  const { head, dataBytes } = safetensorsHeader(tensors, metadata);
  const out = new Uint8Array(head.length + dataBytes);
  out.set(head);
  let pos = head.length;
  for (const t of tensors) { out.set(t.data, pos); pos += t.data.length; }
  return out;
}

/** The bytes of a Float32Array, for writing. */
export function f32Bytes(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
