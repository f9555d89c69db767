/**
 * col2im_nhwc: the adjoint of im2col for Conv2DBackpropInput (wasm-conv-bpi.ts), gathered per input position.
 *
 * col2im_nhwc(p, dx, nb, h, w, ci, oh, ow, kh, kw, sh, sw, top, left, pCols):
 *   p  [nb·oh·ow, pCols] the patch-matrix gradient dy·Wᵀ (row (b, yr, yc), column (i·kw + j)·ci + c), pCols ≥ kh·kw·ci;
 *   dx [nb, h, w, ci] ← dx[b, r, x, c] = Σ over taps (i, j) in order (i outer, j inner) of p[(b, yr, yc), (i·kw+j)·ci + c]
 *   where r + top − i = yr·sh and x + left − j = yc·sw with 0 ≤ yr < oh, 0 ≤ yc < ow. ci % 4 == 0.
 * Every dx element is written once (zeroed, then its taps added in that fixed order), so a split of the rows
 * between threads could not change it.
 */
import { type FnSpec, type Local } from './emitter.js';

export const col2imNhwc: FnSpec = {
  name: 'col2im_nhwc',
  nParams: 15,
  build(f) {
    const ps = Array.from({ length: 15 }, (_, i) => f.param(i)) as Local[];
    const [p, dx, nb, h, w, ci, oh, ow, kh, kw, sh, sw, top, left, pCols] = ps as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const b = f.i32();
    const r = f.i32();
    const x = f.i32();
    const i = f.i32();
    const j = f.i32();
    const t = f.i32();
    const yr = f.i32();
    const u = f.i32();
    const yc = f.i32();
    const off = f.i32();
    const dxp = f.i32();
    const src = f.i32();
    const rowBase = f.i32();
    const ciBytes = f.i32();
    const pRowBytes = f.i32();
    f.get(ci).i32Const(2).i32Shl().set(ciBytes);
    f.get(pCols).i32Const(2).i32Shl().set(pRowBytes);
    f.get(dx).set(dxp);
    f.forRange(b, () => f.i32Const(0), () => f.get(nb), () => {
      f.forRange(r, () => f.i32Const(0), () => f.get(h), () => {
        f.forRange(x, () => f.i32Const(0), () => f.get(w), () => {
          f.get(dxp).i32Const(0).get(ciBytes).memoryFill();
          f.forRange(i, () => f.i32Const(0), () => f.get(kh), () => {
            // t = r + top − i; yr = t / sh; valid when t == yr·sh and 0 ≤ yr < oh (unsigned compare)
            f.get(r).get(top).i32Add().get(i).i32Sub().tee(t).get(sh).i32DivS().set(yr);
            f.get(t).get(yr).get(sh).i32Mul().i32Sub().i32Eqz();
            f.get(yr).get(oh).i32LtU();
            f.i32And();
            f.ifThen(() => {
              // rowBase = p + ((b·oh + yr)·ow)·pRowBytes + i·kw·ciBytes
              f.get(p).get(b).get(oh).i32Mul().get(yr).i32Add().get(ow).i32Mul().get(pRowBytes).i32Mul().i32Add();
              f.get(i).get(kw).i32Mul().get(ciBytes).i32Mul().i32Add().set(rowBase);
              f.forRange(j, () => f.i32Const(0), () => f.get(kw), () => {
                f.get(x).get(left).i32Add().get(j).i32Sub().tee(u).get(sw).i32DivS().set(yc);
                f.get(u).get(yc).get(sw).i32Mul().i32Sub().i32Eqz();
                f.get(yc).get(ow).i32LtU();
                f.i32And();
                f.ifThen(() => {
                  // src = rowBase + yc·pRowBytes + j·ciBytes
                  f.get(rowBase).get(yc).get(pRowBytes).i32Mul().i32Add().get(j).get(ciBytes).i32Mul().i32Add().set(src);
                  f.forRange(off, () => f.i32Const(0), () => f.get(ciBytes), () => {
                    f.get(dxp).get(off).i32Add();
                    f.get(dxp).get(off).i32Add().v128Load();
                    f.get(src).get(off).i32Add().v128Load();
                    f.f32x4Add().v128Store();
                  }, 16);
                });
              });
            });
          });
          f.get(dxp).get(ciBytes).i32Add().set(dxp);
        });
      });
    });
  },
};

export const COL2IM_PROGRAMS: FnSpec[] = [col2imNhwc];
