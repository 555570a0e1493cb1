// Grokking (Power et al. 2022) on our kernels: a 1-layer GPT-2 learns a+b mod 97 from a fraction
// of all pairs. Inputs are `a b =`, the loss counts only the answer. Training accuracy reaches
// 100% early; validation accuracy follows much later, with strong weight decay.
//   npm run train:grokking -- [--fraction 0.2] [--max-steps 20000] [--eval-every 50] [--out out/grokking]
// Writes log.csv and accuracy.svg into --out and prints when each accuracy first reached 99%.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd'); // the fused multiply-add build, as the CLI uses
import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WasmBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { Random } from '../src/model/random.js';
import { lineChartSvg } from '../src/train/svg.js';

const { values } = parseArgs({
  options: {
    fraction: { type: 'string', default: '0.2' },
    'max-steps': { type: 'string', default: '20000' },
    'eval-every': { type: 'string', default: '50' },
    out: { type: 'string', default: 'out/grokking' },
    seed: { type: 'string', default: '0' },
    'batch-size': { type: 'string', default: '512' },
    threads: { type: 'string' },
  },
});
const P = 97,
  EQ = P,
  fraction = Number(values.fraction),
  maxSteps = Number(values['max-steps']);
const evalEvery = Number(values['eval-every']),
  B = Number(values['batch-size']),
  seed = Number(values.seed);
const out = `${values.out}-${Math.round(fraction * 100)}pct`;
mkdirSync(out, { recursive: true });

// every pair (a, b), shuffled; the first `fraction` train, the rest validation
const rand = new Random(seed);
const pairs: [number, number][] = [];
for (let a = 0; a < P; a++) for (let b = 0; b < P; b++) pairs.push([a, b]);
for (let i = pairs.length - 1; i > 0; i--) {
  const j = rand.int(i + 1);
  [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
}
const nTrain = Math.round(pairs.length * fraction);
const train = pairs.slice(0, nTrain),
  val = pairs.slice(nTrain);

const T = 3;
function batch(examples: [number, number][]): { tokens: Int32Array; targets: Int32Array } {
  const tokens = new Int32Array(examples.length * T),
    targets = new Int32Array(examples.length * T).fill(-1);
  examples.forEach(([a, b], i) => {
    tokens.set([a, b, EQ], i * T);
    targets[i * T + 2] = (a + b) % P;
  });
  return { tokens, targets };
}

const backend = await WasmBackend.create(values.threads ? { threads: Number(values.threads) } : {});
const model = new GPT({ n_layer: 1, n_head: 4, n_embd: 128, n_positions: T, vocab_size: P + 1 }, backend, { seed });

function accuracy(examples: [number, number][]): number {
  let right = 0;
  const V = P + 1;
  for (let start = 0; start < examples.length; start += 2048) {
    const chunk = examples.slice(start, start + 2048);
    const { tokens, targets } = batch(chunk);
    // logits of the answer positions only: (1, chunk.length, V)
    const logits = model.forward(tokens, chunk.length, T, targets, { rows: 'targets' }).logits.data();
    chunk.forEach(([a, b], i) => {
      const row = i * V;
      let best = 0;
      for (let v = 1; v < P; v++) if (logits[row + v] > logits[row + best]) best = v;
      if (best === (a + b) % P) right++;
    });
  }
  return right / examples.length;
}

console.log(
  `a+b mod ${P}: ${train.length} training pairs (${(fraction * 100).toFixed(0)}%), ${val.length} validation; ` +
    `1 layer, 4 heads, n_embd 128, ${model.numParameters} parameters; AdamW lr 1e-3, betas 0.9/0.98, weight decay 1.0, batch ${B}; ` +
    `${backend.threads} thread(s), ${backend.simd} SIMD`,
);
const log: string[] = ['step,loss,train_acc,val_acc,elapsed_s'];
const trainCurve: [number, number][] = [],
  valCurve: [number, number][] = [];
let trainAt: number | null = null,
  valAt: number | null = null;
const t0 = performance.now();
const batchRand = new Random(seed + 1);
for (let step = 1; step <= maxSteps; step++) {
  const examples = Array.from({ length: B }, () => train[batchRand.int(train.length)]);
  const { tokens, targets } = batch(examples);
  // only the answer has a loss: past the attention, the model computes that row alone
  const { loss } = model.forward(tokens, B, T, targets, { rows: 'targets' });
  model.zeroGrad();
  model.backward();
  model.step({ lr: 1e-3, beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 1.0, decay: 'all' });
  if (step % evalEvery === 0 || step === 1) {
    const tr = accuracy(train),
      va = accuracy(val),
      s = (performance.now() - t0) / 1000;
    trainCurve.push([step, tr * 100]);
    valCurve.push([step, va * 100]);
    log.push(`${step},${loss},${tr},${va},${s.toFixed(2)}`);
    if (trainAt === null && tr >= 0.99) trainAt = step;
    if (valAt === null && va >= 0.99) valAt = step;
    process.stderr.write(
      `step ${step}: loss ${loss!.toFixed(4)}, train acc ${(tr * 100).toFixed(1)}%, val acc ${(va * 100).toFixed(1)}% (${s.toFixed(0)} s)\n`,
    );
    if (valAt !== null && step >= valAt + 5 * evalEvery) break; // seen it settle
  }
}
const seconds = (performance.now() - t0) / 1000;
writeFileSync(join(out, 'log.csv'), log.join('\n') + '\n');
writeFileSync(
  join(out, 'accuracy.svg'),
  lineChartSvg(
    [
      { name: 'train accuracy', color: '#1f5fa8', points: trainCurve },
      { name: 'validation accuracy', color: '#d9622b', points: valCurve },
    ],
    {
      title: `Grokking a+b mod ${P} with ${(fraction * 100).toFixed(0)}% of pairs for training`,
      xLabel: 'step',
      yLabel: 'accuracy (%)',
      yMin: 0,
      yMax: 100,
      legend: 'bottom-right',
    },
  ),
);
console.log(
  `train accuracy reached 99% at step ${trainAt ?? 'never'}, validation at step ${valAt ?? `never (within ${maxSteps})`}; ` +
    `wall time ${seconds.toFixed(0)} s (evaluation included); ${out}/accuracy.svg`,
);
