// The Backend: one method per kernel, made from the kernel's declaration (src/kernels/), with the
// reference's parameters over Tensors. Every call is checked here, at the boundary, before any
// kernel runs: dims must be positive integers, every tensor must live in this backend's arena with
// the dtype and the shape its declaration gives, and the kernel's own rules must hold. A mismatch
// names the kernel, the argument, the shape given and the shape expected. The model is written
// against this class only and never knows which implementation runs the math.
import type { Arena } from './arena.js';
import { Tensor, numel, shapeString } from './tensor.js';
import {
  KERNELS,
  parseShape,
  type KernelName,
  type KernelDecl,
  type Named,
  type ArgSpec,
  type Expr,
} from '../kernels/index.js';

export type BackendName = 'wasm' | 'js';
export type { KernelName };

/** A reference kernel's argument as the Backend takes it: a Tensor where the reference takes an array. */
type HostArg<A> = A extends number | boolean | null | undefined ? A : Tensor;
type KernelMethod<F> = F extends (...args: infer P) => infer R
  ? (...args: { [K in keyof P]: HostArg<P[K]> }) => R
  : never;
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
    const { decl, args: plan } = compiled(kernel);
    if (given.length > plan.length)
      throw new RangeError(`${kernel}: ${given.length} arguments given, it takes ${plan.length}`);
    const env: Named = {};
    for (let i = 0; i < plan.length; i++) {
      const { name, spec } = plan[i];
      if (spec.kind === 'tensor') continue;
      const g = given[i];
      const v = g === undefined ? spec.default : typeof g === 'boolean' ? Number(g) : g;
      if (typeof v !== 'number') throw new TypeError(`${kernel}: ${name} must be a number, got ${String(v)}`);
      if (spec.kind === 'dim' && (!Number.isInteger(v) || v <= 0))
        throw new RangeError(`${kernel}: ${name} must be a positive integer, got ${v}`);
      env[name] = v;
    }
    // free dims (V in 'V,C') come from the tensors' own shapes; then the kernel's rules, which
    // name the cause (C not divisible by NH) before the shapes it breaks do
    for (let i = 0; i < plan.length; i++) {
      const { free, dims } = plan[i],
        t = given[i];
      if (!free || !(t instanceof Tensor) || t.shape.length !== dims.length) continue;
      for (let j = 0; j < dims.length; j++) if (free[j] && !(free[j]! in env)) env[free[j]!] = t.shape[j];
    }
    const broken = decl.check?.(env);
    if (broken) throw new RangeError(`${kernel}: ${broken}`);
    const args: KernelArgs = new Array(plan.length);
    for (let i = 0; i < plan.length; i++) {
      const { name, spec, dims, free } = plan[i];
      if (spec.kind !== 'tensor') {
        args[i] = env[name];
        continue;
      }
      const t = given[i] ?? null;
      args[i] = t as Tensor | null;
      if (t === null) {
        if (!spec.optional) throw new TypeError(`${kernel}: ${name} is required, got ${String(given[i])}`);
        continue;
      }
      if (!(t instanceof Tensor)) throw new TypeError(`${kernel}: ${name} must be a Tensor`);
      if (t.arena !== this.arena) throw new Error(`${kernel}: ${name} (${t.label}) lives in another backend's arena`);
      if (t.dtype !== spec.dtype)
        throw new TypeError(`${kernel}: ${name} must be ${spec.dtype}, got ${t.dtype} (${t.label})`);
      if (free) {
        // a shape with free dims is checked dim by dim: the same rank, equal where bound
        let ok = t.shape.length === dims.length;
        for (let j = 0; ok && j < dims.length; j++) ok = dims[j].eval(env) === t.shape[j];
        if (!ok)
          throw new RangeError(
            `${kernel}: ${name} is ${shapeString(t.shape)} but (${spec.shape}) with ${describe(env, spec.shape)} is expected`,
          );
      } else {
        let n = 1;
        for (let j = 0; j < dims.length; j++) n *= dims[j].eval(env);
        if (t.size !== n)
          throw new RangeError(
            `${kernel}: ${name} is ${shapeString(t.shape)} but ${shapeString(dims.map((d) => d.eval(env)))} is expected`,
          );
      }
      if (t.ptr < 0 || t.ptr + t.bytes > this.arena.byteLength || t.ptr % 4 !== 0) {
        throw new RangeError(
          `${kernel}: ${name} at byte ${t.ptr} + ${t.bytes} lies outside memory (${this.arena.byteLength} bytes)`,
        );
      }
    }
    return this.run(kernel, args);
  }
}

/** A kernel's argument names, in order. */
export function argNames(kernel: KernelName): string[] {
  return compiled(kernel).names;
}

/** A declaration read once for the calls: every argument with its parsed shape and, where it has them, its free dims by position. */
interface CompiledKernel {
  decl: KernelDecl;
  names: string[];
  args: { name: string; spec: ArgSpec; dims: Expr[]; free: (string | null)[] | null }[];
}
const compiledKernels = new Map<string, CompiledKernel>();

function compiled(kernel: KernelName): CompiledKernel {
  let c = compiledKernels.get(kernel);
  if (!c) {
    const decl: KernelDecl = KERNELS[kernel];
    c = {
      decl,
      names: Object.keys(decl.args),
      args: Object.entries(decl.args).map(([name, spec]) => {
        if (spec.kind !== 'tensor') return { name, spec, dims: [], free: null };
        const dims = parseShape(spec.shape);
        const free = dims.map((d) => (d.bare && !(d.names[0] in decl.args) ? d.names[0] : null));
        return { name, spec, dims, free: free.some((f) => f) ? free : null };
      }),
    };
    compiledKernels.set(kernel, c);
  }
  return c;
}

/** 'C 52' for the names of a shape that are known. */
function describe(env: Named, shape: string): string {
  const names = [...new Set(parseShape(shape).flatMap((d) => d.names))];
  return names
    .filter((n) => n in env)
    .map((n) => `${n} ${env[n]}`)
    .join(', ');
}

for (const kernel of Object.keys(KERNELS) as KernelName[]) {
  Object.defineProperty(Backend.prototype, kernel, {
    value: function (this: Backend, ...args: unknown[]) {
      return (this as unknown as { call: Backend['call'] }).call(kernel, args);
    },
  });
}
