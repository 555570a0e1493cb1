// `gpt2 convert MODEL OUT`: any model the CLI loads (hub id, directory, .safetensors, .gguf) to a
// GGUF that llama.cpp reads (OUT.gguf, in --dtype) or to a Hugging Face directory with f32
// weights (config.json + model.safetensors) for PyTorch and transformers.
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { createBackend } from '../backend/index.js';
import { WEIGHT_DTYPES, type WeightDType } from '../model/parameters.js';
import { loadGPT2Files, readConfigJson, saveGPT2 } from '../weights/node.js';
import { saveGGUF } from '../weights/gguf-node.js';
import { locateModel } from '../weights/locate.js';
import { progressBar } from './model-source.js';
import type { TokenizerSpec } from '../tokenizer/index.js';

export const CONVERT_HELP = `gpt2 convert: write a model as GGUF (llama.cpp) or as a Hugging Face directory

  gpt2 convert MODEL OUT.gguf [--dtype f32|f16|q8_0|q4_0]
  gpt2 convert MODEL DIR

MODEL is what --model takes: a hub id, a directory, a .safetensors or a .gguf file.
OUT.gguf: GGUF v3 in llama.cpp's GPT-2 layout with GPT-2's BPE in its metadata, the weights in
--dtype (default: the model's own: f32 from safetensors, the file's from a GGUF); position
embeddings, norms and biases stay f32, as llama.cpp keeps them.
DIR: config.json + model.safetensors in f32 (quantized weights dequantized), for PyTorch.
`;

function fail(message: string): never {
  process.stderr.write(`gpt2 convert: ${message}\n`);
  process.exit(1);
}

export async function runConvert(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dtype: { type: 'string' },
      revision: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(CONVERT_HELP);
    return;
  }
  if (positionals.length !== 2) fail('give the model and where to write it: gpt2 convert MODEL OUT.gguf (or DIR)');
  const [source, out] = positionals;
  const toGGUF = out.endsWith('.gguf');
  const dtype = values.dtype as WeightDType | undefined;
  if (dtype !== undefined && !WEIGHT_DTYPES.includes(dtype))
    fail(`--dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got '${dtype}'`);
  if (dtype !== undefined && dtype !== 'f32' && !toGGUF)
    fail(`--dtype ${dtype} is for a .gguf; a Hugging Face directory holds f32 weights`);
  const t0 = performance.now();
  const files = await locateModel(
    source,
    { revision: values.revision, onProgress: progressBar() },
    { what: 'gpt2 convert', dtype: toGGUF ? dtype : 'f32', option: '--dtype %s' },
  );
  const spec = readConfigJson(files.config).wasm_gpt_tokenizer as TokenizerSpec | undefined;
  if (toGGUF && spec && spec.type !== 'gpt2')
    fail(`${source} uses a ${spec.type} tokenizer; a GGUF carries GPT-2's BPE (write a directory instead)`);
  const backend = await createBackend('wasm', { threads: availableParallelism() });
  const model = loadGPT2Files(files.config, files.weights, backend, toGGUF ? dtype : 'f32');
  let bytes: number;
  if (toGGUF) bytes = saveGGUF(model, out);
  else {
    saveGPT2(model, out, { extraConfig: spec && spec.type !== 'gpt2' ? { wasm_gpt_tokenizer: spec } : {} });
    bytes = model.params.bytes;
  }
  process.stderr.write(
    `wrote ${out}: ${toGGUF ? `GGUF, ${model.dtype} weights` : 'config.json + model.safetensors, f32 weights'}, ` +
      `${model.numParameters.toLocaleString('en-US')} parameters, ${(bytes / 1e6).toFixed(1)} MB in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );
  model.dispose();
}
