// Node-only additions: checkpoints read from and written to disk.
export * from './index.js';
export { hubFile, cachedFile, hubCacheDir, normalizeRepoId, HubError, DEFAULT_MODEL, type HubOptions } from './weights/hub.js';
export { loadGPT2, loadGPT2Files, saveGPT2, loadWeightsFromFile, readSafetensorsHeader, resolveCheckpoint, readConfig, readConfigJson, writeFileAtomic } from './weights/node.js';
