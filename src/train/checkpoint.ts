// Training checkpoints on disk (Node): the weights and config.json in Hugging Face GPT-2 layout
// (so `gpt2 -p --model DIR` samples them and other tools load them) plus optimizer.safetensors
// with the AdamW moments, the step, the data RNG and the training config. Every file records its
// iteration. A save never leaves the directory without a complete checkpoint: the current files are
// first hard-linked into previous-checkpoint/ (no copy), the new ones replace them one by one (each
// temp file + rename), and previous-checkpoint/ goes only once all three are in place. After a
// crash, recoverCheckpoint() puts back whichever set is complete. Nothing non-finite is saved.
import { existsSync, readFileSync, readdirSync, rmSync, mkdirSync, linkSync, copyFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { GPT } from '../model/gpt.js';
import { SafetensorsFile, writeSafetensors, f32Bytes, decodeFloats } from '../weights/safetensors.js';
import { loadGPT2, saveGPT2, writeFileAtomic, fsyncDir, readConfigJson, safetensorsMetadata } from '../weights/node.js';
import type { Tokenizer, TokenizerSpec } from '../tokenizer/index.js';
import type { TrainConfig, TrainerState } from './trainer.js';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const PREVIOUS_DIR = 'previous-checkpoint';
const FILES = [OPTIMIZER_FILE, 'model.safetensors', 'config.json'];

export interface CheckpointInfo {
  iter: number;
  step: number;
  trainer: TrainerState;
  train: TrainConfig;
  valLoss: number | null;
  tokenizer: TokenizerSpec;
}

/** A value that must not be saved: training diverged at `iter`. */
export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
  constructor(
    readonly iter: number,
    what: string,
  ) {
    super(`${what} is not finite at iteration ${iter}`);
  }
}

function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/** Throws NonFiniteError naming the first loss, weight or moment that is NaN or infinite. */
export function checkSavable(model: GPT, iter: number, losses: Record<string, number | null>): void {
  for (const [what, loss] of Object.entries(losses)) {
    if (loss !== null && !Number.isFinite(loss)) throw new NonFiniteError(iter, `the ${what} (${loss})`);
  }
  const { m, v } = model.optimizer.moments();
  for (const s of model.parameterSpecs) {
    for (const [kind, data] of [
      ['weight', model.parameter(s.name).data()],
      ['first moment of', m.get(s.name).data()],
      ['second moment of', v.get(s.name).data()],
    ] as const) {
      const i = firstNonFinite(data);
      if (i >= 0) throw new NonFiniteError(iter, `${kind} ${s.name}[${i}] (${data[i]})`);
    }
  }
}

/**
 * The iteration of the complete checkpoint in `dir`, or why there is none: its three files present,
 * whole (each header's offsets within the file) and from one iteration. Reads headers only.
 */
export function checkpointIteration(dir: string): { iter: number } | { problem: string } {
  const missing = FILES.filter((f) => !existsSync(join(dir, f)));
  if (missing.length) return { problem: `${dir}: no ${missing.join(', ')}` };
  try {
    const iters = [
      Number(safetensorsMetadata(join(dir, OPTIMIZER_FILE)).iter),
      Number(safetensorsMetadata(join(dir, 'model.safetensors')).iter),
      Number(readConfigJson(join(dir, 'config.json')).wasm_gpt_iter),
    ];
    if (!iters.every((i) => Number.isInteger(i) && i === iters[0]))
      return {
        problem: `${dir}: ${OPTIMIZER_FILE}, model.safetensors and config.json are from iterations ${iters.join(', ')} (a save was cut short)`,
      };
    return { iter: iters[0] };
  } catch (e) {
    return { problem: (e as Error).message };
  }
}

