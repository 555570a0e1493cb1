// The wasm backend: the AssemblyScript kernels (build/kernels.wasm) over the arena's memory.
// Tensors are passed as byte addresses; `>>> 0` keeps addresses above 2 GiB unsigned.
import { Arena } from './arena.js';
import { Backend, argNames, type KernelArgs, type KernelName } from './backend.js';
import { Tensor, numel } from './tensor.js';
import { ThreadPool, CONTROL_BYTES } from './threads.js';
import { KERNELS, parseShape, type KernelDecl, type KernelSizes, type Named } from '../kernels/index.js';

/** The module's exports: every kernel and kernel part by name, and the host's few helpers. */
type KernelExports = Record<string, (...args: number[]) => number | void> & {
  heap_base(): number;
  pack_bytes(): number;
  decode_scratch_floats(): number;
  set_pack_buffer(p: number): void;
  zero_bytes(p: number, n: number): void;
};

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
    return WebAssembly.validate((await loadKernelBytes(RELAXED_KERNELS_URL)) as BufferSource);
  } catch {
    return false;
  }
}

export function kernelsUrl(simd: SimdFlavor, shared: boolean): URL {
  if (simd === 'relaxed') return shared ? RELAXED_SHARED_KERNELS_URL : RELAXED_KERNELS_URL;
  return shared ? SHARED_KERNELS_URL : KERNELS_URL;
}

/** More kernel threads than this would only spend wasm memory on their tile buffers. */
export const MAX_THREADS = 256;

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
      throw new Error(
        `wasm backend: cannot read ${url.pathname} (${(e as Error).message}); run \`npm run build:wasm\``,
      );
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

  /** Sizes the kernels export, which the thread splits follow. */
  private readonly sizes: KernelSizes;

  private constructor(
    arena: Arena,
    private readonly kernels: KernelExports,
    private pool: ThreadPool | null,
    /** Which build runs: plain f32x4, or relaxed SIMD with fused multiply-add. */
    readonly simd: SimdFlavor,
  ) {
    super(arena);
    this.sizes = { decodeScratchFloats: kernels.decode_scratch_floats() };
  }

  static async create(options: WasmBackendOptions = {}): Promise<WasmBackend> {
    let threads = options.threads ?? (await defaultThreads());
    if (!Number.isInteger(threads) || threads < 1 || threads > MAX_THREADS)
      throw new RangeError(
        `threads must be an integer from 1 to ${MAX_THREADS} (each takes a worker and its own tile buffer in wasm memory), got ${threads}`,
      );
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: KERNEL_PAGES, maximum: 65536, shared: threads > 1 });
    } catch {
      // no shared memory here (a page that is not cross-origin isolated): one thread
      threads = 1;
      memory = new WebAssembly.Memory({ initial: KERNEL_PAGES, maximum: 65536 });
    }
    let simd: SimdFlavor =
      options.simd === 'plain' || options.simd === 'relaxed'
        ? options.simd
        : (await relaxedSimdSupported())
          ? 'relaxed'
          : 'plain';
    if (options.simd === 'relaxed' && !(await relaxedSimdSupported())) {
      throw new Error(
        'wasm backend: this engine does not run relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)',
      );
    }
    if (options.kernels) simd = 'plain';
    const module = await compileKernels(options.kernels ?? kernelsUrl(simd, threads > 1));
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const kernels = instance.exports as unknown as KernelExports;
    const arena = new Arena(memory, kernels.heap_base() >>> 0);
    arena.zeroFill = (start, bytes) => kernels.zero_bytes(start, bytes);
    // each thread's instance packs matmul tiles into its own buffer (workers never allocate)
    const packBytes = kernels.pack_bytes();
    const pack = Array.from({ length: threads }, (_, i) =>
      arena.alloc(packBytes, `matmul packing buffer of thread ${i}`),
    );
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
   * run entirely at baseline speed, 1.7x slower. Many short calls of every kernel, and of every
   * part its thread split names, on the small problems its declaration gives, get them all
   * optimized before real work arrives (about 100 ms).
   */
  async warmUp(rounds = 40): Promise<void> {
    const calls: { decl: KernelDecl; kernel: string; args: number[]; named: Named }[] = [];
    const blocks: number[] = [];
    for (const [kernel, decl] of Object.entries(KERNELS) as [KernelName, KernelDecl][]) {
      for (const values of decl.warm) {
        const named: Named = { ...values };
        const args = Object.entries(decl.args).map(([name, spec]) => {
          if (spec.kind !== 'tensor') return (named[name] = values[name] ?? spec.default!);
          const n = numel(parseShape(spec.shape).map((d) => d.eval(values)));
          const p = this.arena.alloc(Math.max(64, n * 4), `warm-up of ${kernel}`); // zeros: valid ids, any weights
          blocks.push(p);
          return (named[name] = p);
        });
        calls.push({ decl, kernel, args, named });
      }
    }
    const k = this.kernels;
    for (let r = 0; r < rounds; r++) {
      for (const { decl, kernel, args, named } of calls) {
        k[kernel](...args);
        if (!decl.split) continue;
        const plan = decl.split.plan(named, 2, this.sizes); // every part on this thread, one after another
        for (const [part, a] of plan) k[part](...a);
        if (plan.finish) k[plan.finish[0]](...plan.finish[1]);
      }
    }
    for (const p of blocks.reverse()) this.arena.release(p);
    await new Promise((resolve) => setTimeout(resolve, 20)); // background tier-up finishes
  }

  protected run(kernel: KernelName, args: KernelArgs): number | void {
    const values = args.map((a) => (a instanceof Tensor ? a.ptr >>> 0 : a === null ? 0 : a));
    const split = KERNELS[kernel].split as KernelDecl['split'];
    if (this.pool && split) {
      const named: Named = {};
      const names = argNames(kernel);
      for (let i = 0; i < names.length; i++) named[names[i]] = values[i];
      if (split.when(named, this.pool.size, this.sizes)) {
        const plan = split.plan(named, this.pool.size, this.sizes);
        this.parallelCalls++;
        const sum = this.pool.run(plan, (part, a) => this.kernels[part](...a));
        if (plan.finish) this.kernels[plan.finish[0]](...plan.finish[1]);
        return split.sums ? sum : undefined;
      }
    }
    return this.kernels[kernel](...values);
  }

  /** Kernel calls that ran split across the thread pool. */
  parallelCalls = 0;
}
