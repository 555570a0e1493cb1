// A model from files the user chose in the page: a GPT-2 .gguf (llama.cpp's), or a .safetensors
// with its config.json (or with the config this page stores in its metadata when it saves). The
// header is read first, so a file that is not a model, or a model too large, is refused before its
// gigabytes are read; then the file streams into the model tensor by tensor.
import {
  GPT,
  SafetensorsStream,
  GGUFStream,
  configFromHF,
  configFromGGUF,
  ggufConfigJson,
  checkGGUFTokenizer,
  checkModelFits,
  checkFinite,
  headerLength,
  parseHeader,
  type Backend,
  type GPTConfig,
  type WeightDType,
  type FetchProgress,
} from '../src/advanced.js';

export interface FilesOptions {
  /** The dtype to hold the model in, from its config (and a GGUF's own dtype). */
  dtype: (config: GPTConfig, own?: WeightDType) => WeightDType;
  /** Before the weights are read: the config and the memory plan (the tokenizer can be checked here). */
  onPlan: (config: GPTConfig, dtype: WeightDType, configJson: Record<string, unknown>) => void;
  onProgress: (p: FetchProgress) => void;
}

export interface FilesModel {
  model: GPT;
  configJson: Record<string, unknown>;
  name: string;
  bytes: number;
}

const firstLine = (e: unknown) => (e as Error).message.split('\n')[0];

export async function modelFromFiles(files: File[], backend: Backend, options: FilesOptions): Promise<FilesModel> {
  const gguf = files.find((f) => f.name.endsWith('.gguf'));
  if (gguf) return fromGGUF(gguf, backend, options);
  const weights = files.find((f) => f.name.endsWith('.safetensors'));
  const configFile = files.find((f) => f.name.endsWith('.json'));
  if (!weights)
    throw new Error(`no .gguf or .safetensors file among ${files.map((f) => f.name).join(', ') || 'the chosen files'}`);
  let configJson: Record<string, unknown> | null = null;
  if (configFile) {
    try {
      configJson = JSON.parse(await configFile.text());
    } catch (e) {
      throw new Error(`${configFile.name}: not JSON (${firstLine(e)})`);
    }
  }
  const first = new Uint8Array(await weights.slice(0, 8).arrayBuffer());
  const n = headerLength(first, weights.size, weights.name);
  const header = parseHeader(new Uint8Array(await weights.slice(8, 8 + n).arrayBuffer()), weights.size, weights.name);
  if (!configJson) {
    const stored = header.metadata.config;
    if (!stored)
      throw new Error(`${weights.name} has no config in its metadata: choose its config.json together with it`);
    try {
      configJson = JSON.parse(stored);
    } catch (e) {
      throw new Error(`${weights.name}: the config in its metadata is not JSON (${firstLine(e)})`);
    }
  }
  const config = configFromHF(configJson!, configFile?.name ?? `${weights.name} metadata`);
  const dtype = options.dtype(config);
  checkModelFits(config, weights.name, { dtype, option: 'Weights: %s' });
  options.onPlan(config, dtype, configJson!);
  const model = new GPT(config, backend, { init: 'none', dtype });
  try {
    const sink = new SafetensorsStream(model, weights.size, weights.name);
    const bytes = await stream(weights, options, (v) => sink.push(v));
    sink.finish();
    checkFinite(model, weights.name);
    return { model, configJson: configJson!, name: weights.name, bytes };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

async function fromGGUF(file: File, backend: Backend, options: FilesOptions): Promise<FilesModel> {
  let configJson: Record<string, unknown> = {};
  const sink = new GGUFStream(file.size, file.name, (h) => {
    const { config, dtype: own } = configFromGGUF(h, file.name);
    checkGGUFTokenizer(h, file.name);
    const dtype = options.dtype(config, own);
    checkModelFits(config, file.name, { dtype, option: 'Weights: %s' });
    configJson = ggufConfigJson(config);
    options.onPlan(config, dtype, configJson);
    return new GPT(config, backend, { init: 'none', dtype });
  });
  try {
    const bytes = await stream(file, options, (v) => sink.push(v));
    const model = sink.finish(); // each tensor checked finite as it loads
    return { model, configJson, name: file.name, bytes };
  } catch (e) {
    sink.model?.dispose();
    throw e;
  }
}

/** Read a file in chunks into `push`, reporting progress. */
async function stream(file: File, options: FilesOptions, push: (v: Uint8Array) => void): Promise<number> {
  const report = (loaded: number) =>
    options.onProgress({ file: file.name, loaded, total: file.size, fromCache: false });
  const reader = file.stream().getReader();
  let loaded = 0;
  report(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    push(value);
    loaded += value.length;
    report(loaded);
  }
  return loaded;
}
