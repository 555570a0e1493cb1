// Every kernel, declared once (src/kernels/<family>.ts beside its reference, assembly/<family>.ts
// for wasm). The Backend turns each declaration into a checked method; the thread pool's parts
// and the wasm warm-up are read from them too.
import { encoderKernels } from './encoder.js';
import { layernormKernels } from './layernorm.js';
import { matmulKernels } from './matmul.js';
import { attentionKernels } from './attention.js';
import { geluKernels } from './gelu.js';
import { residualKernels } from './residual.js';
import { crossentropyKernels } from './crossentropy.js';
import { adamwKernels } from './adamw.js';
import { quantKernels } from './quant.js';
import { scanKernels } from './scan.js';
import type { KernelDecl } from './declare.js';

export const KERNELS = {
  ...encoderKernels,
  ...layernormKernels,
  ...matmulKernels,
  ...attentionKernels,
  ...geluKernels,
  ...residualKernels,
  ...crossentropyKernels,
  ...adamwKernels,
  ...quantKernels,
  ...scanKernels,
} satisfies Record<string, KernelDecl>;

export type KernelName = keyof typeof KERNELS;

/** Every wasm export a thread may be asked to run, in a fixed order (a job names its part by index). */
export const PART_KERNELS: readonly string[] = [
  ...new Set(Object.values(KERNELS).flatMap((d: KernelDecl) => d.split?.parts ?? [])),
];

export type { KernelDecl, KernelSizes, Split, Job, Named, ArgSpec, TensorArg, Floats, Expr } from './declare.js';
export { parseShape, freeDims, splitRange } from './declare.js';
// the reference kernels themselves, by name (tests, gradient checks)
export * from './encoder.js';
export * from './layernorm.js';
export * from './matmul.js';
export * from './attention.js';
export * from './gelu.js';
export * from './residual.js';
export * from './crossentropy.js';
export * from './adamw.js';
export * from './quant.js';
export * from './scan.js';
