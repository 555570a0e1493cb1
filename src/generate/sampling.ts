// Picking the next token from a row of logits: greedy, temperature, top-k, top-p (nucleus).
import type { Random } from '../model/random.js';

export interface SamplingOptions {
  /** 0 = greedy (argmax). Default 1. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 = all. Default 0. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 = all. Default 1. */
  topP?: number;
}

export function checkSamplingOptions(o: SamplingOptions): Required<SamplingOptions> {
  const temperature = o.temperature ?? 1, topK = o.topK ?? 0, topP = o.topP ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0) throw new RangeError(`temperature must be a number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`top-k must be an integer >= 0, got ${topK}`);
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
  return { temperature, topK, topP };
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** The next token id. `rand` makes it reproducible: the same seed gives the same choices. */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rand: Random): number {
  const { temperature, topK, topP } = checkSamplingOptions(options);
  const V = logits.length;
  if (temperature === 0 || topK === 1) return argmax(logits);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) throw new RangeError(`logits hold ${max}: the model produced no usable distribution`);

  // candidates: all ids, or the top k (a threshold at the k-th largest logit)
  let threshold = -Infinity;
  if (topK > 0 && topK < V) threshold = kthLargest(logits, topK);
  const probs = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] < threshold) continue;
    probs[i] = Math.exp((logits[i] - max) / temperature);
    total += probs[i];
  }
  if (topP < 1) {
    // Tokens below (1-p)/V together hold at most 1-p, so the nucleus lies among the rest:
    // sort only those (exact, and far fewer than V).
    const floor = ((1 - topP) / V) * total;
    const ids: number[] = [];
    for (let i = 0; i < V; i++) if (probs[i] >= floor && probs[i] > 0) ids.push(i);
    ids.sort((a, b) => probs[b] - probs[a] || a - b);
    let cum = 0, keep = 0;
    while (keep < ids.length && cum < topP * total) cum += probs[ids[keep++]];
    const kept = new Float64Array(V);
    let keptTotal = 0;
    for (let j = 0; j < keep; j++) { kept[ids[j]] = probs[ids[j]]; keptTotal += probs[ids[j]]; }
    return draw(kept, keptTotal, rand);
  }
  return draw(probs, total, rand);
}

function draw(weights: Float64Array, total: number, rand: Random): number {
  let r = rand.uniform() * total;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] <= 0) continue;
    last = i;
    r -= weights[i];
    if (r < 0) return i;
  }
  return last; // rounding left r a hair above 0
}

/** The k-th largest value (1-based), via a partial sort of a copy. */
function kthLargest(values: ArrayLike<number>, k: number): number {
  const a = Float64Array.from(values as ArrayLike<number>);
  // quickselect for index k-1 in descending order
  let lo = 0, hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) { const t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}
