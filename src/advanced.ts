// wasm-gpt/advanced: the low-level pieces under the GPT2 API, for those who build their own loop:
// backends and their arena, tensors, the kernels' declarations and references, the KV cache,
// sampling, safetensors and the weights' download. Works in Node and in browsers.
export * from './index.js';
export {
  WasmBackend,
  JsBackend,
  Backend,
  Arena,
  Tensor,
  MAX_BYTES,
  formatBytes,
  compileKernels,
  defaultThreads,
  relaxedSimdSupported,
  type WasmBackendOptions,
  type SimdFlavor,
  type DType,
  type BlockDType,
  type KernelName,
} from './backend/index.js';
export { KERNELS, PART_KERNELS, type KernelDecl } from './kernels/index.js';
export { validateConfig, configFromHF } from './model/config.js';
export {
  parameterSpecs,
  countParameters,
  weightBytes,
  WEIGHT_DTYPES,
  ParameterSet,
  type ParameterSpec,
  type GPTParams,
  type BlockParams,
  type Affine,
} from './model/parameters.js';
export { KvCache } from './model/kvcache.js';
export { inferenceBytes } from './model/memory.js';
export { Random } from './model/random.js';
export { StreamDecoder, END_OF_TEXT, END_OF_TEXT_ID, GPT2_VOCAB_SIZE } from './tokenizer/gpt2.js';
export { generate, type GenerateOptions, type GenerationStats } from './generate/generate.js';
export { sampleToken, argmax, type SamplingOptions } from './generate/sampling.js';
export { perplexity, type PerplexityResult } from './generate/perplexity.js';
export {
  SafetensorsFile,
  SafetensorsError,
  writeSafetensors,
  parseSafetensors,
  headerLength,
  parseHeader,
} from './weights/safetensors.js';
export { loadStateFromSafetensors, checkFinite } from './weights/gpt2.js';
export { SafetensorsStream, GGUFStream } from './weights/stream.js';
export {
  parseGGUF,
  ggufHeader,
  GGUFError,
  NeedMoreBytes,
  GGML_TYPE,
  ggmlTypeName,
  type GGUFHeader,
  type GGUFTensor,
  type GGUFValue,
} from './weights/gguf.js';
export {
  configFromGGUF,
  ggufConfigJson,
  checkGGUFTokenizer,
  loadGGUFTensors,
  gpt2ToGGUF,
  gpt2GGUFBytes,
  gptFromGGUF,
  ggufName,
  type GGUFTensorOut,
} from './weights/gguf-gpt2.js';
export { gpt2Vocabulary } from './tokenizer/gpt2-vocab.js';
export {
  fetchGPT2,
  fetchBytes,
  modelUrls,
  ggufUrl,
  checkModelFits,
  clearWeightsCache,
  WEIGHTS_CACHE,
  HF_ENDPOINT,
  type FetchModelOptions,
  type FetchProgress,
  type FetchedModel,
} from './weights/fetch.js';
export { DEFAULT_MODEL, normalizeRepoId } from './weights/repo.js';
export { learningRate } from './train/schedule.js';
export { lineChartSvg, type Series } from './train/svg.js';
