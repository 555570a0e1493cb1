// Quantized weights in llama.cpp's block formats, and the linear layers, LM head and embedding
// that read them. A quantized matrix is stored (rows, K) with its K values per row in blocks of 32:
//   q8_0: 34 bytes: the scale d (f16), then 32 int8 q; value = q * d
//   q4_0: 18 bytes: d (f16), then 16 bytes: value j in the low nibble of byte j, value j + 16 in
//         the high nibble, each q in 0..15; value = (q - 8) * d
// (ggml's block_q8_0 and block_q4_0, so GGUF tensors are these bytes). A linear layer's weight is
// kept (OC, C): out = inp @ W^T + bias, each output a dot product over one row of blocks, which is
// how llama.cpp stores GPT-2's Conv1D weights too; wte (V, C) is already in that form.
//
// Decode (M < 4 rows) streams the blocks once: each row of inp is quantized per block of 32 to
// int16 (scale max|x| / 32767), and a block's dot product is integer (i32x4.dot_i16x8_s) times the
// two scales. int16 activations keep the result within about 1e-5 of the dequantized weights in
// f32 (int8 ones, llama.cpp's q8_0 activations, would be about 1e-2 off). Prefill (M >= 4)
// dequantizes the weight into the register tiles' packed panels and runs gemm.ts's tiles on them.
import { f16_to_f32, f16_bits } from './f16';
import { madd, madd1, hsum } from './simd';
import { gemm_nn, ZEROS, DENSE, k_chunk, packed_panels, pack_scratch, store_transposed, PANEL_COLUMNS, SCRATCH_BYTES }
  from './gemm';

const Q8: i32 = 0, Q4: i32 = 1;

@inline function block_bytes(fmt: i32): usize { return fmt == Q8 ? 34 : 18; }

// ---- quantize and dequantize ----

// f32 -> blocks, as llama.cpp's quantize_row_q8_0_ref / quantize_row_q4_0_ref compute them. out
// (R, K/32 blocks) from inp (R, K), or with trans from inp (K, R) (a Conv1D weight kept (OC, C)),
// rows [r0, r1) of out. Returns how many values were not finite or gave a scale past f16's range
// (their blocks are not usable: the host refuses the tensor). With trans, four rows' blocks at a
// time are gathered into the scratch, transposed in registers from one v128 a k (a row at a time,
// 32 loads R floats apart took most of a load).
function quantize(out: usize, inp: usize, R: i32, K: i32, trans: bool, r0: i32, r1: i32, fmt: i32): i32 {
  const nb = K >> 5, bb = block_bytes(fmt), g = pack_scratch(), row = <usize>nb * bb;
  let bad = 0, r = r0;
  if (trans) {
    const ks = <usize>R << 2;
    for (; r + 4 <= r1; r += 4) {
      for (let b = 0; b < nb; b++) {
        const x = inp + (<usize>r << 2) + <usize>(b << 5) * ks, blk = out + <usize>r * row + <usize>b * bb;
        for (let k: usize = 0; k < 32; k += 4) {
          const x0 = v128.load(x + k * ks), x1 = v128.load(x + (k + 1) * ks);
          store_transposed(g + (k << 2), 128, x0, x1, v128.load(x + (k + 2) * ks), v128.load(x + (k + 3) * ks));
        }
        for (let i: usize = 0; i < 4; i++) bad += quantize_block(blk + i * row, g + (i << 7), fmt);
      }
    }
    for (; r < r1; r++) {
      for (let b = 0; b < nb; b++) {
        const x = inp + (<usize>r << 2) + <usize>(b << 5) * ks;
        for (let j: usize = 0; j < 32; j++) store<f32>(g + (j << 2), load<f32>(x + j * ks));
        bad += quantize_block(out + <usize>r * row + <usize>b * bb, g, fmt);
      }
    }
    return bad;
  }
  for (; r < r1; r++) {
    const x = inp + (<usize>r * <usize>K << 2);
    for (let b = 0; b < nb; b++) bad += quantize_block(out + <usize>r * row + <usize>b * bb, x + (<usize>b << 7), fmt);
  }
  return bad;
}

