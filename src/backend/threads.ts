// The thread pool: workers that share the arena's WebAssembly.Memory and run kernel parts on
// request. The host lays out all memory; workers never allocate. One control block in the arena
// coordinates them with Atomics: the main thread writes each worker's job into its slot, bumps a
// generation counter and wakes them, runs its own part, then waits until every worker has
// acknowledged that generation. Node uses worker_threads, browsers Web Workers (when cross-origin isolated);
// both run the same small worker script below.

import { PART_KERNELS, type Job, type Split } from '../kernels/index.js';

export type { Job, Split };

// The control block: GEN (the call's generation, bumped once per split call), FAILED, then one
// slot per worker: kernel id (0: nothing, -1: exit), argument count, arguments, RESULT (what the
// part returned, as an i32: a count the calls add up) and last DONE: the generation this worker
// finished last. Each worker acknowledges in its own word (no shared counter to decrement), and
// every wait is bounded or re-checked, so a lost wake-up can cost a moment, never a hang.
const GEN = 0,
  FAILED = 1,
  SLOTS = 16,
  SLOT_INTS = 24,
  RESULT = SLOT_INTS - 2,
  DONE = SLOT_INTS - 1;
/**
 * Polls of a counter before falling back to a futex sleep (tens of microseconds): longer, an idle
 * thread slows the busy one; shorter, back-to-back kernels pay a wake-up each (docs/performance.md).
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
      let r = 0;
      try { r = ex[KERNELS[id - 1]](...args); } catch (e) { Atomics.store(ctrl, ${FAILED}, 1); }
      Atomics.store(ctrl, base + ${RESULT}, r | 0);
    }
    Atomics.store(ctrl, base + ${DONE}, gen);
    Atomics.notify(ctrl, base + ${DONE});
  }
  if (isNode) port.close();
});
`;

interface WorkerHandle {
  post(msg: unknown): void;
  terminate(): void;
}

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

export class ThreadPool {
  private readonly ctrl: Int32Array;
  private canWait = true;

  private constructor(
    memory: WebAssembly.Memory,
    control: number,
    private readonly workers: WorkerHandle[],
  ) {
    this.ctrl = new Int32Array(memory.buffer, control, CONTROL_BYTES / 4);
  }

  /** Start `threads - 1` workers (the calling thread is the last one). */
  /** pack[i]: worker i's matmul packing buffer (laid out by the host). */
  static async start(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    control: number,
    threads: number,
    pack: number[],
  ): Promise<ThreadPool> {
    if (threads - 1 > 64) throw new RangeError(`threads: at most 65 supported, got ${threads}`);
    const workers: WorkerHandle[] = [];
    await Promise.all(
      Array.from(
        { length: threads - 1 },
        (_, slot) =>
          new Promise<void>((resolve, reject) => {
            spawnWorker((m) =>
              m.error ? reject(new Error(`kernel thread ${slot + 1}: ${m.error}`)) : m.ready && resolve(),
            ).then((w) => {
              workers[slot] = w;
              w.post({ module, memory, control, slot, pack: pack[slot] });
            }, reject);
          }),
      ),
    );
    return new ThreadPool(memory, control, workers);
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /** jobs[0] runs here, jobs[i] on worker i-1; returns when all are done, with the sum of what the parts returned (an i32 each, 0 for none). */
  run(jobs: readonly (Job | null)[], runHere: (name: string, args: number[]) => number | void): number {
    const c = this.ctrl;
    for (let w = 0; w < this.workers.length; w++) {
      const job = jobs[w + 1] ?? null,
        base = SLOTS + w * SLOT_INTS;
      if (!job) {
        c[base] = 0;
        continue;
      }
      c[base] = PART_KERNELS.indexOf(job[0]) + 1;
      if (job[1].length > RESULT - 2)
        throw new RangeError(`${job[0]}: ${job[1].length} arguments, a thread slot holds ${RESULT - 2}`);
      c[base + 1] = job[1].length;
      for (let i = 0; i < job[1].length; i++) c[base + 2 + i] = job[1][i];
    }
    Atomics.store(c, FAILED, 0);
    const gen = (Atomics.add(c, GEN, 1) + 1) | 0; // as the Int32 word holds it (it wraps)
    Atomics.notify(c, GEN);
    let sum = jobs[0] ? Number(runHere(jobs[0][0], jobs[0][1]) ?? 0) | 0 : 0;
    // wait for each worker to acknowledge this generation: spin first (parts finish at about the
    // same time), then block where the platform allows it (Node, workers; not a page's main thread)
    let spin = 0;
    for (let w = 0; w < this.workers.length; w++) {
      const done = SLOTS + w * SLOT_INTS + DONE;
      for (let v = Atomics.load(c, done); v !== gen; v = Atomics.load(c, done)) {
        if (++spin > SPIN && this.canWait) {
          try {
            Atomics.wait(c, done, v, 50);
          } catch {
            this.canWait = false;
          }
        }
      }
    }
    if (Atomics.load(c, FAILED)) throw new Error('a kernel thread failed (a wasm trap in a kernel part)');
    for (let w = 0; w < this.workers.length; w++)
      if (jobs[w + 1]) sum += Atomics.load(c, SLOTS + w * SLOT_INTS + RESULT);
    return sum;
  }

  close(): void {
    const c = this.ctrl;
    for (let w = 0; w < this.workers.length; w++) c[SLOTS + w * SLOT_INTS] = -1;
    Atomics.add(c, GEN, 1);
    Atomics.notify(c, GEN);
  }
}
