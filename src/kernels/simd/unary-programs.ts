/**
 * Relu and ClipByValue forward as single SIMD passes (unary.ts), with exactly the operations of tfjs-backend-wasm's
 * XNNPACK kernels, so the same bits as the stock kernels, NaN and −0 included:
 *   relu(x, out, n):             out[i] = bits(x[i]) > 0 (as int32) ? x[i] : 0  (XNNPACK's wasm relu: i32x4.max_s
 *                                with 0; a NaN with the sign bit set and −0 give +0, a positive NaN stays NaN)
 *   clip(x, out, n, lo, hi):     out[i] = pmin(hi, pmax(lo, x[i]))             (its clamp; lo, hi: float32 bit patterns)
 * with pmax(a, b) = a < b ? b : a and pmin(a, b) = b < a ? b : a. Element-wise, so a split into blocks over threads
 * cannot change a bit.
 */
import { type FnSpec, type Local } from './emitter.js';

function unary(name: string, nParams: number, withBounds: boolean): FnSpec {
  return {
    name,
    nParams,
    build(f) {
      const ps = Array.from({ length: nParams }, (_, i) => f.param(i)) as Local[];
      const [x, out, n] = ps as [Local, Local, Local];
      const off = f.i32();
      const end16 = f.i32();
      const vlo = f.v128();
      const vhi = f.v128();
      const v = f.f32();
      const lo = f.f32();
      const hi = f.f32();
      if (withBounds) {
        f.get(ps[3]!).f32ReinterpretI32().set(lo);
        f.get(ps[4]!).f32ReinterpretI32().set(hi);
      } else {
        f.f32Const(0).set(lo);
      }
      f.get(lo).f32x4Splat().set(vlo);
      if (withBounds) f.get(hi).f32x4Splat().set(vhi);
      f.get(n).i32Const(2).i32Shl().i32Const(-16).i32And().set(end16);
      f.forRange(off, () => f.i32Const(0), () => f.get(end16), () => {
        f.get(out).get(off).i32Add();
        if (withBounds) {
          f.get(vhi);
          f.get(vlo).get(x).get(off).i32Add().v128Load().f32x4Pmax();
          f.f32x4Pmin();
        } else {
          f.get(x).get(off).i32Add().v128Load().get(vlo).i32x4MaxS();
        }
        f.v128Store();
      }, 16);
      f.forRange(off, () => f.get(end16), () => f.get(n).i32Const(2).i32Shl(), () => {
        f.get(out).get(off).i32Add();
        f.get(x).get(off).i32Add().f32Load().set(v);
        if (!withBounds) {
          // max_s(bits(v), 0)
          f.get(v).f32Const(0).get(x).get(off).i32Add().i32Load().i32Const(0).i32GtS().select().set(v);
        } else {
          // pmax(lo, v) = lo < v ? v : lo
          f.get(v).get(lo).get(lo).get(v).f32Lt().select().set(v);
        }
        if (withBounds) {
          // pmin(hi, v) = v < hi ? v : hi
          f.get(v).get(hi).get(v).get(hi).f32Lt().select().set(v);
        }
        f.get(v).f32Store();
      }, 4);
    },
  };
}

export const UNARY_PROGRAMS: FnSpec[] = [unary('relu', 3, false), unary('clip', 5, true)];
