/**
 * max_pool(x, out, n, h, w, c, oh, ow, fh, fw, sh, sw, top, left): MaxPool forward, NHWC, c % 4 == 0, any window,
 * stride and padding. out[b, yr, yc, d] = the max over the window's in-bounds x[b, r, col, d], visited row-major,
 * starting from -Infinity and replaced only by a value strictly greater (NaN never wins): the same selection as
 * max_pool_grad, whose gradient goes to that first maximum. Images are independent: a split by images between
 * threads (max-pool.ts) cannot change an output.
 */
import { type FnSpec, type Local } from './emitter.js';

export const maxPool: FnSpec = {
  name: 'max_pool',
  nParams: 14,
  build(f) {
    const p = Array.from({ length: 14 }, (_, i) => f.param(i)) as Local[];
    const [x, out, n, h, w, c, oh, ow, fh, fw, sh, sw, top, left] = p as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const b = f.i32();
    const yr = f.i32();
    const yc = f.i32();
    const r0 = f.i32();
    const rFrom = f.i32();
    const rTo = f.i32();
    const c0 = f.i32();
    const cFrom = f.i32();
    const cTo = f.i32();
    const o = f.i32();
    const img = f.i32(); // byte offset of image b in x
    const cBytes = f.i32(); // one position's channels, bytes
    const rowBytes = f.i32(); // one row of x, bytes
    const win = f.i32(); // the window's first in-bounds position, bytes
    const d = f.i32(); // channel offset, bytes
    const pr = f.i32();
    const prEnd = f.i32();
    const pc = f.i32();
    const pcEnd = f.i32();
    const colSpan = f.i32();
    const best = f.v128();
    const v = f.v128();
    const negInf = f.v128();
    f.f32Const(-Infinity).f32x4Splat().set(negInf);
    const maxI = (a: () => void, b: () => void): void => void f.i32MaxS(a, b);
    const minI = (a: () => void, b: () => void): void => void f.i32MinS(a, b);
    f.get(c).i32Const(2).i32Shl().set(cBytes);
    f.get(w).get(cBytes).i32Mul().set(rowBytes);
    f.get(out).set(o);
    f.forRange(b, () => f.i32Const(0), () => f.get(n), () => {
      f.get(x).get(b).get(h).i32Mul().get(rowBytes).i32Mul().i32Add().set(img);
      f.forRange(yr, () => f.i32Const(0), () => f.get(oh), () => {
        f.get(yr).get(sh).i32Mul().get(top).i32Sub().set(r0);
        maxI(() => f.i32Const(0), () => f.get(r0));
        f.set(rFrom);
        minI(() => f.get(h), () => f.get(r0).get(fh).i32Add());
        f.set(rTo);
        f.forRange(yc, () => f.i32Const(0), () => f.get(ow), () => {
          f.get(yc).get(sw).i32Mul().get(left).i32Sub().set(c0);
          maxI(() => f.i32Const(0), () => f.get(c0));
          f.set(cFrom);
          minI(() => f.get(w), () => f.get(c0).get(fw).i32Add());
          f.set(cTo);
          f.get(img).get(rFrom).get(rowBytes).i32Mul().i32Add().get(cFrom).get(cBytes).i32Mul().i32Add().set(win);
          f.get(cTo).get(cFrom).i32Sub().get(cBytes).i32Mul().set(colSpan);
          f.forRange(d, () => f.i32Const(0), () => f.get(cBytes), () => {
            f.get(negInf).set(best);
            f.get(win).get(d).i32Add().set(pr);
            f.get(pr).get(rTo).get(rFrom).i32Sub().get(rowBytes).i32Mul().i32Add().set(prEnd);
            // rows, then positions within the row: row-major over the window
            f.forRange(pr, () => f.get(pr), () => f.get(prEnd), () => {
              f.get(pr).get(colSpan).i32Add().set(pcEnd);
              f.forRange(pc, () => f.get(pr), () => f.get(pcEnd), () => {
                f.get(pc).v128Load().set(v);
                f.get(v).get(best).get(v).get(best).f32x4Gt().v128Bitselect().set(best);
              }, () => f.get(cBytes));
            }, () => f.get(rowBytes));
            f.get(o).get(best).v128Store();
            f.get(o).i32Const(16).i32Add().set(o);
          }, 16);
        });
      });
    });
  },
};

export const MAXPOOL_PROGRAMS: FnSpec[] = [maxPool];
