/**
 * conv_direct: a Conv2D without a patch matrix, for few input channels (the MNIST CNN's first layer, ci = 1), where
 * im2col's runs of ci floats are too short to pay for themselves and XNNPACK runs on one thread only.
 *
 * conv_direct(x, wt, out, row0, rows, h, w, ci, co, kh, kw, oh, ow, sh, sw, top, left): NHWC x [n, h, w, ci], filter
 * [kh, kw, ci, co] as it is, co % 16 == 0, dilation 1; writes the output rows row0 .. row0 + rows of out
 * [n·oh, ow, co] (row = b·oh + yr). Every output element is Σ over its in-bounds taps (i, j, ci) in that order of one
 * madd (emitter.ts: fused with FMA, else a multiply then an add) from 0 — the order and the operations of
 * im2col_rows + gemm_r4 (a tap outside x is a 0 there, and adding 0·w to a sum started at +0 never changes it) —
 * whichever call computes the row: a split of the rows over threads cannot change a bit.
 *
 * Per output position and block of 16 output channels: 4 f32x4 accumulators; two positions side by side (both
 * windows inside x) share the 4 filter vectors of a tap: 8 accumulators, 4 filter vectors, 2 splats in registers.
 */
import { type FnSpec, type Local } from './emitter.js';
import { maxI, minI, paramList } from './loop-helpers.js';

