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
  const temperature = o.temperature ?? 1,
    topK = o.topK ?? 0,
    topP = o.topP ?? 1;
  if (!Number.isFinite(temperature) || temperature < 0)
    throw new RangeError(`temperature must be a number >= 0, got ${temperature}`);
  if (!Number.isInteger(topK) || topK < 0) throw new RangeError(`top-k must be an integer >= 0, got ${topK}`);
  if (!Number.isFinite(topP) || topP <= 0 || topP > 1) throw new RangeError(`top-p must be in (0, 1], got ${topP}`);
  return { temperature, topK, topP };
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0,
    top = logits[0];
  for (let i = 1; i < logits.length; i++) {
    const x = logits[i];
    if (x > top) {
      top = x;
      best = i;
    }
  }
  return best;
}

/**
 * The next token id. `rand` makes it reproducible: the same seed gives the same choices.
 *
 * The definition: every id whose logit reaches the k-th largest (all ids without top-k) weighs
 * exp((logit - max) / temperature); with top-p, only the most likely of those (by weight, then
 * by id) until they hold p of the total weight are kept; then one uniform draw walks the kept ids
 * in id order. (tests/generate.test.ts holds that definition written plainly and checks this
 * faster version against it draw for draw.) Fast because a decoded token should not wait on its
 * own sampling: the k-th largest logit comes from one pass keeping the k largest in a heap, the
 * weights are taken of the candidates only, and top-p sorts only the candidates' weights, as
 * numbers, rather than ids by a comparison function.
 */
export function sampleToken(logits: ArrayLike<number>, options: SamplingOptions, rand: Random): number {
  const { temperature, topK, topP } = checkSamplingOptions(options);
  const V = logits.length;
  if (temperature === 0 || topK === 1) return argmax(logits);
  let max = -Infinity;
  for (let i = 0; i < V; i++) if (logits[i] > max) max = logits[i];
  if (!Number.isFinite(max)) throw new RangeError(`logits hold ${max}: the model produced no usable distribution`);

  // candidates: all ids, or the top k (a threshold at the k-th largest logit); ids and weights in id order
  const threshold = topK > 0 && topK < V ? kthLargest(logits, topK) : -Infinity;
  if (ids.length < V) {
    ids = new Int32Array(V);
    weights = new Float64Array(V);
    nucleus = new Float64Array(V);
  }
  let n = 0,
    total = 0;
  for (let i = 0; i < V; i++) {
    if (logits[i] < threshold) continue;
    const w = Math.exp((logits[i] - max) / temperature);
    ids[n] = i;
    weights[n] = w;
    n++;
    total += w;
  }
  if (topP === 1) return draw(n, total, Number.MIN_VALUE, Infinity, rand); // every candidate of positive weight
  // Tokens below (1-p)/V together hold at most 1-p, so the nucleus lies among the rest. Their
  // weights sorted, largest first, are summed until they reach p of the total (the same sums, in
  // the same order, as sorting the ids by weight); that fixes the smallest weight kept and how
  // many of the ids at exactly that weight (the lowest ids) are kept.
  const floor = ((1 - topP) / V) * total;
  let m = 0;
  for (let j = 0; j < n; j++) if (weights[j] >= floor && weights[j] > 0) nucleus[m++] = weights[j];
  const sorted = nucleus.subarray(0, m).sort();
  let kept = 0,
    keep = 0; // kept: the kept weights' sum
  while (keep < m && kept < topP * total) kept += sorted[m - 1 - keep++];
  const smallest = sorted[m - keep];
  let atSmallest = 0;
  for (let j = m - keep; j < m && sorted[j] === smallest; j++) atSmallest++;
  return draw(n, kept, smallest, atSmallest, rand);
}

// One uniform draw over the first n candidates that are kept (weight above smallest, or equal to
// it for the first atSmallest of those), walked in id order; total: the kept weights' sum.
function draw(n: number, total: number, smallest: number, atSmallest: number, rand: Random): number {
  let r = rand.uniform() * total,
    last = 0;
  for (let j = 0; j < n; j++) {
    const w = weights[j];
    if (w < smallest || (w === smallest && atSmallest-- <= 0)) continue;
    last = ids[j];
    r -= w;
    if (r < 0) return ids[j];
  }
  return last; // rounding left r a hair above 0
}

// the candidates of the last call, and top-p's weights to sort (reused: a token's sampling
// allocates nothing of vocabulary size)
let ids = new Int32Array(0),
  weights = new Float64Array(0),
  nucleus = new Float64Array(0);

/** The k-th largest value (1-based): the k largest so far in a min-heap, one pass (a partial sort of a copy for large k). */
function kthLargest(values: ArrayLike<number>, k: number): number {
  if (k > 1024) return kthBySelect(values, k);
  const heap = new Float64Array(k);
  for (let i = 0; i < k; i++) heap[i] = values[i];
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(heap, i, heap[i]);
  for (let i = k; i < values.length; i++) if (values[i] > heap[0]) siftDown(heap, 0, values[i]);
  return heap[0];
}

// put x at node i of the min-heap and move it down to where it belongs
function siftDown(heap: Float64Array, i: number, x: number): void {
  const n = heap.length;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap[c + 1] < heap[c]) c++;
    if (!(heap[c] < x)) break;
    heap[i] = heap[c];
    i = c;
  }
  heap[i] = x;
}

/** The k-th largest value (1-based), via a partial sort of a copy. */
function kthBySelect(values: ArrayLike<number>, k: number): number {
  const a = Float64Array.from(values as ArrayLike<number>);
  // quickselect for index k-1 in descending order
  let lo = 0,
    hi = a.length - 1;
  const target = k - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1];
    let i = lo,
      j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        const t = a[i];
        a[i] = a[j];
        a[j] = t;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else break;
  }
  return a[target];
}
