// A random GPT-2 checkpoint in the published layout (config.json + model.safetensors in F32),
// written tensor by tensor, so that sizes whose f32 weights do not fit wasm32 memory (gpt2-xl:
// 6.23 GB) can be made here for the benchmarks: their loads, --dtype conversions and decode.
//   npx tsx scripts/random-gpt2.ts gpt2-xl weights/gpt2-xl-random [--seed 1337]
// The values are those of `new GPT(config, backend, { seed })` (the same generator, in the same
// order), so a size that fits gives the same file as saving that model.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { GPT2_PRESETS, type GPTConfig } from '../src/model/config.js';
import { initialValues, parameterSpecs } from '../src/model/parameters.js';
import { Random } from '../src/model/random.js';
import { numel } from '../src/backend/tensor.js';
import { f32Bytes, safetensorsHeader } from '../src/weights/safetensors.js';
import { configJsonOf } from '../src/weights/gpt2.js';
import { writeFileAtomic } from '../src/weights/node.js';

/** Write config.json and model.safetensors for `config` with GPT-2's initialization from `seed` into dir. */
export function writeRandomGPT2(config: GPTConfig, dir: string, seed = 1337): void {
  const specs = parameterSpecs(config);
  const { head } = safetensorsHeader(
    specs.map((s) => ({ name: s.name, dtype: 'F32' as const, shape: s.shape })),
    { format: 'pt' },
  );
  mkdirSync(dir, { recursive: true });
  const rand = new Random(seed);
  // tensor by tensor through the writer the checkpoints use: a cut write leaves no partial file
  writeFileAtomic(join(dir, 'model.safetensors'), (write) => {
    write(head);
    for (const s of specs) {
      const data = new Float32Array(numel(s.shape));
      initialValues(s, config, rand, data);
      write(f32Bytes(data));
    }
  });
  writeFileAtomic(join(dir, 'config.json'), configJsonOf(config));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    options: { seed: { type: 'string', default: '1337' } },
    allowPositionals: true,
  });
  const [size, dir] = positionals;
  if (!(size in GPT2_PRESETS) || !dir || !Number.isInteger(Number(values.seed))) {
    console.error(`usage: npx tsx scripts/random-gpt2.ts ${Object.keys(GPT2_PRESETS).join('|')} DIR [--seed N]`);
    process.exit(2);
  }
  const t0 = performance.now();
  writeRandomGPT2(GPT2_PRESETS[size as keyof typeof GPT2_PRESETS], dir, Number(values.seed));
  console.log(`${size}: ${dir}/model.safetensors written in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
