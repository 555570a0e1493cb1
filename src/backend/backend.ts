// The Backend interface: one method per kernel, the same signatures as assembly/ and
// reference.ts but over Tensors. Every call is checked here, at the boundary, before any
// kernel runs: dims must be positive integers, every tensor must live in this backend's
// arena with the element count the shapes imply. A mismatch names the kernel, the
// argument, the shape given and the shape expected. The model is written against this
// class only and never knows which implementation runs the math.
//
// Backward kernels accumulate (+=) into parameter gradients and write (=) the gradients of
// activations that have one consumer (see reference.ts); each method says which.
import type { Arena } from './arena.js';
import { Tensor, numel, shapeString, type DType } from './tensor.js';

export type BackendName = 'wasm' | 'js';
export type KernelName =
  | 'encoder_forward' | 'encoder_backward'
  | 'layernorm_forward' | 'layernorm_backward'
  | 'matmul_forward' | 'matmul_backward' | 'lm_head_forward' | 'lm_head_backward'
  | 'matmul_forward_f16' | 'lm_head_forward_f16' | 'f32_to_f16'
  | 'attention_forward' | 'attention_backward' | 'attention_forward_kv'
  | 'gelu_forward' | 'gelu_backward'
  | 'residual_forward' | 'residual_backward'
  | 'softmax_forward' | 'crossentropy_forward' | 'crossentropy_softmax_backward'
  | 'adamw_update' | 'sum_squares' | 'scale_inplace';

type Arg = [name: string, tensor: Tensor | null, shape: number[], dtype?: DType];

export abstract class Backend {
  abstract readonly name: BackendName;

  constructor(readonly arena: Arena) {}

  /** Run one kernel: tensors become addresses (wasm) or typed arrays (js). */
  protected abstract run(kernel: KernelName, tensors: (Tensor | null)[], scalars: number[]): number | void;

  /** Threads used by the kernels (1 until the threaded build lands). */
  get threads(): number { return 1; }

  private call(kernel: KernelName, dims: Record<string, number>, args: Arg[], scalars: number[]): number | void {
    for (const [k, v] of Object.entries(dims)) {
      if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${kernel}: ${k} must be a positive integer, got ${v}`);
    }
    for (const [argName, t, shape, dtype] of args) {
      if (t === null) continue;
      const want = dtype ?? 'f32';
      if (t.arena !== this.arena) throw new Error(`${kernel}: ${argName} (${t.label}) lives in another backend's arena`);
      if (t.dtype !== want) throw new TypeError(`${kernel}: ${argName} must be ${want}, got ${t.dtype} (${t.label})`);
      if (t.size !== numel(shape)) {
        throw new RangeError(`${kernel}: ${argName} is ${shapeString(t.shape)} but ${shapeString(shape)} is expected`);
      }
      if (t.ptr < 0 || t.ptr + t.bytes > this.arena.byteLength || t.ptr % 4 !== 0) {
        throw new RangeError(`${kernel}: ${argName} at byte ${t.ptr} + ${t.bytes} lies outside memory (${this.arena.byteLength} bytes)`);
      }
    }
    return this.run(kernel, args.map((a) => a[1]), scalars);
  }

  // ---- token + position embedding ----
  /** inp (B,T) ids, wte (V,C), wpe (maxT,C) -> out (B,T,C). Token ids are checked by the model. */
  encoder_forward(out: Tensor, inp: Tensor, wte: Tensor, wpe: Tensor, B: number, T: number, C: number): void {
    const k = 'encoder_forward';
    this.checkRows(k, 'wpe', wpe, T, C);
    this.call(k, { B, T, C }, [['out', out, [B, T, C]], ['inp', inp, [B, T], 'i32'], ['wte', wte, [wte.shape[0], C]], ['wpe', wpe, [wpe.shape[0], C]]], [B, T, C]);
  }
  encoder_backward(dwte: Tensor, dwpe: Tensor, dout: Tensor, inp: Tensor, B: number, T: number, C: number): void {
    const k = 'encoder_backward';
    this.checkRows(k, 'dwpe', dwpe, T, C);
    this.call(k, { B, T, C }, [['dwte', dwte, [dwte.shape[0], C]], ['dwpe', dwpe, [dwpe.shape[0], C]], ['dout', dout, [B, T, C]], ['inp', inp, [B, T], 'i32']], [B, T, C]);
  }

