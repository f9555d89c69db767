/**
 * Conv2DBackpropInput on tfjs-backend-wasm's heap, in place: the patch-matrix gradient P = dy·Wᵀ ([N·OH·OW, Co] ×
 * [Co, KH·KW·Ci], our SIMD gemm) and then col2im_nhwc (simd/col2im-programs.ts), which gathers each input position's
 * taps from P in a fixed order. For the MNIST CNN's conv2 (64×11×11×32 → 13×13×16) that is a 36 M-MAC product
 * instead of the 50 M MACs of XNNPACK's convolution of the zero-padded dy (the `viaConv` formulation), and no
 * XNNPACK operator set up per call. NHWC, float32, dilation 1, Ci % 4 == 0; anything else goes to `fallback`.
 * Stride 1 with Ci % 16 == 0 (that conv2 among them) takes directBpi instead: conv_direct on the flipped filter, the
 * same 36 M MACs without P (1 thread, batch 64: 1.95 → 1.68 ms).
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs, release } from './kernel-context.js';
import { convInfo } from './kernel-attrs.js';
import { backendRunner, heapGemm, heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';
import { runSplit } from './simd/split.js';
import { runConvDirect } from './conv-direct.js';

const round8 = (n: number): number => Math.ceil(n / 8) * 8;

function wasmHeap(backend: tf.KernelBackend, info: tf.TensorInfo): Float32Array {
  return (backend as unknown as { typedArrayFromHeap(i: tf.TensorInfo): Float32Array }).typedArrayFromHeap(info);
}

/**
 * Stride 1, ci % 16 == 0: dx is the convolution of dy by the filter flipped in both axes with its channel axes
 * swapped, Wf[i, j, o, c] = W[kh − 1 − i, kw − 1 − j, c, o], padded by kh − 1 − top / kw − 1 − left: conv_direct
 * (conv-direct.ts), which visits only the taps inside dy (the 36 M MACs of dy·Wᵀ, not the 50 M of the zero-padded
 * dy) and needs neither P nor col2im. null: no programs on this heap.
 */
function directBpi(backend: tf.KernelBackend, dy: tf.TensorInfo, filter: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, inputShape: number[]): tf.TensorInfo | null {
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co, filterHeight: kh, filterWidth: kw } = info;
  const wf = heapOutput(backend, [kh, kw, co, ci]);
  const dx = heapOutput(backend, inputShape.slice());
  try {
    const wv = wasmHeap(backend, filter);
    const fv = wasmHeap(backend, wf);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
        const dst = (i * kw + j) * co * ci;
        for (let c = 0; c < ci; c++) for (let o = 0; o < co; o++) fv[dst + o * ci + c] = wv[src + c * co + o]!;
      }
    }
    const geometry = { n, h: oh, w: ow, ci: co, co: ci, kh, kw, oh: h, ow: w, sh: 1, sw: 1, top: kh - 1 - info.padInfo.top, left: kw - 1 - info.padInfo.left };
    const key = `Conv2DBackpropInput ${inputShape.join('x')} ${filter.shape.join('x')} ${info.padInfo.top}${info.padInfo.left}`;
    if (runConvDirect(backend, heapPtr(backend, dy), heapPtr(backend, wf), heapPtr(backend, dx), geometry, key)) return dx;
    release(backend, dx);
    return null;
  } finally {
    release(backend, wf);
  }
}

export function wasmConvBackpropInput(fallback: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const { backend } = args;
    const dy = args.inputs['dy'];
    const filter = args.inputs['filter'];
    const attrs = args.attrs ?? {};
    const progs = simdPrograms(backend);
    const dataFormat = (attrs['dataFormat'] as string | undefined) ?? 'NHWC';
    const dil = attrs['dilations'] as number | number[] | undefined;
    const dilated = Array.isArray(dil) ? dil.some((d) => d !== 1) : dil !== undefined && dil !== 1;
    if (progs === null || dy == null || filter == null || dataFormat !== 'NHWC' || dilated) return fallback(args);
    if (dy.dtype !== 'float32' || filter.dtype !== 'float32' || dy.shape.length !== 4 || filter.shape.length !== 4) return fallback(args);
    const inputShape = attrs['inputShape'] as [number, number, number, number];
    const info = convInfo(inputShape, filter.shape, { ...attrs, dilations: 1 });
    const { batchSize: nb, inHeight: h, inWidth: w, inChannels: ci, outHeight: oh, outWidth: ow, outChannels: co } = info;
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
    if (ci % 4 !== 0 || dy.shape[1] !== oh || dy.shape[2] !== ow || dy.shape[3] !== co || nb * oh * ow === 0) return fallback(args);
    if (sh === 1 && sw === 1 && ci % 16 === 0) {
      const direct = directBpi(backend, dy, filter, info, inputShape);
      if (direct !== null) return direct;
    }
    const k = kh * kw * ci;
    const k8 = round8(k);
    const m = nb * oh * ow;
    // Wᵀ [Co, K] padded to K8 columns (the gemm's width must be a multiple of 8)
    const wt = heapOutput(backend, [co, k8]);
    const p = heapOutput(backend, [m, k8]);
    const dx = heapOutput(backend, inputShape.slice());
    try {
      // views only after every allocation (an allocation may grow the heap)
      const wv = wasmHeap(backend, filter);
      const bt = wasmHeap(backend, wt);
      if (k8 > k) bt.fill(0);
      for (let q = 0; q < k; q++) {
        for (let o = 0; o < co; o++) bt[o * k8 + q] = wv[q * co + o]!;
      }
      const pdy = heapPtr(backend, dy);
      const pw = heapPtr(backend, wt);
      const pp = heapPtr(backend, p);
      const pdx = heapPtr(backend, dx);
      const runner = backendRunner(backend);
      if (runner !== null) {
        // on the shared heap (wasm-shared-heap.ts): P's rows split over the threads (simd/tiles.ts gemmCalls)
        heapGemm(runner, pdy, pw, pp, m, co, k8);
      } else {
        const m4 = m - (m % 4);
        if (m4 > 0) progs.gemm_r4(pdy, pw, pp, m4, co, k8);
        if (m4 < m) progs.gemm_r1(pdy + 4 * m4 * co, pw, pp + 4 * m4 * k8, m - m4, co, k8);
      }
      const rest = [h, w, ci, oh, ow, kh, kw, sh, sw, info.padInfo.top, info.padInfo.left, k8];
      const pRows = oh * ow * k8;
      const dxPer = h * w * ci;
      // col2im by images: an image's dx gathers only from its own rows of P (each dx element one thread)
      runSplit(
        runner,
        {
          key: `col2im_nhwc ${inputShape.join('x')} ${kh}x${kw} ${sh}${sw}`,
          units: nb,
          bytes: 4 * nb * (pRows + dxPer),
          block: (a, b) => ({ fn: 'col2im_nhwc', args: [pp + 4 * a * pRows, pdx + 4 * a * dxPer, b - a, ...rest] }),
        },
        () => progs.col2im_nhwc(pp, pdx, nb, ...rest),
      );
      return dx;
    } finally {
      release(backend, wt, p);
    }
  };
}
