// GPT-2 in GGUF as llama.cpp's convert_hf_to_gguf.py writes it (architecture "gpt2"): its config
// keys, its tensor names (token_embd, blk.N.attn_qkv, ...), the linear weights transposed to
// (out, in) (ne [in, out]), position_embd and the 1-D tensors in F32, and GPT-2's BPE in the
// tokenizer keys. Reading puts each tensor into the model in the model's dtype: q8_0 / q4_0
// blocks that match are copied byte for byte (llama.cpp's blocks are ours), anything else goes
// through f32. Runtime-agnostic: the bytes come from a callback (a file, a download).
import { GPT, type WeightDType } from '../model/gpt.js';
import type { Backend } from '../backend/backend.js';
import { validateConfig, type GPTConfig } from '../model/config.js';
import { firstBeyond, storedAs, type ParameterSpec } from '../model/parameters.js';
import { f16ToF32 } from '../backend/f16.js';
import { dequantize_q8_0, dequantize_q4_0 } from '../kernels/quant.js';
import { gpt2Vocabulary, gpt2Tokens } from '../tokenizer/gpt2-vocab.js';
import { END_OF_TEXT_ID } from '../tokenizer/gpt2.js';
import { parseGGUF, GGUFError, GGML_TYPE, ggufHeader, type GGUFHeader, type GGUFTensor, type GGUFValue, type GGUFWriteValue } from './gguf.js';

const HF_TO_GGUF: [RegExp, string][] = [
  [/^wte\.weight$/, 'token_embd.weight'],
  [/^wpe\.weight$/, 'position_embd.weight'],
  [/^ln_f\.(weight|bias)$/, 'output_norm.$1'],
  [/^h\.(\d+)\.ln_1\.(weight|bias)$/, 'blk.$1.attn_norm.$2'],
  [/^h\.(\d+)\.attn\.c_attn\.(weight|bias)$/, 'blk.$1.attn_qkv.$2'],
  [/^h\.(\d+)\.attn\.c_proj\.(weight|bias)$/, 'blk.$1.attn_output.$2'],
  [/^h\.(\d+)\.ln_2\.(weight|bias)$/, 'blk.$1.ffn_norm.$2'],
  [/^h\.(\d+)\.mlp\.c_fc\.(weight|bias)$/, 'blk.$1.ffn_up.$2'],
  [/^h\.(\d+)\.mlp\.c_proj\.(weight|bias)$/, 'blk.$1.ffn_down.$2'],
];

/** The GGUF name of a parameter's Hugging Face name (h.0.attn.c_attn.weight -> blk.0.attn_qkv.weight). */
export function ggufName(hfName: string): string {
  for (const [re, to] of HF_TO_GGUF) if (re.test(hfName)) return hfName.replace(re, to);
  throw new Error(`no GGUF name for parameter '${hfName}'`);
}

/** GGUF's dims (innermost first) of a parameter: a Conv1D weight (in, out) is stored (out, in), i.e. ne [in, out]. */
function ggufDims(spec: ParameterSpec): number[] {
  if (spec.kind === 'matrix') return [spec.shape[0], spec.shape[1]];
  return [...spec.shape].reverse();
}

const DTYPE_OF_TYPE: Record<number, WeightDType> = {
  [GGML_TYPE.F32]: 'f32',
  [GGML_TYPE.F16]: 'f16',
  [GGML_TYPE.Q8_0]: 'q8_0',
  [GGML_TYPE.Q4_0]: 'q4_0',
};
const TYPE_OF_DTYPE: Record<WeightDType, number> = { f32: 0, f16: 1, q8_0: 8, q4_0: 2 };
const FILE_TYPE: Record<WeightDType, number> = { f32: 0, f16: 1, q4_0: 2, q8_0: 7 }; // llama.cpp's LLAMA_FTYPE_*

function meta(h: GGUFHeader, key: string, source: string): GGUFValue {
  const v = h.metadata.get(key);
  if (v === undefined) throw new GGUFError(`${source}: no '${key}' in the metadata (a GPT-2 GGUF has it)`);
  return v;
}

function metaInt(h: GGUFHeader, key: string, source: string): number {
  const v = meta(h, key, source);
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0)
    throw new GGUFError(`${source}: '${key}' must be a positive integer, got ${String(v).slice(0, 40)}`);
  return n;
}

