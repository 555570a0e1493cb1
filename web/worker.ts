// The page's engine: one Web Worker that owns the backend, the model and its tokenizer, so loading,
// generating and training never freeze the page. It answers requests from app.ts (see
// protocol.ts), streams tokens and losses back as events, and yields to its message queue between
// tokens and steps so that 'stop' is heard. A model replaces the current one only once it has
// loaded whole; a failed load leaves the previous model in place.
import {
  createBackend,
  WasmBackend,
  GPT,
  Trainer,
  TokenDataset,
  CharTokenizer,
  tokenizerFromSpec,
  fetchGPT2,
  clearWeightsCache,
  modelToSafetensors,
  hfConfigJson,
  generate,
  DEFAULT_TRAIN_CONFIG,
  type Backend,
  type Tokenizer,
  type TokenizerSpec,
  type GPTConfig,
  weightBytes,
  inferenceBytes,
  countParameters,
  type WeightDType,
} from '../src/advanced.js';
import type { AttentionResult, DTypeChoice, EngineInfo, ModelInfo, Request, WorkerEvent } from './protocol.js';
import { modelFromFiles } from './files.js';

const scope = self as unknown as {
  postMessage(m: WorkerEvent, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent) => void) | null;
  crossOriginIsolated?: boolean;
};

let backend: Backend | null = null;
let engine: EngineInfo | null = null;
let current: { model: GPT; tokenizer: Tokenizer; info: ModelInfo } | null = null;
let busy: string | null = null;
let stopRequested = false;
let loadAbort: AbortController | null = null;

const post = (m: WorkerEvent, transfer?: Transferable[]) => scope.postMessage(m, transfer);

/** Let queued messages (a 'stop') run: a MessageChannel round trip, no timer clamp. */
function yieldToMessages(): Promise<void> {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(0);
  });
}
const pause = () => new Promise<void>((r) => setTimeout(r, 0));

async function init(threads?: number): Promise<EngineInfo> {
  if (backend) return engine!;
  const cores = navigator.hardwareConcurrency || 1;
  const isolated = !!scope.crossOriginIsolated;
  backend = await createBackend('wasm', { threads: threads ?? (isolated ? cores : 1) });
  engine = { threads: (backend as WasmBackend).threads, simd: (backend as WasmBackend).simd, isolated, cores };
  return engine;
}

function requireBackend(): Backend {
  if (!backend) throw new Error('the engine is not started');
  return backend;
}

function requireModel(): NonNullable<typeof current> {
  if (!current) throw new Error('no model loaded: load GPT-2 from a URL, choose a file, or train one');
  return current;
}

function tokenizerFor(configJson: Record<string, unknown>, vocab: number, source: string): Tokenizer {
  const tok = tokenizerFromSpec(configJson.wasm_gpt_tokenizer as TokenizerSpec | undefined, source);
  if (tok.vocabSize !== vocab) {
    throw new Error(
      `${source}: vocab_size is ${vocab}, but its tokenizer (${tok.spec().type}) has ${tok.vocabSize} tokens; ` +
        'a model of another vocabulary needs "wasm_gpt_tokenizer" in its config.json',
    );
  }
  return tok;
}

/** The dtype a model is held in: the page's choice, or with 'auto' q8_0 when its f32 weights would take more than 1 GB. */
function pickDtype(choice: DTypeChoice | undefined, config: GPTConfig, own?: WeightDType): WeightDType {
  if (choice && choice !== 'auto') return choice;
  return own ?? (weightBytes(config, 'f32') > 1e9 ? 'q8_0' : 'f32'); // a GGUF keeps its own
}

/** Tell the page what the model will take, before its weights download. */
const plan = (id: number, config: GPTConfig, dtype: WeightDType) =>
  post({ id, event: 'plan', parameters: countParameters(config), dtype, memoryBytes: inferenceBytes(config, dtype) });

function install(
  model: GPT,
  tokenizer: Tokenizer,
  info: Omit<ModelInfo, 'parameters' | 'config' | 'tokenizer' | 'dtype' | 'memoryBytes'>,
): ModelInfo {
  const c = model.config;
  const full: ModelInfo = {
    ...info,
    dtype: model.dtype,
    memoryBytes: inferenceBytes(c, model.dtype),
    parameters: model.numParameters,
    tokenizer: tokenizer.spec().type,
    config: {
      n_layer: c.n_layer,
      n_head: c.n_head,
      n_embd: c.n_embd,
      n_positions: c.n_positions,
      vocab_size: c.vocab_size,
    },
  };
  const old = current;
  current = { model, tokenizer, info: full };
  old?.model.dispose();
  return full;
}

