/**
 * Conv2DBackpropFilter built from the backend's own Conv2D (wasm has no such kernel; cpu's is a slow JS loop).
 *
 * dW[kh,kw,ci,co] = Σ_{n,oh,ow} x[n, oh·sh + kh − top, ow·sw + kw − left, ci] · dy[n, oh, ow, co]
 * is a stride-1 convolution of the input with the batch as channels, xᵀ = [Ci, H, W, N], by the output gradient
 * as filter, dyᵀ = [OH, OW, N, Co], dilated by the forward stride: the result [Ci, KH, KW, Co] transposed to
 * [KH, KW, Ci, Co]. Padding: the forward top/left padding, and at the bottom/right exactly what reaches KH/KW
 * rows (never more than the forward padding); when the forward conv dropped trailing input rows (valid padding,
 * stride > 1) the result has extra rows, sliced off.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, KernelContext, kernelFunc, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';
import { rawOutput } from './raw-memory.js';
import { heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';
import { directBpfSplits, threadedDirectBpf } from './wasm-conv-bpf.js';
import { withThreads } from './simd/adaptive.js';


/** Our kernel for `backendName`; `fallback` (the stock kernel, if any) handles NCHW. */
export function convBackpropFilterViaConv2D(backendName: string, fallback: Kernel | null): Kernel {
  const ctx = new KernelContext(backendName);
  const conv2d = kernelFunc('Conv2D', backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const dy = args.inputs['dy'];
    const attrs = args.attrs ?? {};
    if (x == null || dy == null) throw new Error('Conv2DBackpropFilter: missing input');
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    if (dataFormat !== 'NHWC') {
      if (fallback) return fallback(args);
      throw new Error(`Conv2DBackpropFilter on ${backendName}: only NHWC is supported, got ${dataFormat}`);
    }
    const filterShape = attrs['filterShape'] as [number, number, number, number];
    const info = convInfo(x.shape, filterShape, attrs);
    const [kh, kw, ci, co] = filterShape;
    const { strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const bottom = Math.max(0, kh + (oh - 1) * sh - h - top);
    const right = Math.max(0, kw + (ow - 1) * sw - w - left);
    const rows = h + top + bottom - (oh - 1) * sh;
    const cols = w + left + right - (ow - 1) * sw;

    const temps: tf.TensorInfo[] = [];
    try {
      const xT = ctx.transpose(backend, x, [3, 1, 2, 0]);
      temps.push(xT);
      const dyT = ctx.transpose(backend, dy, [1, 2, 0, 3]);
      temps.push(dyT);
      let out = conv2d({
        inputs: { x: xT, filter: dyT },
        backend,
        attrs: {
          strides: [1, 1],
          pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
          dataFormat: 'NHWC',
          dilations: [sh, sw],
        },
      });
      if (rows !== kh || cols !== kw) {
        temps.push(out);
        out = ctx.slice(backend, out, [0, 0, 0, 0], [ci, kh, kw, co]);
      }
      temps.push(out);
      return ctx.transpose(backend, out, [1, 2, 0, 3]);
    } finally {
      release(backend, ...temps);
    }
  };
}

/**
 * Output channels a multiple of 16 take the direct SIMD loop (conv_bpf_direct[2]) instead of im2col + matmul: the
 * matmul [rows, N·OH·OW]·[N·OH·OW, co] has XNNPACK pack all of dy (a new tensor every step) before it starts,
 * which on the MNIST CNN's first layer is ~1.7 ms of a ~2.2 ms kernel. Measured with a fresh dy each call (as in
 * training), batch 64: 3×3×1×16 on 28×28: 2.2 → 0.37 ms; 3×3×16×32 on 13×13: 2.7 → 1.7 ms;
 * 3×3×32×64 on 13×13: 9.7 → 6.8 ms; 3×3×64×64 on 16×16 (batch 32): 16.1 → 10.3 ms.
 */
function useDirect(co: number, dyChannels: number | undefined): boolean {
  return co % 16 === 0 && dyChannels === co;
}

/** Largest patch matrix (floats) the im2col path builds; beyond it the conv formulation is used. */
const MAX_PATCH_FLOATS = 16 * 1024 * 1024;

/**
 * wasm: dW by the direct SIMD loop when co % 16 == 0 (useDirect) and the conv is not 1×1 stride 1; otherwise as one matmul, patchesᵀ [KH·KW·Ci,
 * N·OH·OW] · dy [N·OH·OW, Co]: with co % 8 == 0 the patch matrix [N·OH·OW, KH·KW·Ci] (im2col_rows; x itself for a
 * 1×1 stride-1 conv) read transposed by gemm_tn (BatchMatMul transposeA), else the transposed patch matrix built by
 * a SIMD-module loop straight from x times dy (no transposes of x or dy at all; ~3x faster than the conv
 * formulation on the MNIST CNN's layers). Falls back to
 * `viaConv` for NCHW or a patch matrix over MAX_PATCH_FLOATS.
 */
export function convBackpropFilterIm2col(backendName: string, viaConv: Kernel): Kernel {
  const ctx = new KernelContext(backendName);
  const matMul = kernelFunc('BatchMatMul', backendName);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const x = args.inputs['x'];
    const dy = args.inputs['dy'];
    const attrs = args.attrs ?? {};
    const progs = simdPrograms(backend);
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    if (x == null || dy == null || progs === null || dataFormat !== 'NHWC' || x.dtype !== 'float32' || dy.dtype !== 'float32') {
      return viaConv(args);
    }
    const filterShape = attrs['filterShape'] as [number, number, number, number];
    const info = convInfo(x.shape, filterShape, attrs);
    const [kh, kw, ci, co] = filterShape;
    const k = kh * kw * ci;
    const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
    const [top, left] = [info.padInfo.top, info.padInfo.left];
    const pointwise = kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0 && oh === info.inHeight && ow === info.inWidth;
    // a 1×1 conv's dW is one xᵀ·dy (gemm_tn below): faster than the direct loop, whose rows are short at 7×7 or 14×14
    if (useDirect(co, dy.shape[3]) && !pointwise) {
      const program = ci % 2 === 0 ? 'conv_bpf_direct2' : 'conv_bpf_direct';
      const one = (): tf.TensorInfo => {
        const out = rawOutput(backend, [kh, kw, ci, co]).finish();
        progs[program](
          heapPtr(backend, x), heapPtr(backend, dy), heapPtr(backend, out),
          info.batchSize, info.inHeight, info.inWidth, ci, co, kh, kw, info.outHeight, info.outWidth,
          info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, 0, co,
        );
        return out;
      };
      if (!directBpfSplits(backend, info)) return one();
      const key = `Conv2DBackpropFilter ${x.shape.join('x')} ${filterShape.join('x')} ${info.strideHeight}${info.strideWidth} ${info.padInfo.top}${info.padInfo.left}`;
      return withThreads(key, (threads) => (threads > 1 ? threadedDirectBpf(backend, x, dy, info, program, threads) : null) ?? one());
    }
    const m = info.batchSize * info.outHeight * info.outWidth;
    if (k * m > MAX_PATCH_FLOATS) return viaConv(args);
    const temps: tf.TensorInfo[] = [];
    try {
      if (co % 8 === 0) {
        // patches [m, k] (x itself when 1×1 stride 1 unpadded) and dW = patchesᵀ·dy by gemm_tn, which reads them as
        // they are (batch-matmul.ts): the same sums in the same order as the transposed patch matrix times dy
        let patches: tf.TensorInfo;
        if (pointwise) {
          patches = ctx.reshape(backend, x, [1, m, k]);
        } else {
          patches = heapOutput(backend, [1, m, k]);
          progs.im2col_rows(heapPtr(backend, x), heapPtr(backend, patches), 0, 0, 0, m, info.inHeight, info.inWidth, ci, kh, kw, oh, ow, sh, sw, top, left);
        }
        temps.push(patches);
        const dy3 = ctx.reshape(backend, dy, [1, m, co]);
        temps.push(dy3);
        const prod = matMul({ inputs: { a: patches, b: dy3 }, backend, attrs: { transposeA: true, transposeB: false } });
        temps.push(prod);
        return ctx.reshape(backend, prod, [kh, kw, ci, co]);
      }
      const pt = heapOutput(backend, [1, k, m]);
      temps.push(pt);
      progs.im2col_t(
        heapPtr(backend, x), heapPtr(backend, pt),
        info.batchSize, info.inHeight, info.inWidth, ci, kh, kw, info.outHeight, info.outWidth,
        info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left,
      );
      const dy3 = ctx.reshape(backend, dy, [1, m, co]);
      temps.push(dy3);
      const prod = matMul({ inputs: { a: pt, b: dy3 }, backend, attrs: { transposeA: false, transposeB: false } });
      temps.push(prod);
      return ctx.reshape(backend, prod, [kh, kw, ci, co]);
    } finally {
      release(backend, ...temps);
    }
  };
}
