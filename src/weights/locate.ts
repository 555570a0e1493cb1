// Where a model's files are, in Node: a local directory or file, or a hub id through the Hugging
// Face cache (downloading into it when needed). A model too large for wasm32 memory is refused
// from its config.json, before its weights are downloaded.
import { existsSync } from 'node:fs';
import { readConfig, resolveCheckpoint, fileDType } from './node.js';
import { hubFile, hubGGUFHeader, normalizeRepoId, HubError, type HubOptions } from './hub.js';
import { configFromGGUF, checkGGUFTokenizer } from './gguf-gpt2.js';
import { checkModelFits } from './fetch.js';
import type { WeightDType } from '../model/parameters.js';
import type { GPTConfig } from '../model/config.js';

export interface ModelFiles { config: string; weights: string; source: string }

export interface LocateOptions {
  /** Names the asker in errors (the CLI says --model). */
  what?: string;
  /** The dtype the model will be held in, for the memory check; and how the caller names that choice. */
  dtype?: WeightDType;
  option?: string;
  /** More checks of the config (a training run's memory), before the weights are read or downloaded. */
  check?: (config: GPTConfig, source: string) => void;
}

/** `spec`: a path, or a hub id. The model must fit in wasm memory held as `dtype`, checked before its weights are read or downloaded. */
export async function locateModel(spec: string, hub: HubOptions, options: LocateOptions = {}): Promise<ModelFiles> {
  const { what = '--model', dtype, option, check } = options;
  const checks = (config: GPTConfig, source: string, as: WeightDType = 'f32') => {
    checkModelFits(config, source, { dtype: dtype ?? as, option });
    check?.(config, source);
  };
  if (existsSync(spec)) {
    const files = resolveCheckpoint(spec);
    checks(readConfig(files.config), files.config, fileDType(files.weights));
    return { ...files, source: spec };
  }
  const gguf = /^([A-Za-z0-9][\w.-]*\/[\w.-]+)\/([\w./-]+\.gguf)$/.exec(spec);
  if (gguf && !gguf[2].split('/').includes('..')) {
    // a GGUF in a hub repo: its header first (the config is in it), then the file
    const [, repo, file] = gguf;
    const h = await hubGGUFHeader(repo, file, hub);
    const { config, dtype: own } = configFromGGUF(h, `${repo}/${file}`);
    checkGGUFTokenizer(h, `${repo}/${file}`);
    checks(config, `${repo}/${file}`, own);
    const path = await hubFile(repo, file, hub);
    return { config: path, weights: path, source: `${repo}/${file}` };
  }
  const repo = normalizeRepoId(spec);
  if (!repo) throw new HubError(`${what} ${spec}: no such file or directory, and not a hub id like openai-community/gpt2`);
  const config = await hubFile(repo, 'config.json', hub);
  checks(readConfig(config), `${repo} (config.json)`);
  const weights = await hubFile(repo, 'model.safetensors', hub);
  return { config, weights, source: repo };
}
