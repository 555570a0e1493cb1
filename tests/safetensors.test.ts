// The safetensors reader on bad input: every defect gives a one-line SafetensorsError naming
// the problem; and a fuzz run over mutated files never crashes, hangs or throws anything else.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { SafetensorsFile, SafetensorsError, writeSafetensors, parseSafetensors } from '../src/weights/safetensors.js';
import { gptFromSafetensors, modelToSafetensors } from '../src/weights/gpt2.js';
import { mutate } from '../scripts/mutate.js';
import { Random } from '../src/model/random.js';
import { bothBackends } from './helpers.js';

const tiny = { n_layer: 1, n_head: 2, n_embd: 8, n_positions: 8, vocab_size: 11 };
let backends: { wasm: Backend; js: Backend };
let valid: Uint8Array;
beforeAll(async () => {
  backends = await bothBackends();
  const m = new GPT(tiny, backends.js, { seed: 3 });
  valid = modelToSafetensors(m);
  m.dispose();
});

function header(json: string, data = new Uint8Array(0), declared?: number): Uint8Array {
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(declared ?? hb.length), true);
  out.set(hb, 8);
  out.set(data, 8 + hb.length);
  return out;
}

const err = (bytes: Uint8Array) => {
  try {
    parseSafetensors(bytes, 'f.safetensors');
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
};

describe('safetensors: bad files are refused with one line that names the problem', () => {
  it('truncated files and impossible header lengths', () => {
    expect(err(new Uint8Array(5)).message).toBe(
      'f.safetensors: 5 bytes is too short for a safetensors file (needs at least 8)',
    );
    expect(err(header('{}', new Uint8Array(0), 1000)).message).toBe(
      'f.safetensors: header length 1000 runs past the end of the 10-byte file',
    );
    expect(err(header('{}', new Uint8Array(0), 200 * 1024 * 1024)).message).toMatch(
      /header length 209715200 exceeds the 104857600-byte limit/,
    );
    expect(err(valid.slice(0, valid.length - 3)).message).toMatch(
      /data_offsets \[\d+, \d+\] lie outside the \d+-byte data section/,
    );
  });
  it('non-JSON headers and unknown dtypes', () => {
    expect(err(header('{"a": ')).message).toMatch(/^f\.safetensors: the header is not valid UTF-8 JSON/);
    expect(err(header('[1,2]')).message).toBe('f.safetensors: the header is not a JSON object');
    expect(err(header('{"w":{"dtype":"Q4","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1))).message).toBe(
      `f.safetensors: tensor 'w' has unknown dtype "Q4"`,
    );
  });
  it('offsets outside the data, overlapping, or disagreeing with the shape', () => {
    const d = new Uint8Array(16);
    expect(err(header('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,32]}}', d)).message).toBe(
      `f.safetensors: tensor 'w' data_offsets [0, 32] lie outside the 16-byte data section`,
    );
    expect(err(header('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', d)).message).toBe(
      `f.safetensors: tensor 'w' F32 (3) needs 12 bytes but its offsets span 8`,
    );
    expect(
      err(
        header(
          '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
          d,
        ),
      ).message,
    ).toBe(`f.safetensors: tensors 'a' and 'b' overlap`);
    expect(err(header('{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}}', d)).message).toBe(
      `f.safetensors: tensor 'w' has an invalid shape [-1]`,
    );
  });
  it('tensor names with control or bidi characters are shown escaped: the message stays one line and plain', () => {
    const name = 'h.0\n\u001b[2J\u001b[31mfake: all good\u202e';
    const json = JSON.stringify({ [name]: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } });
    const msg = err(header(json, new Uint8Array(1))).message;
    expect(msg).toBe(
      `f.safetensors: tensor 'h.0\\u000a\\u001b[2J\\u001b[31mfake: all good\\u202e' has unknown dtype "Q4"`,
    );
    expect(msg).not.toMatch(/[\u0000-\u001f\u202e]/);
    // a name asked for (from a caller) is escaped the same way
    expect(() => new SafetensorsFile(valid, 'm.safetensors').info('wte\u0007\r')).toThrow(
      "m.safetensors: no tensor named 'wte\\u0007\\u000d'",
    );
  });

  it('a valid file reads back what was written', () => {
    const f = new SafetensorsFile(
      writeSafetensors(
        [{ name: 'x', dtype: 'F32', shape: [2, 2], data: new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer) }],
        { note: 'hi' },
      ),
    );
    expect(f.floats('x')).toEqual(new Float32Array([1, 2, 3, 4]));
    expect(f.metadata).toEqual({ note: 'hi' });
  });
});

describe('safetensors fuzz: mutated files load or fail cleanly', () => {
  it('400 mutants: each loads or throws a one-line SafetensorsError, never anything else; nothing leaks', () => {
    const rand = new Random(20261123);
    const be = backends.wasm;
    const inUse = be.arena.bytesInUse;
    const outcomes = { loaded: 0, refused: 0 };
    for (let i = 0; i < 400; i++) {
      const { bytes, what } = mutate(valid, rand);
      try {
        const m = gptFromSafetensors(bytes, tiny, be, 'mutant');
        m.dispose();
        outcomes.loaded++;
      } catch (e) {
        if (!(e instanceof SafetensorsError))
          throw new Error(`mutant ${i} (${what}) threw ${(e as Error).name}: ${(e as Error).message}`);
        expect((e as Error).message.includes('\n'), what).toBe(false);
        outcomes.refused++;
      }
    }
    expect(be.arena.bytesInUse).toBe(inUse);
    expect(outcomes.refused).toBeGreaterThan(200);
  });
});
