// Perplexity of a token sequence under a model, with a sliding window: each window of up to
// n_positions tokens scores only its last `stride` tokens, the rest being context (the
// standard method for fixed-length models; stride = window scores disjoint windows).
import type { GPT } from '../model/gpt.js';

export interface PerplexityResult {
  perplexity: number;
  loss: number; // mean negative log-likelihood, nats per token
  tokens: number; // tokens scored (all but the first)
  evaluatedTokens: number; // tokens run through the model, context included
  window: number;
  stride: number;
}

export function perplexity(
  model: GPT,
  ids: readonly number[],
  options: { stride?: number; window?: number } = {},
): PerplexityResult {
  const window = Math.min(options.window ?? model.config.n_positions, model.config.n_positions);
  const stride = Math.min(options.stride ?? Math.floor(window / 2), window);
  if (!Number.isInteger(stride) || stride < 1) throw new RangeError(`stride must be an integer >= 1, got ${stride}`);
  if (ids.length < 2) throw new RangeError(`perplexity needs at least 2 tokens, got ${ids.length}`);
  let nll = 0,
    scored = 0,
    evaluated = 0;
  // positions 1..n-1 are predicted; `done` counts how many have been scored
  for (let done = 0; done < ids.length - 1;) {
    const end = Math.min(ids.length - 1, done + stride); // score targets (done, end]
    const start = Math.max(0, end - window); // inputs [start, end)
    const input = ids.slice(start, end),
      T = input.length;
    const targets = new Int32Array(T).fill(-1);
    for (let t = 0; t < T; t++) if (start + t + 1 > done) targets[t] = ids[start + t + 1];
    const n = targets.reduce((c, x) => c + (x >= 0 ? 1 : 0), 0);
    const { loss } = model.forward(input, 1, T, targets);
    nll += loss! * n;
    scored += n;
    evaluated += T;
    done = end;
  }
  const loss = nll / scored;
  return { perplexity: Math.exp(loss), loss, tokens: scored, evaluatedTokens: evaluated, window, stride };
}
