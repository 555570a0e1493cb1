// Side by side, in one run: this project, onnxruntime-web (its WebAssembly backend, the engine
// behind transformers.js) and PyTorch on CPU, on the same GPT-2 124M (random f32 weights in the
// published layout; the same weights for all three) and the same workloads, at 1 and 2 threads:
//   decode 128 tokens after a 16-token prompt (greedy, KV cache), the same after a 768-token
//   prompt (where attention over the cache becomes a real part of each token), prefill 1x128,
//   a training step (forward, backward, AdamW) of the toy Shakespeare model (4 layers, 4 heads,
//   128 wide, vocab 65, batch 32x128) and of GPT-2 124M at 1x128 (this project and PyTorch:
//   onnxruntime-web does not train). And this project's decode and prefill with the weights held
//   quantized (q8_0, q4_0, quantized from the same f32 file as it loads), against its own f32 and the
//   other engines' f32 figures of the same rounds.
// Engines run in child processes, one after another, round after round (alternating), and the
// medians of the rounds are printed with the ratios. Not part of CI.
//   npm run bench:compare [-- --rounds 3] [--only trainToy,prefill] [--threads 1]
// --only runs some workloads (decode, decodeF16, decodeQ8, decodeQ4, decodeLong, prefill, prefillQ8,
// trainToy, train124m) and
// --threads some thread counts, for more rounds of one question in the same time.
// Needs: Debian's python3-torch, python3-onnx and libopenblas0-openmp (apt); the ONNX graph is
// exported once by bench/compare/gpt2_torch.py into weights/gpt2-124m-random/model.onnx.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd');
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './median.js';
import { TOY, randomIds, toyTorchTrain, trainSteps } from './toy.js';
import { PY, TORCH_SCRIPT, childJson, need, option } from './children.js';

const DIR = fileURLToPath(new URL('../weights/gpt2-124m-random/', import.meta.url));
const ONNX = `${DIR}model.onnx`;
const PROMPT = 16,
  LONG = 768,
  DECODE = 128,
  PREFILL = 128;
const WORKLOADS = [
  'decode',
  'decodeF16',
  'decodeQ8',
  'decodeQ4',
  'decodeLong',
  'prefill',
  'prefillQ8',
  'trainToy',
  'train124m',
] as const;
/** Ours only, each held against its f32 workload (ours and the other engines'). */
const QUANTIZED: Partial<Record<Workload, Workload>> = {
  decodeF16: 'decode',
  decodeQ8: 'decode',
  decodeQ4: 'decode',
  prefillQ8: 'prefill',
};
type Workload = (typeof WORKLOADS)[number];
type Result = Partial<Record<Workload, number>>;
const GPT2_WORK = WORKLOADS.filter((w) => w !== 'trainToy'); // on GPT-2 124M
const ORT_WORK: readonly Workload[] = ['decode', 'decodeLong', 'prefill']; // what onnxruntime-web runs

// ---- children ----------------------------------------------------------------------------------

async function oursChild(threads: number, only: Set<Workload>): Promise<Result> {
  const { createBackend } = await import('../src/backend/index.js');
  const { GPT } = await import('../src/model/gpt.js');
  const backend = await createBackend('wasm', { threads });
  const r: Result = {};
  if (GPT2_WORK.some((w) => only.has(w))) Object.assign(r, await oursGPT2(backend, only));
  if (only.has('trainToy')) {
    const toy = new GPT(
      { n_layer: TOY.L, n_head: TOY.H, n_embd: TOY.C, n_positions: TOY.T, vocab_size: TOY.V },
      backend,
      { seed: 1 },
    );
    r.trainToy = trainSteps(toy, TOY.B, TOY.T, TOY.V, 6);
  }
  return r;
}

