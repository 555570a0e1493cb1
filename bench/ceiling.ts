// Where one-thread toy training stands against what this CPU lets each engine's arithmetic do,
// measured in one run: the toy model's training step (the bench:compare workload) on wasm-gpt and on
// PyTorch, and beside each step the fastest rate that engine's matrix products reach here.
//   npm run bench:ceiling [-- --rounds 5]
// - wasm-gpt's fastest product rate is its 6x8 register tile's (tiles.ts tile_6x8) with everything
//   in L1 (K = 512, one JS call per tile: about 3,000 cycles each, so the call costs a percent or
//   so): wasm SIMD has 128-bit vectors only, and this is two 128-bit FMAs a cycle.
// - PyTorch's is its sgemm (`a @ b`, OpenBLAS) at the step's linear shapes, where native code uses
//   256-bit FMAs.
// - The step's matrix products are counted from the shapes (the multiply-adds that attention's
//   causal mask leaves, which is what wasm-gpt computes); the floor is that count at wasm-gpt's
//   tile rate, and "the rest" is the step minus its floor: attention's softmax, GELU, layernorm,
//   packing, memory, everything that is not a tile's multiply-add.
// Engines run in child processes, alternating, round after round; printed are the steps' medians
// and the rates' highest (a disturbance only ever slows a rate down). Not part of CI. Needs Debian's
// python3-torch and libopenblas0-openmp (apt), as bench:compare does.
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd');
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median } from './median.js';
import { TOY, toyTorchTrain, trainSteps } from './toy.js';
import { PY, TORCH_SCRIPT, childJson, need, option } from './children.js';
const { B, T, L, H, C, V } = TOY;
const M = B * T;
// the linear layers' (K, N) as the step multiplies them: c_attn, attn c_proj, c_fc, mlp c_proj
const LINEAR: [number, number][] = [
  [C, 3 * C],
  [C, C],
  [C, 4 * C],
  [4 * C, C],
];

/** FLOPs (2 per multiply-add) of one toy training step's matrix products. */
function stepFlops(): number {
  // every linear layer: forward, d(input) and d(weight), each M x K x N
  const linear = 3 * L * LINEAR.reduce((s, [K, N]) => s + 2 * M * K * N, 0);
  const lmHead = 3 * 2 * M * C * V; // logits = x wte^T, then its two gradients
  // per head: scores = q k^T and out = att v forward; d(att), dq, dk, dv backward; each over the
  // T (T + 1) / 2 (query, key) pairs the causal mask leaves, hs multiply-adds a pair
  const attention = 6 * 2 * (C / H) * ((T * (T + 1)) / 2) * B * H * L;
  return linear + lmHead + attention;
}

type Ours = { tileGflops: number; stepMs: number };

async function oursChild(): Promise<Ours> {
  const { relaxedSimdSupported, RELAXED_KERNELS_URL, createBackend } = await import('../src/backend/index.js');
  const { GPT } = await import('../src/model/gpt.js');
  if (!(await relaxedSimdSupported())) throw new Error('bench:ceiling: this Node does not run relaxed SIMD');
  // the tile alone, on a memory of its own: 6 rows of a and a panel of b packed as gemm.ts packs them
  const module = await WebAssembly.compile(readFileSync(RELAXED_KERNELS_URL));
  const memory = new WebAssembly.Memory({ initial: 64, maximum: 65536 });
  const k = (await WebAssembly.instantiate(module, { env: { memory } })).exports as unknown as {
    heap_base(): number;
    tile_6x8(c: number, crs: number, a: number, b: number, K: number, init: number): void;
  };
  const K = 512,
    calls = 20000;
  const a = (k.heap_base() >>> 0) + 4096,
    b = a + K * 24 + 64,
    c = b + K * 32 + 64;
  new Float32Array(memory.buffer, a, (c + 6 * 32 - a) / 4).forEach((_, i, f) => {
    f[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  });
  const rates: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) k.tile_6x8(c, 32, a, b, K, 0);
    rates.push((calls * 6 * 8 * K * 2) / ((performance.now() - t0) / 1000) / 1e9);
  }
  const backend = await createBackend('wasm', { threads: 1 });
  const toy = new GPT({ n_layer: L, n_head: H, n_embd: C, n_positions: T, vocab_size: V }, backend, { seed: 1 });
  const tokS = trainSteps(toy, B, T, V, 6);
  return { tileGflops: median(rates.slice(2)), stepMs: ((B * T) / tokS) * 1000 };
}

