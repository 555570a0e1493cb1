// The thread pool: workers that share the arena's WebAssembly.Memory and run kernel parts on
// request. The host lays out all memory; workers never allocate. One control block in the arena
// coordinates them with Atomics: the main thread writes each worker's job into its slot, bumps a
// generation counter and wakes them, runs its own part, then waits until every worker has
// acknowledged that generation. Node uses worker_threads, browsers Web Workers (when cross-origin isolated);
// both run the same small worker script below.

/** Kernels that can be split; a job's id is its index + 1 (0 = nothing to do this round). */
export const PART_KERNELS = [
  'matmul_forward_part', 'matmul_backward_part', 'lm_head_forward_part', 'lm_head_backward_part',
  'attention_forward_part', 'attention_backward_part', 'attention_forward_kv_part', 'matmul_forward_half', 'matmul_forward_join',
  'matmul_forward_f16_half', 'lm_head_forward_f16_part',
  // row- or element-wise kernels run on a range of their rows through offset addresses
  'gelu_forward', 'gelu_backward', 'residual_forward', 'residual_backward', 'layernorm_forward', 'softmax_forward',
] as const;
export type PartKernel = typeof PART_KERNELS[number];

// The control block: GEN (the call's generation, bumped once per split call), FAILED, then one
// slot per worker: kernel id (0: nothing, -1: exit), argument count, arguments, and last DONE:
// the generation this worker finished last. Each worker acknowledges in its own word (no shared
// counter to decrement), and every wait is bounded or re-checked, so a lost wake-up can cost a
// moment, never a hang.
const GEN = 0, FAILED = 1, SLOTS = 16, SLOT_INTS = 24, DONE = SLOT_INTS - 1;
/**
 * Polls of a counter before falling back to a futex sleep (tens of microseconds). Not longer: an
 * idle thread that keeps polling slows the busy one (measured: decode matmuls 35% slower with
 * 200,000 polls); not much shorter: kernels a few milliseconds long, back to back (prefill,
 * training), then pay a wake-up each (measured: 768-wide matmuls at M=128 scaled 1.3x instead of
 * 2x on two threads with 2,000 polls). On this VM both figures vary by 10-20% run to run.
 */
const SPIN = 20_000;
export const CONTROL_BYTES = (SLOTS + 64 * SLOT_INTS) * 4;

const WORKER_SOURCE = `
const KERNELS = ${JSON.stringify(PART_KERNELS)};
const isNode = typeof self === 'undefined';
const port = isNode ? require('node:worker_threads').parentPort : self;
const post = (m) => port.postMessage(m);
const onMessage = (f) => isNode ? port.on('message', f) : (self.onmessage = (e) => f(e.data));
onMessage(async ({ module, memory, control, slot, pack }) => {
  let ex;
  try { ex = (await WebAssembly.instantiate(module, { env: { memory } })).exports; }
  catch (e) { post({ error: String(e && e.message || e) }); return; }
  ex.set_pack_buffer(pack);
  const ctrl = new Int32Array(memory.buffer, control, ${SLOTS + 64 * SLOT_INTS});
  let gen = Atomics.load(ctrl, ${GEN});
  post({ ready: true });
  for (;;) {
    // kernel calls come in bursts (a decode step makes dozens): spin a little before sleeping
    for (let spin = 0; spin < ${SPIN} && Atomics.load(ctrl, ${GEN}) === gen; spin++);
    while (Atomics.load(ctrl, ${GEN}) === gen) Atomics.wait(ctrl, ${GEN}, gen, 200);
    gen = Atomics.load(ctrl, ${GEN});
    const base = ${SLOTS} + slot * ${SLOT_INTS};
    const id = ctrl[base];
    if (id < 0) break;
    if (id > 0) {
      const n = ctrl[base + 1], args = new Array(n);
      for (let i = 0; i < n; i++) args[i] = ctrl[base + 2 + i];
      try { ex[KERNELS[id - 1]](...args); } catch (e) { Atomics.store(ctrl, ${FAILED}, 1); }
    }
    Atomics.store(ctrl, base + ${DONE}, gen);
    Atomics.notify(ctrl, base + ${DONE});
  }
  if (isNode) port.close();
});
`;

