// wasm-gpt: GPT-2 on WebAssembly SIMD kernels. This entry works in Node and in browsers;
// Node-only file loading lives in 'wasm-gpt/node'.
export { createBackend, WasmBackend, JsBackend, Backend, Arena, Tensor, MAX_BYTES, type BackendName } from './backend/index.js';
export { GPT, type StepOptions, type ForwardResult, type CreateOptions } from './model/gpt.js';
export { GPT2_PRESETS, validateConfig, configFromHF, type GPTConfig, type GPT2Preset } from './model/config.js';
export { parameterSpecs, countParameters, type ParameterSpec } from './model/parameters.js';
export { Random } from './model/random.js';
export { SafetensorsFile, SafetensorsError, writeSafetensors, parseSafetensors } from './weights/safetensors.js';
export { gptFromSafetensors, modelToSafetensors, loadStateFromSafetensors } from './weights/gpt2.js';
export { KvCache } from './model/kvcache.js';
export { GPT2Tokenizer, StreamDecoder, END_OF_TEXT, END_OF_TEXT_ID, GPT2_VOCAB_SIZE } from './tokenizer/gpt2.js';
export { generate, type GenerateOptions, type GenerationStats } from './generate/generate.js';
export { sampleToken, argmax, type SamplingOptions } from './generate/sampling.js';
export { perplexity, type PerplexityResult } from './generate/perplexity.js';
