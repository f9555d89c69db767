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
 * threads). Anything else (prelu and the other activations, other geometry, non-float32) goes to `next`, the kernel
 * this replaces.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, KernelContext, kernelFunc, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';
import { backendRunner, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';

/** The clamp bounds (float32 bit patterns) of the activations bias_clamp runs. */
const f32Bits = (v: number): number => new Int32Array(new Float32Array([v]).buffer)[0]!;
const CLAMPS: Record<string, [number, number]> = {
  linear: [f32Bits(-Infinity), f32Bits(Infinity)],
  relu: [f32Bits(0), f32Bits(Infinity)],
  relu6: [f32Bits(0), f32Bits(6)],
};

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
    const clamp = CLAMPS[act];
    const progs = backendName === 'wasm' ? simdPrograms(backend) : null;
    const epilogue = clamp !== undefined && progs !== null && bias != null && bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === co &&
      args.inputs['preluActivationWeights'] == null;
    if (!epilogue) return next(args);
    const out = product(ctx, matMul, backend, x, [1, m, ci], filter, [1, ci, co], false, false, [n, h, w, co]);
    const [po, pb] = [heapPtr(backend, out), heapPtr(backend, bias)];
    const [lo, hi] = clamp;
    runSplit(
      backendRunner(backend),
      { key: `bias_clamp ${m}x${co}`, units: m, bytes: 8 * m * co, block: (a, b) => ({ fn: 'bias_clamp', args: [po + 4 * a * co, pb, po + 4 * a * co, b - a, co, lo, hi] }) },
      () => progs.bias_clamp(po, pb, po, m, co, lo, hi),
    );
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
