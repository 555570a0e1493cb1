// The wasm backend: the AssemblyScript kernels (build/kernels.wasm) over the arena's memory.
// Tensors are passed as byte addresses; `>>> 0` keeps addresses above 2 GiB unsigned.
import { Arena } from './arena.js';
import { Backend, type KernelName } from './backend.js';
import type { Tensor } from './tensor.js';
import { ThreadPool, splitKernel, CONTROL_BYTES, type PartKernel } from './threads.js';

type KernelExports = Record<KernelName, (...args: number[]) => number | void> & { heap_base(): number; pack_bytes(): number; set_pack_buffer(p: number): void; zero_bytes(p: number, n: number): void };

const compiled = new Map<string, Promise<WebAssembly.Module>>();

/** Where the kernels live: next to the package (src/backend -> ../../build, dist/backend -> ../../build). */
export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);
/** The same kernels declaring shared memory, for threads. */
export const SHARED_KERNELS_URL = new URL('../../build/kernels-shared.wasm', import.meta.url);
/** Relaxed-SIMD builds (fused multiply-add), used where the engine validates them. */
export const RELAXED_KERNELS_URL = new URL('../../build/kernels-relaxed.wasm', import.meta.url);
export const RELAXED_SHARED_KERNELS_URL = new URL('../../build/kernels-relaxed-shared.wasm', import.meta.url);

export type SimdFlavor = 'plain' | 'relaxed';

/** Pages (64 KiB) the kernels' own static data needs below the arena (asconfig.json initialMemory). */
const KERNEL_PAGES = 8;

/** Whether this engine runs the relaxed-SIMD build (Chromium does; Node 20 only with --experimental-wasm-relaxed-simd). */
export async function relaxedSimdSupported(): Promise<boolean> {
  try {
    return WebAssembly.validate(await loadKernelBytes(RELAXED_KERNELS_URL) as BufferSource);
  } catch {
    return false;
  }
}

export function kernelsUrl(simd: SimdFlavor, shared: boolean): URL {
  if (simd === 'relaxed') return shared ? RELAXED_SHARED_KERNELS_URL : RELAXED_KERNELS_URL;
  return shared ? SHARED_KERNELS_URL : KERNELS_URL;
}

/** All cores where threads are possible: Node, or a cross-origin isolated page; else 1. */
export async function defaultThreads(): Promise<number> {
  if (typeof self === 'undefined' && typeof process !== 'undefined') {
    const os = await import(/* @vite-ignore */ 'node:os');
    return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  }
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { hardwareConcurrency?: number } };
  return g.crossOriginIsolated ? Math.max(1, g.navigator?.hardwareConcurrency ?? 1) : 1;
}

async function loadKernelBytes(url: URL): Promise<ArrayBuffer | Uint8Array> {
  if (url.protocol === 'file:') {
    const fs = await import(/* @vite-ignore */ 'node:fs/promises');
    try {
      return await fs.readFile(url);
    } catch (e) {
      throw new Error(`wasm backend: cannot read ${url.pathname} (${(e as Error).message}); run \`npm run build:wasm\``);
    }
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`wasm backend: fetching ${url} gave HTTP ${res.status}`);
  return res.arrayBuffer();
}

export function compileKernels(source: URL | ArrayBuffer | Uint8Array = KERNELS_URL): Promise<WebAssembly.Module> {
  if (source instanceof URL) {
    let p = compiled.get(source.href);
    if (!p) {
      p = loadKernelBytes(source).then((bytes) => WebAssembly.compile(bytes as BufferSource));
      compiled.set(source.href, p);
    }
    return p;
  }
  return WebAssembly.compile(source as BufferSource);
}

export interface WasmBackendOptions {
  /** Kernel threads: default all cores where shared memory is available, else 1. */
  threads?: number;
  /** 'relaxed' (fused multiply-add) or 'plain' f32x4; default: relaxed where the engine validates it. */
  simd?: SimdFlavor | 'auto';
  /** Another build of the kernels (URL or bytes); with threads > 1 it must declare shared memory. */
  kernels?: URL | ArrayBuffer | Uint8Array;
  warmUp?: boolean;
}

