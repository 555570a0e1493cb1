import type { Backend, BackendName } from './backend.js';
import { JsBackend } from './js.js';
import { WasmBackend } from './wasm.js';

export { Arena, MAX_BYTES, formatBytes } from './arena.js';
export { Backend, type BackendName, type KernelName } from './backend.js';
export { Tensor, carve, numel, shapeString, dtypeBytes, isBlockDType, type DType, type BlockDType } from './tensor.js';
export { JsBackend } from './js.js';
export {
  WasmBackend,
  compileKernels,
  defaultThreads,
  relaxedSimdSupported,
  KERNELS_URL,
  SHARED_KERNELS_URL,
  RELAXED_KERNELS_URL,
  RELAXED_SHARED_KERNELS_URL,
  type WasmBackendOptions,
  type SimdFlavor,
} from './wasm.js';

/** The fast backend is 'wasm'; 'js' is the plain reference the tests hold it to. */
export async function createBackend(
  name: BackendName = 'wasm',
  options: { threads?: number; simd?: 'plain' | 'relaxed' | 'auto' } = {},
): Promise<Backend> {
  if (name === 'wasm') return WasmBackend.create(options);
  if (name === 'js') return new JsBackend();
  throw new Error(`unknown backend '${name as string}': expected 'wasm' or 'js'`);
}
