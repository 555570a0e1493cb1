// The js backend: the plain reference kernels (src/kernels/) over typed-array views of the same arena.
import { Arena } from './arena.js';
import { Backend, type KernelArgs, type KernelName } from './backend.js';
import { Tensor } from './tensor.js';
import { KERNELS } from '../kernels/index.js';

export class JsBackend extends Backend {
  readonly name = 'js' as const;

  constructor(arena: Arena = Arena.create()) {
    super(arena);
  }

  protected run(kernel: KernelName, args: KernelArgs): number | void {
    const ref = KERNELS[kernel].ref as (...a: unknown[]) => number | void;
    return ref(...args.map((a) => (a instanceof Tensor ? a.view() : a)));
  }
}
