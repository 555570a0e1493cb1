// What running a model takes in wasm memory, computed from its config before anything is
// allocated or downloaded: the weights in their dtype, the KV cache and the decoder's scratch, and
// while loading quantized weights, one tensor in f32 (the largest, wte) before it is quantized.
import { dtypeBytes, type DType } from '../backend/tensor.js';
import type { GPTConfig } from './config.js';
import { kvCacheSpecs } from './kvcache.js';
import { parameterSpecs, weightBytes, type WeightDType } from './parameters.js';
import { activationSpecs, activationGradSpecs } from './activations.js';

const line = (n: number) => Math.ceil(n / 64) * 64;
const specBytes = (specs: { shape: number[]; dtype?: DType }[]) =>
  specs.reduce(
    (n, s) =>
      n +
      line(
        dtypeBytes(
          s.dtype ?? 'f32',
          s.shape.reduce((a, b) => a * b, 1),
        ),
      ),
    0,
  );

/** Bytes to load and generate with a model of this config whose weights are held as `dtype`. */
export function inferenceBytes(config: GPTConfig, dtype: WeightDType, chunk = 128): number {
  const cache = specBytes(kvCacheSpecs(config, Math.min(chunk, config.n_positions)));
  const largest = Math.max(...parameterSpecs(config).map((s) => s.shape.reduce((a, b) => a * b, 1)));
  const loading = dtype === 'f32' ? 0 : largest * 4;
  return weightBytes(config, dtype) + cache + loading;
}

/**
 * Bytes to train a config at batch B x block T: the weights, their gradients and AdamW's two
 * moments (f32 each), the activations the backward pass keeps and their gradients.
 */
export function trainingBytes(
  config: GPTConfig,
  B: number,
  T: number,
): { total: number; weights: number; activations: number } {
  const weights = 4 * weightBytes(config, 'f32');
  const activations = specBytes(activationSpecs(config, B, T)) + specBytes(activationGradSpecs(config, B, T));
  return { total: weights + activations, weights, activations };
}