  // ---- LayerNorm ----
  layernorm_forward(out: Tensor, mean: Tensor, rstd: Tensor, inp: Tensor, weight: Tensor, bias: Tensor, N: number, C: number): void {
    this.call('layernorm_forward', { N, C }, [['out', out, [N, C]], ['mean', mean, [N]], ['rstd', rstd, [N]], ['inp', inp, [N, C]], ['weight', weight, [C]], ['bias', bias, [C]]], [N, C]);
  }
  /** dinp, dweight and dbias accumulate (+=): dinp is the residual stream's gradient, which gathers every layer's. */
  layernorm_backward(dinp: Tensor, dweight: Tensor, dbias: Tensor, dout: Tensor, inp: Tensor, weight: Tensor, mean: Tensor, rstd: Tensor, N: number, C: number): void {
    this.call('layernorm_backward', { N, C }, [['dinp', dinp, [N, C]], ['dweight', dweight, [C]], ['dbias', dbias, [C]], ['dout', dout, [N, C]], ['inp', inp, [N, C]], ['weight', weight, [C]], ['mean', mean, [N]], ['rstd', rstd, [N]]], [N, C]);
  }

  // ---- linear layers (weight (C,OC), the Conv1D layout) and the tied LM head ----
  matmul_forward(out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, B: number, T: number, C: number, OC: number): void {
    this.call('matmul_forward', { B, T, C, OC }, [['out', out, [B, T, OC]], ['inp', inp, [B, T, C]], ['weight', weight, [C, OC]], ['bias', bias, [OC]]], [B, T, C, OC]);
  }
  /**
   * dinp is written (the whole gradient of inp); dweight and dbias accumulate (+=), or with
   * accumulate false are written (=, the same bits as adding to zeros, without reading them).
   */
  matmul_backward(dinp: Tensor, dweight: Tensor, dbias: Tensor | null, dout: Tensor, inp: Tensor, weight: Tensor, B: number, T: number, C: number, OC: number, accumulate = true): void {
    this.call('matmul_backward', { B, T, C, OC }, [['dinp', dinp, [B, T, C]], ['dweight', dweight, [C, OC]], ['dbias', dbias, [OC]], ['dout', dout, [B, T, OC]], ['inp', inp, [B, T, C]], ['weight', weight, [C, OC]]], [B, T, C, OC, accumulate ? 1 : 0]);
  }
  lm_head_forward(logits: Tensor, inp: Tensor, wte: Tensor, B: number, T: number, C: number, V: number): void {
    this.call('lm_head_forward', { B, T, C, V }, [['logits', logits, [B, T, V]], ['inp', inp, [B, T, C]], ['wte', wte, [V, C]]], [B, T, C, V]);
  }
  /** dinp is written; dwte accumulates (+=), or with accumulate false is written (=). */
  lm_head_backward(dinp: Tensor, dwte: Tensor, dlogits: Tensor, inp: Tensor, wte: Tensor, B: number, T: number, C: number, V: number, accumulate = true): void {
    this.call('lm_head_backward', { B, T, C, V }, [['dinp', dinp, [B, T, C]], ['dwte', dwte, [V, C]], ['dlogits', dlogits, [B, T, V]], ['inp', inp, [B, T, C]], ['wte', wte, [V, C]]], [B, T, C, V, accumulate ? 1 : 0]);
  }

