// The training loop, nanoGPT's recipe on our kernels: AdamW (weight decay on 2-D weights only,
// or on all), warmup + cosine LR, gradient clipping by global norm, gradient accumulation,
// periodic evaluation of train and val loss over a fixed number of batches. Dropout is not
// implemented (the model has none; nanoGPT's CPU recipe sets it to 0 too).
// No Node APIs here: the page trains with the same class.
import type { GPT } from '../model/gpt.js';
import { Random } from '../model/random.js';
import type { Dataset, Split } from './data.js';
import { learningRate } from './schedule.js';
import type { GPTConfig } from '../model/config.js';
import { trainingBytes } from '../model/memory.js';
import { MAX_BYTES, RESERVED_BYTES, formatBytes } from '../backend/arena.js';

export interface TrainConfig {
  batchSize: number;
  blockSize: number;
  maxIters: number;
  lr: number;
  minLr: number;
  warmupIters: number;
  lrDecayIters: number;
  beta1: number;
  beta2: number;
  weightDecay: number;
  decay: 'matrices' | 'all';
  gradClip: number; // 0 = off
  gradAccum: number;
  evalInterval: number;
  evalIters: number;
  seed: number;
}

export const DEFAULT_TRAIN_CONFIG: TrainConfig = {
  batchSize: 12,
  blockSize: 64,
  maxIters: 2000,
  lr: 1e-3,
  minLr: 1e-4,
  warmupIters: 100,
  lrDecayIters: 2000,
  beta1: 0.9,
  beta2: 0.99,
  weightDecay: 0.1,
  decay: 'matrices',
  gradClip: 1.0,
  gradAccum: 1,
  evalInterval: 250,
  evalIters: 20,
  seed: 1337,
};

export interface StepResult {
  iter: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokens: number;
  seconds: number;
}

export interface TrainerState {
  iter: number;
  rng: { state: number; spare: number | null };
}

export class NaNLossError extends Error {
  override name = 'NaNLossError';
  constructor(
    readonly iter: number,
    readonly loss: number,
  ) {
    super(`the loss became ${loss} at iteration ${iter}`);
  }
}

export function checkTrainConfig(c: TrainConfig, model: GPTConfig): void {
  const nPositions = model.n_positions;
  for (const k of ['batchSize', 'blockSize', 'maxIters', 'gradAccum', 'evalInterval', 'evalIters'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < (k === 'maxIters' ? 0 : 1))
      throw new RangeError(`${k} must be a positive integer, got ${c[k]}`);
  }
  for (const k of ['lr', 'minLr', 'weightDecay', 'gradClip', 'warmupIters', 'lrDecayIters'] as const) {
    if (!Number.isFinite(c[k]) || c[k] < 0) throw new RangeError(`${k} must be a number >= 0, got ${c[k]}`);
  }
  for (const k of ['beta1', 'beta2'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new RangeError(`${k} must be in [0, 1), got ${c[k]}`);
  }
  if (c.blockSize > nPositions)
    throw new RangeError(`block size ${c.blockSize} is larger than the model's context n_positions ${nPositions}`);
  // from the numbers, before a batch is built or an activation allocated
  const limit = MAX_BYTES - RESERVED_BYTES;
  const need = trainingBytes(model, c.batchSize, c.blockSize);
  if (need.total > limit) {
    // the largest batch that fits: bytes grow with the batch, so a bisection finds it
    let most = 0;
    for (let hi = c.batchSize; hi - most > 1;) {
      const mid = Math.floor((most + hi) / 2);
      if (trainingBytes(model, mid, c.blockSize).total <= limit) most = mid;
      else hi = mid;
    }
    throw new RangeError(
      `batch size ${c.batchSize} x block size ${c.blockSize} needs ${formatBytes(need.total)} to train ` +
        `(${formatBytes(need.weights)} of weights, gradients and AdamW moments, ${formatBytes(need.activations)} of activations and their gradients), ` +
        `more than WebAssembly's ${formatBytes(limit)}; ` +
        (most >= 1
          ? `at most batch size ${most} fits at this block size`
          : 'this model does not fit even at batch size 1'),
    );
  }
}

export class Trainer {
  /** Iterations done. */
  iter = 0;
  readonly rng: Random;

  constructor(
    readonly model: GPT,
    readonly data: Dataset,
    readonly config: TrainConfig,
  ) {
    checkTrainConfig(config, model.config);
    this.rng = new Random(config.seed);
  }

  get state(): TrainerState {
    return { iter: this.iter, rng: this.rng.getState() };
  }

  restore(state: TrainerState): void {
    this.iter = state.iter;
    this.rng.setState(state.rng);
  }

  /** One optimizer step (gradAccum micro-batches). Throws NaNLossError before touching the weights. */
  step(): StepResult {
    const c = this.config,
      m = this.model;
    const t0 = performance.now();
    const lr = learningRate(this.iter, {
      lr: c.lr,
      minLr: c.minLr,
      warmupIters: c.warmupIters,
      decayIters: c.lrDecayIters,
    });
    m.zeroGrad();
    let loss = 0;
    for (let micro = 0; micro < c.gradAccum; micro++) {
      const { tokens, targets } = this.data.batch('train', c.batchSize, c.blockSize, this.rng);
      // rows: 'targets' skips the last layer's work on positions without a loss (chat prompts, padding)
      const l = m.forward(tokens, c.batchSize, c.blockSize, targets, { rows: 'targets' }).loss!;
      if (!Number.isFinite(l)) throw new NaNLossError(this.iter + 1, l);
      loss += l / c.gradAccum;
      m.backward();
    }
    // the mean over micro-batches, clipped by its global norm: one factor that AdamW applies as it
    // reads the gradients (the sums of the micro-batches' gradients stay in place)
    const gradNorm = m.gradNorm() / c.gradAccum;
    if (!Number.isFinite(gradNorm)) throw new NaNLossError(this.iter + 1, gradNorm);
    const clip = c.gradClip > 0 && gradNorm > c.gradClip ? c.gradClip / gradNorm : 1;
    m.step({
      lr,
      beta1: c.beta1,
      beta2: c.beta2,
      eps: 1e-8,
      weightDecay: c.weightDecay,
      decay: c.decay,
      gradScale: clip / c.gradAccum,
    });
    this.iter++;
    return {
      iter: this.iter,
      loss,
      lr,
      gradNorm,
      tokens: c.batchSize * c.blockSize * c.gradAccum,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  /** Mean loss over evalIters batches of each split, from a generator seeded by the iteration (training's RNG is untouched). */
  evaluate(): Record<Split, number> {
    const c = this.config;
    const out = {} as Record<Split, number>;
    for (const split of ['train', 'val'] as const) {
      const rand = new Random((c.seed ^ 0x5eed) + this.iter * 2 + (split === 'val' ? 1 : 0));
      let sum = 0;
      for (let i = 0; i < c.evalIters; i++) {
        const { tokens, targets } = this.data.batch(split, c.batchSize, c.blockSize, rand);
        sum += this.model.forward(tokens, c.batchSize, c.blockSize, targets, { rows: 'targets' }).loss!;
      }
      out[split] = sum / c.evalIters;
    }
    return out;
  }
}
