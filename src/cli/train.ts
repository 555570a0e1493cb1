// `gpt2 train`: train a GPT on a text file (char-level or GPT-2 BPE) or on prompt/response JSONL,
// from scratch or from a checkpoint (a hub id like openai-community/gpt2, or a directory).
// Progress on stderr; log.csv, loss.svg and checkpoints in --out.
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { createBackend, type BackendName } from '../backend/index.js';
import { MAX_THREADS } from '../backend/wasm.js';
import { GPT } from '../model/gpt.js';
import { loadGPT2Files, readConfigJson } from '../weights/node.js';
import {
  tokenizerFromSpec,
  CharTokenizer,
  GPT2Tokenizer,
  type Tokenizer,
  type TokenizerSpec,
} from '../tokenizer/index.js';
import { TokenDataset, ChatDataset, decodeUtf8, type Dataset } from '../train/data.js';
import { Trainer, NaNLossError, DEFAULT_TRAIN_CONFIG, checkTrainConfig, type TrainConfig } from '../train/trainer.js';
import { validateConfig } from '../model/config.js';
import {
  saveCheckpoint,
  loadCheckpoint,
  recoverCheckpoint,
  checkpointIteration,
  NonFiniteError,
  OPTIMIZER_FILE,
  PREVIOUS_DIR,
} from '../train/checkpoint.js';
import { writeFileAtomic, FileWriteError } from '../weights/node.js';
import { lineChartSvg } from '../train/svg.js';
import { generate } from '../generate/generate.js';
import { progressBar } from './model-source.js';
import { locateModel } from '../weights/locate.js';

export const TRAIN_HELP = `gpt2 train: train a GPT with the wasm kernels

  gpt2 train --data FILE --out DIR [options]
  gpt2 train --resume --out DIR [--max-iters N]

Data:
  --data FILE          a UTF-8 text file, or .jsonl lines of {"prompt": ..., "response": ...}
                       (loss on response tokens only)
  --tokenizer T        char (a vocabulary of the file's characters) or gpt2 (BPE);
                       default: char from scratch, the checkpoint's own with --init
  --val-fraction F     held-out share, from the end of the data (default 0.1)
Model:
  --init I             scratch (default), a hub id (openai-community/gpt2) or a checkpoint dir
  --n-layer N --n-head N --n-embd N     for scratch (default 4, 4, 128)
  --block-size N       context length trained on (default 64; at most the model's n_positions)
Optimization (defaults: nanoGPT's shakespeare_char on CPU):
  --batch-size 12 --grad-accum 1 --max-iters 2000 --lr 1e-3 --min-lr 1e-4
  --warmup-iters 100 --lr-decay-iters (= max-iters) --beta1 0.9 --beta2 0.99
  --weight-decay 0.1 (2-D weights only; --decay-all for every parameter) --grad-clip 1.0
  --eval-interval 250 --eval-iters 20 --seed 1337 --backend wasm|js --threads N (default: all cores)
  --sample-chars N     characters/tokens sampled at each evaluation (default 200, 0 = none)
Output (--out DIR): config.json + model.safetensors (Hugging Face GPT-2 layout: gpt2 -p --model DIR
samples it), optimizer.safetensors (to --resume), log.csv, loss.svg. Checkpoints are written at every
evaluation and at the end; the one before stays in DIR/previous-checkpoint/ until a save is complete,
and --resume puts it back after a crash. Ctrl-C (or SIGTERM) stops after the current step and saves.
Nothing NaN or infinite is ever saved: the run stops instead. Dropout: none.
A DIR that holds a run is refused unless --resume continues it or --overwrite starts again in it.
`;

function fail(message: string): never {
  process.stderr.write(`gpt2 train: ${message}\n`);
  process.exit(1);
}

