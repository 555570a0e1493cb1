// wasm-gpt: GPT-2 on WebAssembly SIMD kernels, the same in Node and in browsers. This entry holds
// what generating and training need; the kernels, the arena, tensors and file formats are in
// 'wasm-gpt/advanced', and Node-only file loading and saving in 'wasm-gpt/node'.
export { GPT2, type LoadOptions, type LoadProgress, type CompleteOptions } from './api/gpt2.js';
export {
  GPT,
  type StepOptions,
  type ForwardResult,
  type ForwardOptions,
  type CreateOptions,
  type WeightDType,
} from './model/gpt.js';
export { GPT2_PRESETS, type GPTConfig, type GPT2Preset } from './model/config.js';
export { createBackend, type Backend, type BackendName } from './backend/index.js';
export {
  GPT2Tokenizer,
  CharTokenizer,
  tokenizerFromSpec,
  type Tokenizer,
  type TokenizerSpec,
} from './tokenizer/index.js';
export { Trainer, DEFAULT_TRAIN_CONFIG, NaNLossError, type TrainConfig, type StepResult } from './train/trainer.js';
export { TokenDataset, ChatDataset, type Dataset } from './train/data.js';
export { gptFromSafetensors, modelToSafetensors, hfConfigJson } from './weights/gpt2.js';