// One block from 32 contiguous f32 at x, in lanes. The same arithmetic as the reference, value by
// value: amax and max keep the first of equal magnitudes and pass over NaN as its comparisons do
// (pmax), q8_0 rounds halves away from zero (roundf: the fraction, exact below 2^23, decides;
// adding 0.5 in f32 could round up), q4_0 truncates x / d + 8.5 and caps it at 15.
@inline function quantize_block(blk: usize, x: usize, fmt: i32): i32 {
  const inf = f32x4.splat(Infinity);
  let a = f32x4.splat(0), nonfinite = i32x4.splat(0);
  for (let i: usize = 0; i < 8; i++) {
    const v = f32x4.abs(v128.load(x + (i << 4)));
    a = f32x4.pmax(a, v);
    nonfinite = i32x4.sub(nonfinite, v128.not(f32x4.lt(v, inf))); // NaN and inf: -1 each
  }
  a = f32x4.pmax(a, i32x4.shuffle(a, a, 2, 3, 0, 1));
  a = f32x4.pmax(a, i32x4.shuffle(a, a, 1, 0, 3, 2));
  const amax = f32x4.extract_lane(a, 0);
  let bad = i32x4.extract_lane(nonfinite, 0) + i32x4.extract_lane(nonfinite, 1) +
            i32x4.extract_lane(nonfinite, 2) + i32x4.extract_lane(nonfinite, 3);
  let mx: f32 = 0; // the first value of magnitude amax (0 when all are zero)
  if (fmt == Q4 && amax > 0) {
    for (let i: usize = 0; i < 8; i++) {
      const m = i32x4.bitmask(f32x4.eq(f32x4.abs(v128.load(x + (i << 4))), f32x4.splat(amax)));
      if (m != 0) { mx = load<f32>(x + (i << 4) + (<usize>ctz(m) << 2)); break; }
    }
  }
  const d: f32 = fmt == Q8 ? amax / 127 : mx / -8, id = f32x4.splat(d != 0 ? 1 / d : 0);
  const h = f16_bits(reinterpret<u32>(d));
  if ((h & 0x7c00) == 0x7c00) bad++;
  store<u16>(blk, <u16>h);
  if (fmt == Q8) {
    for (let i: usize = 0; i < 2; i++) {
      const p = x + (i << 6);
      const q = i16x8.narrow_i32x4_s(round_q8(v128.load(p), id), round_q8(v128.load(p, 16), id));
      const q2 = i16x8.narrow_i32x4_s(round_q8(v128.load(p, 32), id), round_q8(v128.load(p, 48), id));
      v128.store(blk + 2 + (i << 4), i8x16.narrow_i16x8_s(q, q2));
    }
  } else {
    // byte j: value j in the low nibble, value j + 16 in the high one
    const b0 = v128.or(q4(v128.load(x), id), i32x4.shl(q4(v128.load(x, 64), id), 4));
    const b1 = v128.or(q4(v128.load(x, 16), id), i32x4.shl(q4(v128.load(x, 80), id), 4));
    const b2 = v128.or(q4(v128.load(x, 32), id), i32x4.shl(q4(v128.load(x, 96), id), 4));
    const b3 = v128.or(q4(v128.load(x, 48), id), i32x4.shl(q4(v128.load(x, 112), id), 4));
    v128.store(blk + 2, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(b0, b1), i16x8.narrow_i32x4_s(b2, b3)));
  }
  return bad;
}

// x / d rounded half away from zero, as i32
@inline function round_q8(x: v128, id: v128): v128 {
  const v = f32x4.mul(x, id), t = f32x4.trunc(v), f = f32x4.sub(v, t), one = f32x4.splat(1);
  const up = v128.and(f32x4.ge(f, f32x4.splat(0.5)), one), down = v128.and(f32x4.le(f, f32x4.splat(-0.5)), one);
  return i32x4.trunc_sat_f32x4_s(f32x4.sub(f32x4.add(t, up), down));
}

// min(15, trunc(x / d + 8.5)), as i32
@inline function q4(x: v128, id: v128): v128 {
  return i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.mul(x, id), f32x4.splat(8.5))), i32x4.splat(15));
}

export function quantize_q8_0(out: usize, inp: usize, R: i32, K: i32, trans: bool): i32 {
  return quantize(out, inp, R, K, trans, 0, R, Q8);
}
export function quantize_q4_0(out: usize, inp: usize, R: i32, K: i32, trans: bool): i32 {
  return quantize(out, inp, R, K, trans, 0, R, Q4);
}
// rows [r0, r1) only (threads split a tensor by rows)
export function quantize_q8_0_part(out: usize, inp: usize, R: i32, K: i32, trans: bool, r0: i32, r1: i32): i32 {
  return quantize(out, inp, R, K, trans, r0, r1, Q8);
}
export function quantize_q4_0_part(out: usize, inp: usize, R: i32, K: i32, trans: bool, r0: i32, r1: i32): i32 {
  return quantize(out, inp, R, K, trans, r0, r1, Q4);
}

