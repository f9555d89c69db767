/**
 * Conv2D for the wasm backend on fastlr's own SIMD programs, threaded: the patch matrix of a block of output rows
 * (im2col_rows, simd/conv-programs.ts) times the filter as it is ([KH·KW·Ci, Co] row-major, no packing) by
 * gemm_r4/gemm_r1. tfjs-backend-wasm's Conv2D is XNNPACK on one thread; with `threads: N` the output rows are
 * split into N blocks, each built and multiplied by one thread on fastlr's private shared memory (x and the filter
 * copied in, the output copied out: tfjs-backend-wasm's own heap is not shared with worker threads). At one thread,
 * or below MIN_PARALLEL_MACS, XNNPACK's kernel runs (faster than ours on one thread: no patch matrix) — unless our
 * programs use FMA (simd/fma.ts): then ours runs at every thread count, in place on the heap at one thread, except
 * for fewer than NARROW_CHANNELS input channels, where XNNPACK runs at every thread count. Convolutions with few
 * input channels (≤ DIRECT_CHANNELS) and co % 16 == 0 take conv_direct instead (simd/direct-conv-programs.ts: no
 * patch matrix; the sums of im2col + gemm, bit for bit) at every thread count, split by output rows.
 *
 * Every output element is Σ over (i, j, ci) in order of one f32 multiply-add by one thread. Without FMA that is a
 * multiply and an add, what XNNPACK's f32 kernels compute too: ours and XNNPACK's were bit-identical on every shape tried
 * (bench/tools/conv-bits.mjs), and test/threads.test.ts asserts 1 (XNNPACK), 2 and 3 threads (ours) byte-equal,
 * kernel by kernel and for a whole CNN fit. Conv2DBackpropInput on wasm is a Conv2D (conv2d-backprop-input.ts),
 * so it takes this path too.
 *
 * Handled: float32 NHWC, rank 4, dilation 1, output channels a multiple of 8 (gemm's column blocks), any stride
 * and padding (including explicit). Everything else goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';
import { rawInput } from './raw-memory.js';
import { backendRunner, heapGemm, heapOutput, heapPtr, heapRunner, type PrivateHeap, privateHeap, type Runner, simdPrograms } from './simd/runtime.js';
import { fmaInUse } from './simd/fma.js';
import { MIN_PARALLEL_MACS, rowBlocks, tileCount } from './simd/tiles.js';
import { withThreads } from './simd/adaptive.js';
import { directOf, runConvDirect } from './conv-direct.js';

/**
 * Input channels up to which a non-1×1 conv with co % 16 == 0 takes conv_direct (no patch matrix) at every thread
 * count. Measured at one thread, batch 64 (bench/tools/cnn-kernels.mjs), against what ran before: MNIST conv1
 * 28×28×1 → 16: XNNPACK 0.97 → 0.46 ms; conv2 13×13×16 → 32: im2col + gemm 1.85 → 1.49 ms; MobileNetV2's stem
 * 224×224×3 → 32 stride 2 same (batch 8): XNNPACK 7.1 → 4.3 ms.
 */
const DIRECT_CHANNELS = 16;

/**
 * With FMA: input channels below which XNNPACK's Conv2D runs at every thread count when conv_direct does not apply
 * (co not a multiple of 16; measured at one thread, MNIST CNN shapes: im2col + gemm 1.3-3x slower for ci 1-8).
 */
const NARROW_CHANNELS = 16;

/** Patch-matrix floats built per pass (bounds the temporary memory: 16 MB). */
const PATCH_FLOATS = 4 * 1024 * 1024;

/** The output position (b, yr, yc) of patch row `row`. */
function position(row: number, oh: number, ow: number): [number, number, number] {
  const per = oh * ow;
  const b = Math.floor(row / per);
  const rem = row - b * per;
  const yr = Math.floor(rem / ow);
  return [b, yr, rem - yr * ow];
}

/** The 13 geometry arguments of im2col_rows after (x, out, b, yr, yc, rows). */
function geometry(info: tf.backend_util.Conv2DInfo): number[] {
  return [
    info.inHeight, info.inWidth, info.inChannels, info.filterHeight, info.filterWidth, info.outHeight, info.outWidth,
    info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
  ];
}

/** A 1×1, stride-1, unpadded convolution: x itself is the patch matrix. */
function isPointwise(info: tf.backend_util.Conv2DInfo): boolean {
  return info.filterHeight === 1 && info.filterWidth === 1 && info.strideHeight === 1 && info.strideWidth === 1 &&
    info.padInfo.top === 0 && info.padInfo.left === 0 && info.outHeight === info.inHeight && info.outWidth === info.inWidth;
}

/** Rows per pass: a multiple of 4 keeping the patch matrix under PATCH_FLOATS (all rows when that fits). */
function passRows(m: number, k: number): number {
  const r = Math.max(4, Math.floor(PATCH_FLOATS / Math.max(1, k) / 4) * 4);
  return Math.min(m, r);
}