// the GPT-2 124M workloads of `only` (the model stays loaded across them)
async function oursGPT2(backend: import('../src/backend/index.js').Backend, only: Set<Workload>): Promise<Result> {
  const { loadGPT2 } = await import('../src/weights/node.js');
  const { argmax } = await import('../src/generate/sampling.js');
  let model = loadGPT2(DIR, backend);
  const ids = randomIds(PREFILL, 1);
  const r: Result = {};
  const warm = () => {
    const cache = model.createKvCache();
    model.forwardCached(ids.slice(0, 8), cache);
    for (let i = 0; i < 4; i++) model.forwardCached([i], cache);
    cache.dispose();
  };
  // 1x128, tok/s
  const prefill = () => {
    const cache = model.createKvCache();
    const t = performance.now();
    model.forwardCached(ids, cache);
    cache.dispose();
    return PREFILL / ((performance.now() - t) / 1000);
  };
  warm();
  if (only.has('prefill')) r.prefill = prefill();
  // DECODE greedy tokens after a prompt, tok/s
  const decode = (prompt: number[]) => {
    const c = model.createKvCache();
    let logits = model.forwardCached(prompt, c).data();
    const t0 = performance.now();
    for (let i = 0; i < DECODE; i++) logits = model.forwardCached([argmax(logits)], c).data();
    const rate = DECODE / ((performance.now() - t0) / 1000);
    c.dispose();
    return rate;
  };
  if (only.has('decode')) r.decode = decode(ids.slice(0, PROMPT));
  if (only.has('decodeLong')) r.decodeLong = decode(randomIds(LONG, 1));
  if (only.has('train124m')) r.train124m = trainSteps(model, 1, 128, 50257, 4);
  model.dispose();
  // the same file held as f16 and quantized, one dtype at a time
  for (const [dtype, dec, pre] of [
    ['f16', 'decodeF16', null],
    ['q8_0', 'decodeQ8', 'prefillQ8'],
    ['q4_0', 'decodeQ4', null],
  ] as const) {
    if (!only.has(dec) && !(pre && only.has(pre))) continue;
    model = loadGPT2(DIR, backend, dtype);
    warm();
    if (pre && only.has(pre)) r[pre] = prefill();
    if (only.has(dec)) r[dec] = decode(ids.slice(0, PROMPT));
    model.dispose();
  }
  return r;
}

