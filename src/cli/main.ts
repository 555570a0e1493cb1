#!/usr/bin/env node
// The gpt2 command: `gpt2 -p "…"` streams GPT-2's continuation; `gpt2 ppl FILE` measures
// perplexity. Text goes to stdout; progress, stats and errors go to stderr.
import { setFlagsFromString } from 'node:v8';
// Node 20 runs relaxed SIMD (fused multiply-add) only behind this flag; set it before any wasm compiles
setFlagsFromString('--experimental-wasm-relaxed-simd');
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createBackend, type BackendName } from '../backend/index.js';
import { MAX_THREADS } from '../backend/wasm.js';
import type { GPT } from '../model/gpt.js';
import { WEIGHT_DTYPES, type WeightDType } from '../model/parameters.js';
import { loadGPT2Files } from '../weights/node.js';
import { DEFAULT_MODEL } from '../weights/hub.js';
import { tokenizerFromSpec, type Tokenizer, type TokenizerSpec } from '../tokenizer/index.js';
import { readConfigJson } from '../weights/node.js';
import { runTrain } from './train.js';
import { runConvert } from './convert.js';
import { generate } from '../generate/generate.js';
import { perplexity } from '../generate/perplexity.js';
import { progressBar } from './model-source.js';
import { locateModel } from '../weights/locate.js';

// the hub client logs with console.*: keep stdout for the generated text alone
console.log =
  console.info =
  console.debug =
  console.warn =
    (...a: unknown[]) => process.stderr.write(a.map(String).join(' ') + '\n');

const HELP = `gpt2: GPT-2 on WebAssembly SIMD kernels

Usage:
  gpt2 -p "PROMPT" [options]     stream GPT-2's continuation of PROMPT to stdout
  gpt2 ppl FILE [options]        perplexity of a text file under the model (sliding window)
  gpt2 train --data FILE --out DIR [options]   train or fine-tune (gpt2 train --help)
  gpt2 convert MODEL OUT.gguf [--dtype D]      write GGUF for llama.cpp, or a Hugging Face
                                               directory (gpt2 convert --help)
  gpt2 sample --model DIR -p "ROMEO:"          the same as gpt2 -p, for a trained model

Model:
  --model M          a directory (config.json + model.safetensors), a .safetensors file with
                     config.json beside it, a GPT-2 .gguf file (llama.cpp's; F32, F16, Q8_0,
                     Q4_0), or a Hugging Face hub id (default ${DEFAULT_MODEL};
                     also gpt2-medium, gpt2-large, gpt2-xl). Hub files come from the Hugging Face
                     cache ($HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub) or are
                     downloaded into it (resumable, checksum-verified; HF_HUB_OFFLINE=1 forbids it)
  --revision R       hub branch, tag or commit (default main)
  --backend B        wasm (default) or js (the plain reference kernels, slow)
  --threads N        kernel threads (default: all cores)
  --dtype D          how the weights are held: f32 (default; a GGUF's own type); f16 (half the memory, logits within
                     about 1e-3); q8_0 or q4_0, llama.cpp's 8- and 4-bit block formats, quantized
                     as they load: 3.8x / 7x less memory than f32 and faster decode (q8_0 changes
                     the text little, q4_0 more); gpt2-xl needs q8_0 or q4_0. Training needs f32

Generation:
  -p, --prompt TEXT  the prompt (<|endoftext|> in it is GPT-2's end-of-text token)
  --max-tokens N     tokens to generate at most (default 100); stops earlier at <|endoftext|>
  --temperature T    0 = greedy (default 1.0)
  --top-k K          sample among the K most likely tokens, 0 = all (default 50)
  --top-p P          nucleus sampling, 1 = off (default 1.0)
  --seed S           make sampling reproducible
  --f16              the same as --dtype f16
  --echo             print the prompt before the continuation
  --stats            print prompt tokens, load time, prefill and decode tok/s to stderr

Perplexity:
  --stride N         tokens scored per window (default: half the context)

When the context (1024 tokens for GPT-2) fills up, the window slides: generation goes on from the
most recent half of the text.
  -h, --help         this text
`;

