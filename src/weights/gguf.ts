// llama.cpp's GGUF file format, read and written in every runtime (the layout of gguf-py and
// ggml/src/gguf.cpp): "GGUF", version (2 or 3), tensor and key-value counts, the typed key-values,
// each tensor's name, dims (ne: innermost first), ggml type and offset, padding to the alignment,
// then the tensor data. Every count, length and offset is checked against the bytes there are
// before it is used, so a broken or hostile file is one GGUFError, never a crash or a hang.
import { escapeControls } from './safetensors.js';

export class GGUFError extends Error {
  override name = 'GGUFError';
  constructor(message: string) {
    super(escapeControls(message));
  }
}

/** The parser needs the file's first `bytes` bytes (a Node reader reads more and tries again). */
export class NeedMoreBytes extends Error {
  constructor(readonly bytes: number) {
    super(`the GGUF header runs past the first ${bytes} bytes read`);
  }
}

/** ggml tensor types: the ones this project reads and writes, and the names of the rest (for errors). */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8 } as const;
const TYPE_NAMES = [
  'F32', 'F16', 'Q4_0', 'Q4_1', '(removed Q4_2)', '(removed Q4_3)', 'Q5_0', 'Q5_1', 'Q8_0', 'Q8_1', 'Q2_K', 'Q3_K',
  'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K', 'IQ2_XXS', 'IQ2_XS', 'IQ3_XXS', 'IQ1_S', 'IQ4_NL', 'IQ3_S', 'IQ2_S', 'IQ4_XS',
  'I8', 'I16', 'I32', 'I64', 'F64', 'IQ1_M', 'BF16', '(removed)', '(removed)', '(removed)', 'TQ1_0', 'TQ2_0',
];
/** Bytes per block and values per block of the types we read. */
const TYPE_LAYOUT: Record<number, { block: number; values: number }> = {
  [GGML_TYPE.F32]: { block: 4, values: 1 },
  [GGML_TYPE.F16]: { block: 2, values: 1 },
  [GGML_TYPE.Q4_0]: { block: 18, values: 32 },
  [GGML_TYPE.Q8_0]: { block: 34, values: 32 },
};

export function ggmlTypeName(type: number): string {
  return TYPE_NAMES[type] ?? `type ${type}`;
}

export type GGUFValue = number | bigint | boolean | string | GGUFValue[];

export interface GGUFTensor {
  name: string;
  /** ne: the innermost (contiguous) dimension first. A (rows, cols) matrix has dims [cols, rows]. */
  dims: number[];
  type: number;
  /** Byte range in the file. */
  begin: number;
  end: number;
}

export interface GGUFHeader {
  version: number;
  metadata: Map<string, GGUFValue>;
  tensors: GGUFTensor[];
  alignment: number;
  /** Where the tensor data starts (after the header and its padding). */
  dataStart: number;
}

const MAX_DIMS = 4;
const VALUE_SIZES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8,
  ARRAY = 9;

