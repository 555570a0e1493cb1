// What running a model takes in wasm memory, computed from its config before anything is
// allocated or downloaded: the weights in their dtype, the KV cache and the decoder's scratch, and
// while loading quantized weights, one tensor in f32 (the largest, wte) before it is quantized.
import { dtypeBytes } from '../backend/tensor.js';
import type { GPTConfig } from './config.js';
import { kvCacheSpecs } from './kvcache.js';
import { parameterSpecs, weightBytes, type WeightDType } from './parameters.js';

const line = (n: number) => Math.ceil(n / 64) * 64;

/** Bytes to load and generate with a model of this config whose weights are held as `dtype`. */
export function inferenceBytes(config: GPTConfig, dtype: WeightDType, chunk = 128): number {
  const cache = kvCacheSpecs(config, Math.min(chunk, config.n_positions)).reduce(
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
  const largest = Math.max(...parameterSpecs(config).map((s) => s.shape.reduce((a, b) => a * b, 1)));
  const loading = dtype === 'f32' ? 0 : largest * 4;
  return weightBytes(config, dtype) + cache + loading;
}