function fail(message: string, code = 1): never {
  process.stderr.write(`gpt2: ${message}\n`);
  process.exit(code);
}

function intOption(name: string, v: string | undefined, def: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return def;
  const n = Number(v); // Number('') is 0: an empty value is refused, not read as zero
  if (v.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    fail(
      `--${name} must be an integer ${max < Number.MAX_SAFE_INTEGER ? `in ${min}..${max}` : `>= ${min}`}, got '${v}'`,
    );
  }
  return n;
}

function numOption(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) fail(`--${name} must be a number, got '${v}'`);
  return n;
}

async function loadModel(
  values: Record<string, unknown>,
): Promise<{ model: GPT; tokenizer: Tokenizer; seconds: number }> {
  const backendName = (values.backend as string) ?? 'wasm';
  if (backendName !== 'wasm' && backendName !== 'js') fail(`--backend must be wasm or js, got '${backendName}'`);
  const threads = intOption('threads', values.threads as string | undefined, availableParallelism(), 1, MAX_THREADS);
  if (values.f16 && values.dtype !== undefined && values.dtype !== 'f16')
    fail(`--f16 is --dtype f16, but --dtype ${values.dtype as string} is given too`);
  // no --dtype: a GGUF keeps its own, safetensors load as f32
  const dtype = ((values.dtype as string | undefined) ?? (values.f16 ? 'f16' : undefined)) as WeightDType | undefined;
  if (dtype !== undefined && !WEIGHT_DTYPES.includes(dtype))
    fail(`--dtype must be one of ${WEIGHT_DTYPES.join(', ')}, got '${dtype}'`);

  const t0 = performance.now();
  const files = await locateModel(
    (values.model as string) ?? DEFAULT_MODEL,
    { revision: values.revision as string | undefined, onProgress: progressBar() },
    { dtype, option: '--dtype %s' },
  );
  const backend = await createBackend(backendName as BackendName, { threads });
  // OpenAI's checkpoints use GPT-2's BPE; ours name their tokenizer in config.json
  const tokenizer = tokenizerFromSpec(
    readConfigJson(files.config).wasm_gpt_tokenizer as TokenizerSpec | undefined,
    files.config,
  );
  const model = loadGPT2Files(files.config, files.weights, backend, dtype);
  if (model.config.vocab_size !== tokenizer.vocabSize) {
    fail(
      `${files.source}: vocab_size is ${model.config.vocab_size}, but its tokenizer (${tokenizer.spec().type}) has ${tokenizer.vocabSize} tokens; this model was made for another tokenizer`,
    );
  }
  return { model, tokenizer, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === 'train') return runTrain(argv.slice(1));
  if (argv[0] === 'convert') return runConvert(argv.slice(1));
  const command = argv[0] === 'ppl' ? 'ppl' : 'generate';
  const { values, positionals } = parseArgs({
    args: command === 'ppl' || argv[0] === 'sample' ? argv.slice(1) : argv,
    allowPositionals: true,
    options: {
      prompt: { type: 'string', short: 'p' },
      model: { type: 'string' },
      revision: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      'max-tokens': { type: 'string' },
      temperature: { type: 'string' },
      'top-k': { type: 'string' },
      'top-p': { type: 'string' },
      seed: { type: 'string' },
      echo: { type: 'boolean' },
      stats: { type: 'boolean' },
      stride: { type: 'string' },
      f16: { type: 'boolean' },
      dtype: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }

  if (command === 'ppl') {
    if (positionals.length !== 1) fail('usage: gpt2 ppl FILE [--model M] [--stride N]');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(positionals[0]));
    } catch (e) {
      fail(
        `${positionals[0]}: ${(e as Error).message.includes('encoded data') ? 'not valid UTF-8 text' : (e as Error).message}`,
      );
    }
    const { model, tokenizer, seconds } = await loadModel(values);
    let ids: number[] = [];
    try {
      ids = tokenizer.encode(text);
    } catch (e) {
      fail(`${positionals[0]}: ${(e as Error).message}`);
    }
    if (ids.length < 2) fail(`${positionals[0]}: ${ids.length} token(s); perplexity needs at least 2`);
    const stride = intOption('stride', values.stride, Math.floor(model.config.n_positions / 2), 1);
    const t0 = performance.now();
    const r = perplexity(model, ids, { stride });
    const s = (performance.now() - t0) / 1000;
    process.stdout.write(
      `perplexity ${r.perplexity.toFixed(3)} (mean loss ${r.loss.toFixed(4)} nats/token over ${r.tokens} tokens; window ${r.window}, stride ${r.stride})\n`,
    );
    if (values.stats)
      process.stderr.write(
        `load ${seconds.toFixed(2)} s, scoring ${s.toFixed(2)} s (${(r.evaluatedTokens / s).toFixed(1)} tok/s)\n`,
      );
    return;
  }

  if (positionals.length) fail(`unexpected argument '${positionals[0]}' (put the prompt after -p)`);
  const prompt = values.prompt as string | undefined;
  if (prompt === undefined) fail('no prompt: use gpt2 -p "your text" (gpt2 --help for more)');
  if (prompt === '') fail('the prompt is empty: give some text after -p');
  const options = {
    maxTokens: intOption('max-tokens', values['max-tokens'], 100),
    temperature: numOption('temperature', values.temperature, 1),
    topK: intOption('top-k', values['top-k'], 50),
    topP: numOption('top-p', values['top-p'], 1),
    seed: values.seed === undefined ? undefined : intOption('seed', values.seed, 0, 0, 2 ** 32 - 1),
  };
  if (options.temperature < 0) fail(`--temperature must be >= 0, got ${options.temperature}`);
  if (!(options.topP > 0 && options.topP <= 1)) fail(`--top-p must be in (0, 1], got ${options.topP}`);

  const { model, tokenizer, seconds } = await loadModel(values);
  const loadSeconds = seconds;
  let ids: number[] = [];
  try {
    ids = tokenizer.encode(prompt);
  } catch (e) {
    fail(`the prompt: ${(e as Error).message}`);
  }
  if (ids.length === 0) fail('the prompt is empty: give some text after -p');
  if (ids.length >= model.config.n_positions)
    fail(
      `the prompt has ${ids.length} tokens; the context holds ${model.config.n_positions}, so at most ${model.config.n_positions - 1} leave room to generate`,
    );
  let interrupted = false;
  process.on('SIGINT', () => {
    if (interrupted) process.exit(130);
    interrupted = true;
  });
  if (values.echo) process.stdout.write(prompt);
  const decoder = tokenizer.streamDecoder();
  const gen = generate(model, ids, { ...options, stopToken: tokenizer.endOfText, shouldStop: () => interrupted });
  let r = gen.next();
  while (!r.done) {
    const text = decoder.push(r.value);
    if (text) process.stdout.write(text);
    await new Promise((resolve) => setImmediate(resolve)); // let SIGINT and stdout through
    r = gen.next();
  }
  process.stdout.write(decoder.flush() + '\n');
  const st = r.value;
  if (values.stats) {
    process.stderr.write(
      `prompt tokens ${st.promptTokens}, generated ${st.generatedTokens} (${st.stoppedBy})\n` +
        `load ${loadSeconds.toFixed(2)} s, prefill ${(st.promptTokens / st.prefillSeconds).toFixed(1)} tok/s, ` +
        `decode ${st.decodeSeconds > 0 ? (st.generatedTokens / st.decodeSeconds).toFixed(1) : '-'} tok/s, ${model.backend.threads} thread(s)` +
        `${'simd' in model.backend ? `, ${(model.backend as { simd: string }).simd} SIMD` : ''}` +
        `, ${model.dtype} weights (${(model.params.bytes / 2 ** 20).toFixed(0)} MiB)` +
        `${st.slides ? `, window slid ${st.slides}x` : ''}\n`,
    );
  }
  if (interrupted) process.exit(130);
}

main().catch((e: Error) => fail(e.message.split('\n')[0]));
