/**
 * MaxPoolGrad as one JS pass over raw memory (wasm heap / cpu arrays).
 *
 * Stock kernels: wasm's goes through a generic pool-3D template (~8 ms for [64,26,26,16], pool 2) and starts each
 * window's max at FLT_MIN (the smallest positive float), so a window whose values are all <= 0 sends its
 * gradient nowhere (wrong after tanh/linear/elu layers); cpu's indexes through TensorBuffer.get per element.
 * Semantics here are the stock cpu kernel's (and TF's / PyTorch's): the gradient goes to the FIRST maximum of
 * each window (row-major), -Infinity start, NaN never wins; overlapping windows accumulate.
 * On wasm, non-overlapping windows (stride >= pool, the usual 2x2/2) with channels % 4 == 0 run as a SIMD
 * program over the heap (2×2 stride 2 inside x: max_pool_grad2, unrolled); everything else takes the JS loop.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { isPool2, poolInfo } from './kernel-attrs.js';
import { rawInput, rawOutput } from './raw-memory.js';
import { backendRunner, heapOutput, heapPtr, type SimdPrograms, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';


export function maxPoolGradRaw(): Kernel {
  let best = new Float32Array(0);
  let pos = new Int32Array(0);
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const dyInfo = args.inputs['dy'];
    const xInfo = args.inputs['input'];
    if (dyInfo == null || xInfo == null) throw new Error('MaxPoolGrad: missing input');
    const attrs = args.attrs ?? {};
    const info = poolInfo(xInfo.shape, attrs);
    const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
    const { strideHeight: sh, strideWidth: sw } = info;
    const fh = info.effectiveFilterHeight;
    const fw = info.effectiveFilterWidth;
    const top = info.padInfo.top;
    const left = info.padInfo.left;

    const out = rawOutput(backend, xInfo.shape);
    const dx = out.data;
    const x = rawInput(backend, xInfo);
    const dy = rawInput(backend, dyInfo);
    if (best.length < c) {
      best = new Float32Array(c);
      pos = new Int32Array(c);
    }
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
          pos.fill(-1, 0, c);
          for (let r = rFrom; r < rTo; r++) {
            for (let col = cFrom; col < cTo; col++) {
              const base = ((b * h + r) * w + col) * c;
              for (let d = 0; d < c; d++) {
                const v = x[base + d];
                if (v > best[d]) {
                  best[d] = v;
                  pos[d] = base + d;
                }
              }
            }
          }
          const dyBase = ((b * oh + yr) * ow + yc) * c;
          for (let d = 0; d < c; d++) {
            const p = pos[d];
            if (p >= 0) dx[p] = dx[p] + dy[dyBase + d];
          }
        }
      }
    }
    return out.finish();
  };
}

/** wasm: the SIMD program when it applies, else the JS loop. */
export function maxPoolGradWasm(): Kernel {
  const generic = maxPoolGradRaw();
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const dyInfo = args.inputs['dy'];
    const xInfo = args.inputs['input'];
    const progs = simdPrograms(backend);
    if (dyInfo == null || xInfo == null || progs === null || xInfo.dtype !== 'float32' || dyInfo.dtype !== 'float32') {
      return generic(args);
    }
    const attrs = args.attrs ?? {};
    const info = poolInfo(xInfo.shape, attrs);
    const fh = info.effectiveFilterHeight;
    const fw = info.effectiveFilterWidth;
    const { strideHeight: sh, strideWidth: sw, inChannels: c } = info;
    if (c % 4 !== 0 || sh < fh || sw < fw) return generic(args);
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    const out = heapOutput(backend, xInfo.shape.slice());
    if (isPool2(info)) return pool2Grad(backend, progs, xInfo, dyInfo, out, info);
    const covered =
      top === 0 && left === 0 && sh === fh && sw === fw &&
      info.outHeight * sh >= info.inHeight && info.outWidth * sw >= info.inWidth;
    if (!covered) rawOutputView(backend, out).fill(0);
    const [px, pd, po] = [heapPtr(backend, xInfo), heapPtr(backend, dyInfo), heapPtr(backend, out)];
    const { batchSize: n, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
    const rest = [h, w, c, oh, ow, fh, fw, sh, sw, top, left];
    const inner = h * w * c;
    const outer = oh * ow * c;
    // split by images over the shared heap's threads (windows never cross images: each dx element one thread)
    runSplit(
      backendRunner(backend),
      {
        key: `max_pool_grad ${xInfo.shape.join('x')} ${fh}${fw}${sh}${sw}${top}${left}`,
        units: n,
        bytes: 4 * (2 * n * inner + n * outer),
        block: (a, b) => ({ fn: 'max_pool_grad', args: [px + 4 * a * inner, pd + 4 * a * outer, po + 4 * a * inner, b - a, ...rest] }),
      },
      () => progs.max_pool_grad(px, pd, po, n, ...rest),
    );
    return out;
  };
}

/**
 * 2×2 stride-2 windows all inside x: max_pool_grad2, unrolled, which also zeroes what no window covers; split by
 * images (each dx element written by one call).
 */
function pool2Grad(backend: tf.KernelBackend, progs: SimdPrograms, xInfo: tf.TensorInfo, dyInfo: tf.TensorInfo, out: tf.TensorInfo, info: tf.backend_util.Conv2DInfo): tf.TensorInfo {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow } = info;
  const [px, pd, po] = [heapPtr(backend, xInfo), heapPtr(backend, dyInfo), heapPtr(backend, out)];
  const inner = h * w * c;
  const outer = oh * ow * c;
  runSplit(
    backendRunner(backend),
    {
      key: `max_pool_grad2 ${xInfo.shape.join('x')}`,
      units: n,
      bytes: 4 * (2 * n * inner + n * outer),
      block: (a, b) => ({ fn: 'max_pool_grad2', args: [px + 4 * a * inner, pd + 4 * a * outer, po + 4 * a * inner, b - a, h, w, c, oh, ow] }),
    },
    () => progs.max_pool_grad2(px, pd, po, n, h, w, c, oh, ow),
  );
  return out;
}

function rawOutputView(backend: tf.KernelBackend, info: tf.TensorInfo): Float32Array {
  return rawInput(backend, info);
}
