// What bench:compare and bench:ceiling share to run their engines in child processes: the
// PyTorch script, options, and a child's answer (the JSON of its last line of output).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PY = '/usr/bin/python3';
export const TORCH_SCRIPT = fileURLToPath(new URL('compare/gpt2_torch.py', import.meta.url));

/** Exit with the message unless ok. */
export function need(ok: boolean, what: string): void {
  if (!ok) {
    console.error(what);
    process.exit(1);
  }
}

/** The value after a command-line option (an empty string when it has none), or the fallback without it. */
export function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : (process.argv[i + 1] ?? '');
}

/** Run cmd to its end and return the JSON of its last line on stdout; exit naming `label` if it fails. */
export function childJson(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): any {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24, env });
  need(r.status === 0, `${label} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}
