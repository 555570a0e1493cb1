// The first thing a user calls, the same in Node and in a page:
//   const gpt2 = await GPT2.load('openai-community/gpt2', { threads: 2 });
//   for await (const piece of gpt2.stream('How can entropy be reversed?', { maxTokens: 50 })) process.stdout.write(piece);
//   const text = await gpt2.complete('Hello, I am', { maxTokens: 20, temperature: 0 });
//   gpt2.dispose();
// It holds a backend, a model and its tokenizer; the pieces stay public for those who want them.
import { createBackend, type BackendName } from '../backend/index.js';
import type { Backend } from '../backend/backend.js';
import type { GPT, WeightDType } from '../model/gpt.js';
import { generate } from '../generate/generate.js';
import { fetchGPT2, type FetchProgress } from '../weights/fetch.js';
import { DEFAULT_MODEL } from '../weights/repo.js';
import { tokenizerFromSpec, type Tokenizer, type TokenizerSpec } from '../tokenizer/index.js';
import { StopMatcher } from './stop.js';

export interface LoadProgress {
  file: string;
  loaded: number;
  /** Bytes in all, when the server says. */
  total: number | null;
}

export interface LoadOptions {
  /** Kernel threads: default all cores (Node, or a cross-origin isolated page), else 1. */
  threads?: number;
  /** 'wasm' (default) or 'js', the plain reference kernels (slow; for checking). */
  backend?: BackendName;
  /**
   * How the weights are held: 'f32' (default), 'f16' (half the memory), or quantized as they load,
   * 'q8_0' (3.7x less memory than f32, faster decode) or 'q4_0' (6.8x less, fastest; coarser).
   * Every GPT-2 size fits in f16, q8_0 and q4_0.
   */
  dtype?: WeightDType;
  /** The same as dtype: 'f16'. */
  f16?: boolean;
  /** Hub branch, tag or commit (Node; default main). */
  revision?: string;
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
}

export interface CompleteOptions {
  /** Tokens to generate at most (default 100); generation also ends at <|endoftext|>. */
  maxTokens?: number;
  /** 0 is greedy (default 1). */
  temperature?: number;
  /** Sample among the k most likely tokens; 0 = all (default 50). */
  topK?: number;
  /** Nucleus sampling; 1 = off (default). */
  topP?: number;
  /** The same seed gives the same text (default: a fresh one). */
  seed?: number;
  /** Text that ends the completion where it first appears; it is not included. */
  stop?: string | string[];
  signal?: AbortSignal;
}

const isNode =
  typeof process !== 'undefined' &&
  !!process.versions?.node &&
  typeof (globalThis as { window?: unknown }).window === 'undefined';
// Node's loader (files, the hub cache) is imported by a computed name, so that bundlers building
// a page leave it out: a page loads through fetch instead.
const NODE_LOADER = './load-node.js';

export class GPT2 {
  private constructor(
    readonly model: GPT,
    readonly tokenizer: Tokenizer,
    readonly backend: Backend,
    private readonly ownsBackend: boolean,
  ) {}

  /**
   * A hub id ('openai-community/gpt2', 'gpt2', 'gpt2-medium', ...), a URL of a model directory or
   * .safetensors file, or (Node) a local directory or file. Node keeps hub downloads in the Hugging
   * Face cache; a page keeps them in Cache Storage.
   */
  static async load(source: string = DEFAULT_MODEL, loadOptions: LoadOptions = {}): Promise<GPT2> {
    if (loadOptions.f16 && loadOptions.dtype && loadOptions.dtype !== 'f16')
      throw new RangeError(`GPT2.load: f16 is dtype 'f16', but dtype '${loadOptions.dtype}' is given too`);
    const options = { ...loadOptions, dtype: loadOptions.dtype ?? (loadOptions.f16 ? ('f16' as const) : undefined) };
    const backend = await createBackend(options.backend ?? 'wasm', { threads: options.threads });
    try {
      const local = isNode && !/^https?:\/\//.test(source);
      const { model, configJson, where } = local
        ? await ((await import(/* @vite-ignore */ NODE_LOADER)) as typeof import('./load-node.js')).loadNode(
            source,
            backend,
            options,
          )
        : await fetchGPT2(source, backend, {
            signal: options.signal,
            dtype: options.dtype,
            onProgress: options.onProgress && progressOf(options.onProgress),
          }).then((r) => ({ ...r, where: r.url }));
      let tokenizer: Tokenizer;
      try {
        tokenizer = tokenizerFromSpec(configJson.wasm_gpt_tokenizer as TokenizerSpec | undefined, where);
        if (tokenizer.vocabSize !== model.config.vocab_size) {
          throw new Error(
            `${where}: vocab_size is ${model.config.vocab_size}, but its tokenizer (${tokenizer.spec().type}) has ${tokenizer.vocabSize} tokens`,
          );
        }
      } catch (e) {
        model.dispose();
        throw e;
      }
      return new GPT2(model, tokenizer, backend, true);
    } catch (e) {
      disposeBackend(backend);
      throw e;
    }
  }

  /** A model built or trained in code, with its tokenizer; dispose() leaves its backend to the caller. */
  static fromModel(model: GPT, tokenizer: Tokenizer): GPT2 {
    if (tokenizer.vocabSize !== model.config.vocab_size) {
      throw new RangeError(
        `the model's vocab_size is ${model.config.vocab_size}, its tokenizer has ${tokenizer.vocabSize} tokens`,
      );
    }
    return new GPT2(model, tokenizer, model.backend, false);
  }

  /** The continuation of `prompt`, piece by piece as it is made (never splitting a character). */
  async *stream(prompt: string, options: CompleteOptions = {}): AsyncGenerator<string, void, undefined> {
    const { signal } = options;
    signal?.throwIfAborted();
    let ids = this.tokenizer.encode(prompt);
    // an empty prompt starts from <|endoftext|>, as GPT-2 was trained to begin a text
    if (ids.length === 0 && this.tokenizer.endOfText !== null) ids = [this.tokenizer.endOfText];
    const tokens = generate(this.model, ids, {
      maxTokens: options.maxTokens ?? 100,
      temperature: options.temperature ?? 1,
      topK: options.topK ?? 50,
      topP: options.topP ?? 1,
      seed: options.seed,
      stopToken: this.tokenizer.endOfText,
    });
    const decoder = this.tokenizer.streamDecoder();
    const stop = new StopMatcher(options.stop);
    let breath = performance.now();
    for (const id of tokens) {
      const { text, done } = stop.push(decoder.push(id));
      if (text) yield text;
      if (done) return; // leaving the loop ends the generator, which gives its KV cache back
      // let timers and messages run now and then, so that an abort (or a page) is heard
      if (performance.now() - breath > 20) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        breath = performance.now();
      }
      signal?.throwIfAborted();
    }
    const tail = stop.push(decoder.flush(), true).text;
    if (tail) yield tail;
  }

  /** The generated text only (not the prompt). */
  async complete(prompt: string, options: CompleteOptions = {}): Promise<string> {
    let text = '';
    for await (const piece of this.stream(prompt, options)) text += piece;
    return text;
  }

  /** Give back the model's memory, and stop the kernel threads of a backend load() made. */
  dispose(): void {
    this.model.dispose();
    if (this.ownsBackend) disposeBackend(this.backend);
  }
}

function disposeBackend(backend: Backend): void {
  (backend as { dispose?: () => void }).dispose?.();
}

function progressOf(onProgress: (p: LoadProgress) => void): (p: FetchProgress) => void {
  return ({ file, loaded, total }) => onProgress({ file, loaded, total });
}