/** A cursor over the first bytes of a file of `fileSize` bytes; reading past what it has asks for more. */
class Cursor {
  private readonly view: DataView;
  pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly fileSize: number,
    private readonly source: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.pos + n > this.fileSize)
      throw new GGUFError(`${this.source}: ${what} at byte ${this.pos} runs past the end of the ${this.fileSize}-byte file`);
    if (this.pos + n > this.bytes.length) throw new NeedMoreBytes(Math.min(this.fileSize, Math.max(this.pos + n, 2 * this.bytes.length)));
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** A u64 count or size: within the file's size, so a number. */
  u64(what: string, max = this.fileSize): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(max)) throw new GGUFError(`${this.source}: ${what} is ${v}, more than ${max} (the file has ${this.fileSize} bytes)`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.u64(`the length of ${what}`, this.fileSize - this.pos - 8);
    this.need(n, what);
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(s);
    } catch {
      throw new GGUFError(`${this.source}: ${what} is not valid UTF-8`);
    }
  }
  value(type: number, what: string): GGUFValue {
    if (type === STRING) return this.string(what);
    if (type === ARRAY) {
      const itemType = this.u32(`the item type of ${what}`);
      if (itemType !== STRING && itemType !== ARRAY && !(itemType in VALUE_SIZES))
        throw new GGUFError(`${this.source}: ${what} is an array of unknown value type ${itemType}`);
      const minItem = itemType === STRING || itemType === ARRAY ? 8 : VALUE_SIZES[itemType];
      const n = this.u64(`the length of ${what}`, Math.floor((this.fileSize - this.pos - 8) / minItem));
      const out: GGUFValue[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = this.value(itemType, `${what}[${i}]`);
      return out;
    }
    const size = VALUE_SIZES[type];
    if (size === undefined) throw new GGUFError(`${this.source}: ${what} has unknown value type ${type}`);
    this.need(size, what);
    const v = this.view,
      p = this.pos;
    this.pos += size;
    switch (type) {
      case 0: return v.getUint8(p);
      case 1: return v.getInt8(p);
      case 2: return v.getUint16(p, true);
      case 3: return v.getInt16(p, true);
      case 4: return v.getUint32(p, true);
      case 5: return v.getInt32(p, true);
      case 6: return v.getFloat32(p, true);
      case 7: {
        const b = v.getUint8(p);
        if (b > 1) throw new GGUFError(`${this.source}: ${what} is a bool holding ${b}`);
        return b === 1;
      }
      case 10: return v.getBigUint64(p, true);
      case 11: return v.getBigInt64(p, true);
      default: return v.getFloat64(p, true);
    }
  }
}

/**
 * Parse a GGUF header from the first bytes of a file of `fileSize` bytes. Throws NeedMoreBytes
 * when the header is longer than what was given (read that many and call again), GGUFError when
 * the file is not a GGUF this reader takes.
 */
export function parseGGUF(bytes: Uint8Array, fileSize: number, source: string): GGUFHeader {
  const c = new Cursor(bytes, fileSize, source);
  c.need(4, 'the magic');
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic !== 'GGUF')
    throw new GGUFError(`${source}: not a GGUF file (it starts with ${JSON.stringify(magic)}, not "GGUF")`);
  c.pos = 4;
  const version = c.u32('the version');
  if (version !== 2 && version !== 3) {
    const bigEndian = version === 0x03000000 || version === 0x02000000;
    throw new GGUFError(
      `${source}: GGUF version ${version} is not supported (2 and 3 are)` +
        (bigEndian ? '; this is a big-endian file' : ''),
    );
  }
  // each tensor info takes at least 8 (name) + 4 + 8 + 4 + 8 bytes, each key-value at least 8 + 4 + 1
  const nTensors = c.u64('the tensor count', Math.floor(fileSize / 32));
  const nKv = c.u64('the key-value count', Math.floor(fileSize / 13));
  const metadata = new Map<string, GGUFValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.string(`key ${i}`);
    const type = c.u32(`the type of '${key}'`);
    if (metadata.has(key)) throw new GGUFError(`${source}: key '${key}' appears twice`);
    metadata.set(key, c.value(type, `'${key}'`));
  }
  const align = metadata.get('general.alignment') ?? 32;
  if (typeof align !== 'number' || !Number.isInteger(align) || align < 1 || align > 2 ** 16 || (align & (align - 1)) !== 0)
    throw new GGUFError(`${source}: general.alignment ${String(align)} is not a power of two up to 65536`);
  const infos: { name: string; dims: number[]; type: number; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`the name of tensor ${i}`);
    if (names.has(name)) throw new GGUFError(`${source}: tensor '${name}' appears twice`);
    names.add(name);
    const nDims = c.u32(`the dimension count of '${name}'`);
    if (nDims < 1 || nDims > MAX_DIMS) throw new GGUFError(`${source}: tensor '${name}' has ${nDims} dimensions (1 to ${MAX_DIMS})`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.u64(`dimension ${d} of '${name}'`, 2 ** 40));
    if (dims.some((d) => d === 0)) throw new GGUFError(`${source}: tensor '${name}' has an empty dimension (${dims})`);
    const type = c.u32(`the type of '${name}'`);
    const offset = c.u64(`the offset of '${name}'`);
    infos.push({ name, dims, type, offset });
  }
  const dataStart = Math.ceil(c.pos / align) * align;
  const tensors: GGUFTensor[] = [];
  for (const t of infos) {
    const layout = TYPE_LAYOUT[t.type];
    if (!layout)
      throw new GGUFError(
        `${source}: tensor '${t.name}' is ${ggmlTypeName(t.type)}, which this reader does not take (F32, F16, Q8_0 and Q4_0; K-quants not yet)`,
      );
    if (t.dims[0] % layout.values !== 0)
      throw new GGUFError(`${source}: tensor '${t.name}' (${ggmlTypeName(t.type)}) has rows of ${t.dims[0]} values, not a multiple of ${layout.values}`);
    const count = t.dims.reduce((a, b) => a * b, 1);
    const bytes = (count / layout.values) * layout.block;
    if (t.offset % align !== 0) throw new GGUFError(`${source}: tensor '${t.name}' starts at data offset ${t.offset}, not a multiple of the alignment ${align}`);
    const begin = dataStart + t.offset;
    if (begin + bytes > fileSize)
      throw new GGUFError(`${source}: tensor '${t.name}' (${bytes} bytes at byte ${begin}) runs past the end of the ${fileSize}-byte file`);
    tensors.push({ name: t.name, dims: t.dims, type: t.type, begin, end: begin + bytes });
  }
  const sorted = [...tensors].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++)
    if (sorted[i].begin < sorted[i - 1].end)
      throw new GGUFError(`${source}: tensors '${sorted[i - 1].name}' and '${sorted[i].name}' overlap`);
  return { version, metadata, tensors, alignment: align, dataStart };
}