async function loadUrl(id: number, url: string, choice?: DTypeChoice): Promise<ModelInfo> {
  const be = requireBackend();
  const t0 = performance.now();
  loadAbort = new AbortController();
  try {
    const got = await fetchGPT2(url, be, {
      signal: loadAbort.signal,
      dtype: (config, own) => pickDtype(choice, config, own),
      dtypeOption: 'Weights: %s',
      onPlan: (p) => plan(id, p.config, p.dtype),
      onProgress: (p) => post({ id, event: 'progress', ...p }),
    });
    let tokenizer: Tokenizer;
    try {
      tokenizer = tokenizerFor(got.configJson, got.model.config.vocab_size, got.url);
    } catch (e) {
      got.model.dispose();
      throw e;
    }
    return install(got.model, tokenizer!, {
      name: url,
      loadSeconds: (performance.now() - t0) / 1000,
      fromCache: got.fromCache,
      bytes: got.bytes,
      cacheError: got.cacheError,
    });
  } finally {
    loadAbort = null;
  }
}

/** Files chosen by the user: a GPT-2 .gguf, or a .safetensors with its config.json (or the config this page stores in its metadata). */
async function loadFiles(id: number, files: File[], choice?: DTypeChoice): Promise<ModelInfo> {
  const be = requireBackend();
  const t0 = performance.now();
  let tokenizer: Tokenizer;
  const got = await modelFromFiles(files, be, {
    dtype: (config, own) => pickDtype(choice, config, own),
    onPlan: (config, dtype, configJson) => {
      tokenizer = tokenizerFor(configJson, config.vocab_size, files.map((f) => f.name).join(', '));
      plan(id, config, dtype);
    },
    onProgress: (p) => post({ id, event: 'progress', ...p }),
  });
  return install(got.model, tokenizer!, {
    name: got.name,
    loadSeconds: (performance.now() - t0) / 1000,
    fromCache: false,
    bytes: got.bytes,
  });
}

async function runGenerate(id: number, r: Extract<Request, { cmd: 'generate' }>): Promise<unknown> {
  const { model, tokenizer } = requireModel();
  let ids: number[];
  try {
    ids = r.ids ?? tokenizer.encode(r.prompt);
  } catch (e) {
    throw new Error(`the prompt: ${(e as Error).message}`);
  }
  if (ids.length === 0) throw new Error('the prompt is empty');
  const max = model.config.n_positions - 1;
  if (ids.length > max) ids = ids.slice(ids.length - max); // keep the end of a long prompt
  const decoder = tokenizer.streamDecoder();
  const gen = generate(model, ids, {
    maxTokens: r.maxTokens,
    temperature: r.temperature,
    topK: r.topK || undefined,
    topP: r.topP,
    seed: r.seed ?? undefined,
    stopToken: tokenizer.endOfText,
    shouldStop: () => stopRequested,
    onPrefill: (tokens, seconds) => post({ id, event: 'prefill', tokens, seconds }),
  });
  let lastPause = performance.now();
  for (;;) {
    const next = gen.next();
    if (next.done) {
      const tail = decoder.flush();
      if (tail) post({ id, event: 'token', text: tail });
      return { ...next.value, promptTokens: ids.length };
    }
    const text = decoder.push(next.value);
    if (text) post({ id, event: 'token', text });
    await yieldToMessages();
    if (performance.now() - lastPause > 100) {
      await pause();
      lastPause = performance.now();
    }
  }
}

async function runTrain(id: number, r: Extract<Request, { cmd: 'train' }>): Promise<unknown> {
  const be = requireBackend();
  if (r.text.length < 2 * (r.blockSize + 1) * 10)
    throw new Error(
      `the training text has ${r.text.length} characters; give at least ${2 * (r.blockSize + 1) * 10} for block size ${r.blockSize}`,
    );
  const tokenizer = CharTokenizer.fromText(r.text);
  const data = new TokenDataset(tokenizer.encode(r.text), r.blockSize, 0.1, r.source);
  const config: GPTConfig = {
    n_layer: r.nLayer,
    n_head: r.nHead,
    n_embd: r.nEmbd,
    n_positions: r.blockSize,
    vocab_size: tokenizer.vocabSize,
  };
  const model = new GPT(config, be, { seed: r.seed });
  let installed = false;
  try {
    const trainer = new Trainer(model, data, {
      ...DEFAULT_TRAIN_CONFIG,
      batchSize: r.batchSize,
      blockSize: r.blockSize,
      maxIters: r.maxIters,
      lr: r.lr,
      minLr: r.lr / 10,
      warmupIters: Math.min(100, Math.floor(r.maxIters / 10)),
      lrDecayIters: r.maxIters,
      evalInterval: r.evalInterval,
      evalIters: r.evalIters,
      seed: r.seed,
    });
    const evaluate = () => {
      const e = trainer.evaluate();
      post({ id, event: 'eval', iter: trainer.iter, train: e.train, val: e.val });
      return e;
    };
    const sample = () => {
      const gen = generate(model, tokenizer.encode('\n'), {
        maxTokens: 120,
        temperature: 0.8,
        seed: r.seed + trainer.iter,
      });
      const out: number[] = [];
      for (let n = gen.next(); !n.done; n = gen.next()) out.push(n.value);
      post({ id, event: 'sample', iter: trainer.iter, text: tokenizer.decode(out) });
    };
    let last = evaluate();
    let tokens = 0,
      seconds = 0;
    while (trainer.iter < r.maxIters && !stopRequested) {
      const s = trainer.step();
      tokens += s.tokens;
      seconds += s.seconds;
      post({ id, event: 'step', iter: s.iter, loss: s.loss, lr: s.lr, tokPerSec: tokens / seconds });
      if (s.iter % r.evalInterval === 0 || s.iter === r.maxIters) {
        last = evaluate();
        sample();
      }
      await yieldToMessages();
    }
    if (trainer.iter % r.evalInterval !== 0 && trainer.iter !== r.maxIters) last = evaluate();
    install(model, tokenizer, {
      name: `trained in this page (${r.nLayer} layers, ${r.nEmbd} wide, ${trainer.iter} steps)`,
      loadSeconds: 0,
      fromCache: false,
      bytes: 0,
    });
    installed = true;
    return {
      iters: trainer.iter,
      train: last.train,
      val: last.val,
      tokPerSec: seconds > 0 ? tokens / seconds : 0,
      stopped: stopRequested,
      info: current!.info,
    };
  } finally {
    if (!installed) model.dispose();
  }
}