// The 32 values of the block at blk as int16, in four i16x8 (values 0-7, 8-15, 16-23, 24-31)
@inline function part(blk: usize, i: i32, fmt: i32): v128 {
  if (fmt == Q8) return v128.load8x8_s(blk + 2 + (<usize>i << 3));
  const v = v128.load(blk + 2);
  const n = i < 2 ? v128.and(v, i8x16.splat(0x0f)) : i8x16.shr_u(v, 4);
  const q = i8x16.sub(n, i8x16.splat(8));
  return (i & 1) == 0 ? i16x8.extend_low_i8x16_s(q) : i16x8.extend_high_i8x16_s(q);
}

@inline function scale(blk: usize): f32 { return f16_to_f32(<u32>load<u16>(blk)); }

// the block's 32 values in f32 (exact: a small integer times an f16) at o
@inline function dequantize_block(o: usize, blk: usize, fmt: i32): void {
  const d = f32x4.splat(scale(blk));
  for (let i = 0; i < 4; i++) {
    const p = part(blk, i, fmt);
    v128.store(o + (<usize>i << 5), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(p)), d));
    v128.store(o + (<usize>i << 5), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(p)), d), 16);
  }
}

// blocks (R, K/32) -> f32 (R, K)
function dequantize(out: usize, inp: usize, R: i32, K: i32, fmt: i32): void {
  const n = <usize>R * <usize>(K >> 5);
  for (let i: usize = 0; i < n; i++) dequantize_block(out + (i << 7), inp + i * block_bytes(fmt), fmt);
}

export function dequantize_q8_0(out: usize, inp: usize, R: i32, K: i32): void { dequantize(out, inp, R, K, Q8); }
export function dequantize_q4_0(out: usize, inp: usize, R: i32, K: i32): void { dequantize(out, inp, R, K, Q4); }

// ---- the embedding ----

// inp (B,T) token ids, wte (V,C) blocks, wpe (maxT,C) f32 -> out (B,T,C) = wte[token] + wpe[t]
function encoder(out: usize, inp: usize, wte: usize, wpe: usize, B: i32, T: i32, C: i32, fmt: i32): void {
  const row = <usize>(C >> 5) * block_bytes(fmt), rowBytes = <usize>C << 2;
  for (let bt = 0; bt < B * T; bt++) {
    const o = out + <usize>bt * rowBytes, p = wpe + <usize>(bt % T) * rowBytes;
    const w = wte + <usize>load<i32>(inp + (<usize>bt << 2)) * row;
    for (let b = 0; b < C >> 5; b++) dequantize_block(o + (<usize>b << 7), w + <usize>b * block_bytes(fmt), fmt);
    for (let c = 0; c < C; c += 4) {
      const off = <usize>c << 2;
      v128.store(o + off, f32x4.add(v128.load(o + off), v128.load(p + off)));
    }
  }
}

export function encoder_forward_q8_0(out: usize, inp: usize, wte: usize, wpe: usize, B: i32, T: i32, C: i32): void {
  encoder(out, inp, wte, wpe, B, T, C, Q8);
}
export function encoder_forward_q4_0(out: usize, inp: usize, wte: usize, wpe: usize, B: i32, T: i32, C: i32): void {
  encoder(out, inp, wte, wpe, B, T, C, Q4);
}

// ---- the linear layer: out (M,OC) = inp (M,C) @ W^T + bias, W (OC, C) in blocks ----

// inp (B,T,C), weight (OC,C) blocks, bias (OC) or 0 -> out (B,T,OC)
export function linear_q8_0(out: usize, inp: usize, weight: usize, bias: usize, B: i32, T: i32, C: i32,
                            OC: i32): void {
  linear(out, inp, weight, bias, B * T, C, OC, 0, OC, Q8);
}
export function linear_q4_0(out: usize, inp: usize, weight: usize, bias: usize, B: i32, T: i32, C: i32,
                            OC: i32): void {
  linear(out, inp, weight, bias, B * T, C, OC, 0, OC, Q4);
}