/** The model's config from a GPT-2 GGUF's metadata, and the dtype its linear weights are stored in. */
export function configFromGGUF(h: GGUFHeader, source: string): { config: GPTConfig; dtype: WeightDType } {
  const arch = meta(h, 'general.architecture', source);
  if (arch !== 'gpt2')
    throw new GGUFError(`${source}: architecture '${String(arch).slice(0, 40)}' is not GPT-2 (this project runs 'gpt2' GGUF files)`);
  const tokens = h.metadata.get('tokenizer.ggml.tokens');
  const config = validateConfig(
    {
      n_layer: metaInt(h, 'gpt2.block_count', source),
      n_head: metaInt(h, 'gpt2.attention.head_count', source),
      n_embd: metaInt(h, 'gpt2.embedding_length', source),
      n_positions: metaInt(h, 'gpt2.context_length', source),
      vocab_size: Array.isArray(tokens) ? tokens.length : -1,
    },
    source,
  );
  const ff = metaInt(h, 'gpt2.feed_forward_length', source);
  if (ff !== 4 * config.n_embd)
    throw new GGUFError(`${source}: gpt2.feed_forward_length is ${ff}; GPT-2's MLP is 4 x n_embd = ${4 * config.n_embd}`);
  const eps = h.metadata.get('gpt2.attention.layer_norm_epsilon');
  if (eps !== undefined && !(typeof eps === 'number' && Math.abs(eps - 1e-5) < 1e-9))
    throw new GGUFError(`${source}: layer_norm_epsilon is ${String(eps)}; GPT-2's (and these kernels') is 1e-5`);
  const qkv = h.tensors.find((t) => t.name === 'blk.0.attn_qkv.weight');
  if (!qkv) throw new GGUFError(`${source}: tensor 'blk.0.attn_qkv.weight' is missing`);
  return { config, dtype: DTYPE_OF_TYPE[qkv.type] };
}

/** A GGUF's config as Hugging Face's config.json names it (what the loaders hand on beside the model). */
export function ggufConfigJson(config: GPTConfig): Record<string, unknown> {
  return { model_type: 'gpt2', ...config, n_ctx: config.n_positions };
}

/** The tokenizer keys must be GPT-2's BPE: its 50,257 tokens, in order. */
export function checkGGUFTokenizer(h: GGUFHeader, source: string): void {
  const model = meta(h, 'tokenizer.ggml.model', source);
  if (model !== 'gpt2') throw new GGUFError(`${source}: tokenizer '${String(model).slice(0, 40)}' is not GPT-2's BPE ('gpt2')`);
  const tokens = meta(h, 'tokenizer.ggml.tokens', source);
  const ours = gpt2Tokens();
  if (!Array.isArray(tokens) || tokens.length !== ours.length)
    throw new GGUFError(`${source}: the vocabulary has ${Array.isArray(tokens) ? tokens.length : 'no'} tokens; GPT-2's has ${ours.length}`);
  const at = tokens.findIndex((t, i) => t !== ours[i]);
  if (at >= 0)
    throw new GGUFError(`${source}: token ${at} is ${JSON.stringify(tokens[at]).slice(0, 40)}, GPT-2's is ${JSON.stringify(ours[at])}: another vocabulary`);
}

/** A tensor's values as f32 in the parameter's Hugging Face shape (Conv1D weights transposed back to (in, out)). */
function decodeTensor(t: GGUFTensor, bytes: Uint8Array, spec: ParameterSpec, dst: Float32Array): void {
  const count = dst.length;
  const rowLen = t.dims[0],
    rows = count / rowLen;
  const flat = spec.kind === 'matrix' ? new Float32Array(count) : dst;
  if (t.type === GGML_TYPE.F32) flat.set(new Float32Array(bytes.slice().buffer));
  else if (t.type === GGML_TYPE.F16) {
    const h = new Uint16Array(bytes.slice().buffer);
    for (let i = 0; i < count; i++) flat[i] = f16ToF32(h[i]);
  } else if (t.type === GGML_TYPE.Q8_0) dequantize_q8_0(flat, bytes, rows, rowLen);
  else dequantize_q4_0(flat, bytes, rows, rowLen);
  if (spec.kind === 'matrix') for (let o = 0; o < rows; o++) for (let k = 0; k < rowLen; k++) dst[k * rows + o] = flat[o * rowLen + k];
}

