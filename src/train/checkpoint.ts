// Training checkpoints on disk (Node): the weights and config.json in Hugging Face GPT-2 layout
// (so `gpt2 -p --model DIR` samples them and other tools load them) plus optimizer.safetensors
// with the AdamW moments, the step, the data RNG and the training config. Each file is written
// atomically (temp file + rename), optimizer state first; every file records its iteration and
// resume refuses a set whose iterations disagree, so a crash never leaves a checkpoint that
// loads wrong.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend } from '../backend/backend.js';
import type { GPT } from '../model/gpt.js';
import { SafetensorsFile, writeSafetensors, f32Bytes, decodeFloats } from '../weights/safetensors.js';
import { loadGPT2, saveGPT2, writeFileAtomic, readConfigJson } from '../weights/node.js';
import type { Tokenizer, TokenizerSpec } from '../tokenizer/index.js';
import type { TrainConfig, TrainerState } from './trainer.js';

export const OPTIMIZER_FILE = 'optimizer.safetensors';

export interface CheckpointInfo {
  iter: number;
  step: number;
  trainer: TrainerState;
  train: TrainConfig;
  valLoss: number | null;
  tokenizer: TokenizerSpec;
}

export function saveCheckpoint(
  dir: string,
  model: GPT,
  tokenizer: Tokenizer,
  state: TrainerState,
  train: TrainConfig,
  valLoss: number | null,
): void {
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
  writeFileAtomic(join(dir, OPTIMIZER_FILE), writeSafetensors(tensors, meta));
  saveGPT2(model, dir, {
    metadata: { iter },
    extraConfig: { wasm_gpt_tokenizer: tokenizer.spec(), wasm_gpt_iter: state.iter },
  });
}

/** Load a checkpoint to continue training: model, optimizer state and where the run was. */
export function loadCheckpoint(dir: string, backend: Backend): { model: GPT; info: CheckpointInfo } {
  const optPath = join(dir, OPTIMIZER_FILE);
  if (!existsSync(optPath))
    throw new Error(`${dir}: no ${OPTIMIZER_FILE}, so there is no training state to resume (it holds weights only)`);
  const opt = new SafetensorsFile(readFileSync(optPath), optPath);
  const config = readConfigJson(join(dir, 'config.json'));
  const iter = Number(opt.metadata.iter);
  if (config.wasm_gpt_iter !== iter) {
    throw new Error(
      `${dir}: config.json is from iteration ${config.wasm_gpt_iter} but ${OPTIMIZER_FILE} from ${iter} (a save was cut short); resume from an intact checkpoint`,
    );
  }
  const model = loadGPT2(dir, backend);
  try {
    const weightsIter = Number(new SafetensorsFile(readFileSync(join(dir, 'model.safetensors'))).metadata.iter);
    if (weightsIter !== iter)
      throw new Error(`${dir}: model.safetensors is from iteration ${weightsIter} but ${OPTIMIZER_FILE} from ${iter}`);
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
      tokenizer: (config.wasm_gpt_tokenizer as TokenizerSpec) ?? { type: 'gpt2' },
    };
    return { model, info };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
