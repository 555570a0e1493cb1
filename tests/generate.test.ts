import { describe, it, expect, beforeAll } from 'vitest';
import type { Backend } from '../src/backend/index.js';
import { GPT } from '../src/model/gpt.js';
import { configFromHF } from '../src/model/config.js';
import { Random } from '../src/model/random.js';
import { gptFromSafetensors } from '../src/weights/gpt2.js';
import { generate } from '../src/generate/generate.js';
import { sampleToken, argmax } from '../src/generate/sampling.js';
import { bothBackends, readShared, expectClose } from './helpers.js';

const config = configFromHF(JSON.parse(new TextDecoder().decode(readShared('reference/tiny/config.json'))));
const modelBytes = readShared('reference/tiny/model.safetensors');
let backends: { wasm: Backend; js: Backend };
beforeAll(async () => {
  backends = await bothBackends();
});

function lastRow(model: GPT, ids: number[]): Float32Array {
  const V = model.config.vocab_size;
  const { logits } = model.forward(ids, 1, ids.length);
  return logits.data().slice((ids.length - 1) * V, ids.length * V);
}

describe('KV-cache generation', () => {
  for (const name of ['wasm', 'js'] as const) {
    it(`${name}: cached logits equal a full forward over the growing sequence, step by step`, () => {
      const model = gptFromSafetensors(modelBytes, config, backends[name]);
      const rand = new Random(9);
      const ids = Array.from({ length: 13 }, () => rand.int(config.vocab_size));
      for (const chunk of [128, 4]) {
        // one prefill pass, and a prefill split into chunks of 4
        const cache = model.createKvCache(chunk);
        const seq = ids.slice();
        let cached = model.forwardCached(seq, cache).data().slice();
        expectClose(`prefill (chunk ${chunk})`, cached, lastRow(model, seq), 2e-5);
        for (let step = 0; step < 18; step++) {
          // up to the full context of 32
          const next = rand.int(config.vocab_size);
          seq.push(next);
          cached = model.forwardCached([next], cache).data().slice();
          expectClose(`step ${step} (chunk ${chunk})`, cached, lastRow(model, seq), 2e-5);
        }
        expect(cache.length).toBe(31);
        expect(() => model.forwardCached([1, 2], cache)).toThrow(
          '31 cached + 2 new positions exceed the context length n_positions (32)',
        );
        cache.dispose();
      }
      model.dispose();
    });
  }

  // n_embd 640: c_fc's 2,560 outputs are past the 2,304 from which a single-token f32 step reads a
  // layer's weight from a transposed copy (gpt.ts wideWeights); the tiny model above has none
  for (const name of ['wasm', 'js'] as const) {
    it(`${name}: single-token steps read wide layers transposed: made once, equal to a full forward, remade after step() and markParametersChanged(), not after a read`, () => {
      const be = backends[name];
      const model = new GPT({ n_layer: 2, n_head: 10, n_embd: 640, n_positions: 16, vocab_size: 97 }, be, { seed: 3 });
      const rand = new Random(5);
      const ids = Array.from({ length: 7 }, () => rand.int(97));
      const decode = (label: string) => {
        const cache = model.createKvCache();
        model.forwardCached(ids.slice(0, 5), cache);
        let added = 0;
        for (const n of [5, 6]) {
          const before = be.arena.bytesInUse;
          const logits = model.forwardCached([ids[n]], cache).data().slice();
          added += be.arena.bytesInUse - before;
          expectClose(`${label}, position ${n}`, logits, lastRow(model, ids.slice(0, n + 1)), 2e-5);
        }
        cache.dispose();
        return added;
      };
      expect(decode('first decode')).toBe(2 * 2560 * 640 * 4); // the two layers' c_fc, transposed, made on the first step
      expect(decode('again')).toBe(0);
      // a training step changes every weight; the next decode step must see the new ones
      model.zeroGrad();
      model.forward(
        ids,
        1,
        7,
        ids.map((_, i) => ids[(i + 1) % 7]),
      );
      model.backward();
      model.step({ lr: 1e-2 });
      expect(decode('after step()')).toBe(0);
      // so must a weight written by hand and marked; a read changes nothing
      const version = model.parametersVersion;
      const w = model.parameter('h.1.mlp.c_fc.weight').data();
      expect(model.parametersVersion, 'parameter() is a read').toBe(version);
      for (let i = 0; i < w.length; i += 97) w[i] += 0.05;
      model.markParametersChanged();
      expect(decode('after a hand edit, marked')).toBe(0);
      model.dispose();
    });
  }

  it('with no room for the transposed copies, single-token steps read the wide layers as they are', () => {
    const be = backends.wasm;
    const model = new GPT({ n_layer: 1, n_head: 10, n_embd: 640, n_positions: 8, vocab_size: 97 }, be, { seed: 6 });
    const alloc = be.arena.alloc.bind(be.arena);
    let refused = 0;
    be.arena.alloc = (bytes: number, what: string) => {
      if (what === 'transposed decode weights') {
        refused++;
        throw new RangeError('arena: no room (test)');
      }
      return alloc(bytes, what);
    };
    try {
      const ids = [4, 8, 15, 16, 23];
      const cache = model.createKvCache();
      model.forwardCached(ids.slice(0, 3), cache);
      for (const n of [3, 4])
        expectClose(
          `position ${n}`,
          model.forwardCached([ids[n]], cache).data().slice(),
          lastRow(model, ids.slice(0, n + 1)),
          2e-5,
        );
      expect(refused).toBe(1); // asked once, not on every step
      cache.dispose();
    } finally {
      be.arena.alloc = alloc;
      model.dispose();
    }
  });

  it('greedy generation is deterministic and follows the argmax', () => {
    const model = gptFromSafetensors(modelBytes, config, backends.wasm);
    const a = [...generate(model, [1, 2, 3], { temperature: 0, maxTokens: 20 })];
    const b = [...generate(model, [1, 2, 3], { temperature: 0, maxTokens: 20 })];
    expect(a).toEqual(b);
    expect(a.length).toBe(20);
    // each token is the argmax of a full forward over what came before
    const seq = [1, 2, 3];
    for (const id of a.slice(0, 5)) {
      expect(id).toBe(argmax(lastRow(model, seq)));
      seq.push(id);
    }
    model.dispose();
  });

  it('the same seed gives the same sample, another seed another', () => {
    const model = gptFromSafetensors(modelBytes, config, backends.wasm);
    const run = (seed: number) => [...generate(model, [5, 6], { seed, maxTokens: 25, temperature: 1.5 })];
    expect(run(1)).toEqual(run(1));
    expect(run(1)).not.toEqual(run(2));
    expect(run(0)).not.toEqual(run(4294967295));
    // a seed the 32-bit generator cannot hold is refused, not folded onto another (2^32 was 0's)
    for (const bad of [2 ** 32, 1e300, -1, 1.5])
      expect(() => run(bad), String(bad)).toThrow('seed must be an integer in 0..4294967295');
    model.dispose();
  });

  it('stops at the stop token and reports why', () => {
    const model = gptFromSafetensors(modelBytes, config, backends.wasm);
    const first = [...generate(model, [4], { temperature: 0, maxTokens: 1 })][0];
    const g = generate(model, [4], { temperature: 0, maxTokens: 10, stopToken: first });
    let r = g.next();
    expect(r.done).toBe(true);
    expect((r.value as { stoppedBy: string }).stoppedBy).toBe('stop-token');
    r = generate(model, [4], { temperature: 0, maxTokens: 3 }).next();
    expect(r.done).toBe(false);
    model.dispose();
  });

  it('slides the window when the context is full instead of failing', () => {
    const model = gptFromSafetensors(modelBytes, config, backends.wasm);
    const g = generate(
      model,
      Array.from({ length: 20 }, (_, i) => i),
      { temperature: 0, maxTokens: 60 },
    );
    const out: number[] = [];
    let r = g.next();
    while (!r.done) {
      out.push(r.value);
      r = g.next();
    }
    expect(out.length).toBe(60);
    expect(r.value.slides).toBeGreaterThanOrEqual(2);
    model.dispose();
  });

  it('refuses an empty prompt and one that fills the context', () => {
    const model = gptFromSafetensors(modelBytes, config, backends.js);
    expect(() => generate(model, []).next()).toThrow('the prompt is empty');
    expect(() => generate(model, new Array(32).fill(1)).next()).toThrow(
      'the prompt has 32 tokens; the context holds 32',
    );
    expect(() => generate(model, [1], { topP: 0 }).next()).toThrow('top-p must be in (0, 1], got 0');
    model.dispose();
  });
});

