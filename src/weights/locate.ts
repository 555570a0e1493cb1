// Where a model's files are, in Node: a local directory or file, or a hub id through the Hugging
// Face cache (downloading into it when needed). A model too large for wasm32 memory is refused
// from its config.json, before its weights are downloaded.
import { existsSync } from 'node:fs';
import { readConfig, resolveCheckpoint } from './node.js';
import { hubFile, normalizeRepoId, HubError, type HubOptions } from './hub.js';
import { checkModelFits } from './fetch.js';

export interface ModelFiles { config: string; weights: string; source: string }

/** `spec`: a path, or a hub id; `what` names the asker in errors (the CLI says --model). */
export async function locateModel(spec: string, hub: HubOptions, what = '--model'): Promise<ModelFiles> {
  if (existsSync(spec)) return { ...resolveCheckpoint(spec), source: spec };
  const repo = normalizeRepoId(spec);
  if (!repo) throw new HubError(`${what} ${spec}: no such file or directory, and not a hub id like openai-community/gpt2`);
  const config = await hubFile(repo, 'config.json', hub);
  checkModelFits(readConfig(config), `${repo} (config.json)`);
  const weights = await hubFile(repo, 'model.safetensors', hub);
  return { config, weights, source: repo };
}