// ---- writing ----------------------------------------------------------------------------------

export type GGUFWriteValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: string[] }
  | { type: 'i32[]'; value: ArrayLike<number> };

export interface GGUFTensorToWrite {
  name: string;
  dims: number[];
  type: number;
  bytes: number;
}

/** The header of a GGUF v3 file with these key-values and tensors (data laid out in order, aligned to 32); then write each tensor's bytes, each padded to 32. */
export function ggufHeader(metadata: [string, GGUFWriteValue][], tensors: GGUFTensorToWrite[]): { header: Uint8Array; offsets: number[] } {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const u32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, v, true); parts.push(b); };
  const i32 = (v: number) => { const b = new Uint8Array(4); new DataView(b.buffer).setInt32(0, v, true); parts.push(b); };
  const u64 = (v: number) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(v), true); parts.push(b); };
  const str = (s: string) => { const b = enc.encode(s); u64(b.length); parts.push(b); };
  parts.push(enc.encode('GGUF'));
  u32(3);
  u64(tensors.length);
  u64(metadata.length);
  for (const [key, v] of metadata) {
    str(key);
    switch (v.type) {
      case 'u32': u32(4); u32(v.value); break;
      case 'i32': u32(5); i32(v.value); break;
      case 'f32': { u32(6); const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, v.value, true); parts.push(b); break; }
      case 'string': u32(STRING); str(v.value); break;
      case 'string[]': u32(ARRAY); u32(STRING); u64(v.value.length); v.value.forEach(str); break;
      case 'i32[]': u32(ARRAY); u32(5); u64(v.value.length); for (let i = 0; i < v.value.length; i++) i32(v.value[i]); break;
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    str(t.name);
    u32(t.dims.length);
    t.dims.forEach(u64);
    u32(t.type);
    u64(offset);
    offsets.push(offset);
    offset += Math.ceil(t.bytes / 32) * 32;
  }
  const size = parts.reduce((n, p) => n + p.length, 0);
  const header = new Uint8Array(Math.ceil(size / 32) * 32);
  let at = 0;
  for (const p of parts) {
    header.set(p, at);
    at += p.length;
  }
  return { header, offsets };
}
