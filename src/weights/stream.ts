// A safetensors file read as it arrives (a download, a cached response): the header is parsed from
// the first bytes, the model's tensors are matched to it, and each tensor goes into the model as
// soon as its bytes are in, through GPT.loadParameter (quantized there if the model is). Only one
// tensor is held outside the model at a time, so a page can load a checkpoint larger than it could
// hold whole (GPT-2 XL's 6.4 GB of f32 into 1.7 GB of q8_0).
import type { GPT } from '../model/gpt.js';
import { headerLength, parseHeader, decodeFloats, SafetensorsError, type TensorInfo } from './safetensors.js';
import { matchTensors } from './gpt2.js';
import { parseGGUF, NeedMoreBytes, GGUFError, type GGUFHeader, type GGUFTensor } from './gguf.js';
import { planGGUF, loadGGUFTensor, checkTiedHead } from './gguf-gpt2.js';
import type { ParameterSpec } from '../model/parameters.js';

export class SafetensorsStream {
  private head: Uint8Array = new Uint8Array(0);
  private order: [string, TensorInfo][] | null = null;
  private next = 0;
  private buf: Uint8Array | null = null;
  /** The file offset of the next byte pushed. */
  private pos = 0;

  /** `size`: the file's length (Content-Length), which the header is checked against. */
  constructor(
    private readonly model: GPT,
    private readonly size: number,
    private readonly source: string,
  ) {}

  /** The next bytes of the file, in order. */
  push(chunk: Uint8Array): void {
    let v = chunk;
    if (!this.order) {
      const head = new Uint8Array(this.head.length + v.length);
      head.set(this.head);
      head.set(v, this.head.length);
      this.head = head;
      if (head.length < 8) return;
      const n = headerLength(head.subarray(0, 8), this.size, this.source);
      if (head.length < 8 + n) return;
      const header = parseHeader(head.subarray(8, 8 + n), this.size, this.source);
      this.order = [...matchTensors(this.model, header.tensors, this.source)].sort((a, b) => a[1].begin - b[1].begin);
      this.pos = 8 + n;
      v = head.subarray(8 + n);
      this.head = new Uint8Array(0);
    }
    while (v.length > 0 && this.next < this.order.length) {
      const [name, info] = this.order[this.next];
      if (this.pos < info.begin) {
        // bytes before this tensor (another's that the model does not take, or padding)
        const skip = Math.min(v.length, info.begin - this.pos);
        v = v.subarray(skip);
        this.pos += skip;
        continue;
      }
      this.buf ??= new Uint8Array(info.end - info.begin);
      const at = this.pos - info.begin,
        take = Math.min(v.length, info.end - this.pos);
      this.buf.set(v.subarray(0, take), at);
      v = v.subarray(take);
      this.pos += take;
      if (this.pos === info.end) {
        const raw = this.buf;
        this.model.loadParameter(
          name,
          (dst) => decodeFloats(raw, info.dtype, dst, `${this.source}: tensor '${info.name}'`),
          this.source,
        );
        this.buf = null;
        this.next++;
      }
    }
    this.pos += v.length;
  }

  /** After the last byte: every tensor must have arrived. */
  finish(): void {
    if (!this.order || this.next < this.order.length) {
      const missing = this.order ? `tensor '${this.order[this.next][1].name}'` : 'its header';
      throw new SafetensorsError(`${this.source}: the file ended at byte ${this.pos} before ${missing} was complete`);
    }
    this.model.markParametersChanged();
  }
}

/**
 * A GGUF file read as it arrives: bytes gather until the header parses (a GPT-2 GGUF's tokenizer
 * keys are about 1.5 MB), `build` makes the model from it (config, dtype, memory check), then each
 * tensor goes into the model once its bytes are in (blocks that match copied as they are).
 */
export class GGUFStream {
  private head: Uint8Array = new Uint8Array(0);
  private header: GGUFHeader | null = null;
  private plan: Map<string, ParameterSpec> | null = null;
  private order: GGUFTensor[] = [];
  private next = 0;
  private buf: Uint8Array | null = null;
  private filled = 0;
  private pos = 0;
  private embd: Uint8Array | null = null; // kept only to compare an output.weight with
  private needed = 0;
  model: GPT | null = null;

  constructor(
    private readonly size: number,
    private readonly source: string,
    private readonly build: (h: GGUFHeader) => GPT,
  ) {}

  push(chunk: Uint8Array): void {
    let v = chunk;
    if (!this.header) {
      const head = new Uint8Array(this.head.length + v.length);
      head.set(this.head);
      head.set(v, this.head.length);
      this.head = head;
      if (head.length < this.needed && head.length < this.size) return; // not yet what the last try asked for
      try {
        this.header = parseGGUF(head, this.size, this.source);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        this.needed = e.bytes;
        return;
      }
      this.model = this.build(this.header);
      this.plan = planGGUF(this.model, this.header, this.source);
      this.order = [...this.header.tensors].sort((a, b) => a.begin - b.begin);
      this.head = new Uint8Array(0);
      v = head; // replay from byte 0: the header's bytes are skipped below
    }
    this.data(v);
  }

  private data(v: Uint8Array): void {
    let at = 0;
    while (at < v.length && this.next < this.order.length) {
      const t = this.order[this.next];
      if (this.pos < t.begin) {
        const skip = Math.min(t.begin - this.pos, v.length - at);
        this.pos += skip;
        at += skip;
        continue;
      }
      this.buf ??= new Uint8Array(t.end - t.begin);
      const n = Math.min(this.buf.length - this.filled, v.length - at);
      this.buf.set(v.subarray(at, at + n), this.filled);
      this.filled += n;
      this.pos += n;
      at += n;
      if (this.filled === this.buf.length) {
        const spec = this.plan!.get(t.name);
        if (spec) loadGGUFTensor(this.model!, spec, t, this.buf, this.source);
        if (t.name === 'token_embd.weight' && this.header!.tensors.some((x) => x.name === 'output.weight')) this.embd = this.buf;
        if (t.name === 'output.weight') {
          if (!this.embd) throw new GGUFError(`${this.source}: output.weight comes before token_embd.weight`);
          checkTiedHead(this.buf, this.embd, this.source);
        }
        this.buf = null;
        this.filled = 0;
        this.next++;
      }
    }
    this.pos += v.length - at;
  }

  /** After the last byte: the file held the whole header and every tensor. */
  finish(): GPT {
    if (!this.header || this.next < this.order.length) {
      const missing = this.header ? `tensor '${this.order[this.next].name}'` : 'its header';
      throw new GGUFError(`${this.source}: the download ended before ${missing} was complete`);
    }
    this.model!.markParametersChanged();
    return this.model!;
  }
}
