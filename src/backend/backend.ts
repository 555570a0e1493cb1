// The Backend: one method per kernel, made from the kernel's declaration (src/kernels/), with the
// reference's parameters over Tensors. Every call is checked here, at the boundary, before any
// kernel runs: dims must be positive integers, every tensor must live in this backend's arena with
// the dtype and the shape its declaration gives, and the kernel's own rules must hold. A mismatch
// names the kernel, the argument, the shape given and the shape expected. The model is written
// against this class only and never knows which implementation runs the math.
import type { Arena } from './arena.js';
import { Tensor, numel, shapeString } from './tensor.js';
import { KERNELS, parseShape, freeDims, type KernelName, type KernelDecl, type Named } from '../kernels/index.js';

export type BackendName = 'wasm' | 'js';
export type { KernelName };

/** A reference kernel's argument as the Backend takes it: a Tensor where the reference takes an array. */
type HostArg<A> = A extends number | boolean | null | undefined ? A : Tensor;
type KernelMethod<F> = F extends (...args: infer P) => infer R ? (...args: { [K in keyof P]: HostArg<P[K]> }) => R : never;
/** Every kernel as a method: `backend.layernorm_forward(out, mean, rstd, inp, weight, bias, N, C)`. */
export type KernelMethods = { [K in KernelName]: KernelMethod<(typeof KERNELS)[K]['ref']> };

/** A kernel call's arguments in order: tensors (or null for a missing optional one) and numbers. */
export type KernelArgs = (Tensor | number | null)[];

// The kernels' methods are added to the class below from their declarations.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface Backend extends KernelMethods {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export abstract class Backend {
  abstract readonly name: BackendName;

  constructor(readonly arena: Arena) {}

  /** Run one checked kernel call: tensors become addresses (wasm) or typed arrays (js). */
  protected abstract run(kernel: KernelName, args: KernelArgs): number | void;

  /** Threads used by the kernels. */
  get threads(): number {
    return 1;
  }

  /** Check a call against the kernel's declaration, then run it. */
  protected call(kernel: KernelName, given: unknown[]): number | void {
    const decl: KernelDecl = KERNELS[kernel];
    const names = Object.keys(decl.args);
    if (given.length > names.length) throw new RangeError(`${kernel}: ${given.length} arguments given, it takes ${names.length}`);
    const args: KernelArgs = [];
    const env: Named = {};
    names.forEach((name, i) => {
      const spec = decl.args[name];
      if (spec.kind === 'tensor') return;
      const v = given[i] === undefined ? spec.default : typeof given[i] === 'boolean' ? Number(given[i]) : given[i];
      if (typeof v !== 'number') throw new TypeError(`${kernel}: ${name} must be a number, got ${String(v)}`);
      if (spec.kind === 'dim' && (!Number.isInteger(v) || v <= 0)) throw new RangeError(`${kernel}: ${name} must be a positive integer, got ${v}`);
      env[name] = v;
    });
    // free dims (V in 'V,C') come from the tensors' own shapes; then the kernel's rules, which
    // name the cause (C not divisible by NH) before the shapes it breaks do
    const tensors = names.map((name, i) => (decl.args[name].kind === 'tensor' ? given[i] ?? null : null));
    names.forEach((name, i) => {
      const spec = decl.args[name], t = tensors[i];
      if (spec.kind !== 'tensor' || !(t instanceof Tensor)) return;
      const dims = parseShape(spec.shape), free = freeDims(spec.shape, decl.args);
      if (t.shape.length !== dims.length) return;
      dims.forEach((d, j) => {
        if (d.bare && free.includes(d.names[0]) && !(d.names[0] in env)) env[d.names[0]] = t.shape[j];
      });
    });
    const broken = decl.check?.(env);
    if (broken) throw new RangeError(`${kernel}: ${broken}`);
    names.forEach((name, i) => {
      const spec = decl.args[name];
      if (spec.kind !== 'tensor') {
        args.push(env[name]);
        return;
      }
      const t = tensors[i];
      args.push(t as Tensor | null);
      if (t === null) {
        if (!spec.optional) throw new TypeError(`${kernel}: ${name} is required, got ${String(given[i])}`);
        return;
      }
      if (!(t instanceof Tensor)) throw new TypeError(`${kernel}: ${name} must be a Tensor`);
      if (t.arena !== this.arena) throw new Error(`${kernel}: ${name} (${t.label}) lives in another backend's arena`);
      if (t.dtype !== spec.dtype) throw new TypeError(`${kernel}: ${name} must be ${spec.dtype}, got ${t.dtype} (${t.label})`);
      const want = parseShape(spec.shape).map((d) => d.eval(env));
      if (freeDims(spec.shape, decl.args).length > 0) {
        // a shape with free dims is checked dim by dim: the same rank, equal where bound
        if (t.shape.length !== want.length || want.some((w, j) => w !== t.shape[j])) {
          throw new RangeError(`${kernel}: ${name} is ${shapeString(t.shape)} but (${spec.shape}) with ${describe(env, spec.shape)} is expected`);
        }
      } else if (t.size !== numel(want)) {
        throw new RangeError(`${kernel}: ${name} is ${shapeString(t.shape)} but ${shapeString(want)} is expected`);
      }
      if (t.ptr < 0 || t.ptr + t.bytes > this.arena.byteLength || t.ptr % 4 !== 0) {
        throw new RangeError(`${kernel}: ${name} at byte ${t.ptr} + ${t.bytes} lies outside memory (${this.arena.byteLength} bytes)`);
      }
    });
    return this.run(kernel, args);
  }
}

/** 'C 52' for the names of a shape that are known. */
function describe(env: Named, shape: string): string {
  const names = [...new Set(parseShape(shape).flatMap((d) => d.names))];
  return names.filter((n) => n in env).map((n) => `${n} ${env[n]}`).join(', ');
}

for (const kernel of Object.keys(KERNELS) as KernelName[]) {
  Object.defineProperty(Backend.prototype, kernel, {
    value: function (this: Backend, ...args: unknown[]) {
      return (this as unknown as { call: Backend['call'] }).call(kernel, args);
    },
  });
}