// columns [n0,n1) of out for every row (threads split by columns; each reads only its rows of W)
export function linear_q8_0_part(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                                 n0: i32, n1: i32): void {
  linear(out, inp, weight, bias, M, C, OC, n0, n1, Q8);
}
export function linear_q4_0_part(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                                 n0: i32, n1: i32): void {
  linear(out, inp, weight, bias, M, C, OC, n0, n1, Q4);
}

@inline function linear(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                        n0: i32, n1: i32, fmt: i32): void {
  if (M < 4) decode(out, inp, weight, bias, M, C, OC, n0, n1, fmt);
  else prefill(out, inp, weight, bias, M, C, OC, n0, n1, fmt);
}

// Each row of inp quantized to int16 in the scratch, per row: C int16, then per block its scale
// times 2^112 (f32: the weights' f16 scales are read as f32 times 2^-112, see scales4), then per
// block -8 times its int16 values' sum times that scale (f32, q4_0's values are q - 8: a block
// adds its weight scale times this). For q4_0 each block's values are stored in the order its
// nibbles come out of 16-bit lanes (see block_dot).
@inline function x_row_bytes(C: i32): usize { return (<usize>C << 1) + (<usize>(C >> 5) << 3); }

const TWO_112: f32 = 5.192296858534828e33;

@inline function quantize_rows_i16(q: usize, inp: usize, M: i32, C: i32, fmt: i32): void {
  const nb = C >> 5;
  for (let m = 0; m < M; m++) {
    const x = inp + (<usize>m * <usize>C << 2), qm = q + <usize>m * x_row_bytes(C);
    const s = qm + (<usize>C << 1), e = s + (<usize>nb << 2);
    for (let b = 0; b < nb; b++) {
      const xb = x + (<usize>b << 7);
      let a = f32x4.abs(v128.load(xb));
      for (let i = 1; i < 8; i++) a = f32x4.max(a, f32x4.abs(v128.load(xb + (<usize>i << 4))));
      const amax = max(max(f32x4.extract_lane(a, 0), f32x4.extract_lane(a, 1)),
                       max(f32x4.extract_lane(a, 2), f32x4.extract_lane(a, 3)));
      const d: f32 = amax / 32767, id = f32x4.splat(d != 0 ? 1 / d : 0), ds: f32 = d * TWO_112;
      store<f32>(s + (<usize>b << 2), ds);
      const n0 = x16(xb, id), n1 = x16(xb + 32, id), n2 = x16(xb + 64, id), n3 = x16(xb + 96, id);
      const o = qm + (<usize>b << 6);
      if (fmt == Q8) {
        v128.store(o, n0); v128.store(o, n1, 16); v128.store(o, n2, 32); v128.store(o, n3, 48);
      } else {
        // values 0,2..14 | 16,18..30 | 1,3..15 | 17,19..31
        v128.store(o, i8x16.shuffle(n0, n1, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29));
        v128.store(o, i8x16.shuffle(n2, n3, 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29), 16);
        v128.store(o, i8x16.shuffle(n0, n1, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 32);
        v128.store(o, i8x16.shuffle(n2, n3, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31), 48);
      }
      if (fmt == Q4) {
        const sum = i32x4.add(i32x4.add(i32x4.extadd_pairwise_i16x8_s(n0), i32x4.extadd_pairwise_i16x8_s(n1)),
                              i32x4.add(i32x4.extadd_pairwise_i16x8_s(n2), i32x4.extadd_pairwise_i16x8_s(n3)));
        const t = i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) +
                  i32x4.extract_lane(sum, 3);
        const c = <f32>(t * -8);
        store<f32>(e + (<usize>b << 2), c * ds);
      }
    }
  }
}

// eight f32 at p times id, rounded to int16
@inline function x16(p: usize, id: v128): v128 {
  const lo = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), id)));
  const hi = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), id)));
  return i16x8.narrow_i32x4_s(lo, hi);
}