if (process.argv[2] === '--child') {
  console.log(JSON.stringify(await oursChild()));
  process.exit(0);
}

const rounds = Number(option('--rounds', '3'));
need(
  Number.isInteger(rounds) && rounds >= 1,
  `--rounds: a whole number of rounds, at least 1 (got ${option('--rounds', '')})`,
);
need(
  existsSync(PY) && spawnSync(PY, ['-c', 'import torch'], { encoding: 'utf8' }).status === 0,
  "bench:ceiling needs Debian's PyTorch: apt-get install -y python3-torch libopenblas0-openmp",
);

const oneThread = { ...process.env, OMP_NUM_THREADS: '1' };
const ours: Ours[] = [],
  torch: { sgemmGflops: number; stepMs: number }[] = [];
for (let round = 1; round <= rounds; round++) {
  ours.push(childJson('wasm-gpt', process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child']));
  const sgemm = childJson(
    'pytorch sgemm',
    PY,
    [TORCH_SCRIPT, 'sgemm', '1', ...LINEAR.map(([K, N]) => `${M},${K},${N}`)],
    oneThread,
  ).sgemm_gflops;
  const train = childJson('pytorch train', PY, [TORCH_SCRIPT, ...toyTorchTrain(1)], oneThread).train_tok_s;
  torch.push({ sgemmGflops: sgemm, stepMs: ((B * T) / train) * 1000 });
  const o = ours[round - 1],
    p = torch[round - 1];
  process.stderr.write(
    `round ${round}/${rounds}: wasm-gpt tile ${o.tileGflops.toFixed(1)} GFLOP/s, step ${o.stepMs.toFixed(1)} ms; ` +
      `PyTorch sgemm ${p.sgemmGflops.toFixed(1)} GFLOP/s, step ${p.stepMs.toFixed(1)} ms\n`,
  );
}

const flops = stepFlops();
// the rates: the fastest round's (a disturbed round only ever slows a rate down: this VM's rounds
// spread by up to a fifth); the steps: the medians
const tile = Math.max(...ours.map((o) => o.tileGflops)),
  sgemm = Math.max(...torch.map((p) => p.sgemmGflops));
const ourStep = median(ours.map((o) => o.stepMs)),
  torchStep = median(torch.map((p) => p.stepMs));
const floor = flops / tile / 1e6,
  torchFloor = flops / sgemm / 1e6;
const ms = (x: number) => x.toFixed(0);
console.log(
  `\nThe toy model's training step on one thread (${L} layers, ${H} heads, ${C} wide, vocab ${V}, batch ${B}x${T}): ` +
    `${(flops / 1e9).toFixed(2)} GFLOP of matrix products. ${rounds} alternating rounds: the steps' medians, the rates' highest.`,
);
console.log('| | wasm-gpt | PyTorch CPU |');
console.log('| --- | ---: | ---: |');
console.log(
  `| fastest matrix-product rate here, GFLOP/s | ${tile.toFixed(1)} (6x8 tile, 128-bit FMAs) | ${sgemm.toFixed(1)} (sgemm at the step's linear shapes) |`,
);
console.log(`| the step's products at that rate, ms | ${ms(floor)} | ${ms(torchFloor)} |`);
console.log(`| the step, ms | ${ms(ourStep)} | ${ms(torchStep)} |`);
console.log(`| the rest of the step, ms | ${ms(ourStep - floor)} | ${ms(torchStep - torchFloor)} |`);
console.log(
  `\nPyTorch's products run ${(sgemm / tile).toFixed(2)}x as fast as wasm-gpt's tile can. For wasm-gpt's step to be ` +
    `shorter than PyTorch's ${ms(torchStep)} ms with its products at the tile's own rate (${ms(floor)} ms), everything else would ` +
    `have to fit in ${ms(torchStep - floor)} ms; it takes ${ms(ourStep - floor)}.`,
);
// as bench:compare prints it: the ratio of the speeds round by round (each round's two steps a
// minute apart at most), its median, lowest and highest, and the rounds where wasm-gpt was ahead
const ratios = ours.map((o, i) => torch[i].stepMs / o.stepMs);
console.log(
  `wasm-gpt / PyTorch, round by round: ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}-` +
    `${Math.max(...ratios).toFixed(2)}), ahead in ${ratios.filter((r) => r > 1).length} of ${rounds}.`,
);