export class WasmBackend extends Backend {
  readonly name = 'wasm' as const;

  private constructor(arena: Arena, private readonly kernels: KernelExports, private pool: ThreadPool | null,
                      /** Which build runs: plain f32x4, or relaxed SIMD with fused multiply-add. */
                      readonly simd: SimdFlavor) {
    super(arena);
  }

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    let threads = options.threads ?? await defaultThreads();
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be an integer >= 1, got ${threads}`);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: KERNEL_PAGES, maximum: 65536, shared: threads > 1 });
    } catch {
      // no shared memory here (a page that is not cross-origin isolated): one thread
      threads = 1;
      memory = new WebAssembly.Memory({ initial: KERNEL_PAGES, maximum: 65536 });
    }
    let simd: SimdFlavor = options.simd === 'plain' || options.simd === 'relaxed' ? options.simd : (await relaxedSimdSupported() ? 'relaxed' : 'plain');
    if (options.simd === 'relaxed' && !(await relaxedSimdSupported())) {
      throw new Error('wasm backend: this engine does not run relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)');
    }
    if (options.kernels) simd = 'plain';
    const module = await compileKernels(options.kernels ?? kernelsUrl(simd, threads > 1));
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const kernels = instance.exports as unknown as KernelExports;
    const arena = new Arena(memory, kernels.heap_base() >>> 0);
    arena.zeroFill = (start, bytes) => kernels.zero_bytes(start, bytes);
    // each thread's instance packs matmul tiles into its own buffer (workers never allocate)
    const packBytes = kernels.pack_bytes();
    const pack = Array.from({ length: threads }, (_, i) => arena.alloc(packBytes, `matmul packing buffer of thread ${i}`));
    kernels.set_pack_buffer(pack[0]);
    let pool: ThreadPool | null = null;
    if (threads > 1) {
      const control = arena.alloc(CONTROL_BYTES, 'thread control block');
      pool = await ThreadPool.start(module, memory, control, threads, pack.slice(1));
    }
    const backend = new WasmBackend(arena, kernels, pool, simd);
    if (options.warmUp ?? true) await backend.warmUp();
    return backend;
  }

  /** Kernel calls that ran split across the thread pool (a count for tests and benchmarks). */
  parallelCalls = 0;

  override get threads(): number {
    return this.pool?.size ?? 1;
  }

  /** Stop the kernel threads (the backend keeps working on one thread). */
  dispose(): void {
    this.pool?.close();
    this.pool = null;
  }

  /**
   * V8 first runs a wasm function on its baseline compiler and moves it to the optimizing tier
   * only after enough work, for the *next* call: one long first call (a 124M forward pass) would
   * run entirely at baseline speed, 1.7x slower. Many short calls of every kernel on a small
   * problem get them all optimized before real work arrives (about 100 ms).
   */
  async warmUp(rounds = 40): Promise<void> {
    const B = 2, T = 8, C = 64, NH = 2, V = 64, OC = 3 * C;
    const floats = B * T * OC * 2 + OC * C + B * NH * T * T * 2 + V * C * 2;
    const base = this.arena.alloc(floats * 4 + 4096, 'kernel warm-up');
    const k = this.kernels;
    let p = base;
    const take = (n: number) => { const q = p; p += Math.ceil(n / 16) * 64; return q; };
    const x = take(B * T * OC), y = take(B * T * OC), w = take(OC * C), att = take(B * NH * T * T), datt = take(B * NH * T * T);
    const wte = take(V * C), ids = take(B * T), st = take(B * T * 2);
    for (let r = 0; r < rounds; r++) {
      k.encoder_forward(y, ids, wte, wte, B, T, C);
      k.encoder_backward(wte, wte, y, ids, B, T, C);
      k.layernorm_forward(y, st, st + 64, x, w, w, B * T, C);
      k.layernorm_backward(y, w, w, x, x, w, st, st + 64, B * T, C);
      k.matmul_forward(y, x, w, w, B, T, C, OC);
      k.matmul_forward(y, x, w, w, 1, 1, C, OC);
      k.matmul_backward(x, w, w, y, x, w, B, T, C, OC, 1);
      k.lm_head_forward(y, x, wte, B, T, C, V);
      k.lm_head_forward(y, x, wte, 1, 1, C, V);
      k.lm_head_backward(x, wte, y, x, wte, B, T, C, V, 1);
      k.attention_forward(y, att, x, B, T, T, C, NH);
      k.attention_backward(y, datt, x, x, att, B, T, C, NH);
      const p = k as unknown as Record<string, (...a: number[]) => void>;
      p.matmul_forward_part(y, x, w, w, B * T, C, OC, 0, B * T, 0, OC);
      p.matmul_backward_part(x, w, w, y, x, w, B * T, C, OC, 0, B * T, 0, C, 0, OC, 0, OC, 1);
      p.lm_head_forward_part(y, x, wte, B * T, C, V, 0, V);
      p.lm_head_backward_part(x, wte, y, x, wte, B * T, C, V, 0, C, 0, V, 1);
      p.attention_forward_part(y, att, x, B, T, T, C, NH, 0, B * NH);
      p.attention_backward_part(y, datt, x, x, att, B, T, C, NH, 0, B * NH);
      for (const Tq of [T, 1]) {                            // a KV cache's keys and values in w
        k.attention_forward_kv(y, att, x, w, w + 4 * T * C, Tq, T, T, C, NH);
        p.attention_forward_kv_part(y, att, x, w, w + 4 * T * C, Tq, T, T, C, NH, 0, NH);
      }
      k.matmul_forward_f16(y, x, w, w, 1, 1, C, OC);        // f16 weights: any bytes do for warming up
      k.lm_head_forward_f16(y, x, wte, 1, 1, C, V);
      for (const half of [0, 1]) { p.matmul_forward_half(y, x, w, w, 1, C, OC, half); p.matmul_forward_f16_half(y, x, w, w, 1, C, OC, half); }
      p.matmul_forward_join(y, 1, OC);
      k.f32_to_f16(y, x, C);
      k.gelu_forward(y, x, B * T * C);
      k.gelu_backward(y, x, x, x, B * T * C);
      k.residual_forward(y, x, x, B * T * C);
      k.residual_backward(y, y, x, B * T * C);
      k.softmax_forward(y, x, B, T, V);
      k.crossentropy_forward(st, y, ids, B, T, V);
      k.crossentropy_softmax_backward(x, st, y, ids, B, T, V);
      k.adamw_update(w, w, wte, wte, C * C, 1e-3, 0.9, 0.999, 1e-8, 0, r + 1, 1);
      k.sum_squares(w, C * C);
      k.scale_inplace(w, 1, C * C);
    }
    this.arena.release(base);
    await new Promise((resolve) => setTimeout(resolve, 20)); // background tier-up finishes
  }

  protected run(kernel: KernelName, tensors: (Tensor | null)[], scalars: number[]): number | void {
    const args = tensors.map((t) => (t === null ? 0 : t.ptr >>> 0));
    if (this.pool) {
      const jobs = splitKernel(kernel, [...args, ...scalars], this.pool.size);
      if (jobs) {
        this.parallelCalls++;
        const parts = this.kernels as unknown as Record<string, (...x: number[]) => void>;
        this.pool.run(jobs, (name: PartKernel, a: number[]) => parts[name](...a));
        if (jobs.finish) parts[jobs.finish[0]](...jobs.finish[1]);
        return;
      }
    }
    return this.kernels[kernel](...args, ...scalars);
  }
}
