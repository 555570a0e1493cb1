// A/B of two builds of the kernels inside the toy model's training step (4 layers, 4 heads, 128
// wide, vocab 65, batch 32 x 128), on one thread: is B faster than A, and where, and does it
// compute the same bits?
//   npm run bench:ab -- A.wasm B.wasm [--rounds 30]
// Build a variant with e.g. `npx asc /tmp/v/index.ts --config asconfig.json --target relaxed
// --outFile /tmp/v.wasm` from a copy of assembly/, and compare it with build/kernels-relaxed.wasm.
//
// One model per build in this process, a step of each per round, the builds' order reversed every
// other round (whichever runs second in a round is slowed by about 1-2 ms). Prints the step's
// median of B - A (and in how many rounds B was faster), then each kernel's time per step for A
// and B; last, both builds' parameters after 3 more steps from the same start, bit for bit.
// Differences under about 1 ms a step are within what two runs of the same build show here.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd');
import { readFileSync } from 'node:fs';
import { WasmBackend, type KernelName } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { Random } from '../src/model/random.js';
import { median } from './median.js';

const args = process.argv.slice(2);
const roundsAt = args.indexOf('--rounds');
const ROUNDS = roundsAt >= 0 ? Number(args[roundsAt + 1]) : 30;
const paths = args.filter((a, i) => !a.startsWith('--') && (roundsAt < 0 || i !== roundsAt + 1));
if (paths.length !== 2 || !Number.isInteger(ROUNDS) || ROUNDS < 2) {
  console.error('usage: npm run bench:ab -- A.wasm B.wasm [--rounds N]   (two kernel builds, N >= 2 rounds)');
  process.exit(2);
}

const config = { n_layer: 4, n_head: 4, n_embd: 128, n_positions: 128, vocab_size: 65 };
const B = 32,
  T = 128;
const rand = new Random(2);
const tokens = Array.from({ length: B * T }, () => rand.int(config.vocab_size));
const targets = Array.from({ length: B * T }, () => rand.int(config.vocab_size));

/** Add each kernel's time to `times` (while `on`): every kernel call goes through the backend's run. */
function timeKernels(be: WasmBackend, times: Map<string, number>, on: () => boolean): void {
  const target = be as unknown as { run(kernel: KernelName, tensors: unknown[], scalars: number[]): unknown };
  const run = target.run.bind(be);
  target.run = (kernel, tensors, scalars) => {
    const t0 = performance.now();
    const r = run(kernel, tensors, scalars);
    if (on()) {
      // the linear layers by shape, C x OC (their scalars are B, T, C, OC)
      const key =
        kernel === 'matmul_forward' || kernel === 'matmul_backward' ? `${kernel} ${scalars[2]}x${scalars[3]}` : kernel;
      times.set(key, (times.get(key) ?? 0) + performance.now() - t0);
    }
    return r;
  };
}

const step = (m: GPT) => {
  m.zeroGrad();
  m.forward(tokens, B, T, targets);
  m.backward();
  m.step({ lr: 1e-3, decay: 'matrices' });
};

// timing
let timing = false;
const runs = await Promise.all(
  paths.map(async (path) => {
    const backend = await WasmBackend.create({ threads: 1, kernels: readFileSync(path) }),
      times = new Map<string, number>();
    timeKernels(backend, times, () => timing);
    return { backend, model: new GPT(config, backend, { seed: 1 }), times, steps: [] as number[] };
  }),
);
for (let i = 0; i < 3; i++) for (const r of runs) step(r.model);
timing = true;
for (let round = 0; round < ROUNDS; round++) {
  for (const r of round % 2 ? [runs[1], runs[0]] : runs) {
    const t0 = performance.now();
    step(r.model);
    r.steps.push(performance.now() - t0);
  }
}
timing = false;
const [a, b] = runs;
const d = a.steps.map((x, i) => b.steps[i] - x);
console.log(
  `A ${paths[0]}\nB ${paths[1]}\n${ROUNDS} rounds of the toy step on one thread, order reversed every other round`,
);
console.log(
  `step: A ${median(a.steps).toFixed(1)} ms, B ${median(b.steps).toFixed(1)} ms (medians); B - A ${median(d).toFixed(2)} ms (median), B faster in ${d.filter((x) => x < 0).length} of ${ROUNDS} rounds`,
);
console.log('ms per step     A        B    B - A  kernel');
for (const [key, ta] of [...a.times].sort((x, y) => y[1] - x[1])) {
  const tb = b.times.get(key) ?? 0;
  console.log(
    `${(ta / ROUNDS).toFixed(2).padStart(8)} ${(tb / ROUNDS).toFixed(2).padStart(8)} ${((tb - ta) / ROUNDS).toFixed(2).padStart(8)}  ${key}`,
  );
}
for (const r of runs) r.model.dispose();

// the same bits? Fresh models, 3 steps each
const params: Uint32Array[] = [];
for (const r of runs) {
  const m = new GPT(config, r.backend, { seed: 1 });
  for (let i = 0; i < 3; i++) step(m);
  params.push(new Uint32Array(Float32Array.from(m.params.all.data()).buffer)); // a copy, as bits
  m.dispose();
}
let differ = 0;
for (let i = 0; i < params[0].length; i++) if (params[0][i] !== params[1][i]) differ++;
console.log(`parameters after 3 steps: ${params[0].length}, ${differ} differing${differ ? '' : ' (bit-identical)'}`);
