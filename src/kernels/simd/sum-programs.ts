/**
 * col_sum_reg(x, out, rows, c): out[j] = Σ_r x[r, j] for x [rows, c] row-major, c % 4 == 0 — col_sum's sum (from 0,
 * rows in order, one f32 add each: the same bits) with the running sums in registers instead of in `out`: col_sum
 * loads and stores every output vector once per row, a store-to-load chain per add. Channels in blocks of 32, then
 * 16, then 4 (8, 4 or 1 f32x4 accumulators), each block one pass down the rows.
 */
import { type FnSpec, type Local } from './emitter.js';
import { paramList } from './loop-helpers.js';

export const colSumReg: FnSpec = {
  name: 'col_sum_reg',
  nParams: 4,
  build(f) {
    const [x, out, rows, c] = paramList(f, 4) as [Local, Local, Local, Local];
    const [cB, cg, from, p, end] = Array.from({ length: 5 }, () => f.i32());
    const acc = Array.from({ length: 8 }, () => f.v128());
    f.get(c).i32Const(2).i32Shl().set(cB);
    f.i32Const(0).set(cg);
    for (const vectors of [8, 4, 1]) {
      // while cg + 16·vectors <= cB: one block of `vectors` accumulators
      f.op0(0x02).op0(0x03);
      f.get(cg).i32Const(16 * vectors).i32Add().get(cB).i32GtS().brIf(1);
      for (let g = 0; g < vectors; g++) f.f32Const(0).f32x4Splat().set(acc[g]!);
      f.get(x).get(cg).i32Add().set(from);
      f.get(from).get(rows).get(cB).i32Mul().i32Add().set(end);
      f.forRange(p, () => f.get(from), () => f.get(end), () => {
        for (let g = 0; g < vectors; g++) f.get(acc[g]!).get(p).v128Load(16 * g).f32x4Add().set(acc[g]!);
      }, () => f.get(cB));
      for (let g = 0; g < vectors; g++) f.get(out).get(cg).i32Add().get(acc[g]!).v128Store(16 * g);
      f.get(cg).i32Const(16 * vectors).i32Add().set(cg);
      f.br(0);
      f.end().end();
    }
  },
};

export const SUM_PROGRAMS: FnSpec[] = [colSumReg];
