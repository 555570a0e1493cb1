// Let the tests run the relaxed-SIMD build too (Node 20 keeps it behind a flag; Chromium has it).
import { setFlagsFromString } from 'node:v8';
setFlagsFromString('--experimental-wasm-relaxed-simd');
