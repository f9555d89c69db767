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


/**
 * The 2×2 stride-2 unpadded window (valid padding: every window inside x), one pass with the window unrolled:
 * pointers walk the two input rows, the channels innermost. `grad` false: max_pool2(x, out, n, h, w, c, oh, ow), the
 * same selection (and bits) as max_pool. `grad` true: max_pool_grad2(x, dy, dx, n, h, w, c, oh, ow), max_pool_grad's
 * semantics — dy to the window's FIRST maximum strictly greater than everything before it from -Infinity (row-major:
 * the last position that replaced the running max), 0 to the others — and it also zeroes the input positions no
 * window covers (the last row / column of an odd h / w), so dx needs no fill beforehand. Images are independent.
 */
function maxPool2(grad: boolean): FnSpec {
  const nParams = grad ? 9 : 8;
  return {
    name: grad ? 'max_pool_grad2' : 'max_pool2',
    nParams,
    build(f) {
      const p = Array.from({ length: nParams }, (_, i) => f.param(i));
      const [x, dy, dx, n, h, w, c, oh, ow] = (grad ? p : [p[0], p[1], p[1], ...p.slice(2)]) as Local[] as [
        Local, Local, Local, Local, Local, Local, Local, Local, Local,
      ];
      const [b, yr, yc, d, p0, p1, q0, q1, o, cB, rowB, imgEnd] = Array.from({ length: 12 }, () => f.i32());
      const v = Array.from({ length: 4 }, () => f.v128());
      const gt = Array.from({ length: 4 }, () => f.v128());
      const best = f.v128();
      const negInf = f.v128();
      const g = f.v128();
      const later = f.v128();
      f.f32Const(-Infinity).f32x4Splat().set(negInf);
      f.get(c).i32Const(2).i32Shl().set(cB);
      f.get(w).get(cB).i32Mul().set(rowB);
      // o walks dy (grad) or out, one output position's channels after another
      f.get(grad ? dy : dx).set(o);
      f.forRange(b, () => f.i32Const(0), () => f.get(n), () => {
        f.forRange(yr, () => f.i32Const(0), () => f.get(oh), () => {
          // p0, p1: x rows 2yr and 2yr + 1 of image b; q0, q1 the same rows of dx
          f.get(b).get(h).i32Mul().get(yr).i32Const(1).i32Shl().i32Add().get(rowB).i32Mul().set(p0);
          if (grad) f.get(dx).get(p0).i32Add().set(q0);
          f.get(x).get(p0).i32Add().set(p0);
          f.get(p0).get(rowB).i32Add().set(p1);
          if (grad) f.get(q0).get(rowB).i32Add().set(q1);
          f.forRange(yc, () => f.i32Const(0), () => f.get(ow), () => {
            f.forRange(d, () => f.i32Const(0), () => f.get(cB), () => {
              f.get(p0).get(d).i32Add().v128Load(0).set(v[0]!);
              f.get(p0).get(cB).i32Add().get(d).i32Add().v128Load(0).set(v[1]!);
              f.get(p1).get(d).i32Add().v128Load(0).set(v[2]!);
              f.get(p1).get(cB).i32Add().get(d).i32Add().v128Load(0).set(v[3]!);
              f.get(negInf).set(best);
              for (let k = 0; k < 4; k++) {
                f.get(v[k]!).get(best).f32x4Gt().set(gt[k]!);
                f.get(v[k]!).get(best).get(gt[k]!).v128Bitselect().set(best);
              }
              if (!grad) {
                f.get(o).get(d).i32Add().get(best).v128Store(0);
                return;
              }
              f.get(o).get(d).i32Add().v128Load(0).set(g);
              // the winner: the last position whose value replaced the running max
              const store = (ptr: () => void, k: number): void => {
                ptr();
                f.get(g).get(gt[k]!).v128And();
                if (k < 3) f.get(later).v128AndNot();
                f.v128Store(0);
                if (k === 3) f.get(gt[3]!).set(later);
                else if (k > 0) f.get(later).get(gt[k]!).v128Or().set(later);
              };
              store(() => f.get(q1).get(cB).i32Add().get(d).i32Add(), 3);
              store(() => f.get(q1).get(d).i32Add(), 2);
              store(() => f.get(q0).get(cB).i32Add().get(d).i32Add(), 1);
              store(() => f.get(q0).get(d).i32Add(), 0);
            }, 16);
            f.get(p0).get(cB).i32Const(1).i32Shl().i32Add().set(p0);
            f.get(p1).get(cB).i32Const(1).i32Shl().i32Add().set(p1);
            if (grad) {
              f.get(q0).get(cB).i32Const(1).i32Shl().i32Add().set(q0);
              f.get(q1).get(cB).i32Const(1).i32Shl().i32Add().set(q1);
            }
            f.get(o).get(cB).i32Add().set(o);
          });
          if (grad) {
            // the columns 2·ow .. w of both rows: no window
            f.get(q0).i32Const(0).get(w).get(ow).i32Const(1).i32Shl().i32Sub().get(cB).i32Mul().memoryFill();
            f.get(q1).i32Const(0).get(w).get(ow).i32Const(1).i32Shl().i32Sub().get(cB).i32Mul().memoryFill();
          }
        });
        if (grad) {
          // the rows 2·oh .. h of the image: no window
          f.get(b).i32Const(1).i32Add().get(h).i32Mul().get(rowB).i32Mul().set(imgEnd);
          f.get(dx).get(b).get(h).i32Mul().get(oh).i32Const(1).i32Shl().i32Add().get(rowB).i32Mul().i32Add();
          f.i32Const(0);
          f.get(imgEnd).get(b).get(h).i32Mul().get(oh).i32Const(1).i32Shl().i32Add().get(rowB).i32Mul().i32Sub();
          f.memoryFill();
        }
      });
    },
  };
}

export const MAXPOOL_PROGRAMS: FnSpec[] = [maxPool, maxPool2(false), maxPool2(true)];
