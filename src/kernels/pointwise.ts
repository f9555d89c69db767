/**
 * Pointwise (1×1, stride 1, no padding, NHWC) convolutions on the wasm backend as plain matrix products through
 * our BatchMatMul (batch-matmul.ts: the SIMD gemm, row blocks over the worker threads when there are several):
 *   forward          y[M, Co]  = x[M, Ci] · W[Ci, Co]
 *   backprop input   dx[M, Ci] = dy[M, Co] · W[Ci, Co]ᵀ
 *   backprop filter  dW[Ci, Co] = x[M, Ci]ᵀ · dy[M, Co]          (M = N·H·W)
 * In a MobileNet nearly every convolution is one of these. tfjs-backend-wasm runs them through XNNPACK, which
 * repacks the weights on every call (they are new tensors after every optimizer step) and is single-threaded
 * here, and the stock backprop input went through a flipped, transposed filter and a full convolution. A FusedConv2D
 * with a rank-1 bias and a linear / relu / relu6 activation (what the conv + BatchNorm fold produces, conv-bn-fold.ts)
 * is the same product, then one in-place pass of bias_clamp over it (simd/epilogue-programs.ts; row blocks over the
 * threads); on one thread the product (the same gemm_r4 / gemm_r1 rows as BatchMatMul's, so the same bits) and the
 * epilogue go chunk by chunk of rows, so that the epilogue reads its chunk from cache. Anything else (prelu and the other activations, other geometry, non-float32) goes to `next`, the kernel
 * this replaces.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, KernelContext, kernelFunc, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';
import { biasClampInPlace, clampEpilogue } from './epilogue.js';
import { backendRunner, heapOutput, heapPtr, privateHeap, simdPrograms } from './simd/runtime.js';

/** Output floats per chunk of the one-thread fused path (64 KiB: the chunk is still in L2 for its epilogue). */
const CHUNK_FLOATS = 16384;

