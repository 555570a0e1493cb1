// wasm-gpt: GPT-2 on WebAssembly SIMD kernels. This entry works in Node and in browsers;
// Node-only file loading lives in 'wasm-gpt/node'.
export { createBackend, WasmBackend, JsBackend, Backend, Arena, Tensor, MAX_BYTES, type BackendName } from './backend/index.js';
export { GPT, type StepOptions, type ForwardResult, type CreateOptions } from './model/gpt.js';
export { GPT2_PRESETS, validateConfig, configFromHF, type GPTConfig, type GPT2Preset } from './model/config.js';
export { parameterSpecs, countParameters, type ParameterSpec } from './model/parameters.js';
export { Random } from './model/random.js';
export { SafetensorsFile, SafetensorsError, writeSafetensors, parseSafetensors } from './weights/safetensors.js';
export { gptFromSafetensors, modelToSafetensors, loadStateFromSafetensors } from './weights/gpt2.js';