async function ortChild(threads: number, only: Set<Workload>): Promise<Result> {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const session = await ort.InferenceSession.create(readFileSync(ONNX), {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const cfg = JSON.parse(readFileSync(`${DIR}config.json`, 'utf8'));
  const L = cfg.n_layer,
    H = cfg.n_head,
    D = cfg.n_embd / cfg.n_head,
    V = cfg.vocab_size;
  const emptyPast = () => {
    const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (let l = 0; l < L; l++)
      for (const kv of ['k', 'v'])
        feeds[`past_${l}_${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, H, 0, D]);
    return feeds;
  };
  const run = async (ids: number[], past: Record<string, InstanceType<typeof ort.Tensor>>) => {
    const out = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [1, ids.length]),
      ...past,
    });
    const next: Record<string, InstanceType<typeof ort.Tensor>> = {};
    for (let l = 0; l < L; l++) for (const kv of ['k', 'v']) next[`past_${l}_${kv}`] = out[`present_${l}_${kv}`];
    const logits = out.logits.data as Float32Array;
    return { last: logits.subarray(logits.length - V), past: next };
  };
  const argmax = (a: Float32Array) => {
    let b = 0;
    for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
    return b;
  };
  const ids = randomIds(PREFILL, 1);
  // warm-up
  let s = await run(ids.slice(0, 8), emptyPast());
  for (let i = 0; i < 4; i++) s = await run([i], s.past);
  const r: Result = {};
  if (only.has('prefill')) {
    const t = performance.now();
    await run(ids, emptyPast());
    r.prefill = PREFILL / ((performance.now() - t) / 1000);
  }
  const decode = async (prompt: number[]) => {
    // DECODE greedy tokens after a prompt, tok/s
    let d = await run(prompt, emptyPast());
    const t0 = performance.now();
    for (let i = 0; i < DECODE; i++) d = await run([argmax(d.last)], d.past);
    return DECODE / ((performance.now() - t0) / 1000);
  };
  if (only.has('decode')) r.decode = await decode(ids.slice(0, PROMPT));
  if (only.has('decodeLong')) r.decodeLong = await decode(randomIds(LONG, 1));
  // the same model as ours: greedy continuations must agree (checked by the parent)
  const check: number[] = [];
  s = await run(ids.slice(0, PROMPT), emptyPast());
  for (let i = 0; i < 8; i++) {
    const n = argmax(s.last);
    check.push(n);
    s = await run([n], s.past);
  }
  await session.release();
  return { ...r, check } as Result;
}

if (process.argv[2] === '--child') {
  const [engine, threads, only] = [
    process.argv[3],
    Number(process.argv[4]),
    new Set(process.argv[5].split(',') as Workload[]),
  ];
  const r = engine === 'ours' ? await oursChild(threads, only) : await ortChild(threads, only);
  console.log(JSON.stringify(r));
  process.exit(0);
}

// ---- parent ------------------------------------------------------------------------------------

const me = fileURLToPath(import.meta.url);
const rounds = Number(option('--rounds', '3'));
const only = new Set(option('--only', WORKLOADS.join(',')).split(',')) as Set<Workload>;
const threadCounts = option('--threads', '1,2').split(',').map(Number);
need(
  Number.isInteger(rounds) && rounds >= 1,
  `--rounds: a whole number of rounds, at least 1 (got ${option('--rounds', '')})`,
);
need(
  only.size > 0 && [...only].every((w) => WORKLOADS.includes(w)),
  `--only: a comma-separated list of ${WORKLOADS.join(', ')} (got ${[...only].join(',')})`,
);
need(
  threadCounts.length > 0 && threadCounts.every((n) => n === 1 || n === 2),
  `--threads: 1, 2 or 1,2 (got ${option('--threads', '')})`,
);
// the f16 and quantized rows are held against f32 decode and prefill, so every engine runs those too
const baseline = new Set<Workload>([...only].flatMap((w) => [w, QUANTIZED[w] ?? w]));
const runsOrt = ORT_WORK.some((w) => baseline.has(w)),
  runsGPT2 = GPT2_WORK.some((w) => only.has(w));
need(
  existsSync(PY) && spawnSync(PY, ['-c', 'import torch, onnx'], { encoding: 'utf8' }).status === 0,
  "bench:compare needs Debian's PyTorch and ONNX: apt-get install -y python3-torch python3-onnx libopenblas0-openmp",
);
if (runsGPT2 && !existsSync(`${DIR}model.safetensors`)) {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('generate.ts', import.meta.url)), '--make-weights'],
    { stdio: 'inherit' },
  );
  need(r.status === 0, 'could not write the random GPT-2 124M checkpoint');
}
if (runsOrt && !existsSync(ONNX)) {
  console.log(`exporting ${ONNX} (once)`);
  const r = spawnSync(PY, [TORCH_SCRIPT, 'export', DIR, ONNX], { stdio: 'inherit' });
  need(r.status === 0, 'the ONNX export failed');
}

// one engine's child: the given workloads (default: what it runs in a round)
function child(
  engine: 'ours' | 'ort',
  threads: number,
  workloads: Iterable<Workload> = baseline,
): Result & { check?: number[] } {
  return childJson(`${engine} (${threads} threads)`, process.execPath, [
    '--import',
    'tsx',
    me,
    '--child',
    engine,
    String(threads),
    [...workloads].join(','),
  ]);
}

function torch(threads: number): Result {
  const py = (args: string[]) =>
    childJson(`pytorch ${args[0]}`, PY, [TORCH_SCRIPT, ...args], { ...process.env, OMP_NUM_THREADS: String(threads) });
  const r: Result = {};
  if (runsOrt) {
    // the same workloads as onnxruntime-web's, in one process
    const b = py(['bench', DIR, String(threads), ORT_WORK.filter((w) => baseline.has(w)).join(',')]);
    Object.assign(r, { decode: b.decode_tok_s, decodeLong: b.decode_long_tok_s, prefill: b.prefill_tok_s });
  }
  if (only.has('trainToy')) r.trainToy = py(toyTorchTrain(threads)).train_tok_s;
  if (only.has('train124m'))
    r.train124m = py(['train', '1', '128', '12', '12', '768', '50257', String(threads)]).train_tok_s;
  return r;
}

// greedy continuations of ours and of the ONNX graph agree: the same model
if (runsOrt) {
  const { createBackend } = await import('../src/backend/index.js');
  const { loadGPT2 } = await import('../src/weights/node.js');
  const { argmax } = await import('../src/generate/sampling.js');
  const model = loadGPT2(DIR, await createBackend('wasm', { threads: 1 }));
  const cache = model.createKvCache();
  let logits = model.forwardCached(randomIds(PREFILL, 1).slice(0, PROMPT), cache).data();
  const ours: number[] = [];
  for (let i = 0; i < 8; i++) {
    const n = argmax(logits);
    ours.push(n);
    logits = model.forwardCached([n], cache).data();
  }
  model.dispose();
  const ortCheck = child('ort', 1, []).check!; // no workloads: only the check
  need(
    JSON.stringify(ours) === JSON.stringify(ortCheck),
    `the ONNX graph is not the same model: greedy ids ${ortCheck} vs ours ${ours}`,
  );
  console.log(`same model: 8 greedy tokens agree (${ours.join(' ')})`);
}

const engines = runsOrt ? (['ours', 'ort', 'pytorch'] as const) : (['ours', 'pytorch'] as const);
const configs = threadCounts.flatMap((threads) => engines.map((engine) => ({ engine, threads })));
const samples = new Map<string, Result[]>();
for (let round = 1; round <= rounds; round++) {
  for (const { engine, threads } of configs) {
    const r = engine === 'pytorch' ? torch(threads) : child(engine, threads);
    const key = `${engine}:${threads}`;
    samples.set(key, [...(samples.get(key) ?? []), r]);
    process.stderr.write(
      `round ${round}/${rounds} ${key.padEnd(10)} ${JSON.stringify(r, (k, v) => (k === 'check' ? undefined : typeof v === 'number' ? +v.toFixed(1) : v))}\n`,
    );
  }
}
const med = (key: string, w: keyof Result) => {
  const xs = (samples.get(key) ?? []).map((r) => r[w]).filter((x): x is number => typeof x === 'number');
  return xs.length ? median(xs) : NaN;
};
const f = (x: number) => (Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const ratio = (a: number, b: number) => (Number.isNaN(a) || Number.isNaN(b) ? '–' : `${(a / b).toFixed(2)}x`);
// The ratio round by round: ours against the other engine's figure from the same round, a few
// minutes apart at most. On a VM whose speed drifts between rounds, the median of these pairs like
// with like, where a ratio of the two medians can set one engine's fast round against the other's
// slow one. Printed as the median, the lowest and highest, and the rounds where ours was ahead.
const paired = (a: string, wa: keyof Result, b: string, wb: keyof Result) => {
  const A = samples.get(a) ?? [],
    B = samples.get(b) ?? [];
  const rs = A.map((r, i) => (r[wa] as number) / (B[i]?.[wb] as number)).filter((x) => Number.isFinite(x) && x > 0);
  if (!rs.length) return '– | –';
  const lo = Math.min(...rs),
    hi = Math.max(...rs),
    ahead = rs.filter((x) => x > 1).length;
  return `${median(rs).toFixed(2)}x (${lo.toFixed(2)}-${hi.toFixed(2)}) | ${ahead}/${rs.length}`;
};
console.log(
  `\nGPT-2 124M (random f32 weights) and the toy model; tok/s, medians of ${rounds} alternating rounds; ratio = wasm-gpt / other,` +
    " the median of the rounds' ratios (lowest-highest), and in how many rounds wasm-gpt was ahead",
);
console.log('| workload | threads | wasm-gpt | onnxruntime-web | ratio | ahead | PyTorch CPU | ratio | ahead |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const names: [keyof Result, string][] = [
  ['decode', `decode ${DECODE} after ${PROMPT}`],
  ['decodeF16', 'the same, wasm-gpt with f16 weights'],
  ['decodeQ8', 'the same, wasm-gpt with q8_0 weights'],
  ['decodeQ4', 'the same, wasm-gpt with q4_0 weights'],
  ['decodeLong', `decode ${DECODE} after ${LONG}`],
  ['prefill', `prefill 1x${PREFILL}`],
  ['prefillQ8', 'the same, wasm-gpt with q8_0 weights'],
  ['trainToy', `train toy ${TOY.B}x${TOY.T}`],
  ['train124m', 'train 124M 1x128'],
];
for (const [w, label] of names.filter(([w]) => only.has(w))) {
  for (const threads of threadCounts) {
    // the f16 and quantized rows are held against the others' f32 figures
    const other = QUANTIZED[w] ?? w;
    const o = med(`ours:${threads}`, w),
      x = med(`ort:${threads}`, other),
      p = med(`pytorch:${threads}`, other);
    console.log(
      `| ${label} | ${threads} | ${f(o)} | ${f(x)} | ${paired(`ours:${threads}`, w, `ort:${threads}`, other)} | ` +
        `${f(p)} | ${paired(`ours:${threads}`, w, `pytorch:${threads}`, other)} |`,
    );
  }
}
const ownRows = [...only].filter((w) => QUANTIZED[w] && w !== 'decodeF16');
if (ownRows.length) {
  console.log("\nwasm-gpt's quantized weights against its own f32, the same rounds (round-by-round ratios)");
  console.log('| workload | threads | f32 tok/s | quantized tok/s | ratio (lowest-highest) | ahead |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const w of ownRows)
    for (const threads of threadCounts) {
      const base = QUANTIZED[w]!;
      console.log(
        `| ${w} | ${threads} | ${f(med(`ours:${threads}`, base))} | ${f(med(`ours:${threads}`, w))} | ` +
          `${paired(`ours:${threads}`, w, `ours:${threads}`, base)} |`,
      );
    }
}
const scale = (e: string, w: keyof Result) => ratio(med(`${e}:2`, w), med(`${e}:1`, w));
if (threadCounts.includes(1) && threadCounts.includes(2))
  console.log(
    `\nthread scaling (2 threads / 1): wasm-gpt prefill ${scale('ours', 'prefill')}, decode ${scale('ours', 'decode')}, toy training ${scale('ours', 'trainToy')}; ` +
      `onnxruntime-web prefill ${scale('ort', 'prefill')}, decode ${scale('ort', 'decode')}`,
  );