/** The call is a 1×1, stride-1, unpadded, undilated NHWC convolution of rank-4 float32 tensors. */
function pointwiseGeometry(xShape: readonly number[], filterShape: readonly number[], attrs: tf.NamedAttrMap): boolean {
  const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
  if (dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') return false;
  if (xShape.length !== 4 || filterShape.length !== 4 || filterShape[0] !== 1 || filterShape[1] !== 1) return false;
  const info = convInfo(xShape, filterShape, attrs);
  const p = info.padInfo;
  return (
    info.strideHeight === 1 && info.strideWidth === 1 && info.dilationHeight === 1 && info.dilationWidth === 1 &&
    p.top === 0 && p.bottom === 0 && p.left === 0 && p.right === 0 &&
    info.outHeight === info.inHeight && info.outWidth === info.inWidth
  );
}

const floats = (...ts: (tf.TensorInfo | undefined)[]): boolean => ts.every((t) => t !== undefined && t.dtype === 'float32');

/** One product through BatchMatMul on [1, rows, cols] views; the result reshaped to `outShape`. */
function product(
  ctx: KernelContext, matMul: Kernel, backend: tf.KernelBackend,
  a: tf.TensorInfo, aShape: number[], b: tf.TensorInfo, bShape: number[],
  transposeA: boolean, transposeB: boolean, outShape: number[],
): tf.TensorInfo {
  const temps: tf.TensorInfo[] = [];
  try {
    const a3 = ctx.reshape(backend, a, aShape);
    temps.push(a3);
    const b3 = ctx.reshape(backend, b, bShape);
    temps.push(b3);
    const c = matMul({ inputs: { a: a3, b: b3 }, backend, attrs: { transposeA, transposeB } });
    temps.push(c);
    return ctx.reshape(backend, c, outShape);
  } finally {
    release(backend, ...temps);
  }
}

/**
 * Conv2D or FusedConv2D when pointwise: without bias or activation, the product; with a rank-1 bias and a linear /
 * relu / relu6 activation on wasm with SIMD, the product then bias_clamp in place; else `next`.
 */
export function pointwiseConv2D(backendName: string, next: Kernel): Kernel {
  const ctx = new KernelContext(backendName);
  const matMul = kernelFunc('BatchMatMul', backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const filter = args.inputs['filter'];
    const bias = args.inputs['bias'];
    const attrs = args.attrs ?? {};
    const act = (attrs['activation'] as string | undefined) ?? 'linear';
    const plain = bias == null && args.inputs['preluActivationWeights'] == null && act === 'linear';
    if (x == null || filter == null || !floats(x, filter) || !pointwiseGeometry(x.shape, filter.shape, attrs)) return next(args);
    const [n, h, w, ci] = x.shape as [number, number, number, number];
    const co = filter.shape[3]!;
    const m = n * h * w;
    if (plain) return product(ctx, matMul, backend, x, [1, m, ci], filter, [1, ci, co], false, false, [n, h, w, co]);
    const epilogue = backendName === 'wasm' ? clampEpilogue(args, co) : null;
    if (epilogue === null) return next(args);
    const oneThread = (backendRunner(backend) ?? privateHeap())?.threads() ?? 1;
    const progs = simdPrograms(backend);
    if (oneThread === 1 && progs !== null && co % 8 === 0) {
      // one thread: the product and the epilogue chunk by chunk of rows, each chunk's output still in cache
      const out = heapOutput(backend, [n, h, w, co]);
      const [px, pw, po, pb] = [heapPtr(backend, x), heapPtr(backend, filter), heapPtr(backend, out), heapPtr(backend, epilogue.bias)];
      const [lo, hi] = epilogue.bounds;
      const step = Math.max(4, Math.floor(CHUNK_FLOATS / co / 4) * 4);
      for (let r0 = 0; r0 < m; r0 += step) {
        const rows = Math.min(step, m - r0);
        const r4 = rows - (rows % 4);
        const [a, c] = [px + 4 * r0 * ci, po + 4 * r0 * co];
        if (r4 > 0) progs.gemm_r4(a, pw, c, r4, ci, co);
        if (r4 < rows) progs.gemm_r1(a + 4 * r4 * ci, pw, c + 4 * r4 * co, rows - r4, ci, co);
        progs.bias_clamp(c, pb, c, rows, co, lo, hi);
      }
      return out;
    }
    const out = product(ctx, matMul, backend, x, [1, m, ci], filter, [1, ci, co], false, false, [n, h, w, co]);
    biasClampInPlace(backend, out, epilogue);
    return out;
  };
}

/** Conv2DBackpropInput when pointwise; else `next`. */
export function pointwiseBackpropInput(backendName: string, next: Kernel): Kernel {
  const ctx = new KernelContext(backendName);
  const matMul = kernelFunc('BatchMatMul', backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const dy = args.inputs['dy'];
    const filter = args.inputs['filter'];
    const attrs = args.attrs ?? {};
    const inputShape = attrs['inputShape'] as number[] | undefined;
    if (dy == null || filter == null || inputShape === undefined || !floats(dy, filter) || !pointwiseGeometry(inputShape, filter.shape, attrs)) {
      return next(args);
    }
    const [n, h, w, ci] = inputShape as [number, number, number, number];
    const co = filter.shape[3]!;
    const m = n * h * w;
    return product(ctx, matMul, backend, dy, [1, m, co], filter, [1, ci, co], false, true, [n, h, w, ci]);
  };
}

/** Conv2DBackpropFilter when pointwise; else `next`. */
export function pointwiseBackpropFilter(backendName: string, next: Kernel): Kernel {
  const ctx = new KernelContext(backendName);
  const matMul = kernelFunc('BatchMatMul', backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const dy = args.inputs['dy'];
    const attrs = args.attrs ?? {};
    const filterShape = attrs['filterShape'] as number[] | undefined;
    if (x == null || dy == null || filterShape === undefined || !floats(x, dy) || !pointwiseGeometry(x.shape, filterShape, attrs)) {
      return next(args);
    }
    const [n, h, w, ci] = x.shape as [number, number, number, number];
    const co = filterShape[3]!;
    const m = n * h * w;
    return product(ctx, matMul, backend, x, [1, m, ci], dy, [1, m, co], true, false, [1, 1, ci, co]);
  };
}