interface WorkerHandle { post(msg: unknown): void; terminate(): void }

async function spawnWorker(onMessage: (m: { ready?: boolean; error?: string }) => void): Promise<WorkerHandle> {
  if (typeof self === 'undefined' && typeof process !== 'undefined') {
    const { Worker } = await import(/* @vite-ignore */ 'node:worker_threads');
    const w = new Worker(WORKER_SOURCE, { eval: true });
    w.on('message', (m: { ready?: boolean; error?: string }) => {
      if (m.ready) w.unref(); // once running, a pool never keeps the process alive
      onMessage(m);
    });
    w.on('error', (e) => onMessage({ error: e.message }));
    return { post: (m) => w.postMessage(m), terminate: () => void w.terminate() };
  }
  const url = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  const w = new Worker(url);
  w.onmessage = (e) => onMessage(e.data);
  w.onerror = (e) => onMessage({ error: e.message });
  return { post: (m) => w.postMessage(m), terminate: () => w.terminate() };
}

export type Job = [PartKernel, number[]] | null;

/** The parts of one kernel call, run at once, and what the calling thread runs after all are done. */
export type Split = Job[] & { finish?: [PartKernel, number[]] };

export class ThreadPool {
  private readonly ctrl: Int32Array;
  private canWait = true;

  private constructor(memory: WebAssembly.Memory, control: number, private readonly workers: WorkerHandle[]) {
    this.ctrl = new Int32Array(memory.buffer, control, CONTROL_BYTES / 4);
  }

  /** Start `threads - 1` workers (the calling thread is the last one). */
  /** pack[i]: worker i's matmul packing buffer (laid out by the host). */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, control: number, threads: number, pack: number[]): Promise<ThreadPool> {
    if (threads - 1 > 64) throw new RangeError(`threads: at most 65 supported, got ${threads}`);
    const workers: WorkerHandle[] = [];
    await Promise.all(Array.from({ length: threads - 1 }, (_, slot) => new Promise<void>((resolve, reject) => {
      spawnWorker((m) => (m.error ? reject(new Error(`kernel thread ${slot + 1}: ${m.error}`)) : m.ready && resolve()))
        .then((w) => { workers[slot] = w; w.post({ module, memory, control, slot, pack: pack[slot] }); }, reject);
    })));
    return new ThreadPool(memory, control, workers);
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /** jobs[0] runs here, jobs[i] on worker i-1; returns when all are done. */
  run(jobs: Job[], runHere: (name: PartKernel, args: number[]) => void): void {
    const c = this.ctrl;
    for (let w = 0; w < this.workers.length; w++) {
      const job = jobs[w + 1] ?? null, base = SLOTS + w * SLOT_INTS;
      if (!job) { c[base] = 0; continue; }
      c[base] = PART_KERNELS.indexOf(job[0]) + 1;
      if (job[1].length > SLOT_INTS - 3) throw new RangeError(`${job[0]}: ${job[1].length} arguments, a thread slot holds ${SLOT_INTS - 3}`);
      c[base + 1] = job[1].length;
      for (let i = 0; i < job[1].length; i++) c[base + 2 + i] = job[1][i];
    }
    Atomics.store(c, FAILED, 0);
    const gen = (Atomics.add(c, GEN, 1) + 1) | 0; // as the Int32 word holds it (it wraps)
    Atomics.notify(c, GEN);
    if (jobs[0]) runHere(jobs[0][0], jobs[0][1]);
    // wait for each worker to acknowledge this generation: spin first (parts finish at about the
    // same time), then block where the platform allows it (Node, workers; not a page's main thread)
    let spin = 0;
    for (let w = 0; w < this.workers.length; w++) {
      const done = SLOTS + w * SLOT_INTS + DONE;
      for (let v = Atomics.load(c, done); v !== gen; v = Atomics.load(c, done)) {
        if (++spin > SPIN && this.canWait) {
          try { Atomics.wait(c, done, v, 50); } catch { this.canWait = false; }
        }
      }
    }
    if (Atomics.load(c, FAILED)) throw new Error('a kernel thread failed (a wasm trap in a kernel part)');
  }

  close(): void {
    const c = this.ctrl;
    for (let w = 0; w < this.workers.length; w++) c[SLOTS + w * SLOT_INTS] = -1;
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
  }
}

