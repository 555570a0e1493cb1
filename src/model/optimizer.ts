// AdamW, as torch.optim.AdamW computes it: its two moments mirror the parameters' layout (one
// arena block each), so with weight decay on every tensor a step is one kernel call over one
// array; with decay on matrices only (nanoGPT's groups), one call per tensor.
import type { Backend } from '../backend/backend.js';
import type { GPTConfig } from './config.js';
import { ParameterSet, type ParameterSpec } from './parameters.js';

export interface StepOptions {
  lr: number;
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  weightDecay?: number; // default 0.01 (torch.optim.AdamW's default)
  /** Which tensors get weight decay: 'all' (torch's default) or 'matrices' (2-D weights only, as nanoGPT). */
  decay?: 'all' | 'matrices';
  /**
   * Default 1. The step uses every gradient times this (clipping by the global norm, the mean over
   * micro-batches) as AdamW reads it: the gradients themselves are left as they are, and no pass of
   * their own goes over them.
   */
  gradScale?: number;
}

export class AdamW {
  /** Steps taken: the bias correction's t is steps + 1 on the next step. */
  steps = 0;
  private m: ParameterSet | null = null;
  private v: ParameterSet | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly config: GPTConfig,
    private readonly specs: readonly ParameterSpec[],
  ) {}

  /** The moments (allocated on first use), by parameter name: for checkpoints and resume. */
  moments(): { m: ParameterSet; v: ParameterSet } {
    this.m ??= ParameterSet.allocate(this.backend, this.config, [...this.specs], 'AdamW first moments');
    this.v ??= ParameterSet.allocate(this.backend, this.config, [...this.specs], 'AdamW second moments');
    return { m: this.m, v: this.v };
  }

  /** One step of every parameter from its gradient. */
  step(params: ParameterSet, grads: ParameterSet, options: StepOptions): void {
    const { lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01, decay = 'all', gradScale = 1 } = options;
    if (decay !== 'all' && decay !== 'matrices')
      throw new RangeError(`decay must be 'all' or 'matrices', got ${String(decay)}`);
    const { m, v } = this.moments();
    const t = this.steps + 1;
    const be = this.backend;
    if (decay === 'all') {
      be.adamw_update(
        params.all,
        grads.all,
        m.all,
        v.all,
        params.all.size,
        lr,
        beta1,
        beta2,
        eps,
        weightDecay,
        t,
        gradScale,
      );
    } else {
      for (const s of this.specs) {
        const w = params.get(s.name);
        const wd = s.shape.length >= 2 ? weightDecay : 0;
        be.adamw_update(
          w,
          grads.get(s.name),
          m.get(s.name),
          v.get(s.name),
          w.size,
          lr,
          beta1,
          beta2,
          eps,
          wd,
          t,
          gradScale,
        );
      }
    }
    this.steps = t;
  }

  dispose(): void {
    for (const set of [this.m, this.v]) if (set) this.backend.arena.release(set.ptr);
    this.m = this.v = null;
  }
}
