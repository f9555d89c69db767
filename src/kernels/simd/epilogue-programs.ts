/**
 * bias_relu(x, b, out, rows, c): out[r, j] = pmax(0, x[r, j] + b[j]) — a bias Add and tfjs-backend-wasm's Relu (XNNPACK's
 * clamp, pmax(0, v) = 0 < v ? v : 0) in one pass: the same float32 operations as the two kernels (bias-act.ts).
 * out may be x (in place).
 *
 * bias_clamp(x, b, out, rows, c, lo, hi): out[r, j] = pmin(hi, pmax(lo, x[r, j] + b[j])) — a convolution's bias and a
 * linear (lo −∞, hi +∞), relu (0, +∞) or relu6 (0, 6) activation in one pass after its product (pointwise.ts: a 1×1
 * FusedConv2D, as the conv + BatchNorm fold produces), XNNPACK's clamp as unary-programs.ts clip computes it; lo, hi
 * are float32 bit patterns. Element-wise: a split into row blocks over threads cannot change a bit.
 */
import { type FnBuilder, type FnSpec, type Local } from './emitter.js';

/**
 * The loop both programs share: out[r, j] = act(x[r, j] + b[j]) over `rows` rows of `c` floats, 4 lanes at a time,
 * then the row's tail one at a time. `vecPre` pushes the vector activation's first operands (under x + b), `vecAct`
 * applies it to x + b; `scalarAct` leaves act(v) on the stack from the local `v`.
 */
function biasRows(
  f: FnBuilder,
  [x, b, out, rows, c]: [Local, Local, Local, Local, Local],
  vecPre: () => void,
  vecAct: () => void,
  scalarAct: (v: Local) => void,
): void {
  const row = f.i32();
  const rowBytes = f.i32();
  const off = f.i32();
  const end16 = f.i32();
  const v = f.f32();
  f.get(c).i32Const(2).i32Shl().set(rowBytes);
  f.get(rowBytes).i32Const(-16).i32And().set(end16);
  f.forRange(row, () => f.i32Const(0), () => f.get(rows).get(rowBytes).i32Mul(), () => {
    f.forRange(off, () => f.i32Const(0), () => f.get(end16), () => {
      f.get(out).get(row).i32Add().get(off).i32Add();
      vecPre();
      f.get(x).get(row).i32Add().get(off).i32Add().v128Load();
      f.get(b).get(off).i32Add().v128Load();
      f.f32x4Add();
      vecAct();
      f.v128Store();
    }, 16);
    f.forRange(off, () => f.get(end16), () => f.get(rowBytes), () => {
      f.get(out).get(row).i32Add().get(off).i32Add();
      f.get(x).get(row).i32Add().get(off).i32Add().f32Load();
      f.get(b).get(off).i32Add().f32Load();
      f.f32Add().set(v);
      scalarAct(v);
      f.f32Store();
    }, 4);
  }, () => f.get(rowBytes));
}

export const biasRelu: FnSpec = {
  name: 'bias_relu',
  nParams: 5,
  build(f) {
    const params = [0, 1, 2, 3, 4].map((i) => f.param(i)) as [Local, Local, Local, Local, Local];
    const zero = f.v128();
    f.f32Const(0).f32x4Splat().set(zero);
    biasRows(f, params, () => f.get(zero), () => f.f32x4Pmax(), (v) => {
      // 0 < v ? v : 0
      f.get(v).f32Const(0).get(v).f32Const(0).f32Gt().select();
    });
  },
};

export const biasClamp: FnSpec = {
  name: 'bias_clamp',
  nParams: 7,
  build(f) {
    const [x, b, out, rows, c, loBits, hiBits] = [0, 1, 2, 3, 4, 5, 6].map((i) => f.param(i)) as [Local, Local, Local, Local, Local, Local, Local];
    const lo = f.f32();
    const hi = f.f32();
    const vlo = f.v128();
    const vhi = f.v128();
    f.get(loBits).f32ReinterpretI32().set(lo);
    f.get(hiBits).f32ReinterpretI32().set(hi);
    f.get(lo).f32x4Splat().set(vlo);
    f.get(hi).f32x4Splat().set(vhi);
    biasRows(f, [x, b, out, rows, c], () => f.get(vhi).get(vlo), () => f.f32x4Pmax().f32x4Pmin(), (v) => {
      // pmax(lo, v) = lo < v ? v : lo, then pmin(hi, v) = v < hi ? v : hi
      f.get(v).get(lo).get(lo).get(v).f32Lt().select().set(v);
      f.get(v).get(hi).get(v).get(hi).f32Lt().select();
    });
  },
};

export const EPILOGUE_PROGRAMS: FnSpec[] = [biasRelu, biasClamp];
