// A/B of two builds of the kernels on GPT-2 124M's decode (random weights in the published
// shape, one thread): is B faster than A at this weight dtype, and by how much, and how far apart
// are their logits?
//   npm run bench:ab-decode -- A.wasm B.wasm [--dtype q4_0] [--rounds 7] [--steps 64]
// Build a variant with e.g. `npx asc /tmp/v/index.ts --config asconfig.json --target relaxed
// --outFile /tmp/v.wasm` from a copy of assembly/, and compare it with build/kernels-relaxed.wasm.
//
// Both models live in this process with the same weights; each round decodes `steps` tokens after
// a 16-token prompt on each, the builds' order reversed every other round. Prints both medians in
// tokens/s and the median of the rounds' B/A ratios with their range, and before that the largest
// difference of the two builds' logits over the prompt and 8 decode steps. For q8_0 and q4_0 it
// then times the decode kernel alone on one row (linear_q8_0 / linear_q4_0, alternating, 15 rounds):
// 768 x 512 blocks (in L2, what the instructions cost) and 768 x 50257 (the LM head, from memory),
// in ns per block of 32 weights.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd');
import { readFileSync } from 'node:fs';
import { WasmBackend, Tensor, dtypeBytes } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { GPT2_PRESETS } from '../src/model/config.js';
import { WEIGHT_DTYPES, type WeightDType } from '../src/model/parameters.js';
import { Random } from '../src/model/random.js';
import { median } from './median.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const at = args.indexOf(name);
  return at >= 0 ? args[at + 1] : fallback;
};
const dtype = option('--dtype', 'q4_0') as WeightDType;
const ROUNDS = Number(option('--rounds', '7')),
  STEPS = Number(option('--steps', '64'));
const paths = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
if (paths.length !== 2 || !WEIGHT_DTYPES.includes(dtype) || !(ROUNDS >= 2) || !(STEPS >= 1)) {
  console.error(
    `usage: npm run bench:ab-decode -- A.wasm B.wasm [--dtype ${WEIGHT_DTYPES.join('|')}] [--rounds N >= 2] [--steps N]`,
  );
  process.exit(2);
}

const runs = await Promise.all(
  paths.map(async (path) => {
    const backend = await WasmBackend.create({ threads: 1, kernels: readFileSync(path) });
    return { backend, model: new GPT(GPT2_PRESETS.gpt2, backend, { seed: 1, dtype }), rates: [] as number[] };
  }),
);
const rand = new Random(1);
const prompt = Array.from({ length: 16 }, () => rand.int(50257));

// the logits of both builds: the prompt, then 8 steps (this also warms both up)
const logits = runs.map(({ model }) => {
  const cache = model.createKvCache();
  const all = [model.forwardCached(prompt, cache).data().slice()];
  for (let i = 0; i < 8; i++) all.push(model.forwardCached([prompt[i]], cache).data().slice());
  cache.dispose();
  return all;
});
let diff = 0,
  largest = 0;
for (let s = 0; s < logits[0].length; s++)
  for (let i = 0; i < logits[0][s].length; i++) {
    diff = Math.max(diff, Math.abs(logits[0][s][i] - logits[1][s][i]));
    largest = Math.max(largest, Math.abs(logits[0][s][i]));
  }

for (let round = 0; round < ROUNDS; round++) {
  for (const r of round % 2 ? [runs[1], runs[0]] : runs) {
    const cache = r.model.createKvCache();
    r.model.forwardCached(prompt, cache);
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) r.model.forwardCached([prompt[i % prompt.length]], cache);
    r.rates.push(STEPS / ((performance.now() - t0) / 1000));
    cache.dispose();
  }
}
const [a, b] = runs;
const ratios = a.rates.map((x, i) => b.rates[i] / x);
console.log(`A ${paths[0]}\nB ${paths[1]}`);
console.log(`GPT-2 124M, ${dtype} weights, one thread: ${ROUNDS} rounds of ${STEPS} decode steps after 16 tokens`);
console.log(`logits: B differs from A by at most ${diff.toExponential(2)} (the largest logit: ${largest.toFixed(3)})`);
console.log(
  `decode: A ${median(a.rates).toFixed(1)} tok/s, B ${median(b.rates).toFixed(1)} tok/s (medians); ` +
    `B/A ${median(ratios).toFixed(3)}x (${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}), ` +
    `B faster in ${ratios.filter((x) => x > 1).length} of ${ROUNDS} rounds`,
);

if (dtype === 'q8_0' || dtype === 'q4_0') {
  const C = 768;
  for (const OC of [512, 50257]) {
    const reps = Math.max(3, Math.round(150000 / OC)),
      blocks = (OC * C) / 32;
    const kernels = runs.map(({ backend }) => {
      // random blocks with finite scales, one row of activations
      const w = new Tensor(backend.arena, backend.arena.alloc(dtypeBytes(dtype, OC * C), 'w'), [OC, C], dtype, 'w');
      const bytes = w.blocks(),
        bb = dtype === 'q8_0' ? 34 : 18,
        rand = new Random(3);
      for (let i = 0; i < bytes.length; i++) bytes[i] = rand.int(256);
      for (let i = 0; i < bytes.length; i += bb) bytes[i + 1] = 0x20 + rand.int(8); // f16 scales near 2^-7
      const x = new Tensor(backend.arena, backend.arena.alloc(C * 4, 'x'), [1, 1, C], 'f32', 'x');
      x.data().set(Array.from({ length: C }, () => rand.normal()));
      const out = new Tensor(backend.arena, backend.arena.alloc(OC * 4, 'out'), [1, 1, OC], 'f32', 'out');
      const call = () =>
        dtype === 'q8_0'
          ? backend.linear_q8_0(out, x, w, null, 1, 1, C, OC)
          : backend.linear_q4_0(out, x, w, null, 1, 1, C, OC);
      for (let i = 0; i < 5; i++) call();
      return { call, ns: [] as number[], free: () => [w, x, out].forEach((t) => backend.arena.release(t.ptr)) };
    });
    for (let round = 0; round < 15; round++) {
      for (const k of round % 2 ? [kernels[1], kernels[0]] : kernels) {
        const t0 = performance.now();
        for (let i = 0; i < reps; i++) k.call();
        k.ns.push(((performance.now() - t0) * 1e6) / (reps * blocks));
      }
    }
    const ratios = kernels[0].ns.map((x, i) => x / kernels[1].ns[i]);
    console.log(
      `linear_${dtype} alone, 1 x ${C} times ${C} x ${OC}: A ${median(kernels[0].ns).toFixed(2)} ns a block, ` +
        `B ${median(kernels[1].ns).toFixed(2)}; B/A speed ${median(ratios).toFixed(3)}x ` +
        `(${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
    );
    for (const k of kernels) k.free();
  }
}