/** A block tensor's scales must be finite f16 (a NaN scale would poison every value of its block). */
function checkScales(t: GGUFTensor, bytes: Uint8Array, source: string): void {
  const block = t.type === GGML_TYPE.Q8_0 ? 34 : 18;
  for (let at = 0; at < bytes.length; at += block)
    if ((bytes[at + 1] & 0x7c) === 0x7c)
      throw new GGUFError(`${source}: tensor '${t.name}' has a non-finite scale in block ${at / block}`);
}

/**
 * Which file tensor fills which parameter, checked from the header before any data is read: every
 * parameter's tensor there with its dims, nothing else (output.weight only as a copy of token_embd).
 */
export function planGGUF(model: GPT, h: GGUFHeader, source: string): Map<string, ParameterSpec> {
  const byName = new Map(h.tensors.map((t) => [t.name, t]));
  const plan = new Map<string, ParameterSpec>();
  for (const spec of model.parameterSpecs) {
    const name = ggufName(spec.name);
    const t = byName.get(name);
    if (!t) throw new GGUFError(`${source}: tensor '${name}' (${spec.name}) is missing`);
    const want = ggufDims(spec);
    if (t.dims.join(',') !== want.join(','))
      throw new GGUFError(`${source}: tensor '${name}' has dims [${t.dims}], expected [${want}]`);
    plan.set(name, spec);
  }
  const output = byName.get('output.weight'),
    embd = byName.get('token_embd.weight')!;
  if (output && (output.type !== embd.type || output.dims.join() !== embd.dims.join()))
    throw new GGUFError(`${source}: output.weight differs from token_embd.weight; GPT-2 ties its LM head to the embedding`);
  const extra = h.tensors.find((t) => !plan.has(t.name) && t.name !== 'output.weight');
  if (extra) throw new GGUFError(`${source}: tensor '${extra.name}' is not part of GPT-2`);
  return plan;
}

/** Put one file tensor's bytes into its parameter: matching blocks copied as they are, the rest through f32. */
export function loadGGUFTensor(model: GPT, spec: ParameterSpec, t: GGUFTensor, bytes: Uint8Array, source: string): void {
  const stored = storedAs(spec, model.dtype);
  if (stored.dtype === DTYPE_OF_TYPE[t.type] && (t.type === GGML_TYPE.Q8_0 || t.type === GGML_TYPE.Q4_0)) {
    checkScales(t, bytes, source);
    model.parameter(spec.name).blocks().set(bytes); // llama.cpp's blocks, (out, in): ours exactly
  } else {
    try {
      model.loadParameter(spec.name, (dst) => decodeTensor(t, bytes, spec, dst), source);
    } catch (e) {
      throw new GGUFError((e as Error).message); // a value the dtype cannot hold: the file's fault
    }
  }
  if (stored.dtype === 'f32') {
    const p = model.parameter(spec.name),
      i = firstBeyond(model.backend, p);
    if (i >= 0) throw new GGUFError(`${source}: tensor '${t.name}' holds ${p.data()[i]} at index ${i}`);
  }
}

/** An LM head stored apart must hold token_embd's bytes exactly. */
export function checkTiedHead(output: Uint8Array, embd: Uint8Array, source: string): void {
  if (output.length !== embd.length || output.some((x, i) => x !== embd[i]))
    throw new GGUFError(`${source}: output.weight differs from token_embd.weight; GPT-2 ties its LM head to the embedding`);
}

/** Fill `model` (built from configFromGGUF's config) with the file's tensors; `read(begin, end)` gives the file's bytes in that range. */
export function loadGGUFTensors(model: GPT, h: GGUFHeader, read: (begin: number, end: number) => Uint8Array, source: string): void {
  const plan = planGGUF(model, h, source);
  for (const t of h.tensors) {
    const spec = plan.get(t.name);
    if (spec) loadGGUFTensor(model, spec, t, read(t.begin, t.end), source);
  }
  const output = h.tensors.find((t) => t.name === 'output.weight');
  const embd = h.tensors.find((t) => t.name === 'token_embd.weight')!;
  if (output) checkTiedHead(read(output.begin, output.end), read(embd.begin, embd.end), source);
  model.markParametersChanged();
}

/** One tensor of a GGUF to write: its header entry and its bytes, made when asked for (one at a time). */
export interface GGUFTensorOut {
  name: string;
  dims: number[];
  type: number;
  bytes: number;
  data(): Uint8Array;
}

function transpose(src: ArrayLike<number>, out: Float32Array | Uint16Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
}