/** Boundaries that split [0, n) into `parts` ranges whose starts are multiples of `align`. */
export function splitRange(n: number, parts: number, align: number): [number, number][] {
  const chunk = Math.ceil(n / parts / align) * align;
  return Array.from({ length: parts }, (_, i) => [Math.min(n, i * chunk), Math.min(n, (i + 1) * chunk)] as [number, number]);
}

/** assembly/matmul.ts: the decode scratch (floats) that bounds M * OC of a two-halves decode matmul. */
const DECODE_SCRATCH_FLOATS = 3 * 16384;

/**
 * How each threadable kernel splits into `n` disjoint parts (null: too small to be worth it).
 * args are the whole kernel's arguments as the Backend passes them (addresses first).
 */
export function splitKernel(kernel: string, a: number[], n: number): Split | null {
  const MIN_WORK = 1 << 21; // multiply-adds below which one thread beats waking the others (measured: a 768x768 decode matmul is slower split)
  const MIN_ELEMENTS = 1 << 16; // elements of an element- or row-wise kernel worth splitting
  switch (kernel) {
    case 'matmul_forward_f16': {
      // f16 weights are for decode: only its two k halves go to threads
      const [out, inp, w, b, B, T, C, OC] = a, M = B * T;
      if (!(M < 4 && C >= 256 && M * OC <= DECODE_SCRATCH_FLOATS) || C * OC < 1 << 20) return null;
      const parts: Split = [['matmul_forward_f16_half', [out, inp, w, b, M, C, OC, 0]], ['matmul_forward_f16_half', [out, inp, w, b, M, C, OC, 1]]];
      parts.finish = ['matmul_forward_join', [out, M, OC]];
      return parts;
    }
    case 'lm_head_forward_f16': {
      const [logits, inp, wte, B, T, C, V] = a, M = B * T;
      if (M * C * V < MIN_WORK) return null;
      return splitRange(V, n, 8).map(([v0, v1]) => ['lm_head_forward_f16_part', [logits, inp, wte, M, C, V, v0, v1]]);
    }
    case 'matmul_forward': {
      const [out, inp, w, b, B, T, C, OC] = a, M = B * T;
      // a decode step (M < 4): the kernel's two k halves (each a contiguous half of the weight) on
      // two threads, then out += the second half's sums; split by columns instead, each thread
      // would read short strided pieces of every weight row (measured 2x slower)
      if (M < 4) {
        if (!(C >= 256 && M * OC <= DECODE_SCRATCH_FLOATS)) return null; // the kernel's own condition
        if (C * OC < 1 << 20) return null; // a 768x768 weight (2.4 MB) is faster on one thread (measured)
        const parts: Split = [['matmul_forward_half', [out, inp, w, b, M, C, OC, 0]], ['matmul_forward_half', [out, inp, w, b, M, C, OC, 1]]];
        parts.finish = ['matmul_forward_join', [out, M, OC]];
        return parts;
      }
      if (M * C * OC < MIN_WORK) return null;
      // rows when the activations outnumber the weights' columns (training batches); otherwise
      // columns (prefill), so each thread packs and reads only its part of the weight
      if (M >= 4 * n && M >= OC) return splitRange(M, n, 4).map(([m0, m1]) => ['matmul_forward_part', [out, inp, w, b, M, C, OC, m0, m1, 0, OC]]);
      return splitRange(OC, n, 8).map(([n0, n1]) => ['matmul_forward_part', [out, inp, w, b, M, C, OC, 0, M, n0, n1]]);
    }
    case 'matmul_backward': {
      const [dinp, dw, db, dout, inp, w, B, T, C, OC, acc] = a, M = B * T;
      if (M * C * OC < MIN_WORK) return null;
      // dweight = inp^T dout is split along its longer side: each thread then packs its share of
      // the larger operand (dout's columns when OC > C) and all of the smaller one
      const ms = splitRange(M, n, 4);
      const whole = (k: number) => ms.map((): [number, number] => [0, k]);
      const cs = OC > C ? whole(C) : splitRange(C, n, 4);
      const os = OC > C ? splitRange(OC, n, 8) : whole(OC);
      // dbias by the same columns as dweight where those are split, so the kernel sums them while it packs dout
      const ns = OC > C ? os : splitRange(OC, n, 4);
      return ms.map(([m0, m1], i) => ['matmul_backward_part', [dinp, dw, db, dout, inp, w, M, C, OC, m0, m1, cs[i][0], cs[i][1], os[i][0], os[i][1], ns[i][0], ns[i][1], acc]]);
    }
    case 'lm_head_forward': {
      const [logits, inp, wte, B, T, C, V] = a, M = B * T;
      if (M * C * V < MIN_WORK) return null;
      return splitRange(V, n, 8).map(([v0, v1]) => ['lm_head_forward_part', [logits, inp, wte, M, C, V, v0, v1]]);
    }
    case 'lm_head_backward': {
      const [dinp, dwte, dlogits, inp, wte, B, T, C, V, acc] = a, M = B * T;
      if (M * C * V < MIN_WORK) return null;
      const cs = splitRange(C, n, 8), vs = splitRange(V, n, 4);
      return cs.map(([c0, c1], i) => ['lm_head_backward_part', [dinp, dwte, dlogits, inp, wte, M, C, V, c0, c1, vs[i][0], vs[i][1], acc]]);
    }
    // Element-wise kernels: ranges that start at multiples of 4, so every element but the
    // whole array's last few takes the same vector path as in one call (bit-identical).
    case 'gelu_forward': case 'gelu_backward': case 'residual_forward': case 'residual_backward': {
      const N = a[a.length - 1], ptrs = a.slice(0, -1);
      if (N < MIN_ELEMENTS) return null;
      return splitRange(N, n, 4).map(([i0, i1]) => [kernel as PartKernel, [...ptrs.map((p) => p + 4 * i0), i1 - i0]] as Job);
    }
    // Row-wise kernels: each range of rows is the same kernel on fewer rows.
    case 'layernorm_forward': {
      const [out, mean, rstd, inp, w, b, N, C] = a;
      if (N * C < MIN_ELEMENTS || N < 2) return null;
      return splitRange(N, n, 1).map(([r0, r1]) => ['layernorm_forward', [out + 4 * r0 * C, mean + 4 * r0, rstd + 4 * r0, inp + 4 * r0 * C, w, b, r1 - r0, C]] as Job);
    }
    case 'softmax_forward': {
      const [probs, logits, B, T, V] = a, N = B * T;
      if (N * V < MIN_ELEMENTS || N < 2) return null;
      return splitRange(N, n, 1).map(([r0, r1]) => ['softmax_forward', [probs + 4 * r0 * V, logits + 4 * r0 * V, 1, r1 - r0, V]] as Job);
    }
    case 'attention_forward': {
      const [out, att, qkv, B, Tq, Tk, C, NH] = a;
      if (B * NH < 2 || B * Tq * Tk * C < MIN_WORK / 64) return null;
      return splitRange(B * NH, n, 1).map(([h0, h1]) => ['attention_forward_part', [out, att, qkv, B, Tq, Tk, C, NH, h0, h1]]);
    }
    case 'attention_forward_kv': {
      const [out, att, qkv, kc, vc, Tq, Tk, maxT, C, NH] = a;
      if (NH < 2 || Tq * Tk * C < MIN_WORK / 64) return null;
      return splitRange(NH, n, 1).map(([h0, h1]) => ['attention_forward_kv_part', [out, att, qkv, kc, vc, Tq, Tk, maxT, C, NH, h0, h1]]);
    }
    case 'attention_backward': {
      const [dinp, datt, dout, inp, att, B, T, C, NH] = a;
      if (B * NH < 2 || B * T * T * C < MIN_WORK / 8) return null;
      return splitRange(B * NH, n, 1).map(([h0, h1]) => ['attention_backward_part', [dinp, datt, dout, inp, att, B, T, C, NH, h0, h1]]);
    }
    default:
      return null;
  }
}
