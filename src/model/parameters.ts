// The parameter layout: every tensor of GPT-2 by its Hugging Face name, in one list. Weights,
// gradients and both AdamW moments are each one arena block laid out from this same list, so the
// optimizer can run as one loop over one array.
import type { GPTConfig } from './config.js';

export interface ParameterSpec {
  name: string;
  shape: number[];
  kind: 'embedding' | 'matrix' | 'bias' | 'layernorm';
}

export function parameterSpecs(c: GPTConfig): ParameterSpec[] {
  const C = c.n_embd;
  const specs: ParameterSpec[] = [
    { name: 'wte.weight', shape: [c.vocab_size, C], kind: 'embedding' },
    { name: 'wpe.weight', shape: [c.n_positions, C], kind: 'embedding' },
  ];
  for (let l = 0; l < c.n_layer; l++) {
    const h = `h.${l}`;
    specs.push(
      { name: `${h}.ln_1.weight`, shape: [C], kind: 'layernorm' },
      { name: `${h}.ln_1.bias`, shape: [C], kind: 'layernorm' },
      { name: `${h}.attn.c_attn.weight`, shape: [C, 3 * C], kind: 'matrix' },   // Conv1D: [in, out]
      { name: `${h}.attn.c_attn.bias`, shape: [3 * C], kind: 'bias' },
      { name: `${h}.attn.c_proj.weight`, shape: [C, C], kind: 'matrix' },
      { name: `${h}.attn.c_proj.bias`, shape: [C], kind: 'bias' },
      { name: `${h}.ln_2.weight`, shape: [C], kind: 'layernorm' },
      { name: `${h}.ln_2.bias`, shape: [C], kind: 'layernorm' },
      { name: `${h}.mlp.c_fc.weight`, shape: [C, 4 * C], kind: 'matrix' },
      { name: `${h}.mlp.c_fc.bias`, shape: [4 * C], kind: 'bias' },
      { name: `${h}.mlp.c_proj.weight`, shape: [4 * C, C], kind: 'matrix' },
      { name: `${h}.mlp.c_proj.bias`, shape: [C], kind: 'bias' },
    );
  }
  specs.push(
    { name: 'ln_f.weight', shape: [C], kind: 'layernorm' },
    { name: 'ln_f.bias', shape: [C], kind: 'layernorm' },
  );
  return specs;
}

/** Number of parameters (the LM head is tied to wte and not counted twice). */
export function countParameters(c: GPTConfig): number {
  return parameterSpecs(c).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}
