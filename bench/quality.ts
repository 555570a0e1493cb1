// What quantized weights cost in quality: one model loaded as f32, q8_0 and q4_0 (each quantized
// from the same file as it loads), then
//   - with --text FILE, the perplexity of that text under each (sliding window, as `gpt2 ppl`), and
//     the difference in mean loss (nats per token) from f32;
//   - the mean KL divergence KL(f32 || dtype) of the next-token distributions over the positions of
//     --text's tokens, or of --tokens random ids when there is no text.
//   npm run bench:quality -- [--model DIR] [--text FILE] [--tokens 512] [--threads 2]
// --model defaults to the random GPT-2 124M of bench:compare (weights/gpt2-124m-random).
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd');
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createBackend } from '../src/backend/index.js';
import { loadGPT2, readConfigJson, resolveCheckpoint } from '../src/weights/node.js';
import { tokenizerFromSpec, type TokenizerSpec } from '../src/tokenizer/index.js';
import { perplexity } from '../src/generate/perplexity.js';
import { WEIGHT_DTYPES } from '../src/model/parameters.js';
import { randomIds } from './toy.js';
import { need, option } from './children.js';

const dir = option('--model', fileURLToPath(new URL('../weights/gpt2-124m-random/', import.meta.url)));
const textFile = option('--text', '');
const threads = Number(option('--threads', '2'));
const backend = await createBackend('wasm', { threads });
const spec = readConfigJson(resolveCheckpoint(dir).config).wasm_gpt_tokenizer as TokenizerSpec | undefined;
const tokenizer = tokenizerFromSpec(spec, dir);

let ids: number[];
if (textFile) ids = tokenizer.encode(readFileSync(textFile, 'utf8'));
else ids = randomIds(Number(option('--tokens', '512')), 1).map((x) => x % tokenizer.vocabSize);
need(ids.length >= 2, `${textFile || '--tokens'}: at least 2 tokens are needed`);

/** Next-token log-probabilities at every position of the windows [0, n) (n <= n_positions), one window after another. */
function logProbs(model: ReturnType<typeof loadGPT2>): Float64Array[] {
  const T = model.config.n_positions,
    V = model.config.vocab_size;
  const out: Float64Array[] = [];
  for (let s = 0; s + 1 < ids.length && out.length < 4096; s += T) {
    const w = ids.slice(s, s + T);
    const logits = model.forward(w, 1, w.length).logits.data();
    for (let t = 0; t < w.length; t++) {
      const row = logits.subarray(t * V, (t + 1) * V);
      let max = -Infinity;
      for (const x of row) max = Math.max(max, x);
      let z = 0;
      for (const x of row) z += Math.exp(x - max);
      const lz = Math.log(z) + max;
      out.push(Float64Array.from(row, (x) => x - lz));
    }
  }
  return out;
}

const results: { dtype: string; ppl?: number; loss?: number; kl?: number; mib: number }[] = [];
let reference: Float64Array[] = [];
for (const dtype of WEIGHT_DTYPES) {
  const model = loadGPT2(dir, backend, dtype);
  const lp = logProbs(model);
  let kl: number | undefined;
  if (dtype === 'f32') reference = lp;
  else {
    let sum = 0;
    for (let i = 0; i < lp.length; i++) {
      const p = reference[i],
        q = lp[i];
      for (let v = 0; v < p.length; v++) sum += Math.exp(p[v]) * (p[v] - q[v]);
    }
    kl = sum / lp.length;
  }
  const ppl = textFile ? perplexity(model, ids) : null;
  results.push({ dtype, ppl: ppl?.perplexity, loss: ppl?.loss, kl, mib: model.params.bytes / 2 ** 20 });
  model.dispose();
}
const f32 = results[0];
console.log(
  `${dir}: ${ids.length} tokens${textFile ? ` of ${textFile}` : ' (random ids)'}, KL over ${reference.length} positions`,
);
console.log('| weights | MiB | perplexity | mean loss (nats) | loss - f32 | mean KL(f32 \\|\\| weights) |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of results)
  console.log(
    `| ${r.dtype} | ${r.mib.toFixed(1)} | ${r.ppl?.toFixed(4) ?? '–'} | ${r.loss?.toFixed(5) ?? '–'} | ` +
      `${r.loss !== undefined && r.dtype !== 'f32' ? (r.loss - f32.loss!).toFixed(5) : '–'} | ${r.kl?.toExponential(2) ?? '–'} |`,
  );
process.exit(0);
