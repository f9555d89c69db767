/**
 * SIMD-module programs for the wasm backend's own convolutions (wasm-conv2d.ts): a row range of the patch matrix,
 * so each thread builds the patches of its own output rows and multiplies them (gemm_r4/gemm_r1) in place.
 */
import { type FnSpec, type Local } from './emitter.js';
import { maxI, minI } from './loop-helpers.js';


/**
 * im2col_rows(x, out, b, yr, yc, rows, h, w, c, kh, kw, oh, ow, sh, sw, top, left): `rows` consecutive rows of the
 * NHWC patch matrix, starting at the output position (b, yr, yc), written from `out` with row stride kh·kw·c:
 *   out[t, (i·kw + j)·c + ci] = x[b', yr'·sh − top + i, yc'·sw − left + j, ci]   (0 outside x)
 * where (b', yr', yc') is the t-th position after (b, yr, yc) in row-major order. Per (row, i) the in-bounds
 * columns are one contiguous run of x (NHWC), copied with memory.copy; the rest is zero-filled.
 */
export const im2colRows: FnSpec = {
  name: 'im2col_rows',
  nParams: 17,
  build(f) {
    const p = Array.from({ length: 17 }, (_, i) => f.param(i));
    const [x, out, b, yr, yc, rows, h, w, c, kh, kw, oh, ow, sh, sw, top, left] = p as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const t = f.i32();
    const i = f.i32();
    const r = f.i32();
    const c0 = f.i32();
    const jFrom = f.i32();
    const jTo = f.i32();
    const o = f.i32();
    const dst = f.i32();
    const cB = f.i32();
    const kwcB = f.i32();
    const ok = f.i32();
    f.get(c).i32Const(2).i32Shl().set(cB);
    f.get(kw).get(cB).i32Mul().set(kwcB);
    f.get(out).set(dst);
    f.forRange(t, () => f.i32Const(0), () => f.get(rows), () => {
      // c0 = yc·sw − left; jFrom = max(0, −c0); jTo = min(kw, w − c0)
      f.get(yc).get(sw).i32Mul().get(left).i32Sub().set(c0);
      maxI(f, () => f.i32Const(0), () => f.i32Const(0).get(c0).i32Sub());
      f.set(jFrom);
      minI(f, () => f.get(kw), () => f.get(w).get(c0).i32Sub());
      f.set(jTo);
      f.forRange(i, () => f.i32Const(0), () => f.get(kh), () => {
        f.get(yr).get(sh).i32Mul().get(top).i32Sub().get(i).i32Add().set(r);
        f.get(dst).get(i).get(kwcB).i32Mul().i32Add().set(o);
        // ok = r in [0, h) and jTo > jFrom
        f.get(r).get(h).i32LtU();
        f.get(jTo).get(jFrom).i32GtS();
        f.i32And().set(ok);
        f.get(ok);
        f.ifThen(() => {
          // zeros before, the run of x, zeros after
          f.get(o).i32Const(0).get(jFrom).get(cB).i32Mul().memoryFill();
          f.get(o).get(jFrom).get(cB).i32Mul().i32Add();
          // x + (((b·h + r)·w + c0 + jFrom)·c)·4
          f.get(x).get(b).get(h).i32Mul().get(r).i32Add().get(w).i32Mul().get(c0).i32Add().get(jFrom).i32Add().get(cB).i32Mul().i32Add();
          f.get(jTo).get(jFrom).i32Sub().get(cB).i32Mul();
          f.memoryCopy();
          f.get(o).get(jTo).get(cB).i32Mul().i32Add().i32Const(0).get(kw).get(jTo).i32Sub().get(cB).i32Mul().memoryFill();
        });
        f.get(ok).i32Eqz();
        f.ifThen(() => {
          f.get(o).i32Const(0).get(kwcB).memoryFill();
        });
      });
      f.get(dst).get(kh).get(kwcB).i32Mul().i32Add().set(dst);
      // next position: yc, then yr, then b
      f.get(yc).i32Const(1).i32Add().set(yc);
      f.get(yc).get(ow).i32GeS();
      f.ifThen(() => {
        f.i32Const(0).set(yc);
        f.get(yr).i32Const(1).i32Add().set(yr);
      });
      f.get(yr).get(oh).i32GeS();
      f.ifThen(() => {
        f.i32Const(0).set(yr);
        f.get(b).i32Const(1).i32Add().set(b);
      });
    });
  },
};

export const CONV_PROGRAMS: FnSpec[] = [im2colRows];
