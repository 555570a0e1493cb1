// GGUF in and out: files written here read back into the same model bit for bit at every dtype,
// parse with an independent reader (@huggingface/gguf), carry GPT-2's BPE so that its merges
// tokenize as GPT-2 does, go through `gpt2 convert` and `gpt2 --model x.gguf`; broken and hostile
// files are one GGUFError each, never a crash or a hang.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { gguf as hfGGUF } from '@huggingface/gguf';
import { startWebServer } from '../scripts/web-server.js';
import { startFakeHub } from './hub-server.js';
import { fetchGPT2, ggufUrl } from '../src/weights/fetch.js';
import { createBackend, type Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { WEIGHT_DTYPES } from '../src/model/parameters.js';
import { parseGGUF, ggufHeader, GGUFError, NeedMoreBytes } from '../src/weights/gguf.js';
import { ggufName } from '../src/weights/gguf-gpt2.js';
import { saveGGUF, loadGGUF } from '../src/weights/gguf-node.js';
import { saveGPT2, loadGPT2 } from '../src/weights/node.js';
import { gpt2Vocabulary } from '../src/tokenizer/gpt2-vocab.js';
import { GPT2Tokenizer } from '../src/tokenizer/gpt2.js';
import { Random } from '../src/model/random.js';
import { mutateGGUF } from '../scripts/mutate.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const config = { n_layer: 2, n_head: 2, n_embd: 64, n_positions: 32, vocab_size: 50257 };
const ids = [464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13];
let dir: string, backend: Backend, base: GPT, hfDir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gguf-'));
  backend = await createBackend('wasm', { threads: 1 });
  base = new GPT(config, backend, { seed: 11 });
  hfDir = join(dir, 'hf');
  saveGPT2(base, hfDir);
});
afterAll(() => {
  base.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The same bytes (a fast toEqual for large typed arrays). */
const same = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
const logits = (m: GPT) => m.forward(ids, 1, ids.length).logits.data().slice();

function gpt2(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.trim() };
}

describe('GGUF: written, read back, read by another reader', () => {
  it.each(WEIGHT_DTYPES)('%s: the GGUF read back is the model held in that dtype, bit for bit', async (dtype) => {
    const inMemory = loadGPT2(hfDir, backend, dtype);
    const path = join(dir, `m-${dtype}.gguf`);
    saveGGUF(inMemory, path);
    const back = loadGGUF(path, backend);
    expect(back.dtype).toBe(dtype);
    for (const s of base.parameterSpecs) {
      const a = inMemory.parameter(s.name).view(),
        b = back.parameter(s.name).view();
      expect(same(a, b), s.name).toBe(true);
    }
    expect(logits(back)).toEqual(logits(inMemory));
    // @huggingface/gguf, written apart from this project, reads the same header
    const other = await hfGGUF(path, { allowLocalFile: true });
    const ours = parseGGUF(readFileSync(path), readFileSync(path).length, path);
    expect(other.metadata['general.architecture']).toBe('gpt2');
    expect((other.metadata as Record<string, unknown>)['gpt2.block_count']).toBe(2);
    expect(other.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype])).toEqual(
      ours.tensors.map((t) => [t.name, t.dims, t.type]),
    );
    expect(other.tensorDataOffset).toBe(BigInt(ours.dataStart));
    inMemory.dispose();
    back.dispose();
  });

  it('a q8_0 GGUF loaded as f32 holds its dequantized values; an f32 GGUF loaded as q8_0 quantizes as loading safetensors does', () => {
    const q8 = loadGGUF(join(dir, 'm-q8_0.gguf'), backend, 'f32');
    const ref = loadGPT2(hfDir, backend, 'q8_0');
    for (const s of base.parameterSpecs)
      expect(same(q8.parameterF32(s.name), ref.parameterF32(s.name)), s.name).toBe(true);
    const requant = loadGGUF(join(dir, 'm-f32.gguf'), backend, 'q8_0');
    expect(logits(requant)).toEqual(logits(ref));
    for (const m of [q8, ref, requant]) m.dispose();
  });

  it('fetchGPT2 streams a GGUF from a URL into the model (the page and GPT2.load take one so), as loading the file does', async () => {
    const server = await startWebServer({ isolated: false, routes: { '/m-q4.gguf': join(dir, 'm-q4_0.gguf') } });
    try {
      const plans: string[] = [];
      const got = await fetchGPT2(`${server.url}/m-q4.gguf`, backend, {
        cache: false,
        onPlan: (p) => plans.push(`${p.dtype} ${p.config.n_layer}x${p.config.n_embd}`),
      });
      expect(plans).toEqual(['q4_0 2x64']);
      // a hub repo and file name, as the page's URL field takes it
      expect(ggufUrl('ggml-org/models/gpt2/ggml-model-q8_0.gguf')).toBe(
        'https://huggingface.co/ggml-org/models/resolve/main/gpt2/ggml-model-q8_0.gguf',
      );
      expect(ggufUrl('https://example.org/m.gguf')).toBe('https://example.org/m.gguf');
      const file = loadGGUF(join(dir, 'm-q4_0.gguf'), backend);
      expect(logits(got.model)).toEqual(logits(file));
      expect(got.bytes).toBe(readFileSync(join(dir, 'm-q4_0.gguf')).length);
      got.model.dispose();
      file.dispose();
      // a download cut inside a tensor is refused, and leaves nothing in the arena
      const inUse = backend.arena.bytesInUse;
      const cut = await startWebServer({
        isolated: false,
        routes: {
          '/cut.gguf': (_req, res, headers) => {
            const whole = readFileSync(join(dir, 'm-q4_0.gguf'));
            res.writeHead(200, { ...headers, 'content-length': String(whole.length) });
            res.write(whole.subarray(0, 2_500_000), () => res.destroy()); // the connection drops inside a tensor
          },
        },
      });
      await expect(fetchGPT2(`${cut.url}/cut.gguf`, backend, { cache: false })).rejects.toThrow(
        /cut\.gguf.*(interrupted|ended|terminated)/,
      );
      expect(backend.arena.bytesInUse).toBe(inUse);
      await cut.close();
    } finally {
      await server.close();
    }
  });

  it('gpt2 --model owner/name/file.gguf: the header first (a Range request), then the file into the Hugging Face cache; offline after', async () => {
    const bytes = readFileSync(join(dir, 'm-q8_0.gguf'));
    const hub = await startFakeHub({ 'test-org/tiny-gguf': { 'model-q8_0.gguf': bytes } });
    const cache = join(dir, 'hub-cache');
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const args = ['-p', 'The quick brown fox', '--temperature', '0', '--max-tokens', '8'];
        const child = spawn(process.execPath, [CLI, ...args, '--model', 'test-org/tiny-gguf/model-q8_0.gguf'], {
          env: { ...process.env, HF_HUB_CACHE: cache, ...env },
        });
        let stdout = '',
          stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    try {
      const first = await run({ HF_ENDPOINT: hub.url });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toBe(
        gpt2(
          '-p',
          'The quick brown fox',
          '--temperature',
          '0',
          '--max-tokens',
          '8',
          '--model',
          join(dir, 'm-q8_0.gguf'),
        ).stdout,
      );
      expect(hub.requests.some((r) => r.range === `bytes=0-${(4 << 20) - 1}`)).toBe(true); // the header, before the file
      const offline = await run({ HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_OFFLINE: '1' });
      expect(offline.code, offline.stderr).toBe(0);
      expect(offline.stdout).toBe(first.stdout);
    } finally {
      await hub.close();
    }
  });

  it("GPT-2's BPE in the metadata: tokens in the byte alphabet, merges that tokenize text as GPT-2 does", () => {
    const { tokens, merges } = gpt2Vocabulary();
    expect(tokens.length).toBe(50257);
    expect([tokens[0], tokens[220], tokens[50256]]).toEqual(['!', 'Ġ', '<|endoftext|>']);
    expect(merges.length).toBe(50000);
    expect(merges.slice(0, 3)).toEqual(['Ġ t', 'Ġ a', 'h e']);
    // BPE by the merges, word by word, as llama.cpp's gpt2 tokenizer does it
    const rank = new Map(merges.map((m, i) => [m, i]));
    const id = new Map(tokens.map((t, i) => [t, i]));
    const alphabet = tokens.slice(0, 256); // bytes in the order of their ids; map byte -> char
    const byteChar = new Map<number, string>();
    const tok = new GPT2Tokenizer();
    for (let i = 0; i < 256; i++) byteChar.set(tok.bytes(i)[0], alphabet[i]);
    const text = " Hello world, it's a naïve café: 1234 tokens\n\nand    spaces";
    const words = text.match(/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu)!;
    const out: number[] = [];
    for (const w of words) {
      let parts = Array.from(new TextEncoder().encode(w), (b) => byteChar.get(b)!);
      for (;;) {
        let best = -1;
        for (let i = 0; i + 1 < parts.length; i++) {
          const r = rank.get(`${parts[i]} ${parts[i + 1]}`);
          if (r !== undefined && (best < 0 || r < rank.get(`${parts[best]} ${parts[best + 1]}`)!)) best = i;
        }
        if (best < 0) break;
        parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
      }
      out.push(...parts.map((p) => id.get(p)!));
    }
    expect(out).toEqual(tok.encode(text));
  });

  it('gpt2 convert: safetensors -> GGUF q8_0 generates what --dtype q8_0 does; GGUF -> a Hugging Face directory in f32', () => {
    const gg = join(dir, 'cli-q8.gguf');
    const c = gpt2('convert', hfDir, gg, '--dtype', 'q8_0');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toMatch(/^wrote .*cli-q8\.gguf: GGUF, q8_0 weights, [\d,]+ parameters, [\d.]+ MB in [\d.]+ s$/);
    const prompt = ['-p', 'The quick brown fox', '--temperature', '0', '--max-tokens', '8'];
    const fromGGUF = gpt2(...prompt, '--model', gg);
    const inMemory = gpt2(...prompt, '--model', hfDir, '--dtype', 'q8_0');
    expect(fromGGUF.code, fromGGUF.stderr).toBe(0);
    expect(fromGGUF.stdout).toBe(inMemory.stdout);
    expect(fromGGUF.stdout.length).toBeGreaterThan(0);
    const back = join(dir, 'from-gguf');
    const d = gpt2('convert', gg, back);
    expect(d.code, d.stderr).toBe(0);
    const f32 = loadGPT2(back, backend);
    const ref = loadGPT2(hfDir, backend, 'q8_0');
    expect(f32.dtype).toBe('f32');
    for (const s of base.parameterSpecs)
      expect(same(f32.parameterF32(s.name), ref.parameterF32(s.name)), s.name).toBe(true);
    f32.dispose();
    ref.dispose();
    expect(gpt2('convert', hfDir, join(dir, 'x'), '--dtype', 'q4_0').stderr).toBe(
      'gpt2 convert: --dtype q4_0 is for a .gguf; a Hugging Face directory holds f32 weights',
    );
  });
});