export const convDirect: FnSpec = {
  name: 'conv_direct',
  nParams: 17,
  build(f) {
    const [x, wt, out, row0, rows, h, w, ci, co, kh, kw, oh, ow, sh, sw, top, left] = paramList(f, 17) as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const [row, rowEnd, b, yr, yc, r0, iFrom, iTo, c0, jFrom, jTo, i, xp, xp2, xEnd, wp, op, cb] = Array.from({ length: 18 }, () => f.i32());
    const [ciB, coB, xRowB, pairB, runB, tapRowB, imgRows] = Array.from({ length: 7 }, () => f.i32());
    const acc = Array.from({ length: 8 }, () => f.v128());
    const wv = Array.from({ length: 4 }, () => f.v128());
    const xa = f.v128();
    const xb = f.v128();
    f.get(ci).i32Const(2).i32Shl().set(ciB);
    f.get(co).i32Const(2).i32Shl().set(coB);
    f.get(w).get(ciB).i32Mul().set(xRowB);
    f.get(sw).get(ciB).i32Mul().set(pairB);
    f.get(kw).get(ciB).i32Mul().set(runB);
    // filter bytes per tap row i: kw·ci rows of co floats
    f.get(kw).get(ci).i32Mul().get(coB).i32Mul().set(tapRowB);
    f.get(row0).get(rows).i32Add().set(rowEnd);
    f.get(out).get(row0).get(ow).i32Mul().get(coB).i32Mul().i32Add().set(op);
    const zero = (n: number): void => {
      for (let q = 0; q < n; q++) f.f32Const(0).f32x4Splat().set(acc[q]!);
    };
    /** the filter's 4 vectors of this tap and block at wp */
    const loadW = (): void => {
      for (let g = 0; g < 4; g++) f.get(wp).v128Load(16 * g).set(wv[g]!);
    };
    f.forRange(row, () => f.get(row0), () => f.get(rowEnd), () => {
      f.get(row).get(oh).i32DivS().set(b);
      f.get(row).get(b).get(oh).i32Mul().i32Sub().set(yr);
      f.get(b).get(h).i32Mul().set(imgRows);
      f.get(yr).get(sh).i32Mul().get(top).i32Sub().set(r0);
      maxI(f, () => f.i32Const(0), () => f.i32Const(0).get(r0).i32Sub());
      f.set(iFrom);
      minI(f, () => f.get(kh), () => f.get(h).get(r0).i32Sub());
      f.set(iTo);
      f.i32Const(0).set(yc);
      f.op0(0x02).op0(0x03);
      f.get(yc).get(ow).i32GeS().brIf(1);
      f.get(yc).get(sw).i32Mul().get(left).i32Sub().set(c0);
      // a pair: yc + 1 < ow, c0 >= 0 and c0 + sw + kw <= w (both windows' columns inside x)
      f.get(yc).i32Const(1).i32Add().get(ow).i32LtS();
      f.get(c0).i32Const(0).i32GeS().i32And();
      f.get(c0).get(sw).i32Add().get(kw).i32Add().get(w).i32LeS().i32And();
      f.ifElse(
        () => {
          f.forRange(cb, () => f.i32Const(0), () => f.get(coB), () => {
            zero(8);
            f.forRange(i, () => f.get(iFrom), () => f.get(iTo), () => {
              // xp = x + ((b·h + r0 + i)·w + c0)·ci·4; wp = wt + i·tapRowB + cb
              f.get(x).get(imgRows).get(r0).i32Add().get(i).i32Add().get(xRowB).i32Mul().i32Add().get(c0).get(ciB).i32Mul().i32Add().set(xp);
              f.get(xp).get(pairB).i32Add().set(xp2);
              f.get(xp).get(runB).i32Add().set(xEnd);
              f.get(wt).get(i).get(tapRowB).i32Mul().i32Add().get(cb).i32Add().set(wp);
              f.forRange(xp, () => f.get(xp), () => f.get(xEnd), () => {
                loadW();
                f.get(xp).v128Load32Splat().set(xa);
                f.get(xp2).v128Load32Splat().set(xb);
                for (let g = 0; g < 4; g++) f.madd(acc[g]!, () => f.get(xa), () => f.get(wv[g]!));
                for (let g = 0; g < 4; g++) f.madd(acc[4 + g]!, () => f.get(xb), () => f.get(wv[g]!));
                f.get(xp2).i32Const(4).i32Add().set(xp2);
                f.get(wp).get(coB).i32Add().set(wp);
              }, 4);
            });
            for (let g = 0; g < 4; g++) f.get(op).get(cb).i32Add().get(acc[g]!).v128Store(16 * g);
            for (let g = 0; g < 4; g++) f.get(op).get(coB).i32Add().get(cb).i32Add().get(acc[4 + g]!).v128Store(16 * g);
          }, 64);
          f.get(yc).i32Const(2).i32Add().set(yc);
          f.get(op).get(coB).i32Const(1).i32Shl().i32Add().set(op);
        },
        () => {
          // one position, its in-bounds columns jFrom .. jTo only
          maxI(f, () => f.i32Const(0), () => f.i32Const(0).get(c0).i32Sub());
          f.set(jFrom);
          minI(f, () => f.get(kw), () => f.get(w).get(c0).i32Sub());
          f.set(jTo);
          f.forRange(cb, () => f.i32Const(0), () => f.get(coB), () => {
            zero(4);
            f.forRange(i, () => f.get(iFrom), () => f.get(iTo), () => {
              f.get(x).get(imgRows).get(r0).i32Add().get(i).i32Add().get(xRowB).i32Mul().i32Add()
                .get(c0).get(jFrom).i32Add().get(ciB).i32Mul().i32Add().set(xp);
              f.get(xp).get(jTo).get(jFrom).i32Sub().get(ciB).i32Mul().i32Add().set(xEnd);
              f.get(wt).get(i).get(tapRowB).i32Mul().i32Add().get(jFrom).get(ci).i32Mul().get(coB).i32Mul().i32Add().get(cb).i32Add().set(wp);
              f.forRange(xp, () => f.get(xp), () => f.get(xEnd), () => {
                loadW();
                f.get(xp).v128Load32Splat().set(xa);
                for (let g = 0; g < 4; g++) f.madd(acc[g]!, () => f.get(xa), () => f.get(wv[g]!));
                f.get(wp).get(coB).i32Add().set(wp);
              }, 4);
            });
            for (let g = 0; g < 4; g++) f.get(op).get(cb).i32Add().get(acc[g]!).v128Store(16 * g);
          }, 64);
          f.get(yc).i32Const(1).i32Add().set(yc);
          f.get(op).get(coB).i32Add().set(op);
        },
      );
      f.br(0);
      f.end().end();
    });
  },
};

export const DIRECT_CONV_PROGRAMS: FnSpec[] = [convDirect];
