/**
 * MaxPool forward on the wasm heap: the SIMD program max_pool (simd/maxpool-programs.ts), NHWC float32 with
 * channels % 4 == 0, split by images over the shared heap's threads (wasm-shared-heap.ts), in place, no copies.
 * tfjs-backend-wasm's MaxPool is XNNPACK on one thread. The program takes, per window and channel, the first value
 * strictly greater than everything before it (from -Infinity): on finite inputs that is the window's max exactly as
 * XNNPACK computes it, and it is the element max_pool_grad sends the gradient to. 2×2 stride-2 windows all inside x
 * (isPool2) take max_pool2, the same selection unrolled. Everything else goes to `stock`.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { isPool2, poolInfo } from './kernel-attrs.js';
import { backendRunner, heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';

export function maxPoolWasm(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const progs = simdPrograms(backend);
    if (x == null || progs === null || x.dtype !== 'float32' || x.shape.length !== 4) return stock(args);
    const info = poolInfo(x.shape, args.attrs ?? {});
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
    if (c % 4 !== 0 || info.dilationHeight !== 1 || info.dilationWidth !== 1 || n * oh * ow * c === 0) return stock(args);
    const fh = info.effectiveFilterHeight;
    const fw = info.effectiveFilterWidth;
    const out = heapOutput(backend, [n, oh, ow, c]);
    const px = heapPtr(backend, x);
    const po = heapPtr(backend, out);
    const rest = [h, w, c, oh, ow, fh, fw, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left];
    const inner = h * w * c;
    const outer = oh * ow * c;
    if (isPool2(info)) {
      // 2×2 stride 2, every window inside x: the unrolled program
      runSplit(
        backendRunner(backend),
        {
          key: `max_pool2 ${x.shape.join('x')}`,
          units: n,
          bytes: 4 * n * (inner + outer),
          block: (a, b) => ({ fn: 'max_pool2', args: [px + 4 * a * inner, po + 4 * a * outer, b - a, h, w, c, oh, ow] }),
        },
        () => progs.max_pool2(px, po, n, h, w, c, oh, ow),
      );
      return out;
    }
    runSplit(
      backendRunner(backend),
      {
        key: `max_pool ${x.shape.join('x')} ${rest.slice(5).join(',')}`,
        units: n,
        bytes: 4 * n * (inner + outer),
        block: (a, b) => ({ fn: 'max_pool', args: [px + 4 * a * inner, po + 4 * a * outer, b - a, ...rest] }),
      },
      () => progs.max_pool(px, po, n, ...rest),
    );
    return out;
  };
}
