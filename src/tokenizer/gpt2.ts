// GPT-2's byte-level BPE (r50k_base), with the two things gpt-tokenizer alone gets wrong:
// `<|endoftext|>` inside text becomes the single id 50256 wherever it appears, and decoding is
// done here from each token's bytes, so a stream never splits a UTF-8 character and no state
// is shared between calls (every StreamDecoder is its own).
import { encode as bpeEncode } from 'gpt-tokenizer/encoding/r50k_base';
import ranks from 'gpt-tokenizer/bpeRanks/r50k_base';

export const END_OF_TEXT = '<|endoftext|>';
export const END_OF_TEXT_ID = 50256;
export const GPT2_VOCAB_SIZE = 50257;

const utf8 = new TextEncoder();

/** Bytes of every token id, built once from gpt-tokenizer's rank table. */
let tokenBytes: Uint8Array[] | null = null;
function bytesTable(): Uint8Array[] {
  if (tokenBytes) return tokenBytes;
  const table = (ranks as readonly (string | readonly number[])[]).map((r) =>
    typeof r === 'string' ? utf8.encode(r) : Uint8Array.from(r),
  );
  table[END_OF_TEXT_ID] = utf8.encode(END_OF_TEXT);
  tokenBytes = table;
  return table;
}

export class GPT2Tokenizer {
  readonly vocabSize = GPT2_VOCAB_SIZE;
  readonly endOfText = END_OF_TEXT_ID;

  spec(): { type: 'gpt2' } {
    return { type: 'gpt2' };
  }

  /** Text to ids; every `<|endoftext|>` in the text becomes 50256. */
  encode(text: string): number[] {
    const out: number[] = [];
    const parts = text.split(END_OF_TEXT);
    parts.forEach((part, i) => {
      if (i > 0) out.push(END_OF_TEXT_ID);
      if (part.length) for (const id of bpeEncode(part)) out.push(id);
    });
    return out;
  }

  /** The raw bytes of one token. */
  bytes(id: number): Uint8Array {
    const t = bytesTable()[id];
    if (!Number.isInteger(id) || !t)
      throw new RangeError(`token id ${id} is outside GPT-2's vocabulary 0..${GPT2_VOCAB_SIZE - 1}`);
    return t;
  }

  /** Ids to text, stateless: bytes that do not form valid UTF-8 become U+FFFD. */
  decode(ids: Iterable<number>): string {
    const d = this.streamDecoder();
    let s = '';
    for (const id of ids) s += d.push(id);
    return s + d.flush();
  }

  /** A decoder for one stream of tokens: text comes out only when its characters are complete. */
  streamDecoder(): StreamDecoder {
    return new StreamDecoder((id) => this.bytes(id));
  }
}

/** Turns a token stream into text, holding back the bytes of an unfinished UTF-8 character. */
export class StreamDecoder {
  private pending = new Uint8Array(0);
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private readonly bytesOf: (id: number) => Uint8Array) {}

  push(id: number): string {
    const b = this.bytesOf(id);
    const all = new Uint8Array(this.pending.length + b.length);
    all.set(this.pending);
    all.set(b, this.pending.length);
    const cut = completePrefix(all);
    this.pending = all.slice(cut);
    return cut ? this.decoder.decode(all.subarray(0, cut)) : '';
  }

  /** Whatever is left (an unfinished character becomes U+FFFD). */
  flush(): string {
    const rest = this.pending;
    this.pending = new Uint8Array(0);
    return rest.length ? this.decoder.decode(rest) : '';
  }
}

/** Length of the longest prefix that does not end inside an unfinished UTF-8 sequence. */
function completePrefix(b: Uint8Array): number {
  const n = b.length;
  // look back at most 3 bytes for the lead byte of the last sequence
  for (let back = 1; back <= Math.min(4, n); back++) {
    const c = b[n - back];
    if ((c & 0xc0) === 0x80) continue; // continuation byte
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > back ? n - back : n;
  }
  return n; // only continuation bytes: invalid anyway, let the decoder replace them
}
