// GPT-2's vocabulary as Hugging Face's tokenizer.json and llama.cpp's GGUF spell it: each token's
// bytes in the byte-to-unicode alphabet of OpenAI's encoder.py ('Ġ' for a space), and the 50,000
// merges in rank order, recovered from the rank table: token r (r >= 256) is the one merge that
// BPE over its bytes, using only merges ranked below r, ends with (as tiktoken's converters do).
import { GPT2Tokenizer, GPT2_VOCAB_SIZE, END_OF_TEXT_ID } from './gpt2.js';

/** OpenAI's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100 on. */
function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : 256 + n++);
  return out;
}

let tokens: string[] | null = null;
let merges: string[] | null = null;

/** GPT-2's 50,257 token strings (checking a file's vocabulary needs only these). */
export function gpt2Tokens(): string[] {
  if (tokens) return tokens;
  const tok = new GPT2Tokenizer();
  const alphabet = byteAlphabet();
  tokens = Array.from({ length: GPT2_VOCAB_SIZE }, (_, id) =>
    id === END_OF_TEXT_ID ? '<|endoftext|>' : Array.from(tok.bytes(id), (x) => alphabet[x]).join(''),
  );
  return tokens;
}

/** The 50,257 token strings and 50,000 merges ("Ġ t") of GPT-2's BPE. */
export function gpt2Vocabulary(): { tokens: string[]; merges: string[] } {
  const all = gpt2Tokens();
  if (merges) return { tokens: all, merges };
  const tok = new GPT2Tokenizer();
  const alphabet = byteAlphabet();
  const rank = new Map<string, number>();
  for (let id = 0; id < END_OF_TEXT_ID; id++) rank.set(all[id], id);
  const out: string[] = [];
  for (let id = 256; id < END_OF_TEXT_ID; id++) {
    let parts = Array.from(tok.bytes(id), (x) => alphabet[x]);
    for (;;) {
      let best = -1,
        bestRank = id;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = rank.get(parts[i] + parts[i + 1]);
        if (r !== undefined && r < bestRank) {
          best = i;
          bestRank = r;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), parts[best] + parts[best + 1], ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new Error(`GPT-2 token ${id} (${all[id]}) is not one merge of two tokens`);
    out.push(`${parts[0]} ${parts[1]}`);
  }
  merges = out;
  return { tokens: all, merges };
}