/** Hard-link (or, where the file system has no links, copy) a file to a new name. */
function linkOrCopy(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Bring `dir` back to one complete checkpoint after a crash: removes the temporary files of
 * processes that are gone, and if a save was cut short puts the previous checkpoint back.
 * Returns what it did, one line each.
 */
export function recoverCheckpoint(dir: string): string[] {
  const done: string[] = [];
  if (!existsSync(dir)) return done;
  for (const name of readdirSync(dir)) {
    const m = /\.tmp-(\d+)$/.exec(name);
    if (m && (Number(m[1]) === process.pid || !processAlive(Number(m[1])))) {
      rmSync(join(dir, name), { recursive: true, force: true });
      done.push(`removed ${join(dir, name)}, left by a process that ended`);
    }
  }
  const prev = join(dir, PREVIOUS_DIR);
  if (!existsSync(prev)) return done;
  const current = checkpointIteration(dir);
  if ('iter' in current) {
    rmSync(prev, { recursive: true, force: true }); // the new checkpoint was complete: the old one goes
    return done;
  }
  const kept = checkpointIteration(prev);
  if ('problem' in kept) throw new Error(`${dir}: no complete checkpoint (${current.problem}; ${kept.problem})`);
  restorePrevious(dir);
  rmSync(prev, { recursive: true, force: true });
  done.push(`a save was cut short: restored the checkpoint from iteration ${kept.iter}`);
  return done;
}

/** Put previous-checkpoint/'s files back in place, each by one rename; previous-checkpoint/ stays whole until the caller removes it. */
function restorePrevious(dir: string): void {
  for (const f of FILES) {
    const tmp = join(dir, `.${f}.tmp-${process.pid}`);
    rmSync(tmp, { force: true });
    linkOrCopy(join(dir, PREVIOUS_DIR, f), tmp);
    renameSync(tmp, join(dir, f));
    rmSync(tmp, { force: true }); // rename leaves both names when they are links to one file already
  }
  fsyncDir(dir);
}

export function saveCheckpoint(
  dir: string,
  model: GPT,
  tokenizer: Tokenizer,
  state: TrainerState,
  train: TrainConfig,
  valLoss: number | null,
): void {
  checkSavable(model, state.iter, { 'val loss': valLoss });
  const { m, v } = model.optimizer.moments();
  const tensors = model.parameterSpecs.flatMap((s) => [
    { name: `m.${s.name}`, dtype: 'F32' as const, shape: s.shape, data: f32Bytes(m.get(s.name).data()) },
    { name: `v.${s.name}`, dtype: 'F32' as const, shape: s.shape, data: f32Bytes(v.get(s.name).data()) },
  ]);
  const iter = String(state.iter);
  const meta = {
    iter,
    step: String(model.optimizer.steps),
    trainer: JSON.stringify(state),
    train: JSON.stringify(train),
    val_loss: valLoss === null ? '' : String(valLoss),
  };
  mkdirSync(dir, { recursive: true });
  // the complete checkpoint in place stays whole in previous-checkpoint/ until the new one is
  const prev = join(dir, PREVIOUS_DIR);
  if ('iter' in checkpointIteration(dir)) {
    rmSync(prev, { recursive: true, force: true });
    const tmp = `${prev}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    for (const f of FILES) linkOrCopy(join(dir, f), join(tmp, f));
    fsyncDir(tmp);
    renameSync(tmp, prev);
    fsyncDir(dir);
  }
  try {
    writeFileAtomic(join(dir, OPTIMIZER_FILE), writeSafetensors(tensors, meta));
    saveGPT2(model, dir, {
      metadata: { iter },
      extraConfig: { wasm_gpt_tokenizer: tokenizer.spec(), wasm_gpt_iter: state.iter },
    });
  } catch (e) {
    if (existsSync(prev) && 'problem' in checkpointIteration(dir)) restorePrevious(dir); // a file of the new set is in place
    rmSync(prev, { recursive: true, force: true });
    throw e;
  }
  fsyncDir(dir);
  rmSync(prev, { recursive: true, force: true });
}

/** Load a checkpoint to continue training: model, optimizer state and where the run was. */
export function loadCheckpoint(dir: string, backend: Backend): { model: GPT; info: CheckpointInfo } {
  const optPath = join(dir, OPTIMIZER_FILE);
  if (!existsSync(optPath))
    throw new Error(`${dir}: no ${OPTIMIZER_FILE}, so there is no training state to resume (it holds weights only)`);
  const complete = checkpointIteration(dir);
  if ('problem' in complete) throw new Error(`${complete.problem}; no checkpoint to resume`);
  const iter = complete.iter;
  const opt = new SafetensorsFile(readFileSync(optPath), optPath);
  const model = loadGPT2(dir, backend);
  try {
    const { m, v } = model.optimizer.moments();
    for (const s of model.parameterSpecs) {
      for (const [prefix, set] of [
        ['m', m],
        ['v', v],
      ] as const) {
        const info = opt.info(`${prefix}.${s.name}`);
        if (info.shape.join(',') !== s.shape.join(','))
          throw new Error(`${optPath}: ${prefix}.${s.name} has shape (${info.shape}), expected (${s.shape})`);
        decodeFloats(
          opt.raw(`${prefix}.${s.name}`),
          info.dtype,
          set.get(s.name).data(),
          `${optPath}: ${prefix}.${s.name}`,
        );
      }
    }
    model.optimizer.steps = Number(opt.metadata.step);
    const info: CheckpointInfo = {
      iter,
      step: model.optimizer.steps,
      trainer: JSON.parse(opt.metadata.trainer),
      train: JSON.parse(opt.metadata.train),
      valLoss: opt.metadata.val_loss ? Number(opt.metadata.val_loss) : null,
      tokenizer: (readConfigJson(join(dir, 'config.json')).wasm_gpt_tokenizer as TokenizerSpec) ?? { type: 'gpt2' },
    };
    return { model, info };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