// One block's integer dot product with its row of x, as an f32x4 whose lanes sum to it (for
// q4_0, to it plus 8 times the sum of x, which the scales' row e takes back). A q4_0 block's 16
// bytes are read as eight 16-bit lanes, whose four nibbles are values 2i, 2i + 16, 2i + 1 and
// 2i + 17: shifts and masks give them as int16 with no widening (on x86 widenings are shuffles).
@inline function block_dot(blk: usize, x: usize, fmt: i32): v128 {
  let p0: v128, p1: v128, p2: v128, p3: v128;
  if (fmt == Q8) {
    p0 = v128.load8x8_s(blk, 2); p1 = v128.load8x8_s(blk, 10);
    p2 = v128.load8x8_s(blk, 18); p3 = v128.load8x8_s(blk, 26);
  } else {
    const v = v128.load(blk, 2), nibble = i16x8.splat(0x0f);
    p0 = v128.and(v, nibble); p1 = v128.and(i16x8.shr_u(v, 4), nibble);
    p2 = v128.and(i16x8.shr_u(v, 8), nibble); p3 = i16x8.shr_u(v, 12);
  }
  return f32x4.convert_i32x4_s(
    i32x4.add(i32x4.add(i32x4.dot_i16x8_s(p0, v128.load(x)), i32x4.dot_i16x8_s(p1, v128.load(x, 16))),
              i32x4.add(i32x4.dot_i16x8_s(p2, v128.load(x, 32)), i32x4.dot_i16x8_s(p3, v128.load(x, 48)))));
}

// The f16 scales of the blocks at blk and the next three (bb bytes apart) as f32 times 2^-112: the
// f16 sign, exponent and mantissa shifted to where an f32 has them (exact, subnormals too), by
// shifts only (a mask constant is rebuilt on every pass of the loop).
@inline function scales4(blk: usize, bb: usize): v128 {
  let h = v128.load16_lane(blk, i32x4.splat(0), 0);
  h = v128.load16_lane(blk + bb, h, 2);
  h = v128.load16_lane(blk + 2 * bb, h, 4);
  h = v128.load16_lane(blk + 3 * bb, h, 6);
  return v128.or(i32x4.shl(i32x4.shr_u(h, 15), 31), i32x4.shr_u(i32x4.shl(h, 17), 4));
}

// Few rows: the weight's rows [n0, n1) streamed once per row of inp, front to back, four blocks
// at a time: each block's integer dot, converted to f32, times its two scales into four f32
// lanes. After each block's multiply-add the sum is stored to a spare slot of the scratch: V8
// keeps a store where it is and the next block's loads after it, where unfenced it issued all
// four blocks' loads first and spilled half of them to the stack (in-model A/B: q4_0 1.45x).
@inline function decode(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                        n0: i32, n1: i32, fmt: i32): void {
  const nb = C >> 5, nb4 = nb & ~3, bb = block_bytes(fmt), row = <usize>nb * bb;
  const q = pack_scratch(), qRow = x_row_bytes(C), fence = q + <usize>SCRATCH_BYTES - 16;
  if (<usize>M * qRow > <usize>SCRATCH_BYTES - 16) unreachable();
  quantize_rows_i16(q, inp, M, C, fmt);
  for (let m = 0; m < M; m++) {
    const xq = q + <usize>m * qRow, x4 = xq + (<usize>nb4 << 6), xe = xq + (<usize>nb << 6);
    const o = out + (<usize>m * <usize>OC << 2);
    for (let j = n0; j < n1; j++) {
      let blk = weight + <usize>j * row, x = xq, s = xe, e = xe + (<usize>nb << 2), acc = f32x4.splat(0);
      while (x < x4) {
        const w = scales4(blk, bb), d = f32x4.mul(w, v128.load(s));
        if (fmt == Q4) acc = madd(w, v128.load(e), acc);
        acc = madd(block_dot(blk, x, fmt), i32x4.shuffle(d, d, 0, 0, 0, 0), acc);
        v128.store(fence, acc);
        acc = madd(block_dot(blk + bb, x + 64, fmt), i32x4.shuffle(d, d, 1, 1, 1, 1), acc);
        v128.store(fence, acc);
        acc = madd(block_dot(blk + 2 * bb, x + 128, fmt), i32x4.shuffle(d, d, 2, 2, 2, 2), acc);
        v128.store(fence, acc);
        acc = madd(block_dot(blk + 3 * bb, x + 192, fmt), i32x4.shuffle(d, d, 3, 3, 3, 3), acc);
        blk += 4 * bb; x += 256; s += 16; e += 16;
      }
      let r: f32 = 0;
      while (x < xe) {
        const h = <u32>load<u16>(blk), w = reinterpret<f32>(((h & 0x8000) << 16) | ((h & 0x7fff) << 13)); // as scales4
        if (fmt == Q4) r = madd1(w, load<f32>(e), r);
        acc = madd(block_dot(blk, x, fmt), f32x4.splat(w * load<f32>(s)), acc);
        blk += bb; x += 64; s += 4; e += 4;
      }
      store<f32>(o + (<usize>j << 2), hsum(acc) + r + (bias != 0 ? load<f32>(bias + (<usize>j << 2)) : 0));
    }
  }
}

