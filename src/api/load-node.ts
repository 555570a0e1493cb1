// GPT2.load in Node: a local directory or file, or a hub id through the Hugging Face cache.
import type { Backend } from '../backend/backend.js';
import type { GPT } from '../model/gpt.js';
import { locateModel } from '../weights/locate.js';
import { loadGPT2Files, readConfigJson } from '../weights/node.js';
import type { LoadOptions } from './gpt2.js';

export async function loadNode(
  source: string,
  backend: Backend,
  options: LoadOptions,
): Promise<{ model: GPT; configJson: Record<string, unknown>; where: string }> {
  const { signal, onProgress } = options;
  const files = await locateModel(
    source,
    {
      revision: options.revision,
      onProgress: onProgress && ((file, loaded, total) => onProgress({ file, loaded, total })),
      fetch: signal ? (input, init) => fetch(input, { ...init, signal }) : undefined,
    },
    { what: 'GPT2.load:', dtype: options.dtype, option: "dtype: '%s'" },
  );
  signal?.throwIfAborted();
  return {
    model: loadGPT2Files(files.config, files.weights, backend, options.dtype),
    configJson: readConfigJson(files.config),
    where: files.source,
  };
}
