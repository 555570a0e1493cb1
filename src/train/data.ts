// Training data: a token stream split into train/val and sampled as random (B,T) windows, or
// prompt/response examples (JSONL) whose loss counts only response tokens, as in supervised
// fine-tuning. Every error names the source (and the line, for JSONL).
import type { Random } from '../model/random.js';
import type { Tokenizer } from '../tokenizer/index.js';

export type Split = 'train' | 'val';

export interface Batch {
  tokens: Int32Array; // (B,T)
  targets: Int32Array; // (B,T); -1 = no loss at this position
}

export interface Dataset {
  readonly description: string;
  /** Tokens in each split. */
  size(split: Split): number;
  batch(split: Split, B: number, T: number, rand: Random): Batch;
}

/** Decode bytes as UTF-8, refusing anything else with the offset of the first bad byte. */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    let i = 0;
    // find the first invalid byte for the message
    for (let lo = 0, hi = bytes.length; lo < hi;) {
      const mid = (lo + hi) >> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid));
        lo = mid + 1;
        i = mid;
      } catch {
        hi = mid;
      }
    }
    throw new Error(`${source}: not valid UTF-8 text (first bad byte near offset ${i})`);
  }
}

/** A text as one token stream; the first (1 - valFraction) is train, the rest val, as nanoGPT splits. */
export class TokenDataset implements Dataset {
  readonly train: Int32Array;
  readonly val: Int32Array;
  readonly description: string;

  constructor(
    ids: ArrayLike<number>,
    readonly blockSize: number,
    valFraction = 0.1,
    source = 'data',
  ) {
    const n = ids.length;
    const cut = Math.floor(n * (1 - valFraction));
    this.train = Int32Array.from(Array.prototype.slice.call(ids, 0, cut));
    this.val = Int32Array.from(Array.prototype.slice.call(ids, cut));
    for (const [split, arr] of [
      ['train', this.train],
      ['val', this.val],
    ] as const) {
      if (arr.length < blockSize + 1) {
        throw new RangeError(
          `${source}: ${n} tokens give the ${split} split ${arr.length}, fewer than block size + 1 = ${blockSize + 1}; use more text or a smaller --block-size`,
        );
      }
    }
    this.description = `${source}: ${n} tokens (train ${this.train.length}, val ${this.val.length})`;
  }

  size(split: Split): number {
    return split === 'train' ? this.train.length : this.val.length;
  }

  batch(split: Split, B: number, T: number, rand: Random): Batch {
    const data = split === 'train' ? this.train : this.val;
    const tokens = new Int32Array(B * T),
      targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const i = rand.int(data.length - T);
      tokens.set(data.subarray(i, i + T), b * T);
      targets.set(data.subarray(i + 1, i + T + 1), b * T);
    }
    return { tokens, targets };
  }
}

export interface Example {
  tokens: Int32Array;
  targets: Int32Array;
  length: number;
}

/**
 * One example: prompt + response + end-of-text, as input tokens and targets shifted by one;
 * targets that are prompt tokens are -1, so only the response (and its end) is learned.
 */
export function chatExample(
  tokenizer: Tokenizer,
  prompt: string,
  response: string,
): { ids: number[]; promptLength: number } {
  const p = tokenizer.encode(prompt),
    r = tokenizer.encode(response);
  const ids = [...p, ...r];
  if (tokenizer.endOfText !== null) ids.push(tokenizer.endOfText);
  return { ids, promptLength: p.length };
}

/** Examples from JSONL lines of {"prompt": …, "response": …}, split train/val by line order. */
export class ChatDataset implements Dataset {
  private readonly examples: { train: Example[]; val: Example[] };
  readonly description: string;

  constructor(
    text: string,
    tokenizer: Tokenizer,
    readonly blockSize: number,
    valFraction = 0.1,
    source = 'data.jsonl',
    pad = 0,
  ) {
    const all: Example[] = [];
    let truncated = 0,
      dropped = 0;
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        throw new SyntaxError(`${source}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
      const o = obj as { prompt?: unknown; response?: unknown };
      if (typeof o !== 'object' || o === null || typeof o.prompt !== 'string' || typeof o.response !== 'string') {
        throw new TypeError(`${source}:${i + 1}: expected {"prompt": string, "response": string}`);
      }
      let ids: number[], promptLength: number;
      try {
        ({ ids, promptLength } = chatExample(tokenizer, o.prompt, o.response));
      } catch (e) {
        throw new RangeError(`${source}:${i + 1}: ${(e as Error).message}`);
      }
      if (ids.length - 1 > blockSize) truncated++;
      const n = Math.min(ids.length - 1, blockSize);
      const tokens = new Int32Array(blockSize).fill(pad),
        targets = new Int32Array(blockSize).fill(-1);
      for (let t = 0; t < n; t++) {
        tokens[t] = ids[t];
        targets[t] = t + 1 >= promptLength ? ids[t + 1] : -1;
      }
      // a prompt that fills the block leaves no response token to learn: such an example is dropped
      if (targets.some((t) => t >= 0)) all.push({ tokens, targets, length: n });
      else dropped++;
    });
    if (all.length < 2)
      throw new RangeError(
        `${source}: ${all.length} example(s) with response tokens within block size ${blockSize}` +
          (dropped ? ` (${dropped} lose all of theirs to truncation)` : '') +
          '; at least 2 are needed (one for validation)',
      );
    const nVal = Math.max(1, Math.floor(all.length * valFraction));
    this.examples = { train: all.slice(0, all.length - nVal), val: all.slice(all.length - nVal) };
    this.description =
      `${source}: ${all.length} examples (train ${this.examples.train.length}, val ${nVal})` +
      (truncated ? `, ${truncated} cut to block size ${blockSize}` : '') +
      (dropped ? `, ${dropped} dropped (no response token within the block)` : '');
  }

  size(split: Split): number {
    return this.examples[split].reduce((n, e) => n + e.length, 0);
  }

  batch(split: Split, B: number, T: number, rand: Random): Batch {
    if (T !== this.blockSize) throw new RangeError(`chat batches are built for T = ${this.blockSize}, got ${T}`);
    const ex = this.examples[split];
    const tokens = new Int32Array(B * T),
      targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const e = ex[rand.int(ex.length)];
      tokens.set(e.tokens, b * T);
      targets.set(e.targets, b * T);
    }
    return { tokens, targets };
  }
}
