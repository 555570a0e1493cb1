// The js backend: the plain reference kernels over typed-array views of the same arena.
import { Arena } from './arena.js';
import { Backend, type KernelName } from './backend.js';
import type { Tensor } from './tensor.js';
import * as reference from './reference.js';

type AnyKernel = (...args: unknown[]) => number | void;

export class JsBackend extends Backend {
  readonly name = 'js' as const;

  constructor(arena: Arena = Arena.create()) {
    super(arena);
  }

  protected run(kernel: KernelName, tensors: (Tensor | null)[], scalars: number[]): number | void {
    const views = tensors.map((t) => (t === null ? null : t.view()));
    return (reference[kernel] as AnyKernel)(...views, ...scalars);
  }
}