/** A GGUF with these metadata keys and tensors (F32 data of the right size), for the refusals. */
function file(meta: Parameters<typeof ggufHeader>[0], tensors: { name: string; dims: number[]; type?: number }[]) {
  const ts = tensors.map((t) => ({ type: 0, ...t, bytes: t.dims.reduce((a, b) => a * b, 1) * 4 }));
  const { header } = ggufHeader(meta, ts);
  const size = ts.reduce((n, t) => n + Math.ceil(t.bytes / 32) * 32, 0);
  const out = new Uint8Array(header.length + size);
  out.set(header);
  return out;
}

const parse = (b: Uint8Array) => parseGGUF(b, b.length, 'f.gguf');
const error = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e, (e as Error).message).toBeInstanceOf(GGUFError);
    expect((e as Error).message).not.toContain('\n');
    return (e as Error).message;
  }
  throw new Error('expected a GGUFError');
};

describe('GGUF: broken and hostile files are refused with one line', () => {
  const small = file(
    [
      ['general.architecture', { type: 'string', value: 'gpt2' }],
      ['tokenizer.ggml.tokens', { type: 'string[]', value: ['a', 'b', 'c'] }],
    ],
    [
      { name: 'a', dims: [8, 2] },
      { name: 'b', dims: [4] },
    ],
  );
  const set64 = (b: Uint8Array, at: number, v: bigint) => {
    const c = b.slice();
    new DataView(c.buffer).setBigUint64(at, v, true);
    return c;
  };

  it('magic, version, counts, lengths, offsets, types, dims, truncation', () => {
    expect(parse(small).tensors.map((t) => t.name)).toEqual(['a', 'b']);
    const bad = small.slice();
    bad[0] = 0x47 + 1;
    expect(error(() => parse(bad))).toBe('f.gguf: not a GGUF file (it starts with "HGUF", not "GGUF")');
    const v1 = small.slice();
    v1[4] = 1;
    expect(error(() => parse(v1))).toBe('f.gguf: GGUF version 1 is not supported (2 and 3 are)');
    const be = small.slice();
    new DataView(be.buffer).setUint32(4, 0x03000000, true);
    expect(error(() => parse(be))).toMatch(/big-endian/);
    expect(error(() => parse(set64(small, 8, 2n ** 62n)))).toMatch(
      /the tensor count is 4611686018427387904, more than/,
    );
    expect(error(() => parse(set64(small, 16, 2n ** 40n)))).toMatch(/the key-value count is 1099511627776, more than/);
    expect(error(() => parse(set64(small, 24, 2n ** 50n)))).toMatch(/the length of key 0 is \d+, more than/);
    expect(error(() => parse(small.subarray(0, 100)))).toMatch(/runs past the end of the 100-byte file/);
    const t = (name: string, dims: number[], type = 0) => file([], [{ name, dims, type }]);
    expect(error(() => parse(t('w', [32, 2], 14)))).toBe(
      "f.gguf: tensor 'w' is Q6_K, which this reader does not take (F32, F16, Q8_0 and Q4_0; K-quants not yet)",
    );
    expect(error(() => parse(t('w', [30, 2], 8)))).toMatch(/rows of 30 values, not a multiple of 32/);
    expect(error(() => parse(t('w', [1, 1, 1, 1, 1])))).toMatch(/has 5 dimensions \(1 to 4\)/);
    expect(error(() => parse(t('w', [4, 0])))).toMatch(/has an empty dimension/);
    const twice = file(
      [],
      [
        { name: 'w', dims: [4] },
        { name: 'w', dims: [4] },
      ],
    );
    expect(error(() => parse(twice))).toBe("f.gguf: tensor 'w' appears twice");
    const align = file([['general.alignment', { type: 'u32', value: 3 }]], []);
    expect(error(() => parse(align))).toMatch(/general.alignment 3 is not a power of two/);
    // a header longer than the bytes given asks for more instead of failing
    expect(() => parseGGUF(small.subarray(0, 40), small.length, 'f.gguf')).toThrow(NeedMoreBytes);
  });

  it('another architecture, another vocabulary, another MLP width, a tensor missing: named', () => {
    const path = join(dir, 'refuse.gguf');
    const good = readFileSync(join(dir, 'm-f32.gguf'));
    const h = parseGGUF(good, good.length, 'x');
    const rewrite = (edit: (meta: [string, Parameters<typeof ggufHeader>[0][number][1]][]) => void) => {
      const meta = [...h.metadata].map(
        ([k, v]) => [k, toWrite(v)] as [string, Parameters<typeof ggufHeader>[0][number][1]],
      );
      edit(meta);
      const tensors = h.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, bytes: t.end - t.begin }));
      const { header } = ggufHeader(meta, tensors);
      const out = new Uint8Array(header.length + good.length - h.dataStart);
      out.set(header);
      out.set(good.subarray(h.dataStart), header.length);
      writeFileSync(path, out);
      return () => loadGGUF(path, backend);
    };
    expect(error(rewrite((m) => (m[0][1] = { type: 'string', value: 'llama' })))).toBe(
      `${path}: architecture 'llama' is not GPT-2 (this project runs 'gpt2' GGUF files)`,
    );
    expect(
      error(
        rewrite((m) => {
          const tokens = m.find(([k]) => k === 'tokenizer.ggml.tokens')![1] as { value: string[] };
          tokens.value = tokens.value.slice();
          tokens.value[5] = 'xyz';
        }),
      ),
    ).toBe(`${path}: token 5 is "xyz", GPT-2's is "&": another vocabulary`);
    expect(
      error(rewrite((m) => (m.find(([k]) => k === 'gpt2.feed_forward_length')![1] = { type: 'u32', value: 100 }))),
    ).toMatch(/feed_forward_length is 100; GPT-2's MLP is 4 x n_embd = 256/);
    expect(error(rewrite((m) => (m.find(([k]) => k === 'gpt2.block_count')![1] = { type: 'u32', value: 3 })))).toBe(
      `${path}: tensor 'blk.2.attn_norm.weight' (h.2.ln_1.weight) is missing`,
    );
  });

  it('fuzz: 3,000 mutants of a small GGUF parse or throw one GGUFError; 40 mutants of a GPT-2 GGUF load or throw one', () => {
    const rand = new Random(20261207);
    const mutants = (src: Uint8Array, headerEnd: number, n: number) =>
      Array.from({ length: n }, () => mutateGGUF(src, headerEnd, rand).bytes);
    let parsed = 0;
    for (const m of mutants(small, parse(small).dataStart, 3000)) {
      try {
        parse(m);
        parsed++;
      } catch (e) {
        if (!(e instanceof GGUFError)) throw e;
        expect(e.message).not.toContain('\n');
      }
    }
    expect(parsed).toBeGreaterThan(0);
    const good = readFileSync(join(dir, 'm-q8_0.gguf'));
    const h = parseGGUF(good, good.length, 'x');
    const inUse = backend.arena.bytesInUse;
    const path = join(dir, 'mutant.gguf');
    for (const m of mutants(good, h.dataStart, 40)) {
      writeFileSync(path, m);
      try {
        loadGGUF(path, backend).dispose();
      } catch (e) {
        if (!(e instanceof GGUFError)) throw e;
        expect((e as Error).message).not.toContain('\n');
      }
    }
    expect(backend.arena.bytesInUse).toBe(inUse);
    expect(ggufName('h.1.mlp.c_proj.bias')).toBe('blk.1.ffn_down.bias');
  }, 60_000);
});

/** A parsed value back into the writer's form (the keys a GPT-2 GGUF has). */
function toWrite(v: unknown): Parameters<typeof ggufHeader>[0][number][1] {
  if (typeof v === 'string') return { type: 'string', value: v };
  if (Array.isArray(v))
    return typeof v[0] === 'string'
      ? { type: 'string[]', value: v as string[] }
      : { type: 'i32[]', value: v as number[] };
  if (typeof v === 'number' && !Number.isInteger(v)) return { type: 'f32', value: v };
  return { type: 'u32', value: Number(v) };
}