describe('sampling', () => {
  const logits = Float32Array.from([0.1, 2.0, -1, 1.5, 0.9, 1.99]);
  it('temperature 0 and top-k 1 are the argmax', () => {
    const r = new Random(1);
    expect(sampleToken(logits, { temperature: 0 }, r)).toBe(1);
    expect(sampleToken(logits, { topK: 1 }, r)).toBe(1);
  });
  it('top-k draws only among the k largest, top-p only inside the nucleus', () => {
    const r = new Random(2);
    const seenK = new Set<number>(),
      seenP = new Set<number>(),
      seenAll = new Set<number>();
    for (let i = 0; i < 3000; i++) {
      seenK.add(sampleToken(logits, { topK: 3 }, r));
      seenP.add(sampleToken(logits, { topP: 0.5 }, r));
      seenAll.add(sampleToken(logits, {}, r));
    }
    expect([...seenK].sort()).toEqual([1, 3, 5]);
    // probs: 2.0 and 1.99 hold about 0.27 each, so the nucleus for 0.5 is those two
    expect([...seenP].sort()).toEqual([1, 5]);
    expect(seenAll.size).toBe(6);
  });
  it('the fast sampler draws what the plain definition draws, over a GPT-2-sized vocabulary, ties included', () => {
    // the definition (the sampler as first written): weights over all ids, top-k by a sorted copy,
    // top-p by sorting the ids by weight, one draw over the kept ids in id order
    const plain = (x: ArrayLike<number>, T: number, k: number, p: number, rand: Random): number => {
      const V = x.length;
      if (T === 0 || k === 1) return argmax(x);
      let max = -Infinity;
      for (let i = 0; i < V; i++) max = Math.max(max, x[i]);
      const threshold = k > 0 && k < V ? Float64Array.from(x).sort().reverse()[k - 1] : -Infinity;
      const probs = new Float64Array(V);
      let total = 0;
      for (let i = 0; i < V; i++)
        if (x[i] >= threshold) {
          probs[i] = Math.exp((x[i] - max) / T);
          total += probs[i];
        }
      let kept = probs,
        keptTotal = total;
      if (p < 1) {
        const floor = ((1 - p) / V) * total;
        const ids = [...probs.keys()]
          .filter((i) => probs[i] >= floor && probs[i] > 0)
          .sort((a, b) => probs[b] - probs[a] || a - b);
        let cum = 0,
          keep = 0;
        while (keep < ids.length && cum < p * total) cum += probs[ids[keep++]];
        kept = new Float64Array(V);
        keptTotal = 0;
        for (let j = 0; j < keep; j++) {
          kept[ids[j]] = probs[ids[j]];
          keptTotal += probs[ids[j]];
        }
      }
      let r = rand.uniform() * keptTotal,
        last = 0;
      for (let i = 0; i < V; i++) {
        if (kept[i] <= 0) continue;
        last = i;
        r -= kept[i];
        if (r < 0) return i;
      }
      return last;
    };
    const V = 50257,
      src = new Random(7);
    const rows = [
      Float32Array.from({ length: V }, () => src.uniform() * 10 - 5), // flat: the nucleus is most of the vocabulary
      Float32Array.from({ length: V }, () => Math.round((src.uniform() * 6 - 3) * 4) / 4), // coarse: ties everywhere, at every cut
      Float32Array.from({ length: V }, (_, i) => (i % 97 === 0 ? 8 : 0) + src.uniform() * 2), // peaked, as a trained model's
    ];
    for (const [r, row] of rows.entries()) {
      for (const [T, k, p] of [
        [1, 0, 1],
        [1, 50, 1],
        [0.7, 40, 0.9],
        [1.3, 0, 0.9],
        [1, 0, 0.5],
        [1, 2000, 0.95],
        [0.8, 3, 1],
        [1, 1500, 1],
      ]) {
        const a = new Random(100 + r),
          b = new Random(100 + r);
        for (let n = 0; n < 25; n++) {
          expect(
            sampleToken(row, { temperature: T, topK: k, topP: p }, a),
            `row ${r}, T ${T} top-k ${k} top-p ${p}, draw ${n}`,
          ).toBe(plain(row, T, k, p, b));
        }
      }
    }
  });
  it('draws in proportion to the probabilities', () => {
    const r = new Random(3);
    const counts = [0, 0];
    for (let i = 0; i < 20000; i++) counts[sampleToken([0, Math.log(3)], {}, r)]++;
    expect(counts[1] / 20000).toBeGreaterThan(0.73);
    expect(counts[1] / 20000).toBeLessThan(0.77);
  });
});
