/**
 * bias_relu(x, b, out, rows, c): out[r, j] = pmax(0, x[r, j] + b[j]) — a bias Add and tfjs-backend-wasm's Relu (XNNPACK's
 * clamp, pmax(0, v) = 0 < v ? v : 0) in one pass: the same float32 operations as the two kernels (bias-act.ts).
 * out may be x (in place).
 */
import { type FnSpec, type Local } from './emitter.js';

export const biasRelu: FnSpec = {
  name: 'bias_relu',
  nParams: 5,
  build(f) {
    const [x, b, out, rows, c] = [0, 1, 2, 3, 4].map((i) => f.param(i)) as [Local, Local, Local, Local, Local];
    const row = f.i32();
    const rowBytes = f.i32();
    const off = f.i32();
    const end16 = f.i32();
    const v = f.f32();
    const zero = f.v128();
    f.f32Const(0).f32x4Splat().set(zero);
    f.get(c).i32Const(2).i32Shl().set(rowBytes);
    f.get(rowBytes).i32Const(-16).i32And().set(end16);
    f.forRange(row, () => f.i32Const(0), () => f.get(rows).get(rowBytes).i32Mul(), () => {
      f.forRange(off, () => f.i32Const(0), () => f.get(end16), () => {
        f.get(out).get(row).i32Add().get(off).i32Add();
        f.get(zero);
        f.get(x).get(row).i32Add().get(off).i32Add().v128Load();
        f.get(b).get(off).i32Add().v128Load();
        f.f32x4Add().f32x4Pmax().v128Store();
      }, 16);
      f.forRange(off, () => f.get(end16), () => f.get(rowBytes), () => {
        f.get(out).get(row).i32Add().get(off).i32Add();
        f.get(x).get(row).i32Add().get(off).i32Add().f32Load();
        f.get(b).get(off).i32Add().f32Load();
        f.f32Add().set(v);
        // 0 < v ? v : 0
        f.get(v).f32Const(0).get(v).f32Const(0).f32Gt().select();
        f.f32Store();
      }, 4);
    }, () => f.get(rowBytes));
  },
};

export const EPILOGUE_PROGRAMS: FnSpec[] = [biasRelu];
