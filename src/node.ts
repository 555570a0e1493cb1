// Node-only additions: checkpoints read from and written to disk.
export * from './index.js';
export { loadGPT2, loadGPT2Files, saveGPT2, loadWeightsFromFile, readSafetensorsHeader, resolveCheckpoint, readConfig } from './weights/node.js';
