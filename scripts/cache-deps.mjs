// Puts the package's runtime dependencies (name, version, registry metadata) into npm's cache, so
// that tests/package.test.ts can install the packed package into an empty project with
// `npm install --offline`: `npm ci` keeps the tarballs it installs but not the metadata an install
// by range needs. Runs before the tests (npm test's pretest); a cached entry is not fetched again.
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8'));
const specs = Object.entries(lock.packages)
  .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev && !p.devOptional && !p.link)
  .map(([path, p]) => `${path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${p.version}`);
execFileSync('npm', ['cache', 'add', '--prefer-offline', '--no-audit', '--no-fund', ...specs], { stdio: 'inherit' });
console.log(`npm cache: ${specs.length} runtime dependencies (${specs.join(', ')})`);
