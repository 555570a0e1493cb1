// wasm-gpt/node: the main entry plus what only Node can do: checkpoints read from and written to
// disk, and the Hugging Face hub's cache.
export * from './index.js';
export {
  hubFile,
  cachedFile,
  hubCacheDir,
  normalizeRepoId,
  HubError,
  DEFAULT_MODEL,
  type HubOptions,
} from './weights/hub.js';
export {
  loadGPT2,
  loadGPT2Files,
  saveGPT2,
  loadWeightsFromFile,
  readSafetensorsHeader,
  resolveCheckpoint,
  readConfig,
  readConfigJson,
  writeFileAtomic,
} from './weights/node.js';
export { locateModel, type ModelFiles } from './weights/locate.js';
export { loadGGUF, saveGGUF, readGGUFHeader, ggufConfig } from './weights/gguf-node.js';
