// Training: loss falls on both backends and they agree; resume equals an uninterrupted run;
// gpt2 train's checkpoints load with the GPT-2 loader; the chat loss counts only response
// tokens (checked by hand); bad data and NaN losses stop with one line and lose nothing.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { CharTokenizer } from '../src/tokenizer/char.js';
import { TokenDataset, ChatDataset, chatExample } from '../src/train/data.js';
import { Trainer, NaNLossError, DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/train/trainer.js';
import { learningRate } from '../src/train/schedule.js';
import { Random } from '../src/model/random.js';
import { saveCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { loadGPT2, saveGPT2 } from '../src/weights/node.js';
import { bothBackends, readShared, rng, expectClose, type TestBackends } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const shakespeare = new TextDecoder().decode(readShared('data/tinyshakespeare.txt')).slice(0, 20000);
const tok = CharTokenizer.fromText(shakespeare);
const small = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 32, vocab_size: tok.vocabSize };
const cfg: TrainConfig = {
  ...DEFAULT_TRAIN_CONFIG,
  batchSize: 4,
  blockSize: 32,
  maxIters: 40,
  lr: 3e-3,
  minLr: 3e-4,
  warmupIters: 5,
  lrDecayIters: 40,
  evalInterval: 20,
  evalIters: 2,
  seed: 7,
};
let backends: TestBackends;
let dir: string;
beforeAll(async () => {
  backends = await bothBackends();
  dir = mkdtempSync(join(tmpdir(), 'train-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(backend: Backend, iters: number, config = cfg): { trainer: Trainer; losses: number[] } {
  const model = new GPT(small, backend, { seed: 7 });
  const trainer = new Trainer(model, new TokenDataset(tok.encode(shakespeare), config.blockSize), config);
  const losses: number[] = [];
  for (let i = 0; i < iters; i++) losses.push(trainer.step().loss);
  return { trainer, losses };
}

function gpt2(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('training', () => {
  it('the loss falls within a few dozen steps on both backends, and they agree on the first losses to 1e-4', () => {
    const w = run(backends.wasm, 40),
      j = run(backends.js, 6);
    for (let i = 0; i < 6; i++) expect(Math.abs(w.losses[i] - j.losses[i]), `step ${i + 1}`).toBeLessThan(1e-4);
    const first = w.losses.slice(0, 5).reduce((a, b) => a + b) / 5,
      last = w.losses.slice(-5).reduce((a, b) => a + b) / 5;
    expect(first).toBeGreaterThan(Math.log(tok.vocabSize) - 0.3); // starts near uniform
    expect(last).toBeLessThan(first - 0.5);
    w.trainer.model.dispose();
    j.trainer.model.dispose();
  });

  it('a step with gradScale equals scaling the gradients first, bit for bit (clipping without a pass of its own)', () => {
    const data = new TokenDataset(tok.encode(shakespeare), 32);
    const { tokens, targets } = data.batch('train', 4, 32, new Random(3));
    const [a, b] = [0, 1].map(() => new GPT(small, backends.wasm, { seed: 5 }));
    for (let i = 0; i < 3; i++) {
      for (const m of [a, b]) {
        m.zeroGrad();
        m.forward(tokens, 4, 32, targets);
        m.backward();
      }
      const s = 0.1 / a.gradNorm(); // well under the norm: every gradient is scaled
      expect(s).toBeLessThan(1);
      for (const spec of a.parameterSpecs) {
        // the gradients scaled in a pass of their own (f32 products, as AdamW's)
        const g = a.gradient(spec.name).data(),
          s32 = Math.fround(s);
        for (let i = 0; i < g.length; i++) g[i] *= s32;
      }
      a.step({ lr: 3e-3, weightDecay: 0.1, decay: 'matrices' });
      b.step({ lr: 3e-3, weightDecay: 0.1, decay: 'matrices', gradScale: s });
    }
    for (const spec of a.parameterSpecs) {
      const x = a.parameter(spec.name).data(),
        y = b.parameter(spec.name).data();
      expect(
        Buffer.from(y.buffer, y.byteOffset, y.byteLength).equals(Buffer.from(x.buffer, x.byteOffset, x.byteLength)),
        spec.name,
      ).toBe(true);
    }
    a.dispose();
    b.dispose();
  });

  it('zeroGrad: the gradients read as zeros; the backward after it writes what adding to zeros gives, and the next adds', () => {
    const { tokens, targets } = new TokenDataset(tok.encode(shakespeare), 32).batch('train', 4, 32, new Random(4));
    const m = new GPT(small, backends.wasm, { seed: 6 });
    const grads = () => m.parameterSpecs.map((s) => Float32Array.from(m.gradient(s.name).data()));
    const pass = () => {
      m.forward(tokens, 4, 32, targets);
      m.backward();
    };
    pass(); // fresh gradients (zeros in memory): added to
    const once = grads();
    pass(); // added again: twice as much (to rounding: wte's two parts, a layernorm's rows, k chunks add in turn)
    grads().forEach((g, i) =>
      expectClose(
        m.parameterSpecs[i].name,
        g,
        once[i].map((x) => 2 * x),
        1e-7,
        1e-5,
      ),
    );
    m.zeroGrad();
    pass(); // written (linear layers, wte), or added to memory cleared first (the rest): the first pass's bits
    grads().forEach((g, i) =>
      expect(Buffer.from(g.buffer).equals(Buffer.from(once[i].buffer)), m.parameterSpecs[i].name).toBe(true),
    );
    m.zeroGrad();
    grads().forEach((g, i) =>
      expect(
        g.every((x) => x === 0),
        m.parameterSpecs[i].name,
      ).toBe(true),
    );
    m.dispose();
  });

  it('the schedule warms up linearly, decays by a cosine, then holds the minimum', () => {
    const s = { lr: 1e-3, minLr: 1e-4, warmupIters: 100, decayIters: 2000 };
    expect(learningRate(0, s)).toBeCloseTo(1e-3 / 101, 12);
    expect(learningRate(100, s)).toBeCloseTo(1e-3, 12);
    expect(learningRate(1050, s)).toBeCloseTo(5.5e-4, 12);
    expect(learningRate(2000, s)).toBeCloseTo(1e-4, 12);
    expect(learningRate(5000, s)).toBe(1e-4);
  });

  it('resuming from a checkpoint gives the same losses as an uninterrupted run (gradient accumulation on)', () => {
    const config = { ...cfg, gradAccum: 2 };
    const straight = run(backends.wasm, 12, config);
    const first = run(backends.wasm, 6, config);
    const ck = join(dir, 'resume');
    mkdirSync(ck);
    saveCheckpoint(ck, first.trainer.model, tok, first.trainer.state, config, null);
    first.trainer.model.dispose();
    const { model, info } = loadCheckpoint(ck, backends.wasm);
    expect(info.iter).toBe(6);
    const trainer = new Trainer(model, new TokenDataset(tok.encode(shakespeare), config.blockSize), info.train);
    trainer.restore(info.trainer);
    const rest: number[] = [];
    for (let i = 0; i < 6; i++) rest.push(trainer.step().loss);
    expect(rest).toEqual(straight.losses.slice(6)); // bit for bit
    model.dispose();
    straight.trainer.model.dispose();
  });

  it('the chat loss counts only response tokens (checked by hand)', () => {
    const chars = CharTokenizer.fromText('abcdefghi?!: ');
    const T = 12;
    const model = new GPT(
      { n_layer: 1, n_head: 2, n_embd: 8, n_positions: T, vocab_size: chars.vocabSize },
      backends.js,
      { seed: 3 },
    );
    const line = JSON.stringify({ prompt: 'abc?', response: 'hi!' });
    const data = new ChatDataset(`${line}\n${line}\n`, chars, T, 0.5, 'chat.jsonl');
    const { tokens, targets } = data.batch(
      'train',
      1,
      T,
      new (class {
        int() {
          return 0;
        }
        uniform() {
          return 0;
        }
      })() as never,
    );
    const { ids, promptLength } = chatExample(chars, 'abc?', 'hi!');
    expect(promptLength).toBe(4);
    expect(Array.from(targets)).toEqual([-1, -1, -1, ids[4], ids[5], ids[6], -1, -1, -1, -1, -1, -1]);
    const { logits, loss } = model.forward(tokens, 1, T, targets);
    // by hand: mean over positions 3..5 of -log softmax(logits)[target]
    const V = chars.vocabSize,
      L = logits.data();
    let sum = 0;
    for (const t of [3, 4, 5]) {
      const row = Array.from(L.subarray(t * V, (t + 1) * V));
      const max = Math.max(...row),
        lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      sum += lse - row[targets[t]];
    }
    expect(Math.abs(loss! - sum / 3)).toBeLessThan(1e-5);
    // and the gradient flows only from those positions: the prompt tokens' targets change nothing
    model.zeroGrad();
    model.backward();
    const g1 = Float32Array.from(model.gradient('wte.weight').data());
    const other = Int32Array.from(targets);
    model.forward(tokens, 1, T, other);
    model.zeroGrad();
    model.backward();
    expect(Float32Array.from(model.gradient('wte.weight').data())).toEqual(g1);
    model.dispose();
  });

  it("rows: 'targets' (the last layer past attention on the target rows only) gives the loss, logits and every gradient of a full pass", () => {
    const config = { n_layer: 2, n_head: 2, n_embd: 20, n_positions: 9, vocab_size: 23 };
    const B = 3,
      T = 9,
      V = config.vocab_size;
    const r = rng(5);
    const tokens = Int32Array.from({ length: B * T }, () => Math.floor(r() * V));
    const targets = Int32Array.from({ length: B * T }, (_, i) =>
      i % 4 === 1 || i % 7 === 0 ? Math.floor(r() * V) : -1,
    );
    const rows = [...targets.keys()].filter((i) => targets[i] >= 0);
    expect(rows.length).toBeGreaterThan(3);
    expect(rows.length).toBeLessThan(B * T);
    for (const name of ['js', 'wasm', 'relaxed'] as const) {
      const model = new GPT(config, backends[name], { seed: 11 });
      const full = model.forward(tokens, B, T, targets);
      const fullLogits = Float32Array.from(full.logits.data());
      model.zeroGrad();
      model.backward();
      const grads = new Map(
        model.parameterSpecs.map((s) => [s.name, Float32Array.from(model.gradient(s.name).data())]),
      );
      const sel = model.forward(tokens, B, T, targets, { rows: 'targets' });
      expect(sel.logits.shape).toEqual([1, rows.length, V]);
      expect(Math.abs(sel.loss! - full.loss!), name).toBeLessThan(1e-6);
      const L = sel.logits.data();
      rows.forEach((row, i) =>
        expectClose(
          `${name} logits of row ${row}`,
          L.subarray(i * V, (i + 1) * V),
          fullLogits.subarray(row * V, (row + 1) * V),
          1e-5,
        ),
      );
      model.zeroGrad();
      model.backward();
      for (const [p, g] of grads) expectClose(`${name} gradient ${p}`, model.gradient(p).data(), g, 1e-6, 1e-5);
      // and a full pass after it is unchanged, gradients too (the selected pass leaves nothing
      // behind in the buffers the two share)
      expect(model.forward(tokens, B, T, targets).loss).toBe(full.loss);
      model.zeroGrad();
      model.backward();
      for (const [p, g] of grads)
        expect(Float32Array.from(model.gradient(p).data()), `${name} gradient ${p} again`).toEqual(g);
      expect(() => model.forward(tokens, B, T, undefined, { rows: 'targets' })).toThrow(
        "rows: 'targets' needs targets",
      );
      model.dispose();
    }
  });

  it('a NaN loss stops training at that step before any update', () => {
    const model = new GPT(small, backends.wasm, { seed: 1 });
    const trainer = new Trainer(model, new TokenDataset(tok.encode(shakespeare), 32), cfg);
    trainer.step();
    const before = Float32Array.from(model.parameter('h.0.mlp.c_fc.weight').data());
    model.parameter('ln_f.weight').data()[0] = NaN;
    expect(() => trainer.step()).toThrow(NaNLossError);
    expect(() => trainer.step()).toThrow('the loss became NaN at iteration 2');
    expect(model.parameter('h.0.mlp.c_fc.weight').data()).toEqual(before);
    model.dispose();
  });
});

describe('gpt2 train', () => {
  it('trains, writes a checkpoint the GPT-2 loader reads, a CSV log and an SVG, and gpt2 sample samples it', () => {
    const data = join(dir, 'tiny.txt');
    writeFileSync(data, shakespeare);
    const out = join(dir, 'run');
    const r = gpt2(
      'train',
      '--data',
      data,
      '--out',
      out,
      '--n-layer',
      '2',
      '--n-head',
      '2',
      '--n-embd',
      '32',
      '--block-size',
      '32',
      '--batch-size',
      '4',
      '--max-iters',
      '20',
      '--eval-interval',
      '10',
      '--eval-iters',
      '2',
      '--sample-chars',
      '20',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/iter 20\/20 \| loss [\d.]+ \| val [\d.]+ \| lr [\d.e+-]+ \| \d+ tok\/s \| ETA/);
    expect(r.stderr).toMatch(/done: 20 iterations, 2,560 tokens in .* val loss [\d.]+; checkpoint \(iteration 20\) in/);
    const model = loadGPT2(out, backends.wasm);
    expect(model.config).toEqual({ ...small, vocab_size: CharTokenizer.fromText(shakespeare).vocabSize });
    model.dispose();
    const csv = readFileSync(join(out, 'log.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('iter,loss,lr,grad_norm,eval_train,eval_val,tok_per_s,elapsed_s');
    expect(csv.filter((l) => /^\d+,[\d.]+,/.test(l)).length).toBe(20);
    expect(readFileSync(join(out, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*polyline[\s\S]*<\/svg>$/);
    const s = gpt2('sample', '--model', out, '-p', 'ROMEO:', '--max-tokens', '30', '--seed', '1');
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout.length).toBe(31); // 30 characters + newline
    // resume carries on to a larger --max-iters with the same log
    const resumed = gpt2('train', '--resume', '--out', out, '--max-iters', '24', '--sample-chars', '0');
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming .* at iteration 20[\s\S]*done: 24 iterations/);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    '%s stops a real gpt2 train after the current step, saves, exits %i, and --resume continues',
    async (signal, code) => {
      const data = join(dir, 'signal.txt');
      writeFileSync(data, shakespeare);
      const out = join(dir, `signal-${signal}`);
      const args = ['train', '--data', data, '--out', out, '--n-layer', '2', '--n-head', '2', '--n-embd', '32'];
      args.push('--block-size', '32', '--batch-size', '4', '--max-iters', '100000', '--eval-interval', '100000');
      const child = spawn(process.execPath, [CLI, ...args, '--sample-chars', '0'], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let sent = 0;
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!sent && /iter 20\//.test(stderr)) {
          sent = performance.now();
          child.kill(signal);
        }
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 30_000); // a run that ignores the signal fails, not hangs
      const exitCode = await exited;
      clearTimeout(guard);
      const seconds = (performance.now() - sent) / 1000;
      expect(sent, stderr).toBeGreaterThan(0);
      expect(exitCode, stderr).toBe(code);
      expect(seconds, 'stopped within about one step').toBeLessThan(5);
      const m = /interrupted: (\d+) iterations, .*checkpoint \(iteration \d+\) in (.*)\n/.exec(stderr);
      expect(m, stderr).not.toBeNull();
      expect(m![2]).toBe(out);
      const iters = Number(m![1]);
      expect(iters).toBeGreaterThanOrEqual(20);
      const resumed = gpt2('train', '--resume', '--out', out, '--max-iters', String(iters + 3), '--sample-chars', '0');
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stderr).toContain(`at iteration ${iters}`);
      expect(resumed.stderr).toContain(`done: ${iters + 3} iterations`);
    },
  );

  it("another run's directory is refused without --resume or --overwrite, and a bad setting touches no file", () => {
    const data = join(dir, 'keep.txt');
    writeFileSync(data, shakespeare);
    const out = join(dir, 'keep');
    const small = ['--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16', '--batch-size', '2'];
    const first = gpt2('train', '--data', data, '--out', out, ...small, '--max-iters', '4', '--sample-chars', '0');
    expect(first.code, first.stderr).toBe(0);
    const files = ['log.csv', 'train.json', 'loss.svg', 'config.json', 'model.safetensors', 'optimizer.safetensors'];
    const before = files.map((f) => readFileSync(join(out, f)));
    const again = gpt2('train', '--data', data, '--out', out, ...small, '--max-iters', '2');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/holds a training run .*--resume continues it, --overwrite starts again/);
    const bad = gpt2('train', '--data', data, '--out', out, ...small, '--overwrite', '--beta2', '1');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toEqual(['gpt2 train: beta2 must be in [0, 1), got 1']);
    files.forEach((f, i) => expect(readFileSync(join(out, f)).equals(before[i]), f).toBe(true));
    const fresh = join(dir, 'never-made');
    expect(gpt2('train', '--data', data, '--out', fresh, '--beta1', '1.5').code).not.toBe(0);
    expect(existsSync(fresh)).toBe(false);
    const over = gpt2(
      'train',
      '--data',
      data,
      '--out',
      out,
      ...small,
      '--overwrite',
      '--max-iters',
      '2',
      '--sample-chars',
      '0',
    );
    expect(over.code, over.stderr).toBe(0);
    expect(over.stderr).toContain('done: 2 iterations');
  });

  it('bad data and settings give one line and a non-zero exit', () => {
    writeFileSync(join(dir, 'empty.txt'), '');
    writeFileSync(join(dir, 'short.txt'), 'To be or not to be');
    writeFileSync(join(dir, 'latin1.txt'), new Uint8Array([0x52, 0x6f, 0x6d, 0xe9, 0x6f, 0x0a]));
    writeFileSync(
      join(dir, 'chat.jsonl'),
      '{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": "d"}\n{"prompt": "e" "response": "f"}\n',
    );
    writeFileSync(join(dir, 'fields.jsonl'), '{"prompt": "a", "response": "b"}\n{"question": "c"}\n');
    const common = ['--out', join(dir, 'bad'), '--block-size', '32', '--max-iters', '2'];
    const cases: [string[], RegExp][] = [
      [
        ['--data', join(dir, 'empty.txt'), ...common],
        /empty\.txt: the file is empty; training needs at least block size \+ 1 = 33 tokens in each split/,
      ],
      [
        ['--data', join(dir, 'short.txt'), ...common],
        /short\.txt: 18 tokens give the train split 16, fewer than block size \+ 1 = 33/,
      ],
      [
        ['--data', join(dir, 'latin1.txt'), ...common],
        /latin1\.txt: not valid UTF-8 text \(first bad byte near offset 3\)/,
      ],
      [['--data', join(dir, 'chat.jsonl'), ...common], /chat\.jsonl:3: not valid JSON/],
      [
        ['--data', join(dir, 'fields.jsonl'), ...common],
        /fields\.jsonl:2: expected \{"prompt": string, "response": string\}/,
      ],
      [['--data', join(dir, 'missing.txt'), ...common], /missing\.txt: ENOENT/],
      [['--out', join(dir, 'bad')], /--data FILE is required/],
      [
        ['--data', join(dir, 'short.txt'), '--out', join(dir, 'bad'), '--lr', 'fast'],
        /--lr must be a number >= 0, got 'fast'/,
      ],
    ];
    for (const [args, want] of cases) {
      const r = gpt2('train', ...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr.trim(), args.join(' ')).toMatch(want);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
    }
  });

  it('a block size beyond the init model, and a NaN loss that keeps the last good checkpoint', () => {
    const init = join(dir, 'init');
    const model = new GPT({ ...small }, backends.js, { seed: 2 });
    saveGPT2(model, init, { extraConfig: { wasm_gpt_tokenizer: tok.spec() } });
    const data = join(dir, 'tiny2.txt');
    writeFileSync(data, shakespeare);
    const big = gpt2('train', '--data', data, '--init', init, '--out', join(dir, 'x'), '--block-size', '64');
    expect(big.code).not.toBe(0);
    expect(big.stderr).toMatch(/--block-size 64 is larger than .*init's context n_positions 32/);
    // weights so large the loss overflows: training must stop at iteration 1 and keep the checkpoint that was there
    const out = join(dir, 'nan');
    const ok = gpt2(
      'train',
      '--data',
      data,
      '--init',
      init,
      '--out',
      out,
      '--block-size',
      '32',
      '--batch-size',
      '2',
      '--max-iters',
      '2',
      '--eval-interval',
      '2',
      '--eval-iters',
      '1',
      '--sample-chars',
      '0',
    );
    expect(ok.code, ok.stderr).toBe(0);
    const good = readFileSync(join(out, 'model.safetensors'));
    const hot = join(dir, 'hot');
    mkdirSync(hot);
    const m2 = loadGPT2(init, backends.js);
    m2.parameter('h.0.mlp.c_fc.weight').data().fill(3e38);
    m2.parameter('h.0.mlp.c_proj.weight').data().fill(3e38);
    saveGPT2(m2, hot, { extraConfig: { wasm_gpt_tokenizer: tok.spec() } });
    copyFileSync(join(out, 'optimizer.safetensors'), join(dir, 'opt-before'));
    const bad = gpt2(
      'train',
      '--data',
      data,
      '--init',
      hot,
      '--out',
      out,
      '--overwrite', // a new run in the place of the good one, which must survive the NaN
      '--block-size',
      '32',
      '--batch-size',
      '2',
      '--max-iters',
      '4',
      '--sample-chars',
      '0',
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(
      /the loss became (NaN|Infinity) at iteration 1; training stopped and saved nothing from it: the checkpoint from iteration 2 in .* is kept/,
    );
    expect(readFileSync(join(out, 'model.safetensors')).equals(good)).toBe(true);
    expect(existsSync(join(out, 'optimizer.safetensors'))).toBe(true);
    model.dispose();
    m2.dispose();
  });
});