function save(): { bytes: Uint8Array; name: string } {
  const { model, tokenizer, info } = requireModel();
  const config = hfConfigJson(model, tokenizer.spec().type === 'gpt2' ? {} : { wasm_gpt_tokenizer: tokenizer.spec() });
  const bytes = modelToSafetensors(model, { config, source: info.name });
  const c = model.config;
  return { bytes, name: `wasm-gpt-${c.n_layer}L-${c.n_embd}d.safetensors` };
}

function tokenPieces(tokenizer: Tokenizer, ids: number[]): string[] {
  return ids.map((t) => tokenizer.decode([t]));
}

function attention(text: string, layer: number): AttentionResult {
  const { model, tokenizer } = requireModel();
  let ids = tokenizer.encode(text);
  if (ids.length === 0) throw new Error('the sentence is empty');
  if (ids.length > model.config.n_positions) ids = ids.slice(0, model.config.n_positions);
  model.forward(ids, 1, ids.length);
  const att = model.attention(layer).data().slice();
  return { tokens: tokenPieces(tokenizer, ids), layer, nHead: model.config.n_head, T: ids.length, att };
}

function logits(ids: number[], B: number, T: number): { logits: Float32Array; V: number; parallelCalls: number } {
  const { model } = requireModel();
  const be = requireBackend() as WasmBackend;
  const before = be.parallelCalls;
  const out = model.forward(ids, B, T).logits.data().slice();
  return { logits: out, V: model.config.vocab_size, parallelCalls: be.parallelCalls - before };
}

async function handle(id: number, r: Request): Promise<{ result: unknown; transfer?: Transferable[] }> {
  switch (r.cmd) {
    case 'init':
      return { result: await init(r.threads) };
    case 'load-url':
      return { result: await loadUrl(id, r.url, r.dtype) };
    case 'load-files':
      return { result: await loadFiles(id, r.files, r.dtype) };
    case 'generate':
      return { result: await runGenerate(id, r) };
    case 'train':
      return { result: await runTrain(id, r) };
    case 'save': {
      const s = save();
      return { result: s, transfer: [s.bytes.buffer] };
    }
    case 'attention': {
      const a = attention(r.text, r.layer);
      return { result: a, transfer: [a.att.buffer] };
    }
    case 'logits': {
      const l = logits(r.ids, r.B, r.T);
      return { result: l, transfer: [l.logits.buffer] };
    }
    case 'clear-cache':
      await clearWeightsCache();
      return { result: true };
    default:
      throw new Error(`unknown request ${(r as { cmd: string }).cmd}`);
  }
}

const LONG = new Set(['load-url', 'load-files', 'generate', 'train']);

scope.onmessage = async (e: MessageEvent) => {
  const { id, ...r } = e.data as { id: number } & Request;
  if (r.cmd === 'stop') {
    stopRequested = true;
    loadAbort?.abort();
    post({ id, event: 'done', result: { stopping: busy } });
    return;
  }
  if (busy && (LONG.has(r.cmd) || r.cmd === 'attention' || r.cmd === 'logits' || r.cmd === 'save')) {
    post({ id, event: 'error', name: 'Busy', message: `busy ${busy}: stop it first` });
    return;
  }
  if (LONG.has(r.cmd)) {
    busy = r.cmd === 'train' ? 'training' : r.cmd === 'generate' ? 'generating' : 'loading';
    stopRequested = false;
  }
  try {
    const { result, transfer } = await handle(id, r);
    post({ id, event: 'done', result }, transfer);
  } catch (err) {
    const x = err as Error;
    post({ id, event: 'error', name: x.name ?? 'Error', message: x.message ?? String(err) });
  } finally {
    if (LONG.has(r.cmd)) busy = null;
  }
};
