// What the CLI, the trainer and the page need of a tokenizer, and how a checkpoint names its own
// (config.json's "wasm_gpt_tokenizer"; absent means GPT-2's BPE, as for OpenAI's checkpoints).
import { GPT2Tokenizer } from './gpt2.js';
import { CharTokenizer } from './char.js';

export interface Tokenizer {
  readonly vocabSize: number;
  /** The id that ends a text (GPT-2's <|endoftext|>), or null. */
  readonly endOfText: number | null;
  encode(text: string): number[];
  decode(ids: Iterable<number>): string;
  streamDecoder(): { push(id: number): string; flush(): string };
  spec(): TokenizerSpec;
}

export type TokenizerSpec = { type: 'gpt2' } | { type: 'char'; chars: string[] };

export function tokenizerFromSpec(spec: TokenizerSpec | undefined, source = 'config.json'): Tokenizer {
  if (!spec || spec.type === 'gpt2') return new GPT2Tokenizer();
  if (spec.type === 'char' && Array.isArray(spec.chars) && spec.chars.every((c) => typeof c === 'string'))
    return new CharTokenizer(spec.chars);
  throw new Error(`${source}: unknown tokenizer ${JSON.stringify(spec).slice(0, 80)}`);
}

export { GPT2Tokenizer, CharTokenizer };