/** N threads on the private shared heap: x and the filter copied in, each pass's output copied out. */
function convThreaded(backend: tf.KernelBackend, heap: PrivateHeap, x: tf.TensorInfo, filter: tf.TensorInfo, out: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, threads: number): void {
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const co = info.outChannels;
  const m = info.batchSize * info.outHeight * info.outWidth;
  const xv = rawInput(backend, x);
  const wv = rawInput(backend, filter);
  const ov = rawInput(backend, out);
  const pointwise = isPointwise(info);
  const step = pointwise ? m : passRows(m, k);
  const px = 0;
  const pw = px + 4 * xv.length;
  const pp = pw + 4 * wv.length;
  const pc = pointwise ? pp : pp + 4 * step * k;
  heap.reserve(pc + 4 * step * co);
  const f = heap.f32();
  f.set(xv, px / 4);
  f.set(wv, pw / 4);
  const geo = geometry(info);
  for (let r0 = 0; r0 < m; r0 += step) {
    const rows = Math.min(step, m - r0);
    if (!pointwise) {
      heap.parallel(
        rowBlocks(rows, tileCount(threads, rows / 4)).map(([a, b]) => ({
          fn: 'im2col_rows',
          args: [px, pp + 4 * a * k, ...position(r0 + a, info.outHeight, info.outWidth), b - a, ...geo],
        })),
        threads,
      );
    }
    heapGemm(heap, pointwise ? px : pp, pw, pc, rows, k, co, threads);
    ov.set(heap.f32().subarray(pc / 4, pc / 4 + rows * co), r0 * co);
  }
}

/**
 * N threads in place on the backend's shared heap (wasm-shared-heap.ts): each thread builds the patch rows of its
 * output rows into a scratch tensor and multiplies them into `out`; nothing is copied.
 */
function convInPlace(backend: tf.KernelBackend, runner: Runner, x: tf.TensorInfo, filter: tf.TensorInfo, out: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, threads: number): void {
  const k = info.filterHeight * info.filterWidth * info.inChannels;
  const co = info.outChannels;
  const m = info.batchSize * info.outHeight * info.outWidth;
  const pointwise = isPointwise(info);
  const step = pointwise ? m : passRows(m, k);
  const scratch = pointwise ? null : heapOutput(backend, [step * k]);
  try {
    const px = heapPtr(backend, x);
    const pw = heapPtr(backend, filter);
    const po = heapPtr(backend, out);
    const pp = scratch === null ? px : heapPtr(backend, scratch);
    const geo = geometry(info);
    for (let r0 = 0; r0 < m; r0 += step) {
      const rows = Math.min(step, m - r0);
      if (scratch !== null) {
        runner.parallel(
          rowBlocks(rows, tileCount(threads, rows / 4)).map(([a, b]) => ({
            fn: 'im2col_rows',
            args: [px, pp + 4 * a * k, ...position(r0 + a, info.outHeight, info.outWidth), b - a, ...geo],
          })),
          threads,
        );
      }
      heapGemm(runner, pointwise ? px : pp, pw, po + 4 * r0 * co, rows, k, co, threads);
    }
  } finally {
    if (scratch !== null) release(backend, scratch);
  }
}

/** wasm Conv2D: ours for float32 NHWC dilation-1 convolutions with Co % 8 == 0, else `stock`. */
export function wasmConv2D(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const filter = args.inputs['filter'];
    const attrs = args.attrs ?? {};
    const progs = simdPrograms(backend);
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    if (progs === null || x == null || filter == null || dataFormat !== 'NHWC' || x.dtype !== 'float32' || filter.dtype !== 'float32') return stock(args);
    if (x.shape.length !== 4 || filter.shape.length !== 4) return stock(args);
    const info = convInfo(x.shape, filter.shape, attrs);
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1 || info.outChannels % 8 !== 0) return stock(args);
    const k = info.filterHeight * info.filterWidth * info.inChannels;
    const m = info.batchSize * info.outHeight * info.outWidth;
    const runner = backendRunner(backend);
    const heap = runner === null ? privateHeap() : null;
    const threads = (runner ?? heap)?.threads() ?? 1;
    // with FMA our sums round once per multiply-add and XNNPACK's twice, so one of the two runs at every thread count:
    // XNNPACK below NARROW_CHANNELS input channels (its direct conv beats our patch matrix of short runs there, even
    // split over two threads), ours (at one thread in place) from there on
    if (info.inChannels <= DIRECT_CHANNELS && info.outChannels % 16 === 0 && !isPointwise(info)) {
      const out = heapOutput(backend, [info.batchSize, info.outHeight, info.outWidth, info.outChannels]);
      const key = `Conv2D ${x.shape.join('x')} ${filter.shape.join('x')} ${info.strideHeight}${info.strideWidth} ${info.padInfo.top}${info.padInfo.left}`;
      if (runConvDirect(backend, heapPtr(backend, x), heapPtr(backend, filter), heapPtr(backend, out), directOf(info), key)) return out;
      release(backend, out);
    }
    const fused = fmaInUse();
    if (fused && info.inChannels < NARROW_CHANNELS) return stock(args);
    const ours = (threads: number): tf.TensorInfo => {
      const out = heapOutput(backend, [info.batchSize, info.outHeight, info.outWidth, info.outChannels]);
      const local = threads < 2 ? heapRunner(backend) : null;
      if (local !== null) convInPlace(backend, local, x, filter, out, info, 1);
      else if (runner !== null) convInPlace(backend, runner, x, filter, out, info, threads);
      else if (heap !== null) convThreaded(backend, heap, x, filter, out, info, threads);
      return out;
    };
    if (threads < 2 || m * k * info.outChannels < MIN_PARALLEL_MACS) return fused ? ours(1) : stock(args);
    const key = `Conv2D ${x.shape.join('x')} ${filter.shape.join('x')} ${info.strideHeight}${info.strideWidth} ${info.padInfo.top}${info.padInfo.left}`;
    return withThreads(key, (threads) => (threads < 2 && !fused ? stock(args) : ours(threads)));
  };
}
