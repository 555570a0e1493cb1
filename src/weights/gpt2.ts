// GPT-2 checkpoints in Hugging Face layout: names with or without the `transformer.` prefix,
// Conv1D weights stored [in, out] (the layout the model keeps, so no transposes), the causal
// mask buffers `h.N.attn.bias` / `h.N.attn.masked_bias` skipped, `lm_head.weight` tied to wte.
import { GPT, type WeightDType } from '../model/gpt.js';
import type { GPTConfig } from '../model/config.js';
import { firstBeyond } from '../model/parameters.js';
import type { Backend } from '../backend/backend.js';
import { SafetensorsFile, SafetensorsError, decodeFloats, writeSafetensors, f32Bytes, type TensorInfo } from './safetensors.js';

/** Map a checkpoint key to our parameter name, or null for buffers that are not parameters. */
export function canonicalName(key: string): string | null {
  const name = key.startsWith('transformer.') ? key.slice('transformer.'.length) : key;
  if (/^h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) return null; // causal-mask buffers
  if (name === 'lm_head.weight') return null;                         // tied to wte.weight
  return name;
}

/** Match every expected parameter to a tensor in the file; fail naming the tensor and both shapes. */
export function matchTensors(model: GPT, tensors: Map<string, TensorInfo>, source: string): Map<string, TensorInfo> {
  const found = new Map<string, TensorInfo>();
  for (const info of tensors.values()) {
    const name = canonicalName(info.name);
    if (name === null) {
      if (info.name.endsWith('lm_head.weight')) checkShape(source, info, [model.config.vocab_size, model.config.n_embd]);
      continue;
    }
    if (found.has(name)) throw new SafetensorsError(`${source}: tensor '${name}' appears twice (with and without the transformer. prefix)`);
    found.set(name, info);
  }
  for (const spec of model.parameterSpecs) {
    const info = found.get(spec.name);
    if (!info) throw new SafetensorsError(`${source}: tensor '${spec.name}' (${spec.shape.join(',')}) is missing`);
    checkShape(source, info, spec.shape);
    found.delete(spec.name);
  }
  if (found.size) {
    const extra = [...found.keys()].slice(0, 5).join(', ');
    throw new SafetensorsError(`${source}: unexpected tensors for this config: ${extra}${found.size > 5 ? ', ...' : ''}`);
  }
  return new Map(model.parameterSpecs.map((s) => [s.name, tensors.get(findKey(tensors, s.name))!]));
}

function findKey(tensors: Map<string, TensorInfo>, name: string): string {
  return tensors.has(name) ? name : `transformer.${name}`;
}

function checkShape(source: string, info: TensorInfo, shape: readonly number[]): void {
  if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
    throw new SafetensorsError(`${source}: tensor '${info.name}' has shape (${info.shape.join(',')}), expected (${shape.join(',')})`);
  }
}

/** Copy a checkpoint held in memory into the model's parameters (converted to f32 as it goes). */
export function loadStateFromSafetensors(model: GPT, file: SafetensorsFile): void {
  const matched = matchTensors(model, file.header.tensors, file.source);
  for (const [name, info] of matched) {
    model.loadParameter(
      name,
      (dst) => decodeFloats(file.bytes.subarray(info.begin, info.end), info.dtype, dst, `${file.source}: tensor '${info.name}'`),
      file.source,
    );
  }
  model.markParametersChanged();
  checkFinite(model, file.source);
}

/** Weights with NaN or Inf are refused: generating from them would print garbage as if it were fine. (Quantized ones were checked before quantizing.) */
export function checkFinite(model: GPT, source: string): void {
  for (const spec of model.parameterSpecs) {
    const t = model.parameter(spec.name);
    if (t.dtype !== 'f32') continue;
    const i = firstBeyond(model.backend, t);
    if (i >= 0) throw new SafetensorsError(`${source}: tensor '${spec.name}' holds ${t.data()[i]} at index ${i}`);
  }
}

/** A new model filled by `load`; if loading fails the model's memory is given back and nothing half-loaded remains. */
export function buildModel(config: GPTConfig, backend: Backend, load: (model: GPT) => void, dtype: WeightDType = 'f32'): GPT {
  const model = new GPT(config, backend, { init: 'none', dtype });
  try {
    load(model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** A GPT built from a safetensors checkpoint in memory and its config. */
export function gptFromSafetensors(
  bytes: Uint8Array,
  config: GPTConfig,
  backend: Backend,
  source = 'model.safetensors',
  dtype: WeightDType = 'f32',
): GPT {
  const file = new SafetensorsFile(bytes, source);
  return buildModel(config, backend, (model) => loadStateFromSafetensors(model, file), dtype);
}

/** The model's weights as a safetensors file in Hugging Face GPT-2 layout (F32; quantized weights dequantized). */
export function modelToSafetensors(model: GPT, metadata: Record<string, string> = {}): Uint8Array {
  return writeSafetensors(model.parameterSpecs.map((s) => ({
    name: s.name, dtype: 'F32' as const, shape: s.shape, data: f32Bytes(model.parameterF32(s.name)),
  })), { format: 'pt', ...metadata });
}

/** config.json in Hugging Face GPT-2 form for this model (plus `extra` keys, e.g. its tokenizer). */
export function hfConfigJson(model: GPT, extra: Record<string, unknown> = {}): string {
  return configJsonOf(model.config, extra);
}

/** config.json in Hugging Face GPT-2 form for a config. */
export function configJsonOf(c: GPTConfig, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ model_type: 'gpt2', architectures: ['GPT2LMHeadModel'], ...c, n_ctx: c.n_positions,
    layer_norm_epsilon: 1e-5, activation_function: 'gelu_new', ...extra }, null, 2) + '\n';
}
