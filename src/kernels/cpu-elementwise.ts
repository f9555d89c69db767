/**
 * Plain-JS loops for the cpu backend's element-wise kernels that dominate a conv net's step once the matmuls and
 * convolutions are fast (MNIST CNN, batch 64, per step: Sum ~49 ms, the Relu gradient's Step + Multiply ~24 ms,
 * the broadcasting bias Add ~10 ms, Relu ~9 ms with the stock kernels):
 *   Sum over every axis but the last (a bias gradient): the stock kernel transposes the reduced axes innermost
 *     first, element by element; here one pass, each output summed over the rows in order in float64 as the stock
 *     kernel does (the same result);
 *   Add x[..., C] + b[C] (either order): one pass instead of the broadcasting index arithmetic (the same result);
 *   Relu: max(0, x) in one loop (the same result, NaN kept);
 *   FastlrReluGrad: x > 0 ? dy : 0 (relu-grad.ts; differs from dy·step(x) only for non-finite inputs);
 *   MaxPool (~4 ms): channels innermost (the same result).
 * Anything else goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { biasAddCase, leadingSumCase, poolInfo } from './kernel-attrs.js';
import { rawInput, rawOutput } from './raw-memory.js';
import { RELU_GRAD_KERNEL } from './relu-grad.js';

/** cpu Sum: the leading-axes case in one pass. */
export function cpuLeadingAxesSum(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const m = leadingSumCase(args);
    if (m === null) return stock(args);
    const { rows, c } = m;
    const xv = rawInput(args.backend, m.x);
    const acc = new Float64Array(c);
    for (let r = 0, o = 0; r < rows; r++, o += c) {
      for (let j = 0; j < c; j++) acc[j] += xv[o + j]!;
    }
    const out = rawOutput(args.backend, m.outShape);
    out.data.set(acc);
    return out.finish();
  };
}

/** cpu Add: the bias case in one pass. */
export function cpuBiasAdd(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const m = biasAddCase(args);
    if (m === null) return stock(args);
    const c = m.c;
    const n = m.rows * c;
    const out = rawOutput(args.backend, m.x.shape.slice());
    const xv = rawInput(args.backend, m.x);
    const bv = rawInput(args.backend, m.bias);
    const o = out.data;
    for (let r = 0; r < n; r += c) {
      for (let j = 0; j < c; j++) o[r + j] = xv[r + j]! + bv[j]!;
    }
    return out.finish();
  };
}

/** cpu Relu: max(0, x), NaN kept. */
export function cpuRelu(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    if (x == null || x.dtype !== 'float32') return stock(args);
    const out = rawOutput(args.backend, x.shape.slice());
    const xv = rawInput(args.backend, x);
    const o = out.data;
    for (let i = 0; i < xv.length; i++) {
      const v = xv[i]!;
      o[i] = v > 0 || v !== v ? v : 0;
    }
    return out.finish();
  };
}

/** cpu FastlrReluGrad: x > 0 ? dy : 0. */
export function reluGradCpu(): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const dy = args.inputs['dy'];
    const x = args.inputs['x'];
    if (dy == null || x == null) throw new Error(`${RELU_GRAD_KERNEL}: missing input`);
    if (dy.dtype !== 'float32' || x.dtype !== 'float32' || String(dy.shape) !== String(x.shape)) {
      throw new Error(`${RELU_GRAD_KERNEL}: unsupported input (shapes ${dy.shape} / ${x.shape})`);
    }
    const out = rawOutput(args.backend, x.shape.slice());
    const xv = rawInput(args.backend, x);
    const dv = rawInput(args.backend, dy);
    const o = out.data;
    for (let i = 0; i < xv.length; i++) o[i] = xv[i]! > 0 ? dv[i]! : 0;
    return out.finish();
  };
}

/**
 * cpu MaxPool (NHWC float32) with channels innermost, so every read is sequential; per window and channel the
 * stock rule: start from −Infinity, a value replaces the maximum only when strictly greater (NaN never wins).
 * The stock loop walks channels outermost with strided reads. 1×1 identity pools and other dtypes: stock.
 */
export function cpuMaxPool(stock: Kernel): Kernel {
  let best = new Float32Array(0);
  return (args: KernelArgs): tf.TensorInfo => {
    const xInfo = args.inputs['x'];
    if (xInfo == null || xInfo.dtype !== 'float32' || xInfo.shape.length !== 4) return stock(args);
    const attrs = args.attrs ?? {};
    const info = poolInfo(xInfo.shape, attrs);
    if (info.filterHeight === 1 && info.filterWidth === 1 && String(info.inShape) === String(info.outShape)) return stock(args);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
    const { strideHeight: sh, strideWidth: sw } = info;
    const fh = info.effectiveFilterHeight;
    const fw = info.effectiveFilterWidth;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const out = rawOutput(args.backend, info.outShape.slice());
    const o = out.data;
    const x = rawInput(args.backend, xInfo);
    if (best.length < c) best = new Float32Array(c);
    for (let b = 0; b < n; b++) {
      for (let yr = 0; yr < oh; yr++) {
        const r0 = yr * sh - top;
        const rFrom = Math.max(0, r0);
        const rTo = Math.min(h, r0 + fh);
        for (let yc = 0; yc < ow; yc++) {
          const c0 = yc * sw - left;
          const cFrom = Math.max(0, c0);
          const cTo = Math.min(w, c0 + fw);
          best.fill(-Infinity, 0, c);
          for (let r = rFrom; r < rTo; r++) {
            for (let col = cFrom; col < cTo; col++) {
              const base = ((b * h + r) * w + col) * c;
              for (let d = 0; d < c; d++) {
                const v = x[base + d]!;
                if (v > best[d]!) best[d] = v;
              }
            }
          }
          o.set(best.subarray(0, c), ((b * oh + yr) * ow + yc) * c);
        }
      }
    }
    return out.finish();
  };
}
