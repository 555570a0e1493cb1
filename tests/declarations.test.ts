// Each kernel is declared once (src/kernels/<family>.ts) and the Backend, the wasm dispatch, the
// thread split and the warm-up follow from it; these tests hold the three places a kernel lives
// (its AssemblyScript file, its reference, its declaration) to the same arguments in the same order.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { KERNELS, PART_KERNELS, parseShape, freeDims, type KernelDecl } from '../src/kernels/index.js';
import { compileKernels } from '../src/backend/index.js';

const decls = Object.entries(KERNELS) as [string, KernelDecl][];

/** A function's parameter names from its source text (the references are plain functions). */
function parameterNames(f: (...a: never[]) => unknown): string[] {
  const src = f.toString();
  const list = src.slice(src.indexOf('(') + 1, src.indexOf(')'));
  return list
    .split(',')
    .map((p) => p.trim().split(/[\s=:]/)[0])
    .filter(Boolean);
}

/** Every `export function name(params)` of assembly/, with its parameter names. */
function assemblyExports(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const dir = new URL('../assembly/', import.meta.url);
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    for (const m of text.matchAll(/^export function (\w+)\(([^)]*)\)/gm)) {
      out.set(
        m[1],
        m[2]
          .split(',')
          .map((p) => p.trim().split(':')[0].trim())
          .filter(Boolean),
      );
    }
  }
  return out;
}

describe('kernel declarations', () => {
  const wasm = assemblyExports();

  it.each(decls)(
    '%s: the reference and the AssemblyScript kernel take the declared arguments, in order',
    (name, decl) => {
      const declared = Object.keys(decl.args);
      expect(parameterNames(decl.ref), 'the reference').toEqual(declared);
      expect(wasm.get(name), `assembly/: export function ${name}`).toEqual(declared);
    },
  );

  it.each(decls)('%s: shapes name only its arguments or free dims, and its warm-up gives every value', (name, decl) => {
    const numbers = Object.entries(decl.args)
      .filter(([, s]) => s.kind !== 'tensor')
      .map(([n]) => n);
    for (const [arg, spec] of Object.entries(decl.args)) {
      if (spec.kind !== 'tensor') continue;
      const free = freeDims(spec.shape, decl.args);
      for (const d of parseShape(spec.shape)) {
        for (const n of d.names)
          expect(numbers.includes(n) || free.includes(n), `${arg} (${spec.shape}): ${n}`).toBe(true);
      }
      for (const values of decl.warm) {
        for (const d of parseShape(spec.shape)) {
          const v = d.eval(values);
          expect(Number.isInteger(v) && v > 0, `${arg} (${spec.shape}) with ${JSON.stringify(values)}`).toBe(true);
        }
      }
    }
    for (const values of decl.warm) {
      for (const n of numbers) {
        const spec = decl.args[n];
        expect(n in values || (spec.kind !== 'tensor' && spec.default !== undefined), `warm-up value of ${n}`).toBe(
          true,
        );
      }
      expect(decl.check?.(values) ?? null, "the warm-up values keep the kernel's rules").toBeNull();
    }
  });

  it('the wasm module exports every declared kernel and every part a split names, with the arity the part is called with', async () => {
    const module = await compileKernels();
    const exports = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    for (const [name] of decls) expect(exports.has(name), name).toBe(true);
    for (const part of PART_KERNELS) expect(exports.has(part), part).toBe(true);
    // every plan's jobs pass as many arguments as the part takes
    const sizes = { decodeScratchFloats: 3 * 16384 };
    for (const [name, decl] of decls) {
      if (!decl.split) continue;
      for (const values of decl.warm) {
        const named = { ...values };
        let address = 64;
        for (const [arg, spec] of Object.entries(decl.args)) if (spec.kind === 'tensor') named[arg] = address += 4096;
        for (const n of [1, 2, 3]) {
          const plan = decl.split.plan(named, n, sizes);
          for (const [part, args] of [...plan, ...(plan.finish ? [plan.finish] : [])]) {
            expect(decl.split.parts, `${name}: ${part} is among its declared parts`).toContain(part);
            expect(args.length, `${name} -> ${part}`).toBe(wasm.get(part)!.length);
          }
        }
      }
    }
  });

  it("every wasm kernel that is not a part, a helper or the host's plumbing has a declaration", () => {
    const helpers = new Set([
      'heap_base',
      'zero_bytes',
      'set_pack_buffer',
      'pack_bytes',
      'decode_scratch_floats',
      'tile_6x8',
      'tile_6x8_strided',
      'warm_checksum',
      'gemm_nn',
      'pack_once',
      'touch',
    ]);
    const index = readFileSync(new URL('../assembly/index.ts', import.meta.url), 'utf8');
    for (const name of wasm.keys()) {
      if (helpers.has(name) || PART_KERNELS.includes(name) || !/^export \* from/m.test(index)) continue;
      expect(name in KERNELS, `${name} is exported by assembly/ but not declared in src/kernels/`).toBe(true);
    }
  });
});
