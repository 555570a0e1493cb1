// The messages between the page (app.ts) and its engine worker (worker.ts). A request carries an
// id; the worker answers with events for that id ('progress', 'token', 'step', ...) and ends with
// exactly one 'done' or 'error'.

export interface ModelInfo {
  name: string;
  parameters: number;
  config: { n_layer: number; n_head: number; n_embd: number; n_positions: number; vocab_size: number };
  tokenizer: 'gpt2' | 'char';
  loadSeconds: number;
  fromCache: boolean;
  bytes: number;
  /** How the weights are held, and the memory the model takes to run (weights, KV cache, scratch). */
  dtype: 'f32' | 'f16' | 'q8_0' | 'q4_0';
  memoryBytes: number;
  /** Why the download could not be kept in the browser cache, if it could not. */
  cacheError?: string;
}

export interface EngineInfo {
  threads: number;
  simd: 'plain' | 'relaxed';
  isolated: boolean;
  cores: number;
}

export interface GenerateArgs {
  prompt: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: number | null;
  /** Token ids instead of the prompt's text (benchmarks). */
  ids?: number[];
}

export interface TrainArgs {
  text: string;
  source: string;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  blockSize: number;
  batchSize: number;
  maxIters: number;
  lr: number;
  evalInterval: number;
  evalIters: number;
  seed: number;
}

export type Request =
  | { cmd: 'init'; threads?: number }
  | { cmd: 'load-url'; url: string; dtype?: DTypeChoice }
  | { cmd: 'load-files'; files: File[]; dtype?: DTypeChoice }
  | ({ cmd: 'generate' } & GenerateArgs)
  | ({ cmd: 'train' } & TrainArgs)
  | { cmd: 'stop' }
  | { cmd: 'save' }
  | { cmd: 'attention'; text: string; layer: number }
  | { cmd: 'logits'; ids: number[]; B: number; T: number }
  | { cmd: 'clear-cache' };

export interface AttentionResult {
  tokens: string[];
  layer: number;
  nHead: number;
  T: number;
  att: Float32Array;
}

/** The page's weights choice: a dtype, or 'auto' (q8_0 when the f32 weights would take more than 1 GB). */
export type DTypeChoice = 'auto' | 'f32' | 'f16' | 'q8_0' | 'q4_0';

export type WorkerEvent =
  /** Before the weights download: the model's size and the memory it will take as held. */
  | { id: number; event: 'plan'; parameters: number; dtype: string; memoryBytes: number }
  | { id: number; event: 'progress'; file: string; loaded: number; total: number | null; fromCache: boolean }
  | { id: number; event: 'token'; text: string }
  | { id: number; event: 'prefill'; tokens: number; seconds: number }
  | { id: number; event: 'step'; iter: number; loss: number; lr: number; tokPerSec: number }
  | { id: number; event: 'eval'; iter: number; train: number; val: number }
  | { id: number; event: 'sample'; iter: number; text: string }
  | { id: number; event: 'done'; result: unknown }
  | { id: number; event: 'error'; message: string; name: string };
