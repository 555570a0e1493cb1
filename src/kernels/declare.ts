// How a kernel is declared, once: its arguments in order, the shape of every tensor, which it
// writes and which it accumulates, extra rules, how it splits across threads and what it warms up
// on. The Backend's checks, the wasm dispatch, the thread pool's list of parts and the warm-up are
// all read from these declarations (src/kernels/<family>.ts, beside each family's JS reference).
//
// Each family's reference kernels are the specification the wasm kernels are tested against:
// written to be obviously correct, never optimized, generic over Float32Array and Float64Array
// (gradient checks run them in double precision).
import type { DType } from '../backend/tensor.js';

export type Floats = Float32Array | Float64Array;

/**
 * What a kernel does with a tensor argument: reads it, writes it whole (=), adds into it (+=), or
 * reads and rewrites it in place (AdamW's parameters and moments, a KV cache's new positions).
 */
export type Role = 'read' | 'write' | 'accumulate' | 'update';

export interface TensorArg {
  kind: 'tensor';
  /** One expression per dimension over the kernel's dims: 'B,T,3*C'. A bare name that is not an
   *  argument (V in 'V,C') is a free dim, bound from the tensor's own shape. */
  shape: string;
  dtype: DType;
  role: Role;
  /** May be null (a missing bias). */
  optional: boolean;
}

/** A number argument: 'dim' sizes tensors (a positive integer), 'scalar' is anything else. */
export interface NumberArg {
  kind: 'dim' | 'scalar';
  /** The value when the caller leaves it out. */
  default?: number;
}

export type ArgSpec = TensorArg | NumberArg;

/** One part of a split call: a wasm export and its arguments (addresses and integers). */
export type Job = [part: string, args: number[]];

/** The parts of one call, run at once on the pool's threads, and what the calling thread runs after all are done. */
export type Split = Job[] & { finish?: Job };

/** Sizes the kernels export for the host (read once from the wasm module). */
export interface KernelSizes {
  /** Floats of the decode scratch that bounds M * OC of a decode matmul split in two k halves. */
  decodeScratchFloats: number;
}

/** Arguments by name: tensors as byte addresses, numbers as they are. */
export type Named = Record<string, number>;

export interface SplitDecl {
  /** Every wasm export a plan may name (the worker threads look them up by index). */
  parts: readonly string[];
  /** Whether splitting this call across n threads pays (every plan must also be valid when it does not). */
  when(a: Named, n: number, sizes: KernelSizes): boolean;
  /** n disjoint parts whose union is the whole call, bit for bit. */
  plan(a: Named, n: number, sizes: KernelSizes): Split;
  /** The kernel returns a count, and the call's is the sum of its parts' (void kernels leave this out). */
  sums?: true;
}

export interface KernelDecl<F extends (...args: never[]) => unknown = (...args: never[]) => unknown> {
  /** The plain-JS specification; its parameters are the kernel's arguments in this order. */
  ref: F;
  /** Every argument, in the kernel's order (tensors as addresses for wasm, typed arrays for js). */
  args: Record<string, ArgSpec>;
  /** Rules the shapes cannot say: a message naming what is wrong, or null. Gets dims, free dims and scalars. */
  check?: (a: Named) => string | null;
  split?: SplitDecl;
  /** Small argument values (dims, free dims and scalars) that the wasm warm-up runs it on. */
  warm: Named[];
}

const tensor = (shape: string, dtype: DType, role: Role, optional = false): TensorArg => ({
  kind: 'tensor',
  shape,
  dtype,
  role,
  optional,
});

