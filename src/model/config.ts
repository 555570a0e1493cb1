// GPT-2 model shapes. Hugging Face config.json names are used as-is.

export interface GPTConfig {
  n_layer: number;
  n_head: number;
  n_embd: number;
  n_positions: number; // context length (block size)
  vocab_size: number;
}

export const GPT2_PRESETS = {
  gpt2: { n_layer: 12, n_head: 12, n_embd: 768, n_positions: 1024, vocab_size: 50257 }, // 124M
  'gpt2-medium': { n_layer: 24, n_head: 16, n_embd: 1024, n_positions: 1024, vocab_size: 50257 }, // 355M
  'gpt2-large': { n_layer: 36, n_head: 20, n_embd: 1280, n_positions: 1024, vocab_size: 50257 }, // 774M
  'gpt2-xl': { n_layer: 48, n_head: 25, n_embd: 1600, n_positions: 1024, vocab_size: 50257 }, // 1558M
} as const satisfies Record<string, GPTConfig>;

export type GPT2Preset = keyof typeof GPT2_PRESETS;

/** No GPT comes near this many layers (GPT-3 has 96): a larger count is a broken config. */
export const MAX_LAYERS = 4096;

/** Check every field; the error names the field, its value and the rule it breaks. */
export function validateConfig(c: GPTConfig, source = 'config'): GPTConfig {
  for (const key of ['n_layer', 'n_head', 'n_embd', 'n_positions', 'vocab_size'] as const) {
    const v = (c as unknown as Record<string, unknown>)[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new RangeError(`${source}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  if (c.n_layer > MAX_LAYERS) {
    // each layer is a dozen tensors: a count past this is a broken file, refused before anything is built per layer
    throw new RangeError(`${source}: n_layer ${c.n_layer} is more than the ${MAX_LAYERS} layers this runtime builds`);
  }
  if (c.n_embd % c.n_head !== 0) {
    throw new RangeError(`${source}: n_embd (${c.n_embd}) is not divisible by n_head (${c.n_head})`);
  }
  return {
    n_layer: c.n_layer,
    n_head: c.n_head,
    n_embd: c.n_embd,
    n_positions: c.n_positions,
    vocab_size: c.vocab_size,
  };
}

/** A GPT2Config from Hugging Face's config.json (n_ctx is the older name of n_positions). */
export function configFromHF(json: Record<string, unknown>, source = 'config.json'): GPTConfig {
  return validateConfig(
    {
      n_layer: json.n_layer as number,
      n_head: json.n_head as number,
      n_embd: json.n_embd as number,
      n_positions: (json.n_positions ?? json.n_ctx) as number,
      vocab_size: json.vocab_size as number,
    },
    source,
  );
}

/** A batch's shapes and ids, checked before any kernel runs (GPT.forward). */
export function checkBatch(
  config: GPTConfig,
  tokens: ArrayLike<number>,
  B: number,
  T: number,
  targets?: ArrayLike<number>,
): void {
  const { n_positions, vocab_size: V } = config;
  if (!Number.isInteger(B) || B <= 0) throw new RangeError(`forward: B must be a positive integer, got ${B}`);
  if (!Number.isInteger(T) || T <= 0) throw new RangeError(`forward: T must be a positive integer, got ${T}`);
  if (T > n_positions)
    throw new RangeError(`forward: T (${T}) exceeds the context length n_positions (${n_positions})`);
  if (tokens.length !== B * T)
    throw new RangeError(`forward: ${tokens.length} tokens given, B*T = ${B}*${T} = ${B * T} expected`);
  const check = (ids: ArrayLike<number>, what: string, min: number) => {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < min || id >= V) {
        const range = min < 0 ? `0..${V - 1} (or -1 to ignore)` : `the vocabulary 0..${V - 1}`;
        throw new RangeError(`forward: ${what} ${id} at [${Math.floor(i / T)},${i % T}] is outside ${range}`);
      }
    }
  };
  check(tokens, 'token id', 0);
  if (targets) {
    if (targets.length !== B * T)
      throw new RangeError(`forward: ${targets.length} targets given, B*T = ${B * T} expected`);
    check(targets, 'target', -1);
  }
}
