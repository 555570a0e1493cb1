// GPT-2 124M generation speed (random weights in the published layout, f32), in one run:
// load time of the 124M file, prefill of 128 tokens, decode after it, and peak RSS, for the wasm
// backend, with the JS reference backend measured in the same run as the baseline.
//   npm run bench:generate
// The checkpoint is generated once into weights/gpt2-124m-random/ (ignored by git). Each backend
// runs in a fresh child process so its peak RSS is its own.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd'); // measure the build the CLI runs (fused multiply-add)
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WasmBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { GPT2_PRESETS } from '../src/model/config.js';
import { loadGPT2, saveGPT2 } from '../src/weights/node.js';
import { Random } from '../src/model/random.js';

const dir = fileURLToPath(new URL('../weights/gpt2-124m-random/', import.meta.url));

if (process.argv[2] === '--child') {
  const backendName = process.argv[3] as 'wasm' | 'js';
  const prefillT = Number(process.argv[4]),
    decodeN = Number(process.argv[5]),
    threads = Number(process.argv[6] ?? 1),
    f16 = process.argv[7] === 'f16';
  const { createBackend } = await import('../src/backend/index.js');
  const backend = await createBackend(backendName, { threads });
  let t = performance.now();
  const model = loadGPT2(dir, backend, f16 ? 'f16' : 'f32');
  const load = (performance.now() - t) / 1000;
  const rand = new Random(1);
  const prompt = Array.from({ length: prefillT }, () => rand.int(50257));
  // a short warm-up generation so the timed one runs optimized code
  const warm = model.createKvCache();
  model.forwardCached(prompt.slice(0, 8), warm);
  for (let i = 0; i < 4; i++) model.forwardCached([i], warm);
  warm.dispose();
  const cache = model.createKvCache();
  t = performance.now();
  model.forwardCached(prompt, cache);
  const prefill = (performance.now() - t) / 1000;
  t = performance.now();
  for (let i = 0; i < decodeN; i++) model.forwardCached([rand.int(50257)], cache);
  const decode = (performance.now() - t) / 1000;
  console.log(
    JSON.stringify({
      load,
      prefillTokS: prefillT / prefill,
      decodeTokS: decodeN / decode,
      maxRssMB: process.resourceUsage().maxRSS / 1024,
    }),
  );
  process.exit(0);
}

if (!existsSync(`${dir}/model.safetensors`)) {
  console.log(`writing a random GPT-2 124M checkpoint to ${dir} (once)`);
  mkdirSync(dir, { recursive: true });
  const model = new GPT(GPT2_PRESETS.gpt2, await WasmBackend.create(), { seed: 124 });
  saveGPT2(model, dir);
}
if (process.argv[2] === '--make-weights') process.exit(0);

const me = fileURLToPath(import.meta.url);
function child(backend: string, prefillT: number, decodeN: number, threads = 1, weights = 'f32') {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', me, '--child', backend, String(prefillT), String(decodeN), String(threads), weights],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`${backend} child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as {
    load: number;
    prefillTokS: number;
    decodeTokS: number;
    maxRssMB: number;
  };
}

const weightMB = (124_439_808 * 4) / 1e6;
const wasm = child('wasm', 128, 64, 1);
const wasm2 = child('wasm', 128, 64, 2);
const js = child('js', 16, 4);
const half = child('wasm', 128, 64, 1, 'f16');
const half2 = child('wasm', 128, 64, 2, 'f16');
console.log('GPT-2 124M, random f32 weights; wasm on 1 and 2 threads, the JS reference in the same run');
console.log(`load of the 124M file: wasm ${wasm.load.toFixed(2)} s (1 thread), ${wasm2.load.toFixed(2)} s (2 threads)`);
console.log(
  `prefill (128 tokens): wasm ${wasm.prefillTokS.toFixed(1)} tok/s on 1 thread, ${wasm2.prefillTokS.toFixed(1)} on 2 (${(wasm2.prefillTokS / wasm.prefillTokS).toFixed(2)}x); ` +
    `js reference ${js.prefillTokS.toFixed(2)} tok/s (16 tokens): 1-thread wasm is ${(wasm.prefillTokS / js.prefillTokS).toFixed(1)}x`,
);
console.log(
  `decode (64 tokens after the prompt): wasm ${wasm.decodeTokS.toFixed(1)} tok/s on 1 thread, ${wasm2.decodeTokS.toFixed(1)} on 2 (${(wasm2.decodeTokS / wasm.decodeTokS).toFixed(2)}x); ` +
    `js reference ${js.decodeTokS.toFixed(2)} tok/s: 1-thread wasm is ${(wasm.decodeTokS / js.decodeTokS).toFixed(1)}x`,
);
console.log(
  `decode with the weights held as f16 (--dtype f16): ${half.decodeTokS.toFixed(1)} tok/s on 1 thread, ${half2.decodeTokS.toFixed(1)} on 2: ` +
    `${(half.decodeTokS / wasm.decodeTokS).toFixed(2)}x / ${(half2.decodeTokS / wasm2.decodeTokS).toFixed(2)}x the f32 decode; load ${half.load.toFixed(2)} s, peak RSS ${half.maxRssMB.toFixed(0)} MB`,
);
for (const [name, r] of [
  ['1 thread', wasm],
  ['2 threads', wasm2],
] as const) {
  console.log(
    `peak RSS (${name}): ${r.maxRssMB.toFixed(0)} MB = ${(r.maxRssMB / weightMB).toFixed(2)} x the ${weightMB.toFixed(0)} MB of weights ` +
      `(target < 1.3 x weights + 200 MB = ${(1.3 * weightMB + 200).toFixed(0)} MB)`,
  );
}