/** An f32 tensor the kernel only reads. */
export const reads = (shape: string, dtype: DType = 'f32'): TensorArg => tensor(shape, dtype, 'read');
/** A tensor the kernel writes whole (=). */
export const writes = (shape: string, dtype: DType = 'f32'): TensorArg => tensor(shape, dtype, 'write');
/** A tensor the kernel adds into (+=). */
export const accumulates = (shape: string): TensorArg => tensor(shape, 'f32', 'accumulate');
/** A tensor the kernel reads and rewrites in place. */
export const updates = (shape: string): TensorArg => tensor(shape, 'f32', 'update');
/** The same argument, which may be null. */
export const optional = (t: TensorArg): TensorArg => ({ ...t, optional: true });
export const dim: NumberArg = { kind: 'dim' };
export const scalar: NumberArg = { kind: 'scalar' };
/** 1: add into the parameter gradients (+=); 0: write them (=, the same bits as adding to zeros, without reading them). */
export const accumulateFlag: NumberArg = { kind: 'scalar', default: 1 };

/** Declare a kernel (the reference's parameter names must be the keys of args: tests/declarations.test.ts checks). */
export function kernel<F extends (...args: never[]) => unknown>(decl: KernelDecl<F>): KernelDecl<F> {
  return decl;
}

// ---- shapes ----

export type Expr = { names: string[]; bare: boolean; eval: (env: Named) => number };
const parsed = new Map<string, Expr[]>();

/** 'B,T,3*C' -> one evaluator per dimension: products and quotients of names and integers. */
export function parseShape(shape: string): Expr[] {
  let dims = parsed.get(shape);
  if (dims) return dims;
  dims = shape.split(',').map((d) => {
    const tokens = d
      .trim()
      .split(/([*/])/)
      .map((s) => s.trim());
    const factors = tokens.filter((_, i) => i % 2 === 0).map((s) => (/^\d+$/.test(s) ? Number(s) : s));
    const divides = tokens.filter((_, i) => i % 2 === 1).map((op) => op === '/');
    const names = factors.filter((f): f is string => typeof f === 'string');
    for (const n of names)
      if (!/^[A-Za-z_]\w*$/.test(n)) throw new Error(`shape '${shape}': '${n}' is not a name or an integer`);
    const value = (f: string | number, env: Named) => (typeof f === 'number' ? f : env[f]);
    return {
      names,
      bare: factors.length === 1 && names.length === 1,
      eval: (env: Named) => {
        let v = value(factors[0], env);
        for (let i = 1; i < factors.length; i++)
          v = divides[i - 1] ? v / value(factors[i], env) : v * value(factors[i], env);
        return v;
      },
    };
  });
  parsed.set(shape, dims);
  return dims;
}

/** The names in a shape that are free dims: bare names that are not arguments of the kernel. */
export function freeDims(shape: string, args: Record<string, ArgSpec>): string[] {
  return parseShape(shape)
    .filter((e) => e.bare && !(e.names[0] in args))
    .map((e) => e.names[0]);
}

// ---- thread splits ----

/** Boundaries that split [0, n) into `parts` ranges whose starts are multiples of `align`. */
export function splitRange(n: number, parts: number, align: number): [number, number][] {
  const chunk = Math.ceil(n / parts / align) * align;
  return Array.from(
    { length: parts },
    (_, i) => [Math.min(n, i * chunk), Math.min(n, (i + 1) * chunk)] as [number, number],
  );
}

/** Multiply-adds below which one thread beats waking the others (a 768x768 decode matmul is slower split). */
export const MIN_WORK = 1 << 21;
/** Elements of an element- or row-wise kernel worth splitting. */
export const MIN_ELEMENTS = 1 << 16;

/**
 * Element-wise kernels over N floats: ranges that start at multiples of 4, so every element but
 * the whole array's last few takes the same vector path as in one call (bit-identical). Each part
 * is the kernel itself on offset addresses.
 */
export function elementwise(name: string, tensors: readonly string[]): SplitDecl {
  return {
    parts: [name],
    when: (a) => a.N >= MIN_ELEMENTS,
    plan: (a, n) =>
      splitRange(a.N, n, 4).map(([i0, i1]): Job => [name, [...tensors.map((t) => a[t] + 4 * i0), i1 - i0]]),
  };
}