// Many rows: up to PANEL_COLUMNS columns and a k chunk of the weight at a time are dequantized into
// the tiles' panels (8 columns each, k-major), and gemm_nn's tiles sweep them with every row of
// inp, its sums from the bias in the first chunk and from out after it. Columns past the last
// multiple of 8 are dot products of inp's rows with the dequantized weight row.
@inline function prefill(out: usize, inp: usize, weight: usize, bias: usize, M: i32, C: i32, OC: i32,
                         n0: i32, n1: i32, fmt: i32): void {
  const bb = block_bytes(fmt), row = <usize>(C >> 5) * bb, n8 = n0 + ((n1 - n0) & ~7);
  const panels = packed_panels();
  for (let j0 = n0; j0 < n8; j0 += PANEL_COLUMNS) {
    const nb = min(PANEL_COLUMNS, n8 - j0), kc = k_chunk(nb) & ~31;
    for (let k0 = 0; k0 < C; k0 += kc) {
      const kk = min(kc, C - k0);
      pack_panels_q(panels, weight + <usize>j0 * row + <usize>(k0 >> 5) * bb, row, nb, kk, fmt);
      const init: usize = k0 > 0 ? 0 : bias != 0 ? bias + (<usize>j0 << 2) : ZEROS;
      gemm_nn(out + (<usize>j0 << 2), OC, inp + (<usize>k0 << 2), C, 1, 0, 0, true, M, nb, kk, init, DENSE, 0, 0,
              true);
    }
  }
  const w = pack_scratch(), K4 = C & ~3;
  for (let j = n8; j < n1; j++) {
    const wj = weight + <usize>j * row;
    for (let b = 0; b < C >> 5; b++) dequantize_block(w + (<usize>b << 7), wj + <usize>b * bb, fmt);
    for (let m = 0; m < M; m++) {
      const x = inp + (<usize>m * <usize>C << 2);
      let s = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) s = madd(v128.load(x + (<usize>k << 2)), v128.load(w + (<usize>k << 2)), s);
      let r = hsum(s);
      for (let k = K4; k < C; k++) r = madd1(load<f32>(x + (<usize>k << 2)), load<f32>(w + (<usize>k << 2)), r);
      const bj: f32 = bias != 0 ? load<f32>(bias + (<usize>j << 2)) : 0;
      store<f32>(out + ((<usize>m * <usize>OC + <usize>j) << 2), r + bj);
    }
  }
}

// nb columns (a multiple of 8) x kk values of k (a multiple of 32) of W, from the blocks at w (row
// stride row bytes), dequantized into panels of 8 columns at to: element (k, c) of panel p at
// to + p * kk * 32 + k * 32 + (c % 8) * 4. Four rows of W (four columns of a panel) at a time,
// each 4 x 4 group transposed in registers.
@inline function pack_panels_q(to: usize, w: usize, row: usize, nb: i32, kk: i32, fmt: i32): void {
  const panelBytes = <usize>kk << 5, bb = block_bytes(fmt);
  for (let c = 0; c < nb; c += 4) {
    const r0 = w + <usize>c * row, r1 = r0 + row, r2 = r1 + row, r3 = r2 + row;
    let dst = to + <usize>(c >> 3) * panelBytes + (<usize>(c & 4) << 2);
    for (let b = 0; b < kk >> 5; b++) {
      const o = <usize>b * bb;
      const d0 = f32x4.splat(scale(r0 + o)), d1 = f32x4.splat(scale(r1 + o));
      const d2 = f32x4.splat(scale(r2 + o)), d3 = f32x4.splat(scale(r3 + o));
      for (let i = 0; i < 4; i++) {
        const p0 = part(r0 + o, i, fmt), p1 = part(r1 + o, i, fmt);
        const p2 = part(r2 + o, i, fmt), p3 = part(r3 + o, i, fmt);
        store_transposed(dst, 32, lo(p0, d0), lo(p1, d1), lo(p2, d2), lo(p3, d3));
        store_transposed(dst + 128, 32, hi(p0, d0), hi(p1, d1), hi(p2, d2), hi(p3, d3));
        dst += 256;
      }
    }
  }
}

// the low and high four int16 of p, times d
@inline function lo(p: v128, d: v128): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(p)), d);
}
@inline function hi(p: v128, d: v128): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(p)), d);
}
