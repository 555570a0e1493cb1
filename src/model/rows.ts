// Row selection for forward(..., { rows: 'targets' }): past the last layer's attention only the
// positions with a target are computed, gathered into the first rows of their tensors.
import type { Tensor } from '../backend/tensor.js';
import type { ForwardOptions } from './gpt.js';

/** For rows: 'targets', the positions with a target, in order; null when every position has one (or none has). */
export function selectRows(
  N: number,
  targets: ArrayLike<number> | undefined,
  options: ForwardOptions,
): Int32Array | null {
  const rows = options.rows ?? 'all';
  if (rows !== 'all' && rows !== 'targets')
    throw new RangeError(`forward: rows must be 'all' or 'targets', got ${String(rows)}`);
  if (rows === 'all') return null;
  if (!targets) throw new RangeError("forward: rows: 'targets' needs targets");
  const sel: number[] = [];
  for (let i = 0; i < N; i++) if (targets[i] >= 0) sel.push(i);
  return sel.length > 0 && sel.length < N ? Int32Array.from(sel) : null;
}

// the parameters whose gradients backward writes (=) when asked to: the linear layers' weights
// and biases (matmul_backward) and wte (lm_head_backward, before encoder_backward adds to it)
export function writtenByBackward(name: string): boolean {
  return name === 'wte.weight' || /\.(c_attn|c_proj|c_fc)\.(weight|bias)$/.test(name);
}

/** out row i = inp row rows[i] (rows of width C; a copy within the arena). */
export function gatherRows(out: Tensor, inp: Tensor, rows: Int32Array, C: number): Tensor {
  const o = out.data(),
    x = inp.data();
  for (let i = 0; i < rows.length; i++) o.set(x.subarray(rows[i] * C, rows[i] * C + C), i * C);
  return out;
}

/** inp row rows[i] += out row i: the backward of gatherRows. */
export function scatterAddRows(dinp: Tensor, dout: Tensor, rows: Int32Array, C: number): void {
  const di = dinp.data(),
    d = dout.data();
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] * C;
    for (let c = 0; c < C; c++) di[r + c] += d[i * C + c];
  }
}