  // ---- the same forwards with f16 weights (f32 inputs, accumulation and outputs): decode reads half the bytes ----
  matmul_forward_f16(out: Tensor, inp: Tensor, weight: Tensor, bias: Tensor | null, B: number, T: number, C: number, OC: number): void {
    this.call('matmul_forward_f16', { B, T, C, OC }, [['out', out, [B, T, OC]], ['inp', inp, [B, T, C]], ['weight', weight, [C, OC], 'f16'], ['bias', bias, [OC]]], [B, T, C, OC]);
  }
  lm_head_forward_f16(logits: Tensor, inp: Tensor, wte: Tensor, B: number, T: number, C: number, V: number): void {
    this.call('lm_head_forward_f16', { B, T, C, V }, [['logits', logits, [B, T, V]], ['inp', inp, [B, T, C]], ['wte', wte, [V, C], 'f16']], [B, T, C, V]);
  }

  /** f16 bits of n f32 values, rounded to nearest even (the f16 copies of the weights). */
  f32_to_f16(out: Tensor, inp: Tensor, n: number): void {
    this.call('f32_to_f16', { n }, [['out', out, [n], 'f16'], ['inp', inp, [n]]], [n]);
  }

  // ---- causal self-attention ----
  attention_forward(out: Tensor, att: Tensor, qkv: Tensor, B: number, Tq: number, Tk: number, C: number, NH: number): void {
    const k = 'attention_forward';
    this.checkHeads(k, C, NH);
    if (Tq > Tk) throw new RangeError(`${k}: Tq (${Tq}) queries cannot exceed Tk (${Tk}) keys`);
    this.call(k, { B, Tq, Tk, C, NH }, [['out', out, [B, Tq, C]], ['att', att, [B, NH, Tq, Tk]], ['qkv', qkv, [B, Tk, 3 * C]]], [B, Tq, Tk, C, NH]);
  }
  /**
   * Attention with a KV cache (batch 1): qkv (1,Tq,3C) holds the Tq new positions' q|k|v. Their keys and values are
   * stored into kcache and vcache (NH,maxT,hs) at positions Tk-Tq..Tk-1, then the queries attend over keys 0..Tk-1.
   */
  attention_forward_kv(out: Tensor, att: Tensor, qkv: Tensor, kcache: Tensor, vcache: Tensor, Tq: number, Tk: number, maxT: number, C: number, NH: number): void {
    const k = 'attention_forward_kv';
    this.checkHeads(k, C, NH);
    if (Tq > Tk) throw new RangeError(`${k}: Tq (${Tq}) queries cannot exceed Tk (${Tk}) keys`);
    if (Tk > maxT) throw new RangeError(`${k}: Tk (${Tk}) keys do not fit the cache's maxT (${maxT}) positions`);
    const hs = C / NH;
    this.call(k, { Tq, Tk, maxT, C, NH }, [['out', out, [1, Tq, C]], ['att', att, [1, NH, Tq, Tk]], ['qkv', qkv, [1, Tq, 3 * C]],
      ['kcache', kcache, [NH, maxT, hs]], ['vcache', vcache, [NH, maxT, hs]]], [Tq, Tk, maxT, C, NH]);
  }
  /** dinp is overwritten (the whole gradient of qkv); att as attention_forward left it (zero above the causal diagonal); datt is working space. */
  attention_backward(dinp: Tensor, datt: Tensor, dout: Tensor, inp: Tensor, att: Tensor, B: number, T: number, C: number, NH: number): void {
    const k = 'attention_backward';
    this.checkHeads(k, C, NH);
    this.call(k, { B, T, C, NH }, [['dinp', dinp, [B, T, 3 * C]], ['datt', datt, [B, NH, T, T]], ['dout', dout, [B, T, C]], ['inp', inp, [B, T, 3 * C]], ['att', att, [B, NH, T, T]]], [B, T, C, NH]);
  }

