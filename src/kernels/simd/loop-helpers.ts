/**
 * Small loop and arithmetic emitters the SIMD programs share (programs.ts, depthwise-programs.ts): parameter lists,
 * i32 min / max, a ceiling division, channel-group loops and vector multiply-accumulates.
 */
import { type FnBuilder, type Local } from './emitter.js';

export function paramList(f: FnBuilder, n: number): Local[] {
  return Array.from({ length: n }, (_, i) => f.param(i));
}

/** pushes max(a, b) / min(a, b) of two i32 expressions */
export function maxI(f: FnBuilder, a: () => void, b: () => void): void {
  a();
  b();
  a();
  b();
  f.i32GtS();
  f.select();
}
export function minI(f: FnBuilder, a: () => void, b: () => void): void {
  a();
  b();
  a();
  b();
  f.i32LtS();
  f.select();
}

/** pushes ceil(a / s) for a > 0, else 0 (a a local, s > 0) */
export function ceilDivOrZero(f: FnBuilder, a: Local, s: Local): void {
  f.get(a).get(s).i32Add().i32Const(1).i32Sub().get(s).i32DivS();
  f.i32Const(0);
  f.get(a).i32Const(0).i32GtS();
  f.select();
}

/**
 * `body(4)` for channel byte offsets cgB in [0, cB & ~63) step 64, then `body(1)` up to cB step 16 (cB % 16 == 0):
 * groups of 16 channels, then of 4.
 */
export function channelGroups(f: FnBuilder, cgB: Local, cB: Local, end64: Local, body: (vectors: number) => void, fromB?: Local): void {
  if (fromB === undefined) {
    f.get(cB).i32Const(-64).i32And().set(end64);
    f.forRange(cgB, () => f.i32Const(0), () => f.get(end64), () => body(4), 64);
  } else {
    // channels [fromB, cB) (bytes): groups of 16 from fromB, then single vectors
    f.get(cB).get(fromB).i32Sub().i32Const(-64).i32And().get(fromB).i32Add().set(end64);
    f.forRange(cgB, () => f.get(fromB), () => f.get(end64), () => body(4), 64);
  }
  f.forRange(cgB, () => f.get(end64), () => f.get(cB), () => body(1), 16);
}

/** acc[g] += load(p + 16g) · load(q + 16g) for g < vectors */
export function macc(f: FnBuilder, acc: Local[], vectors: number, p: Local, q: Local): void {
  for (let g = 0; g < vectors; g++) {
    f.madd(acc[g]!, () => f.get(p).v128Load(16 * g), () => f.get(q).v128Load(16 * g));
  }
}
