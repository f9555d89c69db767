/**
 * PadV2 on the wasm backend for ZeroPadding2D (MobileNet's stride-2 blocks): float32 NHWC, zeros on H and W only,
 * split by images over the threads on the shared heap (pad_hw, simd/copy-programs.ts: each output byte written by
 * one call, zeros as +0.0, the same bytes as the stock kernel). One thread, other paddings, values or dtypes: `stock`.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { backendRunner, heapOutput, heapPtr } from './simd/runtime.js';
import { MIN_SPLIT_BYTES } from './simd/split.js';
import { rowBlocks, tileCount } from './simd/tiles.js';
import { withThreads } from './simd/adaptive.js';

export function padWasm(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    const attrs = args.attrs ?? {};
    const paddings = attrs['paddings'] as [number, number][] | undefined;
    const value = attrs['constantValue'] as number | undefined;
    const runner = backendRunner(args.backend);
    if (x == null || x.dtype !== 'float32' || x.shape.length !== 4 || paddings === undefined || paddings.length !== 4 || value !== 0) return stock(args);
    const [pn, ph, pw, pc] = paddings as [[number, number], [number, number], [number, number], [number, number]];
    if (pn[0] !== 0 || pn[1] !== 0 || pc[0] !== 0 || pc[1] !== 0 || [...ph, ...pw].some((p) => p < 0)) return stock(args);
    const [n, h, w, c] = x.shape as [number, number, number, number];
    const oh = h + ph[0] + ph[1];
    const ow = w + pw[0] + pw[1];
    if (runner === null || runner.threads() < 2 || n < 2 || 4 * n * oh * ow * c < MIN_SPLIT_BYTES) return stock(args);
    return withThreads(`PadV2 ${x.shape.join('x')} ${ph.join(',')} ${pw.join(',')}`, (t) => {
      if (t < 2) return stock(args);
      const out = heapOutput(args.backend, [n, oh, ow, c]);
      const px = heapPtr(args.backend, x);
      const po = heapPtr(args.backend, out);
      const row = 4 * ow * c;
      const geo = [h, 4 * w * c, ph[0] * row, ph[1] * row, 4 * pw[0] * c, 4 * pw[1] * c];
      runner.parallel(
        rowBlocks(n, tileCount(t, n), 1).map(([b0, b1]) => ({ fn: 'pad_hw', args: [px + 4 * b0 * h * w * c, po + b0 * oh * row, b1 - b0, ...geo] })),
        t,
      );
      return out;
    });
  };
}