  // ---- elementwise ----
  gelu_forward(out: Tensor, inp: Tensor, N: number): void {
    this.call('gelu_forward', { N }, [['out', out, [N]], ['inp', inp, [N]]], [N]);
  }
  /** dinp is written. out: gelu_forward(inp), which the forward pass keeps (the wasm kernel takes tanh from it). */
  gelu_backward(dinp: Tensor, inp: Tensor, out: Tensor, dout: Tensor, N: number): void {
    this.call('gelu_backward', { N }, [['dinp', dinp, [N]], ['inp', inp, [N]], ['out', out, [N]], ['dout', dout, [N]]], [N]);
  }
  residual_forward(out: Tensor, inp1: Tensor, inp2: Tensor, N: number): void {
    this.call('residual_forward', { N }, [['out', out, [N]], ['inp1', inp1, [N]], ['inp2', inp2, [N]]], [N]);
  }
  /** dinp1 and dinp2 accumulate (+=). */
  residual_backward(dinp1: Tensor, dinp2: Tensor, dout: Tensor, N: number): void {
    this.call('residual_backward', { N }, [['dinp1', dinp1, [N]], ['dinp2', dinp2, [N]], ['dout', dout, [N]]], [N]);
  }

  // ---- softmax and cross-entropy ----
  softmax_forward(probs: Tensor, logits: Tensor, B: number, T: number, V: number): void {
    this.call('softmax_forward', { B, T, V }, [['probs', probs, [B, T, V]], ['logits', logits, [B, T, V]]], [B, T, V]);
  }
  crossentropy_forward(losses: Tensor, probs: Tensor, targets: Tensor, B: number, T: number, V: number): void {
    this.call('crossentropy_forward', { B, T, V }, [['losses', losses, [B, T]], ['probs', probs, [B, T, V]], ['targets', targets, [B, T], 'i32']], [B, T, V]);
  }
  /** dlogits is written: (probs - onehot(target)) * dloss, zero in rows without a target. */
  crossentropy_softmax_backward(dlogits: Tensor, dlosses: Tensor, probs: Tensor, targets: Tensor, B: number, T: number, V: number): void {
    this.call('crossentropy_softmax_backward', { B, T, V }, [['dlogits', dlogits, [B, T, V]], ['dlosses', dlosses, [B, T]], ['probs', probs, [B, T, V]], ['targets', targets, [B, T], 'i32']], [B, T, V]);
  }

  // ---- optimizer ----
  /** Each gradient is multiplied by gradScale as it is read (clipping, micro-batch means); grads are not written. */
  adamw_update(params: Tensor, grads: Tensor, m: Tensor, v: Tensor, N: number,
               lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, t: number, gradScale = 1): void {
    const k = 'adamw_update';
    if (!Number.isInteger(t) || t < 1) throw new RangeError(`${k}: step t must be an integer >= 1, got ${t}`);
    for (const [n, x] of Object.entries({ lr, beta1, beta2, eps, weightDecay, gradScale })) {
      if (!Number.isFinite(x) || x < 0) throw new RangeError(`${k}: ${n} must be a finite number >= 0, got ${x}`);
    }
    if (beta1 >= 1 || beta2 >= 1) throw new RangeError(`${k}: betas must be < 1, got ${beta1}, ${beta2}`);
    this.call(k, { N }, [['params', params, [N]], ['grads', grads, [N]], ['m', m, [N]], ['v', v, [N]]], [N, lr, beta1, beta2, eps, weightDecay, t, gradScale]);
  }
  sum_squares(x: Tensor, N: number): number {
    return this.call('sum_squares', { N }, [['x', x, [N]]], [N]) as number;
  }
  scale_inplace(x: Tensor, s: number, N: number): void {
    this.call('scale_inplace', { N }, [['x', x, [N]]], [s, N]);
  }

  private checkHeads(kernel: string, C: number, NH: number): void {
    if (C % NH !== 0) throw new RangeError(`${kernel}: C (${C}) is not divisible by NH (${NH})`);
  }

  private checkRows(kernel: string, name: string, t: Tensor, T: number, C: number): void {
    if (t.shape.length !== 2 || t.shape[1] !== C || t.shape[0] < T) {
      throw new RangeError(`${kernel}: ${name} is ${shapeString(t.shape)} but at least (${T},${C}) is expected`);
    }
  }
}
