// A character-level tokenizer built from a text: one id per distinct character (by code point),
// sorted, as in nanoGPT's shakespeare_char. Its vocabulary is stored with the checkpoint.
import type { Tokenizer, TokenizerSpec } from './index.js';

export class CharTokenizer implements Tokenizer {
  readonly chars: string[];
  private readonly ids: Map<string, number>;
  readonly endOfText = null;

  constructor(chars: readonly string[]) {
    this.chars = [...chars];
    this.ids = new Map(this.chars.map((c, i) => [c, i]));
    if (this.ids.size !== this.chars.length) throw new Error('char tokenizer: the vocabulary has repeated characters');
  }

  static fromText(text: string): CharTokenizer {
    return new CharTokenizer([...new Set(Array.from(text))].sort());
  }

  get vocabSize(): number {
    return this.chars.length;
  }

  encode(text: string): number[] {
    const out: number[] = [];
    let pos = 0;
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined)
        throw new RangeError(
          `char tokenizer: ${JSON.stringify(c)} at offset ${pos} is not in the model's vocabulary of ${this.chars.length} characters`,
        );
      out.push(id);
      pos += c.length;
    }
    return out;
  }

  decode(ids: Iterable<number>): string {
    let s = '';
    for (const id of ids) s += this.char(id);
    return s;
  }

  streamDecoder(): { push(id: number): string; flush(): string } {
    return { push: (id) => this.char(id), flush: () => '' };
  }

  spec(): TokenizerSpec {
    return { type: 'char', chars: this.chars };
  }

  private char(id: number): string {
    const c = this.chars[id];
    if (c === undefined)
      throw new RangeError(`char tokenizer: id ${id} is outside the vocabulary 0..${this.chars.length - 1}`);
    return c;
  }
}