export async function runTrain(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      init: { type: 'string' },
      tokenizer: { type: 'string' },
      resume: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      'val-fraction': { type: 'string' },
      'n-layer': { type: 'string' },
      'n-head': { type: 'string' },
      'n-embd': { type: 'string' },
      'block-size': { type: 'string' },
      'batch-size': { type: 'string' },
      'grad-accum': { type: 'string' },
      'max-iters': { type: 'string' },
      lr: { type: 'string' },
      'min-lr': { type: 'string' },
      'warmup-iters': { type: 'string' },
      'lr-decay-iters': { type: 'string' },
      beta1: { type: 'string' },
      beta2: { type: 'string' },
      'weight-decay': { type: 'string' },
      'decay-all': { type: 'boolean' },
      'grad-clip': { type: 'string' },
      'eval-interval': { type: 'string' },
      'eval-iters': { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
      threads: { type: 'string' },
      'sample-chars': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_HELP);
    return;
  }
  const num = (name: string, def: number, integer = false): number => {
    const v = (values as Record<string, unknown>)[name] as string | undefined;
    if (v === undefined) return def;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n)))
      fail(`--${name} must be ${integer ? 'an integer' : 'a number'} >= 0, got '${v}'`);
    return n;
  };
  const out = values.out ?? fail('--out DIR is required (where checkpoints and logs go)');
  // another run's checkpoint and history are never written over by accident
  const held = ['config.json', OPTIMIZER_FILE, PREVIOUS_DIR, 'log.csv'].filter((f) => existsSync(join(out, f)));
  if (!values.resume && !values.overwrite && held.length > 0)
    fail(
      `${out} holds a training run (${held.join(', ')}): --resume continues it, --overwrite starts again in its place`,
    );
  if (values.resume && values.overwrite) fail('--resume and --overwrite contradict each other: choose one');
  const backendName = (values.backend ?? 'wasm') as BackendName;
  if (backendName !== 'wasm' && backendName !== 'js') fail(`--backend must be wasm or js, got '${backendName}'`);
  const threads = num('threads', availableParallelism(), true);
  if (threads < 1 || threads > MAX_THREADS) fail(`--threads must be in 1..${MAX_THREADS}, got ${threads}`);
  const backend = await createBackend(backendName, { threads });

  let model: GPT,
    tokenizer: Tokenizer,
    cfg: TrainConfig,
    startState = null as null | { iter: number; rng: { state: number; spare: number | null } };
  let dataPath = values.data;
  let savedIter: number | null = null; // the iteration of the checkpoint in --out, once there is one
  if (values.resume) {
    for (const line of recoverCheckpoint(out)) process.stderr.write(`${line}\n`);
    const { model: m, info } = loadCheckpoint(out, backend);
    savedIter = info.iter;
    model = m;
    tokenizer = tokenizerFromSpec(info.tokenizer);
    cfg = { ...info.train, maxIters: num('max-iters', info.train.maxIters, true) };
    startState = info.trainer;
    const meta = JSON.parse(readFileSync(join(out, 'train.json'), 'utf8')) as { data: string };
    dataPath ??= meta.data;
    process.stderr.write(`resuming ${out} at iteration ${info.iter}\n`);
  } else {
    if (!dataPath) fail('--data FILE is required');
    const maxIters = num('max-iters', DEFAULT_TRAIN_CONFIG.maxIters, true);
    cfg = {
      batchSize: num('batch-size', DEFAULT_TRAIN_CONFIG.batchSize, true),
      blockSize: num('block-size', DEFAULT_TRAIN_CONFIG.blockSize, true),
      maxIters,
      lr: num('lr', DEFAULT_TRAIN_CONFIG.lr),
      minLr: num('min-lr', DEFAULT_TRAIN_CONFIG.minLr),
      warmupIters: num('warmup-iters', DEFAULT_TRAIN_CONFIG.warmupIters, true),
      lrDecayIters: num('lr-decay-iters', maxIters, true),
      beta1: num('beta1', DEFAULT_TRAIN_CONFIG.beta1),
      beta2: num('beta2', DEFAULT_TRAIN_CONFIG.beta2),
      weightDecay: num('weight-decay', DEFAULT_TRAIN_CONFIG.weightDecay),
      decay: values['decay-all'] ? 'all' : 'matrices',
      gradClip: num('grad-clip', DEFAULT_TRAIN_CONFIG.gradClip),
      gradAccum: num('grad-accum', 1, true),
      evalInterval: num('eval-interval', DEFAULT_TRAIN_CONFIG.evalInterval, true),
      evalIters: num('eval-iters', DEFAULT_TRAIN_CONFIG.evalIters, true),
      seed: num('seed', DEFAULT_TRAIN_CONFIG.seed, true),
    };
    const init = values.init ?? 'scratch';
    if (init === 'scratch') {
      const text = readText(dataPath);
      if (!text.trim())
        fail(
          `${dataPath}: the file is empty; training needs at least block size + 1 = ${cfg.blockSize + 1} tokens in each split`,
        );
      const kind = values.tokenizer ?? 'char';
      if (kind !== 'char' && kind !== 'gpt2') fail(`--tokenizer must be char or gpt2, got '${kind}'`);
      tokenizer =
        kind === 'char'
          ? CharTokenizer.fromText(dataPath.endsWith('.jsonl') ? jsonlText(text, dataPath) : text)
          : new GPT2Tokenizer();
      const config = {
        n_layer: num('n-layer', 4, true),
        n_head: num('n-head', 4, true),
        n_embd: num('n-embd', 128, true),
        n_positions: cfg.blockSize,
        vocab_size: tokenizer.vocabSize,
      };
      try {
        checkTrainConfig(cfg, validateConfig(config, 'the model')); // sizes from the numbers, before any allocation
      } catch (e) {
        fail((e as Error).message);
      }
      model = new GPT(config, backend, { seed: cfg.seed });
    } else {
      const files = await locateModel(
        init,
        { onProgress: progressBar() },
        {
          option: 'for inference only, gpt2 --dtype %s: training needs f32',
          check: (config) => {
            if (cfg.blockSize > config.n_positions)
              fail(`--block-size ${cfg.blockSize} is larger than ${init}'s context n_positions ${config.n_positions}`);
            try {
              checkTrainConfig(cfg, config); // before the weights are read or downloaded
            } catch (e) {
              fail(`${init}: ${(e as Error).message}`);
            }
          },
        },
      );
      const spec = readConfigJson(files.config).wasm_gpt_tokenizer as TokenizerSpec | undefined;
      if (values.tokenizer && values.tokenizer !== (spec?.type ?? 'gpt2'))
        fail(`--tokenizer ${values.tokenizer} does not match the ${spec?.type ?? 'gpt2'} tokenizer of ${init}`);
      tokenizer = tokenizerFromSpec(spec, files.config);
      model = loadGPT2Files(files.config, files.weights, backend, 'f32');
      if (model.config.vocab_size !== tokenizer.vocabSize)
        fail(`${init}: vocab_size ${model.config.vocab_size} does not match its tokenizer's ${tokenizer.vocabSize}`);
    }
  }

  const text = readText(dataPath!);
  let data: Dataset;
  try {
    const valFraction = num('val-fraction', 0.1);
    data = dataPath!.endsWith('.jsonl')
      ? new ChatDataset(text, tokenizer, cfg.blockSize, valFraction, dataPath, tokenizer.endOfText ?? 0)
      : new TokenDataset(tokenizer.encode(text), cfg.blockSize, valFraction, dataPath);
  } catch (e) {
    fail((e as Error).message);
  }
  let trainer: Trainer;
  try {
    trainer = new Trainer(model, data, cfg);
  } catch (e) {
    fail((e as Error).message);
  }
  if (startState) trainer.restore(startState);
  if (!values.resume) recoverCheckpoint(out); // --overwrite: only another run's leftover temp files matter
  mkdirSync(out, { recursive: true });
  if (!values.resume)
    writeFileAtomic(
      join(out, 'train.json'),
      JSON.stringify({ data: dataPath, init: values.init ?? 'scratch', config: model.config, train: cfg }, null, 2) +
        '\n',
    );
  process.stderr.write(
    `${data.description}; model ${model.numParameters.toLocaleString('en-US')} parameters ` +
      `(${model.config.n_layer} layers, ${model.config.n_head} heads, ${model.config.n_embd} wide), ${backend.name} backend, ${backend.threads} thread(s)\n`,
  );

  const logPath = join(out, 'log.csv');
  const header = 'iter,loss,lr,grad_norm,eval_train,eval_val,tok_per_s,elapsed_s\n';
  // a resumed log keeps the rows up to the checkpoint: the steps after it are run again
  const kept = values.resume && existsSync(logPath) ? logRows(logPath, savedIter!) : [];
  writeFileAtomic(logPath, header + kept.map((r) => `${r}\n`).join(''));
  const history = readLog(logPath);
  const appendLog = (row: string) => {
    try {
      writeFileSync(logPath, `${row}\n`, { flag: 'a' });
    } catch (e) {
      throw new FileWriteError(`${logPath}: could not be written (${(e as Error).message})`);
    }
  };
  // Ctrl-C (SIGINT) or SIGTERM: stop after the current step, save, exit 130 / 143; a second signal exits at once
  let interrupted: NodeJS.Signals | null = null;
  const exitCode = (signal: NodeJS.Signals) => (signal === 'SIGTERM' ? 143 : 130);
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(exitCode(signal));
    interrupted = signal;
    process.stderr.write(`\n${signal}: stopping after this step and saving...\n`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const t0 = performance.now();
  let tokens = 0,
    lastVal: number | null = null;
  const tty = process.stderr.isTTY;
  const evaluate = (): void => {
    const ev = trainer.evaluate();
    lastVal = ev.val;
    history.evals.push([trainer.iter, ev.train, ev.val]);
    appendLog(`${trainer.iter},,,,${ev.train},${ev.val},,`);
    if (!Number.isFinite(ev.train)) throw new NonFiniteError(trainer.iter, `the train loss (${ev.train})`);
    process.stderr.write(
      `${tty ? '\r\x1b[K' : ''}iter ${trainer.iter}: train loss ${ev.train.toFixed(4)}, val loss ${ev.val.toFixed(4)}\n`,
    );
    const n = num('sample-chars', 200, true);
    if (n > 0) {
      const start = tokenizer.endOfText ?? tokenizer.encode('\n')[0] ?? 0;
      const ids = [
        ...generate(model, [start], {
          maxTokens: Math.min(n, model.config.n_positions * 4),
          temperature: 0.8,
          topK: 0,
          seed: cfg.seed + trainer.iter,
        }),
      ];
      process.stderr.write(`--- sample ---\n${tokenizer.decode(ids)}\n--------------\n`);
    }
    saveCheckpoint(out, model, tokenizer, trainer.state, cfg, lastVal);
    savedIter = trainer.iter;
  };
  try {
    while (trainer.iter < cfg.maxIters && !interrupted) {
      const r = trainer.step();
      tokens += r.tokens;
      const elapsed = (performance.now() - t0) / 1000,
        rate = tokens / elapsed;
      history.losses.push([r.iter, r.loss]);
      appendLog(`${r.iter},${r.loss},${r.lr},${r.gradNorm},,,${rate.toFixed(1)},${elapsed.toFixed(2)}`);
      const eta = ((cfg.maxIters - r.iter) * cfg.batchSize * cfg.blockSize * cfg.gradAccum) / rate;
      const line = `iter ${r.iter}/${cfg.maxIters} | loss ${r.loss.toFixed(4)} | val ${lastVal === null ? '-' : (lastVal as number).toFixed(4)} | lr ${r.lr.toExponential(2)} | ${rate.toFixed(0)} tok/s | ETA ${formatTime(eta)}`;
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      else if (r.iter % 10 === 0 || r.iter === cfg.maxIters) process.stderr.write(`${line}\n`);
      if (r.iter % cfg.evalInterval === 0 || r.iter === cfg.maxIters) evaluate();
      await new Promise((resolve) => setImmediate(resolve)); // a signal's handler runs only between steps
    }
    if (interrupted && savedIter !== trainer.iter) {
      saveCheckpoint(out, model, tokenizer, trainer.state, cfg, lastVal);
      savedIter = trainer.iter;
    }
  } catch (e) {
    const last = checkpointIteration(out);
    const kept =
      'iter' in last ? `the checkpoint from iteration ${last.iter} in ${out} is kept` : `${out} holds no checkpoint`;
    if (e instanceof NaNLossError || e instanceof NonFiniteError)
      fail(`${e.message}; training stopped and saved nothing from it: ${kept}`);
    if (e instanceof FileWriteError) fail(`${e.message}; training stopped: ${kept}`);
    throw e;
  } finally {
    writeFileAtomic(
      join(out, 'loss.svg'),
      lineChartSvg(
        [
          { name: 'train (per iteration)', color: '#9bb7d4', points: history.losses },
          { name: 'train (evaluated)', color: '#1f5fa8', points: history.evals.map(([i, t]) => [i, t]), dots: true },
          { name: 'val (evaluated)', color: '#d9622b', points: history.evals.map(([i, , v]) => [i, v]), dots: true },
        ],
        { title: `Training loss: ${dataPath}`, xLabel: 'iteration', yLabel: 'loss (nats/token)' },
      ),
    );
  }
  const secs = (performance.now() - t0) / 1000;
  process.stderr.write(
    `${tty ? '\n' : ''}${interrupted ? 'interrupted' : 'done'}: ${trainer.iter} iterations, ${tokens.toLocaleString('en-US')} tokens in ${formatTime(secs)} ` +
      `(${(tokens / secs).toFixed(0)} tok/s)${lastVal !== null ? `, val loss ${(lastVal as number).toFixed(4)}` : ''}; ` +
      (savedIter === null ? `no checkpoint written in ${out}\n` : `checkpoint (iteration ${savedIter}) in ${out}\n`),
  );
  if (interrupted) process.exit(exitCode(interrupted));
}

