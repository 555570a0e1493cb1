// The wasm backend: the AssemblyScript kernels (build/kernels.wasm) over the arena's memory.
// Tensors are passed as byte addresses; `>>> 0` keeps addresses above 2 GiB unsigned.
import { Arena } from './arena.js';
import { Backend, type KernelName } from './backend.js';
import type { Tensor } from './tensor.js';

type KernelExports = Record<KernelName, (...args: number[]) => number | void> & { heap_base(): number };

let compiled: Promise<WebAssembly.Module> | null = null;

/** Where the kernels live: next to the package (src/backend -> ../../build, dist/backend -> ../../build). */
export const KERNELS_URL = new URL('../../build/kernels.wasm', import.meta.url);

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
    if (source.href === KERNELS_URL.href && compiled) return compiled;
    const p = loadKernelBytes(source).then((bytes) => WebAssembly.compile(bytes as BufferSource));
    if (source.href === KERNELS_URL.href) compiled = p;
    return p;
  }
  return WebAssembly.compile(source as BufferSource);
}

export class WasmBackend extends Backend {
  readonly name = 'wasm' as const;

  private constructor(arena: Arena, private readonly kernels: KernelExports) {
    super(arena);
  }

  static async create(options: { kernels?: URL | ArrayBuffer | Uint8Array; initialBytes?: number } = {}): Promise<WasmBackend> {
    const module = await compileKernels(options.kernels);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const kernels = instance.exports as unknown as KernelExports;
    const arena = new Arena(memory, kernels.heap_base() >>> 0);
    return new WasmBackend(arena, kernels);
  }

  protected run(kernel: KernelName, tensors: (Tensor | null)[], scalars: number[]): number | void {
    const args = tensors.map((t) => (t === null ? 0 : t.ptr >>> 0));
    return this.kernels[kernel](...args, ...scalars);
  }
}
