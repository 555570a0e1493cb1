// The kernels' formatting check: Prettier cannot parse AssemblyScript's function decorators
// (@inline), so assembly/ is held to Prettier's 120 columns here instead.
//   node scripts/check-lines.mjs [DIR] [COLUMNS]
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'assembly',
  max = Number(process.argv[3] ?? 120);
const long = [];
for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
  readFileSync(join(dir, f), 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.length > max) long.push(`${join(dir, f)}:${i + 1}: ${line.length} columns`);
    });
}
if (long.length) {
  console.error(`lines over ${max} columns:\n${long.join('\n')}`);
  process.exit(1);
}
console.log(`${dir}/: every line within ${max} columns`);
