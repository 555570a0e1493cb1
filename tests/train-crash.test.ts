// Training never loses work: real `gpt2 train` processes killed with SIGKILL at random moments (in
// saves too), diverging, and hitting a file-size limit; after each, the output directory holds a
// complete checkpoint and --resume continues it to the losses of a run never interrupted.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  mkdtempSync,
  rmSync,
  writeFileSync,
  readFileSync,
  existsSync,
  readdirSync,
  mkdirSync,
  linkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createBackend, type Backend } from '../src/backend/index.js';
import {
  checkpointIteration,
  loadCheckpoint,
  saveCheckpoint,
  recoverCheckpoint,
  PREVIOUS_DIR,
} from '../src/train/checkpoint.js';
import { CharTokenizer } from '../src/tokenizer/char.js';
import { GPT } from '../src/model/gpt.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/train/trainer.js';
import { readShared, rng } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const text = new TextDecoder().decode(readShared('data/tinyshakespeare.txt')).slice(0, 20000);
const model = ['--n-layer', '2', '--n-head', '2', '--n-embd', '32', '--block-size', '16', '--batch-size', '2'];
const quiet = ['--sample-chars', '0', '--threads', '1'];
let dir: string, data: string, backend: Backend;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'crash-'));
  data = join(dir, 'data.txt');
  writeFileSync(data, text);
  backend = await createBackend('wasm', { threads: 1 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gpt2(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

/** log.csv without the timing columns (tok/s, seconds), which differ between runs. */
const losses = (out: string) =>
  readFileSync(join(out, 'log.csv'), 'utf8')
    .split('\n')
    .map((l) => l.split(',').slice(0, 6).join(','));

const complete = (d: string) => 'iter' in checkpointIteration(d);

describe('gpt2 train never loses work', () => {
  it('SIGKILL at 32 random moments, saving every step: a complete checkpoint after each, and the resumed losses equal an uninterrupted run bit for bit', async () => {
    const iters = ['--max-iters', '600'];
    const run = [...model, ...iters, '--eval-interval', '1', '--eval-iters', '1', ...quiet];
    const ref = join(dir, 'ref');
    const whole = gpt2('train', '--data', data, '--out', ref, ...run);
    expect(whole.code, whole.stderr).toBe(0);

    const out = join(dir, 'killed');
    const random = rng(2026);
    let kills = 0,
      midSave = 0,
      restored = 0,
      started = false,
      saved = false;
    while (kills < 32) {
      // start afresh until a first checkpoint exists, then resume
      const args = !started
        ? ['train', '--data', data, '--out', out, ...run]
        : complete(out) || complete(join(out, PREVIOUS_DIR))
          ? ['train', '--resume', '--out', out, ...iters, ...quiet]
          : ['train', '--data', data, '--out', out, '--overwrite', ...run];
      started = true;
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '',
        kill: NodeJS.Timeout | undefined;
      // kill a random moment of the training loop (a step plus its save takes ~10 ms), timed from the
      // line it prints as the loop starts, however slow the start was (a busy machine)
      const delay = random() * 300;
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!kill && /parameters \(/.test(stderr)) kill = setTimeout(() => child.kill('SIGKILL'), delay);
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(kill);
      clearTimeout(guard);
      if (code === 0) break; // it finished before the kill
      expect(code, stderr).toBeNull(); // killed, not failed
      kills++;
      if (!existsSync(out)) continue;
      if (existsSync(join(out, PREVIOUS_DIR)) || readdirSync(out).some((f) => f.includes('.tmp-'))) midSave++;
      if (/restored the checkpoint/.test(stderr)) restored++;
      // once there has been a checkpoint, one is always there: the new one or the one before it
      const ok = complete(out) || complete(join(out, PREVIOUS_DIR));
      if (saved) expect(ok, readdirSync(out).join(' ')).toBe(true);
      saved ||= ok;
    }
    const last = gpt2('train', '--resume', '--out', out, ...iters, ...quiet);
    expect(last.code, last.stderr).toBe(0);
    expect(existsSync(join(out, PREVIOUS_DIR))).toBe(false);
    expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]);
    console.log(`${kills} kills, ${midSave} inside a save, ${restored} restores`);
    expect(kills).toBe(32);
    expect(midSave, 'some kills land inside a save (about half do)').toBeGreaterThan(0);
    expect(losses(out)).toEqual(losses(ref)); // every step's loss, lr, grad norm and eval, once each
    for (const f of ['model.safetensors', 'optimizer.safetensors'])
      expect(readFileSync(join(out, f)).equals(readFileSync(join(ref, f))), f).toBe(true);
  }, 120_000);

  it('a save cut short is put back on the next start, and temp files of ended processes are removed', () => {
    const out = join(dir, 'cut');
    const r = gpt2('train', '--data', data, '--out', out, ...model, '--max-iters', '3', ...quiet);
    expect(r.code, r.stderr).toBe(0);
    // the state a kill between the optimizer's rename and the model's leaves
    const prev = join(out, PREVIOUS_DIR);
    mkdirSync(prev);
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors'])
      writeFileSync(join(prev, f), readFileSync(join(out, f)));
    const weights = readFileSync(join(out, 'model.safetensors'));
    const optimizer = readFileSync(join(out, 'optimizer.safetensors'));
    writeFileSync(join(out, 'optimizer.safetensors'), optimizer.subarray(0, 1000)); // not what a rename leaves, but as incomplete
    writeFileSync(join(out, '.model.safetensors.tmp-999999999'), 'half');
    mkdirSync(join(out, `${PREVIOUS_DIR}.tmp-999999999`));
    expect(complete(out)).toBe(false);
    const resumed = gpt2('train', '--resume', '--out', out, '--max-iters', '3', ...quiet);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('restored the checkpoint from iteration 3');
    expect(resumed.stderr).toContain('.model.safetensors.tmp-999999999, left by a process that ended');
    expect(readdirSync(out).sort()).toEqual(
      ['config.json', 'log.csv', 'loss.svg', 'model.safetensors', 'optimizer.safetensors', 'train.json'].sort(),
    );
    expect(readFileSync(join(out, 'model.safetensors')).equals(weights)).toBe(true);
    expect(readFileSync(join(out, 'optimizer.safetensors')).equals(optimizer)).toBe(true);
  });

  it('a restore leaves no temp file behind, even for files the cut save had not replaced yet (hard links to one file)', () => {
    const tok = CharTokenizer.fromText(text);
    const m = new GPT({ n_layer: 1, n_head: 2, n_embd: 16, n_positions: 16, vocab_size: tok.vocabSize }, backend);
    const out = join(dir, 'links');
    const train = { ...DEFAULT_TRAIN_CONFIG, blockSize: 16 };
    saveCheckpoint(out, m, tok, { iter: 3, rng: { state: 1, spare: null } }, train, 1.5);
    // a save of iteration 4 cut after its first file: previous-checkpoint/ holds links to iteration 3's
    // files, and the model and config in place are still those same files
    mkdirSync(join(out, PREVIOUS_DIR));
    for (const f of ['config.json', 'model.safetensors', 'optimizer.safetensors'])
      linkSync(join(out, f), join(out, PREVIOUS_DIR, f));
    const weights = readFileSync(join(out, 'model.safetensors'));
    rmSync(join(out, 'optimizer.safetensors'));
    writeFileSync(join(out, 'optimizer.safetensors'), 'iteration 4, cut short');
    expect(recoverCheckpoint(out)).toEqual(['a save was cut short: restored the checkpoint from iteration 3']);
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors', 'optimizer.safetensors']);
    expect(checkpointIteration(out)).toEqual({ iter: 3 });
    // and the next save writes new files, never through a name linked to the checkpoint's
    m.parameter('wte.weight').data()[0] += 1;
    saveCheckpoint(out, m, tok, { iter: 4, rng: { state: 1, spare: null } }, train, 1.4);
    expect(checkpointIteration(out)).toEqual({ iter: 4 });
    expect(readFileSync(join(out, 'model.safetensors')).equals(weights)).toBe(false);
    m.dispose();
  });

  it('diverged weights are never saved over a checkpoint: the run stops naming the iteration and the kept one loads', () => {
    const out = join(dir, 'diverge');
    const good = gpt2('train', '--data', data, '--out', out, ...model, '--max-iters', '2', ...quiet);
    expect(good.code, good.stderr).toBe(0);
    const before = ['model.safetensors', 'optimizer.safetensors', 'config.json'].map((f) => readFileSync(join(out, f)));
    // lr 1e39: the first update makes weights infinite, so the loss of iteration 1 is fine but its evaluation is not
    const bad = gpt2(
      'train',
      ...['--data', data, '--init', out, '--out', out, '--overwrite', '--block-size', '16', '--batch-size', '2'],
      ...['--lr', '1e39', '--warmup-iters', '0', '--eval-interval', '1', '--eval-iters', '1', ...quiet],
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n').at(-1)).toMatch(
      /^gpt2 train: the (train|val) loss \(NaN\) is not finite at iteration 1; training stopped and saved nothing from it: the checkpoint from iteration 2 in .* is kept$/,
    );
    ['model.safetensors', 'optimizer.safetensors', 'config.json'].forEach((f, i) =>
      expect(readFileSync(join(out, f)).equals(before[i]), f).toBe(true),
    );
    const { model: m, info } = loadCheckpoint(out, backend);
    expect(info.iter).toBe(2);
    m.dispose();
  });

  it('saveCheckpoint refuses a NaN moment or weight and writes nothing', () => {
    const tok = CharTokenizer.fromText(text);
    const m = new GPT({ n_layer: 1, n_head: 2, n_embd: 16, n_positions: 16, vocab_size: tok.vocabSize }, backend);
    const out = join(dir, 'refuse');
    const state = { iter: 5, rng: { state: 1, spare: null } };
    const train = { ...DEFAULT_TRAIN_CONFIG, blockSize: 16 };
    saveCheckpoint(out, m, tok, state, train, 1.5);
    const before = readFileSync(join(out, 'optimizer.safetensors'));
    m.optimizer.moments().v.get('h.0.attn.c_proj.weight').data()[7] = NaN;
    expect(() => saveCheckpoint(out, m, tok, { ...state, iter: 6 }, train, 1.4)).toThrow(
      'second moment of h.0.attn.c_proj.weight[7] (NaN) is not finite at iteration 6',
    );
    m.optimizer.moments().v.get('h.0.attn.c_proj.weight').data()[7] = 0;
    m.parameter('wte.weight').data()[3] = -Infinity;
    expect(() => saveCheckpoint(out, m, tok, { ...state, iter: 6 }, train, 1.4)).toThrow(
      'weight wte.weight[3] (-Infinity) is not finite at iteration 6',
    );
    expect(() => saveCheckpoint(out, m, tok, { ...state, iter: 6 }, train, Infinity)).toThrow(/val loss \(Infinity\)/);
    expect(readFileSync(join(out, 'optimizer.safetensors')).equals(before)).toBe(true);
    expect(checkpointIteration(out)).toEqual({ iter: 5 });
    m.dispose();
  });

  it('a file-size limit (as a full disk) stops the run with one line, no partial files, the checkpoint kept and resumable', () => {
    const out = join(dir, 'full');
    const first = gpt2('train', '--data', data, '--out', out, ...model, '--max-iters', '2', ...quiet);
    expect(first.code, first.stderr).toBe(0);
    const optimizer = readFileSync(join(out, 'optimizer.safetensors'));
    const kib = Math.floor(readFileSync(join(out, 'model.safetensors')).length / 1024) + 8; // the weights fit, the moments do not
    expect(kib * 1024).toBeLessThan(optimizer.length);
    // Node ignores SIGXFSZ, so a write past the limit fails with EFBIG as a write to a full disk does
    const args = [CLI, 'train', '--resume', '--out', out, '--max-iters', '4', ...quiet].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('bash', ['-c', `ulimit -f ${kib}; exec '${process.execPath}' ${args}`], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(
      /^gpt2 train: .*optimizer\.safetensors: could not be written \(EFBIG.*\); the file is unchanged; training stopped: the checkpoint from iteration 2 in .* is kept$/,
    );
    expect(readdirSync(out).filter((f) => f.includes('.tmp-') || f === PREVIOUS_DIR)).toEqual([]);
    expect(readFileSync(join(out, 'optimizer.safetensors')).equals(optimizer)).toBe(true);
    const resumed = gpt2('train', '--resume', '--out', out, '--max-iters', '4', ...quiet);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('checkpoint (iteration 4)');
    // the log holds each iteration once: 1..4 and the evaluation at the end
    expect(
      losses(out)
        .filter((l) => /^\d+,[^,]/.test(l))
        .map((l) => l.split(',')[0]),
    ).toEqual(['1', '2', '3', '4']);
  });

  it('--max-iters 0 claims no checkpoint it did not write', () => {
    const out = join(dir, 'zero');
    const r = gpt2('train', '--data', data, '--out', out, ...model, '--max-iters', '0', ...quiet);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`done: 0 iterations`);
    expect(r.stderr).toContain(`no checkpoint written in ${out}`);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(false);
  });

  it('chat data whose every response lies beyond the block is an error, not a val loss of 0', () => {
    const jsonl = join(dir, 'long-prompts.jsonl');
    const line = (i: number) => JSON.stringify({ prompt: `${'a long prompt '.repeat(3)}${i}`, response: 'yes' });
    writeFileSync(jsonl, Array.from({ length: 6 }, (_, i) => line(i)).join('\n'));
    const r = gpt2('train', '--data', jsonl, '--out', join(dir, 'chat'), ...model, '--max-iters', '2', ...quiet);
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim()).toBe(
      `gpt2 train: ${jsonl}: 0 example(s) with response tokens within block size 16 (6 lose all of theirs to truncation); at least 2 are needed (one for validation)`,
    );
    expect(existsSync(join(dir, 'chat'))).toBe(false);
  });
});
