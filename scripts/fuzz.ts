// npm run fuzz [-- --cases N --seed S --format safetensors|gguf]: load N mutants of a valid GPT
// checkpoint. safetensors: header bytes, length prefix, offsets, dtypes, shapes, truncation,
// appended bytes, flipped data bits, spliced JSON; gguf (a q8_0 GPT-2 GGUF): header bytes, u64
// counts, lengths and offsets, u32 types and dimension counts, truncation. Each must load or fail
// with the format's error (SafetensorsError, GGUFError); any other error is a crash, and any case
// slower than 1 s is reported as a possible hang.
import { parseArgs } from 'node:util';
import { WasmBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { SafetensorsError } from '../src/weights/safetensors.js';
import { gptFromSafetensors, modelToSafetensors } from '../src/weights/gpt2.js';
import { mutate, mutateGGUF } from './mutate.js';
import { parseGGUF, GGUFError } from '../src/weights/gguf.js';
import { gpt2GGUFBytes, gptFromGGUF } from '../src/weights/gguf-gpt2.js';
import { Random } from '../src/model/random.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    format: { type: 'string', default: 'safetensors' },
  },
});
const cases = Number(values.cases),
  seed = Number(values.seed);
const gguf = values.format === 'gguf';
if (!gguf && values.format !== 'safetensors') throw new Error(`--format is safetensors or gguf, not ${values.format}`);
const config = gguf
  ? { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 16, vocab_size: 50257 }
  : { n_layer: 2, n_head: 2, n_embd: 12, n_positions: 16, vocab_size: 29 };
const backend = await WasmBackend.create();
const source = new GPT(config, backend, { seed: 1, dtype: gguf ? 'q8_0' : 'f32' });
const valid = gguf ? gpt2GGUFBytes(source) : modelToSafetensors(source);
source.dispose();
const dataStart = gguf ? parseGGUF(valid, valid.length, 'valid').dataStart : 0;
const FormatError = gguf ? GGUFError : SafetensorsError;

const rand = new Random(seed);
const counts = { loaded: 0, refused: 0, crashed: 0, slow: 0 };
const crashes: string[] = [];
let slowest = 0;
const inUse = backend.arena.bytesInUse;
const t0 = performance.now();
for (let i = 0; i < cases; i++) {
  const { bytes, what } = gguf ? mutateGGUF(valid, dataStart, rand) : mutate(valid, rand);
  const t = performance.now();
  try {
    (gguf ? gptFromGGUF(bytes, backend, 'mutant') : gptFromSafetensors(bytes, config, backend, 'mutant')).dispose();
    counts.loaded++;
  } catch (e) {
    if (e instanceof FormatError && !e.message.includes('\n')) counts.refused++;
    else {
      counts.crashed++;
      if (crashes.length < 10) crashes.push(`case ${i} (${what}): ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  const dt = performance.now() - t;
  slowest = Math.max(slowest, dt);
  if (dt > 1000) counts.slow++;
}
const leaked = backend.arena.bytesInUse - inUse;
console.log(
  `${cases} mutants of a ${valid.length}-byte checkpoint (seed ${seed}) in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
    `${counts.loaded} loaded, ${counts.refused} refused with a ${FormatError.name}, ${counts.crashed} crashed, ${counts.slow} slower than 1 s ` +
    `(slowest ${slowest.toFixed(1)} ms), ${leaked} arena bytes leaked`,
);
for (const c of crashes) console.log(c);
process.exit(counts.crashed || counts.slow || leaked ? 1 : 0);
