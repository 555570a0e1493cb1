// Train a small character-level GPT on a text file with the wasm kernels, then sample from it.
//   node examples/train-tiny.mjs [text file] [steps]
// (run `npm run build` first; the default text is ../shared/data/tinyshakespeare.txt)
import { readFileSync } from 'node:fs';
import { createBackend, GPT, Random } from '../dist/advanced.js';

const path = process.argv[2] ?? new URL('../../shared/data/tinyshakespeare.txt', import.meta.url).pathname;
const steps = Number(process.argv[3] ?? 300);
const text = readFileSync(path, 'utf8');
const chars = [...new Set(text)].sort();
const stoi = new Map(chars.map((c, i) => [c, i]));
const data = Int32Array.from(text, (c) => stoi.get(c));

const B = 8,
  T = 64;
const backend = await createBackend('wasm');
const model = new GPT({ n_layer: 2, n_head: 4, n_embd: 64, n_positions: T, vocab_size: chars.length }, backend, {
  seed: 1,
});
console.log(`${path}: ${data.length} characters, vocabulary ${chars.length}; model ${model.numParameters} parameters`);

const rand = new Random(1);
const tokens = new Int32Array(B * T),
  targets = new Int32Array(B * T);
const t0 = performance.now();
for (let step = 1; step <= steps; step++) {
  for (let b = 0; b < B; b++) {
    const start = rand.int(data.length - T - 1);
    tokens.set(data.subarray(start, start + T), b * T);
    targets.set(data.subarray(start + 1, start + T + 1), b * T);
  }
  const { loss } = model.forward(tokens, B, T, targets);
  model.zeroGrad();
  model.backward();
  model.step({ lr: 3e-3, weightDecay: 0 });
  if (step === 1 || step % 50 === 0) {
    const s = (performance.now() - t0) / 1000;
    console.log(`step ${step}: loss ${loss.toFixed(4)}  (${((step * B * T) / s).toFixed(0)} tok/s)`);
  }
}

// sample 200 characters (temperature 0.8), feeding back a sliding window of the last T
const context = [stoi.get('\n')];
let out = '';
for (let i = 0; i < 200; i++) {
  const window = context.slice(-T);
  const { logits } = model.forward(window, 1, window.length);
  const row = logits.data().subarray((window.length - 1) * chars.length, window.length * chars.length);
  const max = Math.max(...row);
  const p = Array.from(row, (x) => Math.exp((x - max) / 0.8));
  let r = rand.uniform() * p.reduce((a, b) => a + b, 0),
    next = 0;
  while ((r -= p[next]) > 0 && next < p.length - 1) next++;
  context.push(next);
  out += chars[next];
}
console.log('--- sample ---\n' + out);
