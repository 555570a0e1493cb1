// The gpt2 command on a small random model with GPT-2's vocabulary: streamed text on stdout,
// one-line errors on bad input, perplexity that agrees with a direct computation.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { JsBackend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { saveGPT2 } from '../src/weights/node.js';
import { GPT2Tokenizer } from '../src/tokenizer/gpt2.js';
import { perplexity } from '../src/generate/perplexity.js';

const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
let dir: string;
let model: GPT;
const config = { n_layer: 2, n_head: 2, n_embd: 32, n_positions: 64, vocab_size: 50257 };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'gpt2-cli-'));
  model = new GPT(config, new JsBackend(), { seed: 8 });
  saveGPT2(model, dir);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function gpt2(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, HF_HUB_OFFLINE: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('gpt2 command', () => {
  it('--help lists every option', () => {
    const r = gpt2('--help');
    expect(r.code).toBe(0);
    for (const opt of [
      '--model',
      '--max-tokens',
      '--temperature',
      '--top-k',
      '--top-p',
      '--seed',
      '--backend',
      '--threads',
      '--stats',
      '--f16',
      '--dtype',
      'ppl FILE',
    ])
      expect(r.stdout).toContain(opt);
  });

  it('streams exactly max-tokens tokens of text, the same on both backends when greedy', () => {
    const wasm = gpt2('--model', dir, '-p', 'How can entropy be reversed?', '--max-tokens', '12', '--temperature', '0');
    const js = gpt2(
      '--model',
      dir,
      '-p',
      'How can entropy be reversed?',
      '--max-tokens',
      '12',
      '--temperature',
      '0',
      '--backend',
      'js',
    );
    expect(wasm.code, wasm.stderr).toBe(0);
    expect(wasm.stdout).toBe(js.stdout);
    expect(wasm.stderr).toBe('');
    const tok = new GPT2Tokenizer();
    expect(tok.encode(wasm.stdout.slice(0, -1)).length).toBeGreaterThan(0);
    const echo = gpt2('--model', dir, '-p', 'Hi there', '--max-tokens', '3', '--temperature', '0', '--echo');
    expect(echo.stdout.startsWith('Hi there')).toBe(true);
  });

  it('--dtype q8_0 and --f16 (--dtype f16): the same greedy text on both backends, said in --stats', () => {
    const args = [
      '--model',
      dir,
      '-p',
      'How can entropy be reversed?',
      '--max-tokens',
      '12',
      '--temperature',
      '0',
      '--stats',
    ];
    for (const [flags, said] of [
      [['--f16'], /f16 weights/],
      [['--dtype', 'q8_0'], /q8_0 weights \(\d+ MiB\)/],
    ] as const) {
      const wasm = gpt2(...args, ...flags),
        js = gpt2(...args, ...flags, '--backend', 'js');
      expect(wasm.code, wasm.stderr).toBe(0);
      expect(wasm.stdout).toBe(js.stdout);
      expect(wasm.stderr).toMatch(said);
      expect(wasm.stdout.length).toBeGreaterThan(1);
    }
    const bad = gpt2(...args, '--dtype', 'q5_0');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/--dtype must be one of f32, f16, q8_0, q4_0, got 'q5_0'/);
  });

  it('a long generation slides the window instead of failing', () => {
    const r = gpt2('--model', dir, '-p', 'Once upon a time', '--max-tokens', '150', '--seed', '3', '--stats');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/generated 150 \(max-tokens\)/);
    expect(r.stderr).toMatch(/window slid \d+x/);
  });

  it('bad input gives one line on stderr and a non-zero exit', () => {
    const cases: [string[], RegExp][] = [
      [['--model', dir, '-p', ''], /^gpt2: the prompt is empty/],
      [['--model', dir], /^gpt2: no prompt: use gpt2 -p/],
      [['--model', dir, '-p', 'word '.repeat(80)], /^gpt2: the prompt has \d+ tokens; the context holds 64/],
      [['--model', dir, '-p', 'x', '--top-p', '2'], /^gpt2: --top-p must be in \(0, 1\], got 2/],
      [['--model', dir, '-p', 'x', '--temperature', 'hot'], /^gpt2: --temperature must be a number, got 'hot'/],
      [['--model', dir, '-p', 'x', '--max-tokens=-1'], /^gpt2: --max-tokens must be an integer >= 0, got '-1'/],
      [['--model', dir, '-p', 'x', '--backend', 'gpu'], /^gpt2: --backend must be wasm or js, got 'gpu'/],
      [['--model', dir, '-p', 'x', '--top-k', ''], /^gpt2: --top-k must be an integer >= 0, got ''/],
      [
        ['--model', dir, '-p', 'x', '--seed', String(2 ** 32)],
        /^gpt2: --seed must be an integer in 0..4294967295, got '4294967296'/,
      ],
      [
        ['--model', dir, '-p', 'x', '--seed', '1e300'],
        /^gpt2: --seed must be an integer in 0..4294967295, got '1e300'/,
      ],
      [
        ['--model', join(dir, 'missing'), '-p', 'x'],
        /^gpt2: --model .*missing: no such file or directory, and not a hub id/,
      ],
      [
        ['--model', 'someone/not-cached', '-p', 'x'],
        /^gpt2: someone\/not-cached\/config\.json is not in the Hugging Face cache .* HF_HUB_OFFLINE is set; pass a local directory with --model DIR/,
      ],
      [['ppl', join(dir, 'nothing.txt'), '--model', dir], /^gpt2: .*nothing\.txt: ENOENT/],
    ];
    for (const [args, want] of cases) {
      const r = gpt2(...args);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(want);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
    }
  });

  it('ppl agrees with the mean loss computed directly, and refuses non-UTF-8 files', () => {
    const text = 'The cat sat on the mat. The dog sat on the log. '.repeat(2);
    const file = join(dir, 'text.txt');
    writeFileSync(file, text);
    const ids = new GPT2Tokenizer().encode(text);
    expect(ids.length).toBeLessThanOrEqual(64);
    const { loss } = model.forward(ids.slice(0, -1), 1, ids.length - 1, ids.slice(1));
    const r = gpt2('ppl', file, '--model', dir);
    expect(r.code, r.stderr).toBe(0);
    const m = r.stdout.match(/^perplexity ([\d.]+) \(mean loss ([\d.]+) nats\/token over (\d+) tokens/);
    expect(m).not.toBeNull();
    expect(Number(m![3])).toBe(ids.length - 1);
    expect(Math.abs(Number(m![2]) - loss!)).toBeLessThan(1e-4);
    // a sliding window over a longer text scores every token once
    const long = new GPT2Tokenizer().encode(text.repeat(4));
    const res = perplexity(model, long, { stride: 16 });
    expect(res.tokens).toBe(long.length - 1);
    writeFileSync(join(dir, 'bad.txt'), new Uint8Array([0x48, 0xff, 0xfe, 0x49]));
    const bad = gpt2('ppl', join(dir, 'bad.txt'), '--model', dir);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bad\.txt: not valid UTF-8 text/);
  });
});
