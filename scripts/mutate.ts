// Mutations of a valid safetensors file, for the fuzz test and `npm run fuzz`: header bytes, the
// length prefix, offsets, dtypes, shapes, truncation. Each mutant must load cleanly or fail with
// a SafetensorsError; anything else (another error type, a crash, a hang) is a bug.
import { Random } from '../src/model/random.js';

export type Mutation =
  'header-byte' | 'length-prefix' | 'truncate' | 'offsets' | 'dtype' | 'shape' | 'append' | 'data-byte' | 'json-splice';

export const MUTATIONS: Mutation[] = [
  'header-byte',
  'length-prefix',
  'truncate',
  'offsets',
  'dtype',
  'shape',
  'append',
  'data-byte',
  'json-splice',
];

function headerLen(b: Uint8Array): number {
  return Number(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
}

function withHeader(file: Uint8Array, json: string): Uint8Array {
  const hb = new TextEncoder().encode(json);
  const n = headerLen(file);
  const out = new Uint8Array(8 + hb.length + (file.length - 8 - n));
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  out.set(file.subarray(8 + n), 8 + hb.length);
  return out;
}

/** One mutant of `file` (a valid safetensors file) and what was done to it. */
export function mutate(file: Uint8Array, rand: Random): { bytes: Uint8Array; what: string } {
  const kind = MUTATIONS[rand.int(MUTATIONS.length)];
  const n = headerLen(file);
  const header = JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: number[] }
  >;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const name = names[rand.int(names.length)];
  const pick = <T>(xs: T[]) => xs[rand.int(xs.length)];
  switch (kind) {
    case 'header-byte': {
      const b = file.slice();
      const count = 1 + rand.int(4);
      for (let i = 0; i < count; i++) b[8 + rand.int(n)] = rand.int(256);
      return { bytes: b, what: `${count} random header bytes` };
    }
    case 'length-prefix': {
      const b = file.slice();
      const v = pick([
        0n,
        1n,
        BigInt(n - 1),
        BigInt(n + 1),
        BigInt(file.length),
        2n ** 63n,
        2n ** 64n - 1n,
        BigInt(200 * 1024 * 1024),
        BigInt(rand.int(2 ** 31)),
      ]);
      new DataView(b.buffer).setBigUint64(0, v, true);
      return { bytes: b, what: `length prefix ${v}` };
    }
    case 'truncate': {
      const at = pick([
        0,
        3,
        7,
        8,
        8 + rand.int(n),
        8 + n + rand.int(Math.max(1, file.length - 8 - n)),
        file.length - 1,
      ]);
      return { bytes: file.slice(0, at), what: `truncated to ${at} bytes` };
    }
    case 'offsets': {
      const t = header[name];
      const v = pick([-1, 0, 1, 3, t.data_offsets[1] + 4, 2 ** 53, 1.5, file.length]);
      const which = rand.int(2);
      t.data_offsets[which] = v;
      if (rand.uniform() < 0.3) t.data_offsets = pick([[], [0], [0, 1, 2], 'x' as unknown as number[]]);
      return {
        bytes: withHeader(file, JSON.stringify(header)),
        what: `${name} data_offsets -> ${JSON.stringify(t.data_offsets)}`,
      };
    }
    case 'dtype': {
      header[name].dtype = pick(['F32', 'F16', 'BF16', 'F64', 'I8', 'Q4', '', 'f32', 'U8']);
      return { bytes: withHeader(file, JSON.stringify(header)), what: `${name} dtype -> ${header[name].dtype}` };
    }
    case 'shape': {
      const t = header[name];
      t.shape = pick([
        [],
        [0],
        [-1],
        [t.shape[0] ?? 1, 2 ** 40],
        [1.5],
        [...t.shape, 2],
        t.shape.slice(1),
        'x' as unknown as number[],
      ]);
      return { bytes: withHeader(file, JSON.stringify(header)), what: `${name} shape -> ${JSON.stringify(t.shape)}` };
    }
    case 'append':
      return {
        bytes: Uint8Array.from([...file, ...Array.from({ length: 1 + rand.int(16) }, () => rand.int(256))]),
        what: 'bytes appended',
      };
    case 'data-byte': {
      const b = file.slice();
      // flip bits in the data section: may create NaN/Inf weights, which loading must report
      for (let i = 0; i < 4; i++) b[8 + n + rand.int(file.length - 8 - n)] ^= 1 << rand.int(8);
      return { bytes: b, what: 'data bits flipped' };
    }
    case 'json-splice': {
      const json = new TextDecoder().decode(file.subarray(8, 8 + n));
      const at = rand.int(json.length);
      const junk = pick(['{', '}', '"', ',', '[', 'null', '\\u0000', '{"a":1}', '\u00ff', '']);
      const cut = rand.int(8);
      return {
        bytes: withHeader(file, json.slice(0, at) + junk + json.slice(at + cut)),
        what: `header JSON spliced at ${at}`,
      };
    }
  }
}

/**
 * One mutant of a valid GGUF file whose header ends at `dataStart`: random header bytes (anywhere,
 * or in its last 4 kB, where the tensor infos are), a u64 count, length or offset overwritten with
 * an extreme value, a u32 type or dimension count overwritten, or the file cut short.
 */
export function mutateGGUF(file: Uint8Array, dataStart: number, rand: Random): { bytes: Uint8Array; what: string } {
  const b = file.slice();
  const tail = Math.max(0, dataStart - 4096);
  const at = (n: number) => (rand.int(2) ? rand.int(dataStart - n) : tail + rand.int(dataStart - tail - n));
  switch (rand.int(4)) {
    case 0: {
      const p = at(1);
      b[p] = rand.int(256);
      return { bytes: b, what: `byte ${p}` };
    }
    case 1: {
      const p = at(8);
      const v = [0n, 1n, 2n ** 31n, 2n ** 63n - 1n, 2n ** 64n - 1n, BigInt(file.length), BigInt(rand.int(1 << 30))][
        rand.int(7)
      ];
      new DataView(b.buffer).setBigUint64(p, v, true);
      return { bytes: b, what: `u64 ${v} at ${p}` };
    }
    case 2: {
      const p = at(4);
      const v = rand.int(40);
      new DataView(b.buffer).setUint32(p, v, true);
      return { bytes: b, what: `u32 ${v} at ${p}` };
    }
    default: {
      const n = rand.int(file.length);
      return { bytes: b.subarray(0, n), what: `cut to ${n} bytes` };
    }
  }
}
