// A Tensor is a typed view of arena memory that knows its dims. It never owns memory:
// the model allocates blocks in the arena and hands out tensors over them.
import type { Arena } from './arena.js';

export type DType = 'f32' | 'i32' | 'f16' | 'q8_0' | 'q4_0';

/** llama.cpp's block formats: 32 values per block, each block an f16 scale and the values' bits. */
export type BlockDType = 'q8_0' | 'q4_0';
export const BLOCK_VALUES = 32;
export const BLOCK_BYTES: Record<BlockDType, number> = { q8_0: 34, q4_0: 18 };

export function isBlockDType(d: DType): d is BlockDType {
  return d === 'q8_0' || d === 'q4_0';
}

/** Bytes of n elements of a dtype (for the block formats n is a multiple of 32, rows of blocks). */
export function dtypeBytes(dtype: DType, n: number): number {
  if (isBlockDType(dtype)) return (n / BLOCK_VALUES) * BLOCK_BYTES[dtype];
  return n * (dtype === 'f16' ? 2 : 4);
}

export function shapeString(shape: readonly number[]): string {
  return `(${shape.join(',')})`;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor {
  readonly size: number;

  constructor(
    readonly arena: Arena,
    readonly ptr: number,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    readonly name = '',
  ) {
    this.size = numel(shape);
  }

  get bytes(): number {
    return dtypeBytes(this.dtype, this.size);
  }

  /** A Float32Array over this tensor's memory. Re-take it after the arena grows. */
  data(): Float32Array {
    if (this.dtype !== 'f32') throw new TypeError(`tensor ${this.label}: data() needs f32, it is ${this.dtype}`);
    return this.arena.f32(this.ptr, this.size);
  }

  /** An Int32Array over this tensor's memory (token ids, targets). */
  ints(): Int32Array {
    if (this.dtype !== 'i32') throw new TypeError(`tensor ${this.label}: ints() needs i32, it is ${this.dtype}`);
    return this.arena.i32(this.ptr, this.size);
  }

  /** A Uint16Array of the f16 bits of this tensor. */
  halves(): Uint16Array {
    if (this.dtype !== 'f16') throw new TypeError(`tensor ${this.label}: halves() needs f16, it is ${this.dtype}`);
    return this.arena.u16(this.ptr, this.size);
  }

  /** The bytes of a block-quantized tensor (q8_0, q4_0): rows of blocks. */
  blocks(): Uint8Array {
    if (!isBlockDType(this.dtype))
      throw new TypeError(`tensor ${this.label}: blocks() needs q8_0 or q4_0, it is ${this.dtype}`);
    return new Uint8Array(this.arena.memory.buffer, this.ptr, this.bytes);
  }

  /** The typed array of whatever dtype this is. */
  view(): Float32Array | Int32Array | Uint16Array | Uint8Array {
    if (isBlockDType(this.dtype)) return this.blocks();
    return this.dtype === 'f32' ? this.data() : this.dtype === 'i32' ? this.ints() : this.halves();
  }

  /** Rows [start, start+count) along the first dimension, as a tensor over the same memory. */
  rows(start: number, count: number): Tensor {
    const rowSize = this.size / this.shape[0];
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(count) ||
      start < 0 ||
      count < 0 ||
      start + count > this.shape[0]
    ) {
      throw new RangeError(`tensor ${this.label}: rows ${start}..${start + count} outside its ${this.shape[0]} rows`);
    }
    return new Tensor(
      this.arena,
      this.ptr + dtypeBytes(this.dtype, start * rowSize),
      [count, ...this.shape.slice(1)],
      this.dtype,
      this.name,
    );
  }

  /** The first numel(shape) elements of this tensor's memory, seen with that shape (scratch buffers). */
  take(shape: readonly number[]): Tensor {
    if (numel(shape) > this.size) {
      throw new RangeError(`tensor ${this.label}: cannot take ${shapeString(shape)} from ${this.size} elements`);
    }
    return new Tensor(this.arena, this.ptr, shape, this.dtype, this.name);
  }

  /** The same memory seen with another shape of the same element count. */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) {
      throw new RangeError(`tensor ${this.label}: cannot view ${shapeString(this.shape)} as ${shapeString(shape)}`);
    }
    return new Tensor(this.arena, this.ptr, shape, this.dtype, this.name);
  }

  get label(): string {
    return `${this.name || '<unnamed>'} ${shapeString(this.shape)}`;
  }
}

/** Lay out several named tensors in one arena block; returns the block's address and the tensors. */
export function carve(
  arena: Arena,
  what: string,
  specs: ReadonlyArray<{ name: string; shape: readonly number[]; dtype?: DType }>,
): { ptr: number; bytes: number; tensors: Map<string, Tensor> } {
  let bytes = 0;
  const offsets: number[] = [];
  for (const s of specs) {
    offsets.push(bytes);
    bytes += Math.ceil(dtypeBytes(s.dtype ?? 'f32', numel(s.shape)) / 64) * 64; // each tensor starts on a cache line
  }
  const ptr = arena.alloc(bytes, what);
  const tensors = new Map<string, Tensor>();
  specs.forEach((s, i) => tensors.set(s.name, new Tensor(arena, ptr + offsets[i], s.shape, s.dtype ?? 'f32', s.name)));
  return { ptr, bytes, tensors };
}