/** A model's tensors as GGUF stores them, in its own dtype (quantized blocks as they are). */
export function ggufTensors(model: GPT): GGUFTensorOut[] {
  return model.parameterSpecs.map((spec) => {
    const t = model.parameter(spec.name);
    const type = TYPE_OF_DTYPE[t.dtype as WeightDType];
    const data = (): Uint8Array => {
      if (t.dtype === 'q8_0' || t.dtype === 'q4_0') return t.blocks().slice();
      const view = t.dtype === 'f16' ? t.halves() : t.data();
      if (spec.kind !== 'matrix') return new Uint8Array(view.slice().buffer);
      const out = t.dtype === 'f16' ? new Uint16Array(view.length) : new Float32Array(view.length);
      transpose(view, out, spec.shape[0], spec.shape[1]); // (in, out) -> (out, in)
      return new Uint8Array(out.buffer);
    };
    return { name: ggufName(spec.name), dims: ggufDims(spec), type, bytes: t.bytes, data };
  });
}

/** The metadata llama.cpp expects of a GPT-2 GGUF, with GPT-2's BPE. */
export function gpt2Metadata(config: GPTConfig, dtype: WeightDType, name: string): [string, GGUFWriteValue][] {
  const { tokens, merges } = gpt2Vocabulary();
  const types = new Int32Array(tokens.length).fill(1); // NORMAL
  types[END_OF_TEXT_ID] = 3; // CONTROL
  const u32 = (value: number) => ({ type: 'u32' as const, value });
  return [
    ['general.architecture', { type: 'string', value: 'gpt2' }],
    ['general.name', { type: 'string', value: name }],
    ['general.file_type', u32(FILE_TYPE[dtype])],
    ...(dtype === 'q8_0' || dtype === 'q4_0' ? [['general.quantization_version', u32(2)] as [string, GGUFWriteValue]] : []),
    ['gpt2.block_count', u32(config.n_layer)],
    ['gpt2.context_length', u32(config.n_positions)],
    ['gpt2.embedding_length', u32(config.n_embd)],
    ['gpt2.feed_forward_length', u32(4 * config.n_embd)],
    ['gpt2.attention.head_count', u32(config.n_head)],
    ['gpt2.attention.layer_norm_epsilon', { type: 'f32', value: 1e-5 }],
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: 'gpt-2' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: types }],
    ['tokenizer.ggml.merges', { type: 'string[]', value: merges }],
    ['tokenizer.ggml.bos_token_id', u32(END_OF_TEXT_ID)],
    ['tokenizer.ggml.eos_token_id', u32(END_OF_TEXT_ID)],
    ['tokenizer.ggml.unknown_token_id', u32(END_OF_TEXT_ID)],
  ];
}

/** A GPT-2 model with GPT-2's BPE as a GGUF: the header, then each tensor's bytes padded to 32. */
export function gpt2ToGGUF(model: GPT, name = 'GPT-2'): { header: Uint8Array; tensors: GGUFTensorOut[] } {
  if (model.config.vocab_size !== gpt2Tokens().length)
    throw new Error(`a GGUF carries GPT-2's BPE: this model's vocabulary has ${model.config.vocab_size} tokens, not 50,257`);
  const tensors = ggufTensors(model);
  const { header } = ggufHeader(gpt2Metadata(model.config, model.dtype, name), tensors);
  return { header, tensors };
}

/** A GPT from a whole GPT-2 GGUF file in memory, held as `dtype` (default: the file's own). */
export function gptFromGGUF(bytes: Uint8Array, backend: Backend, source = 'model.gguf', dtype?: WeightDType): GPT {
  const h = parseGGUF(bytes, bytes.length, source);
  const { config, dtype: own } = configFromGGUF(h, source);
  checkGGUFTokenizer(h, source);
  const model = new GPT(config, backend, { init: 'none', dtype: dtype ?? own });
  try {
    loadGGUFTensors(model, h, (b, e) => bytes.subarray(b, e), source);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/** A GPT-2 model as one GGUF file in memory (for small models; files on disk are written tensor by tensor). */
export function gpt2GGUFBytes(model: GPT, name?: string): Uint8Array {
  const { header, tensors } = gpt2ToGGUF(model, name);
  const parts = [header, ...tensors.map((t) => t.data())];
  const out = new Uint8Array(parts.reduce((n, p) => n + Math.ceil(p.length / 32) * 32, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += Math.ceil(p.length / 32) * 32;
  }
  return out;
}