function readText(path: string): string {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    fail(`${path}: ${(e as Error).message}`);
  }
  try {
    return decodeUtf8(bytes, path);
  } catch (e) {
    fail((e as Error).message);
  }
}

/** The text of every prompt and response in a JSONL file (for building a char vocabulary). */
function jsonlText(text: string, source: string): string {
  return text
    .split('\n')
    .map((line, i) => {
      if (!line.trim()) return '';
      try {
        const o = JSON.parse(line) as { prompt?: string; response?: string };
        return `${o.prompt ?? ''}${o.response ?? ''}`;
      } catch (e) {
        fail(`${source}:${i + 1}: not valid JSON (${(e as Error).message})`);
      }
    })
    .join('');
}

/** log.csv's rows up to iteration `upTo`, without the header or a line a crash cut short. */
function logRows(path: string, upTo: number): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .slice(1, -1) // the last piece is '' after a final newline, else a line cut short
    .filter(
      (line) => line.split(',').length === 8 && /^\d+$/.test(line.split(',')[0]) && Number(line.split(',')[0]) <= upTo,
    );
}

function readLog(path: string): { losses: [number, number][]; evals: [number, number, number][] } {
  const losses: [number, number][] = [],
    evals: [number, number, number][] = [];
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    const f = line.split(',');
    if (f.length < 6) continue;
    if (f[1] !== '') losses.push([Number(f[0]), Number(f[1])]);
    else if (f[4] !== '') evals.push([Number(f[0]), Number(f[4]), Number(f[5])]);
  }
  return { losses, evals };
}

function formatTime(s: number): string {
  if (!Number.isFinite(s)) return '-';
  const m = Math.floor(s / 60),
    sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
