// GFLOP/s of the wasm matmul against the JS reference, measured in the same run, for the
// linear layers of GPT-2 124M and its LM head, at M=1 (decode) and M=128 (prefill).
//   npm run bench            all shapes
//   npm run bench -- --quick  skip the slow JS reference on the LM head at M=128
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd'); // measure the build the CLI runs (fused multiply-add)
import { WasmBackend, JsBackend, Tensor, type Backend } from '../src/backend/index.js';
import { Random } from '../src/model/random.js';

const quick = process.argv.includes('--quick');

type Shape = { label: string; C: number; OC: number; head?: boolean };
const shapes: Shape[] = [
  { label: 'attn.c_attn 768x2304', C: 768, OC: 2304 },
  { label: 'attn.c_proj 768x768', C: 768, OC: 768 },
  { label: 'mlp.c_fc 768x3072', C: 768, OC: 3072 },
  { label: 'mlp.c_proj 3072x768', C: 3072, OC: 768 },
  { label: 'lm_head 768x50257', C: 768, OC: 50257, head: true },
];

function alloc(be: Backend, shape: number[], rand: Random): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const t = new Tensor(be.arena, be.arena.alloc(n * 4, 'bench'), shape);
  const d = t.data();
  for (let i = 0; i < n; i++) d[i] = rand.uniform() - 0.5;
  return t;
}

/** Median seconds per call over enough calls to fill minSeconds (after warm-up calls). */
function time(fn: () => void, minSeconds: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  do {
    const t0 = performance.now();
    fn();
    times.push((performance.now() - t0) / 1000);
  } while ((performance.now() - start) / 1000 < minSeconds || times.length < 3);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function run(be: Backend, s: Shape, M: number, minSeconds: number, warmup: number): number {
  const rand = new Random(1);
  const inp = alloc(be, [1, M, s.C], rand);
  const out = alloc(be, [1, M, s.OC], rand);
  let seconds: number;
  if (s.head) {
    const wte = alloc(be, [s.OC, s.C], rand);
    seconds = time(() => be.lm_head_forward(out, inp, wte, 1, M, s.C, s.OC), minSeconds, warmup);
    be.arena.release(wte.ptr);
  } else {
    const w = alloc(be, [s.C, s.OC], rand),
      b = alloc(be, [s.OC], rand);
    seconds = time(() => be.matmul_forward(out, inp, w, b, 1, M, s.C, s.OC), minSeconds, warmup);
    be.arena.release(w.ptr);
    be.arena.release(b.ptr);
  }
  be.arena.release(inp.ptr);
  be.arena.release(out.ptr);
  return (2 * M * s.C * s.OC) / seconds / 1e9;
}

const plain = await WasmBackend.create({ threads: 1, simd: 'plain' });
const wasm = await WasmBackend.create({ threads: 1 });
const wasm2 = await WasmBackend.create({ threads: 2 });
const js = new JsBackend();

// V8 runs a wasm function's first calls on its baseline compiler and only later calls reach the
// optimizing tier, so each kernel is called many times on a small problem before timing.
{
  const warm: Shape = { label: 'warm-up', C: 64, OC: 64 };
  for (let i = 0; i < 200; i++) run(wasm, warm, 4, 0, 0);
  run(wasm, { label: 'warm-up', C: 64, OC: 64, head: true }, 4, 0.05, 50);
  run(wasm, warm, 1, 0.05, 50);
  for (let i = 0; i < 200; i++) {
    run(wasm2, warm, 4, 0, 0);
    run(plain, warm, 4, 0, 0);
  }
  run(plain, { label: 'warm-up', C: 64, OC: 64, head: true }, 4, 0.05, 50);
  await new Promise((r) => setTimeout(r, 200)); // let background tier-up finish
}

console.log(
  `matmul forward GFLOP/s: wasm plain f32x4 (1 thread), wasm ${wasm.simd} SIMD on 1 and 2 threads, and the JS reference, same run`,
);
console.log(
  'shape                        M   plain 1t  ' +
    `${wasm.simd} 1t`.padStart(10) +
    `  ${wasm.simd} 2t`.padStart(12) +
    '  2t/1t   js ref   1t/js',
);
for (const M of [1, 128]) {
  for (const s of shapes) {
    const p = run(plain, s, M, 1.0, 3);
    const w = run(wasm, s, M, 1.0, 3);
    const w2 = run(wasm2, s, M, 1.0, 3);
    const skipJs = quick && s.head && M === 128;
    const j = skipJs ? NaN : run(js, s, M, 0.5, 0);
    console.log(
      `${s.label.padEnd(26)} ${String(M).padStart(4)} ${p.toFixed(2).padStart(10)} ${w.toFixed(2).padStart(10)} ${w2.toFixed(2).padStart(12)} ${(w2 / w).toFixed(2).padStart(6)}x ${(skipJs ? '-' : j.toFixed(3)).padStart(8)} ${(skipJs ? '-' : (w / j).toFixed(1) + 'x').padStart(7)}`,
    );
  }
}
wasm2.dispose();
