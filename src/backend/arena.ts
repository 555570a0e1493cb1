// The arena: one WebAssembly.Memory that holds every parameter, gradient, optimizer moment
// and activation. The host owns it (the kernels never allocate): a first-fit allocator over
// byte ranges, growing the memory itself. Both backends use it, so the model code and the
// weight loaders are the same whichever backend runs the math.

export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536; // wasm32: 4 GiB
export const MAX_BYTES = PAGE_BYTES * MAX_PAGES;
/** Memory a size check keeps free for the kernels' own data, the threads' tile buffers and what else runs beside the model. */
export const RESERVED_BYTES = 64 * 2 ** 20;
const ALIGN = 64; // cache line; also keeps every f32x4 load aligned

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  return `${n} bytes`;
}

interface Block {
  start: number;
  size: number;
}

export class Arena {
  readonly memory: WebAssembly.Memory;
  private readonly base: number;
  private top: number; // end of the highest live or free block
  private highWater: number; // memory above this has never been handed out: still zero
  private free: Block[] = []; // sorted by start, coalesced
  private live = new Map<number, number>(); // start -> size
  private cachedBuffer: ArrayBufferLike | null = null;
  private cachedU8: Uint8Array | null = null;
  /**
   * Zero-fills [start, start+bytes). TypedArray.fill over a shared memory is many times slower in V8
   * than over an unshared one, so the wasm backend puts the kernels' memory.fill (a native memset) here.
   */
  zeroFill: (start: number, bytes: number) => void = (start, bytes) => {
    this.u8.fill(0, start, start + bytes);
  };

  /** `base` is the first byte the arena may hand out (the kernel module's static data lies below). */
  constructor(memory: WebAssembly.Memory, base = 0) {
    this.memory = memory;
    this.base = alignUp(base, ALIGN);
    this.top = this.base;
    this.highWater = this.base;
  }

  static create(initialBytes = PAGE_BYTES, base = 0): Arena {
    const pages = Math.max(1, Math.ceil(Math.max(initialBytes, base + 1) / PAGE_BYTES));
    return new Arena(new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES }), base);
  }

  /** Bytes in use by live allocations. */
  get bytesInUse(): number {
    let n = 0;
    for (const size of this.live.values()) n += size;
    return n;
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocate `bytes` (rounded up to 64), zero-filled. `what` names the allocation in errors. */
  alloc(bytes: number, what: string): number {
    if (!Number.isSafeInteger(bytes) || bytes < 0) {
      throw new RangeError(`arena: cannot allocate ${bytes} bytes for ${what}: not a byte count`);
    }
    const size = Math.max(ALIGN, alignUp(bytes, ALIGN));
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size >= size) {
        const start = b.start;
        if (b.size === size) this.free.splice(i, 1);
        else {
          b.start += size;
          b.size -= size;
        }
        this.live.set(start, size);
        this.zeroFill(start, size);
        return start;
      }
    }
    const start = this.top;
    const end = start + size;
    if (end > MAX_BYTES) {
      throw new RangeError(
        `arena: cannot allocate ${formatBytes(size)} for ${what}: ${formatBytes(this.bytesInUse)} already in use ` +
          `and wasm32 memory tops out at ${formatBytes(MAX_BYTES)}`,
      );
    }
    this.ensure(end, what);
    this.top = end;
    this.live.set(start, size);
    // bytes below the high-water mark may hold a released block's data; above it they are fresh zeros
    if (start < this.highWater) this.zeroFill(start, Math.min(end, this.highWater) - start);
    this.highWater = Math.max(this.highWater, end);
    return start;
  }

  /** Give back a block from alloc(). */
  release(start: number): void {
    const size = this.live.get(start);
    if (size === undefined) throw new Error(`arena: release of ${start}, which is not a live allocation`);
    this.live.delete(start);
    let i = 0;
    while (i < this.free.length && this.free[i].start < start) i++;
    this.free.splice(i, 0, { start, size });
    // coalesce with neighbours
    if (i + 1 < this.free.length && this.free[i].start + this.free[i].size === this.free[i + 1].start) {
      this.free[i].size += this.free[i + 1].size;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].start + this.free[i - 1].size === this.free[i].start) {
      this.free[i - 1].size += this.free[i].size;
      this.free.splice(i, 1);
      i--;
    }
    // a free block at the very top goes back to the bump pointer
    const last = this.free[this.free.length - 1];
    if (last && last.start + last.size === this.top) {
      this.top = last.start;
      this.free.pop();
    }
  }

  /** Grow the memory so that bytes [0, end) exist. */
  private ensure(end: number, what: string): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE_BYTES);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw new RangeError(
        `arena: could not grow memory to ${formatBytes(end)} for ${what} ` +
          `(the engine refused: ${(e as Error).message}); ${formatBytes(this.bytesInUse)} in use`,
      );
    }
  }

  /** A byte view of the whole memory; re-created after every grow (a grow detaches the old buffer). */
  get u8(): Uint8Array {
    const buf = this.memory.buffer;
    if (buf !== this.cachedBuffer || this.cachedU8 === null || this.cachedU8.byteLength !== buf.byteLength) {
      this.cachedBuffer = buf;
      this.cachedU8 = new Uint8Array(buf);
    }
    return this.cachedU8;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  u16(ptr: number, length: number): Uint16Array {
    return new Uint16Array(this.memory.buffer, ptr, length);
  }
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}
