/**
 * Copies for Slice and PadV2 on the wasm heap (slice.ts, pad.ts), as bulk memory operations the threads can split:
 *   copy_rows(src, dst, rows, bytes, srcStride, dstStride): row r: `bytes` from src + r·srcStride to dst + r·dstStride
 *   pad_hw(src, dst, n, h, wcBytes, topBytes, bottomBytes, leftBytes, rightBytes): n images of h rows of wcBytes
 *     each into rows padded with zeros (leftBytes before and rightBytes after each row, topBytes before and
 *     bottomBytes after each image's rows): PadV2 of NHWC with zeros on H and W only.
 * Plain copies and zeros (+0.0): the same bytes as any other copy, whichever thread writes a row.
 */
import { type FnSpec, type Local } from './emitter.js';

export const copyRows: FnSpec = {
  name: 'copy_rows',
  nParams: 6,
  build(f) {
    const [src, dst, rows, bytes, srcStride, dstStride] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i)) as [Local, Local, Local, Local, Local, Local];
    const r = f.i32();
    f.forRange(r, () => f.i32Const(0), () => f.get(rows), () => {
      f.get(dst).get(r).get(dstStride).i32Mul().i32Add();
      f.get(src).get(r).get(srcStride).i32Mul().i32Add();
      f.get(bytes).memoryCopy();
    });
  },
};

export const padHw: FnSpec = {
  name: 'pad_hw',
  nParams: 9,
  build(f) {
    const [src, dst, n, h, wc, top, bottom, left, right] = [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => f.param(i)) as [
      Local, Local, Local, Local, Local, Local, Local, Local, Local,
    ];
    const b = f.i32();
    const y = f.i32();
    const o = f.i32();
    const s = f.i32();
    f.get(src).set(s);
    f.get(dst).set(o);
    f.forRange(b, () => f.i32Const(0), () => f.get(n), () => {
      f.get(o).i32Const(0).get(top).memoryFill();
      f.get(o).get(top).i32Add().set(o);
      f.forRange(y, () => f.i32Const(0), () => f.get(h), () => {
        f.get(o).i32Const(0).get(left).memoryFill();
        f.get(o).get(left).i32Add().set(o);
        f.get(o).get(s).get(wc).memoryCopy();
        f.get(o).get(wc).i32Add().set(o);
        f.get(s).get(wc).i32Add().set(s);
        f.get(o).i32Const(0).get(right).memoryFill();
        f.get(o).get(right).i32Add().set(o);
      });
      f.get(o).i32Const(0).get(bottom).memoryFill();
      f.get(o).get(bottom).i32Add().set(o);
    });
  },
};

export const COPY_PROGRAMS: FnSpec[] = [copyRows, padHw];
