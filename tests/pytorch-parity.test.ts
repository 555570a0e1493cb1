// The whole model against PyTorch on ../shared/reference/tiny, on both backends:
// logits, loss, attention, every parameter's gradient, the parameters after one AdamW step,
// and the losses of ten AdamW steps. Tolerances from ../shared/README.md.
import { describe, it, expect, beforeAll } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import { configFromHF } from '../src/model/config.js';
import type { GPT } from '../src/model/gpt.js';
import { SafetensorsFile } from '../src/weights/safetensors.js';
import { gptFromSafetensors } from '../src/weights/gpt2.js';
import { bothBackends, readShared, expectClose } from './helpers.js';

const config = configFromHF(JSON.parse(new TextDecoder().decode(readShared('reference/tiny/config.json'))));
const modelBytes = readShared('reference/tiny/model.safetensors');
const ref = new SafetensorsFile(readShared('reference/tiny/reference.safetensors'), 'reference.safetensors');
const adamw = JSON.parse(ref.metadata.adamw) as {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weight_decay: number;
};
const inputs = ref.ints('inputs'),
  targets = ref.ints('targets');
const [B, T] = ref.info('inputs').shape;

function load(backend: Backend): GPT {
  return gptFromSafetensors(modelBytes, config, backend, 'tiny/model.safetensors');
}

let backends: { wasm: Backend; relaxed: Backend; js: Backend };
beforeAll(async () => {
  backends = await bothBackends();
});

for (const name of ['wasm', 'relaxed', 'js'] as const) {
  describe(`${name} backend equals PyTorch on the tiny reference model`, () => {
    it('logits, loss and attention', () => {
      const model = load(backends[name]);
      const { logits, loss } = model.forward(inputs, B, T, targets);
      expectClose('logits', logits.data(), ref.floats('logits'), 1e-5);
      expect(Math.abs(loss! - ref.floats('loss')[0])).toBeLessThan(1e-5);
      // attention probabilities of every layer, (B,NH,T,T)
      for (let l = 0; l < config.n_layer; l++) {
        const att = model.attention(l).data();
        expectClose(`attn.${l}`, att, ref.floats(`attn.${l}`), 1e-6);
      }
      model.dispose();
    });

    it('every gradient', () => {
      const model = load(backends[name]);
      model.forward(inputs, B, T, targets);
      model.zeroGrad();
      model.backward();
      for (const spec of model.parameterSpecs) {
        expectClose(`grad.${spec.name}`, model.gradient(spec.name).data(), ref.floats(`grad.${spec.name}`), 1e-5, 1e-3);
      }
      model.dispose();
    });

    it('parameters after one AdamW step', () => {
      const model = load(backends[name]);
      model.forward(inputs, B, T, targets);
      model.zeroGrad();
      model.backward();
      model.step({
        lr: adamw.lr,
        beta1: adamw.beta1,
        beta2: adamw.beta2,
        eps: adamw.eps,
        weightDecay: adamw.weight_decay,
      });
      // Adam's first step is lr * g / (|g| + eps'): it normalises the gradient away. Where PyTorch's
      // gradient is rounding noise (|g| < 1e-7; e.g. the key bias, whose exact gradient is zero
      // because softmax ignores a per-row shift) the step's sign is noise too, in any float32
      // implementation, so those elements may differ by up to lr. Every other element: 1e-5.
      let noisy = 0,
        total = 0;
      for (const spec of model.parameterSpecs) {
        const got = model.parameter(spec.name).data(),
          want = ref.floats(`adamw1.${spec.name}`);
        const grad = ref.floats(`grad.${spec.name}`);
        const determined: number[] = [],
          expected: number[] = [];
        for (let i = 0; i < got.length; i++) {
          total++;
          if (Math.abs(grad[i]) < 1e-7) {
            noisy++;
            expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(adamw.lr * 1.001);
          } else {
            determined.push(got[i]);
            expected.push(want[i]);
          }
        }
        expectClose(`adamw1.${spec.name}`, determined, expected, 1e-5);
      }
      expect(noisy / total).toBeLessThan(0.02);
      model.dispose();
    });

    it('ten AdamW steps give the same losses', () => {
      const model = load(backends[name]);
      const want = ref.floats('losses10');
      const got: number[] = [];
      for (let i = 0; i < want.length; i++) {
        const { loss } = model.forward(inputs, B, T, targets);
        got.push(loss!);
        model.zeroGrad();
        model.backward();
        model.step({
          lr: adamw.lr,
          beta1: adamw.beta1,
          beta2: adamw.beta2,
          eps: adamw.eps,
          weightDecay: adamw.weight_decay,
        });
      }
      expectClose('losses10', got, want, 1e-4);
      expect(got[9]).toBeLessThan(got[0]);
      model.dispose();
    });
  });
}
