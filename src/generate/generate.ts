// Generation: prefill the prompt in one batched pass, then one token at a time with the KV
// cache. When the context (n_positions) is full the window slides: the cache is rebuilt from
// the most recent half of the context and generation goes on.
import type { GPT } from '../model/gpt.js';
import type { KvCache } from '../model/kvcache.js';
import { Random } from '../model/random.js';
import { sampleToken, checkSamplingOptions, type SamplingOptions } from './sampling.js';

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most. Default 100. */
  maxTokens?: number;
  /** Seed for sampling; the same seed gives the same text. Default: a fresh random seed. */
  seed?: number;
  /** Stop at this id (GPT-2's <|endoftext|> is 50256); null never stops early. */
  stopToken?: number | null;
  /** Called after the prompt is processed, before the first new token. */
  onPrefill?: (promptTokens: number, seconds: number) => void;
  /** Checked before every token: return true to stop. */
  shouldStop?: () => boolean;
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  prefillSeconds: number;
  decodeSeconds: number;
  /** Times the window slid because the context was full. */
  slides: number;
  stoppedBy: 'max-tokens' | 'stop-token' | 'interrupted';
}

/**
 * Yields each new token id as it is made; returns the stats. The prompt must be non-empty and
 * shorter than the context; the model's KV cache is made here and given back at the end.
 */
export function* generate(
  model: GPT,
  prompt: readonly number[],
  options: GenerateOptions = {},
): Generator<number, GenerationStats, void> {
  const maxTokens = options.maxTokens ?? 100;
  const stopToken = options.stopToken === undefined ? null : options.stopToken;
  const sampling = checkSamplingOptions(options);
  const nCtx = model.config.n_positions;
  if (!Number.isInteger(maxTokens) || maxTokens < 0)
    throw new RangeError(`max-tokens must be an integer >= 0, got ${maxTokens}`);
  if (prompt.length === 0) throw new RangeError('the prompt is empty: give at least one token');
  if (prompt.length >= nCtx) {
    throw new RangeError(
      `the prompt has ${prompt.length} tokens; the context holds ${nCtx}, so at most ${nCtx - 1} leave room to generate`,
    );
  }
  const seed = options.seed;
  // the generator takes 32 bits: a seed outside them would collide with one inside (0, 2^32, 1e300)
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
    throw new RangeError(`seed must be an integer in 0..4294967295, got ${seed}`);
  }
  const rand = new Random(seed ?? (Math.random() * 2 ** 32) >>> 0);
  const cache: KvCache = model.createKvCache();
  const stats: GenerationStats = {
    promptTokens: prompt.length,
    generatedTokens: 0,
    prefillSeconds: 0,
    decodeSeconds: 0,
    slides: 0,
    stoppedBy: 'max-tokens',
  };
  const context = [...prompt];
  try {
    let t = performance.now();
    let logits = model.forwardCached(prompt, cache).data();
    stats.prefillSeconds = (performance.now() - t) / 1000;
    options.onPrefill?.(prompt.length, stats.prefillSeconds);
    t = performance.now();
    for (let i = 0; i < maxTokens; i++) {
      if (options.shouldStop?.()) {
        stats.stoppedBy = 'interrupted';
        break;
      }
      const next = sampleToken(logits, sampling, rand);
      if (stopToken !== null && next === stopToken) {
        stats.stoppedBy = 'stop-token';
        break;
      }
      stats.generatedTokens++;
      context.push(next);
      yield next;
      if (i === maxTokens - 1) break;
      if (cache.length === nCtx) {
        // context full: keep the most recent half and rebuild the cache from it
        const keep = context.slice(context.length - Math.floor(nCtx / 2));
        cache.reset();
        logits = model.forwardCached(keep, cache).data();
        stats.slides++;
      } else {
        logits = model.forwardCached([next], cache).data();
      }
    }
    stats.decodeSeconds = (performance.now() - t) / 1000;
    return stats;
  } finally {
    cache.dispose();
  }
}
