/**
 * The direct Conv2DBackpropFilter loop (conv_bpf_direct[2], simd/programs.ts) on N threads for the wasm backend.
 *
 * dW[i, j, :, :] for one filter tap (i, j) is exactly what the program computes for a 1×1 filter with the padding
 * shifted by the tap (top − i, left − j), written at that tap's slice of dW: the same loop, the same (b, y, xc)
 * summation order. The KH·KW taps are one call each (and each block of 16 output channels when the taps alone do
 * not divide among the threads), claimed by the threads as they come free (simd/pool.ts), each writing only its own
 * part of dW: bit-identical to the one-thread call at any thread count.
 * x and dy are copied into fastlr's private shared memory (tfjs-backend-wasm's heap is not shared with workers).
 */
import * as tf from '@tensorflow/tfjs';
import { rawInput, rawOutput } from './raw-memory.js';
import type { Call } from './simd/pool.js';
import { backendRunner, heapPtr, privateHeap } from './simd/runtime.js';
import { MIN_PARALLEL_MACS } from './simd/tiles.js';

/**
 * A 1×1 filter with no padding has one tap: its dW [C, Co] is split by blocks of G input channels instead. x
 * [N, H, W, C] read as [N, H, W·G, C/G] with a 1×G filter at stride (sh, sw·G) puts channel block j under tap j, and
 * tap j's slice of dW [1, G, C/G, Co] is rows j·C/G.. of the real [C, Co]: the same program over the same (b, y, xc)
 * in the same order for every element, only its channel loop cut short. G: at most `tiles`, C/G of C's
 * parity (the same program: conv_bpf_direct2 takes channel pairs), 1 when no block size fits.
 */
function tapBlocks(info: tf.backend_util.Conv2DInfo, tiles: number): number {
  if (info.filterHeight * info.filterWidth !== 1 || info.padInfo.top !== 0 || info.padInfo.left !== 0) return 1;
  const c = info.inChannels;
  for (let g = Math.min(tiles, c); g >= 2; g--) if (c % g === 0 && (c / g) % 2 === c % 2) return g;
  return 1;
}

/** The taps the direct program is split over: the filter's, or for a 1×1 filter its channel blocks as taps. */
function asTaps(info: tf.backend_util.Conv2DInfo, threads: number): tf.backend_util.Conv2DInfo {
  // every block reads all of dy: 2 per thread, not tileCount's 4 (a late thread still costs at most one block)
  const g = tapBlocks(info, 2 * threads);
  if (g < 2) return info;
  return { ...info, inWidth: info.inWidth * g, inChannels: info.inChannels / g, filterWidth: g, strideWidth: info.strideWidth * g };
}

/** Whether the direct filter gradient of `info` is worth splitting over the configured threads at all. */
export function directBpfSplits(backend: tf.KernelBackend, info: tf.backend_util.Conv2DInfo): boolean {
  const heap = backendRunner(backend) ?? privateHeap();
  if (heap === null || heap.threads() < 2) return false;
  const macs = info.batchSize * info.outHeight * info.outWidth * info.filterHeight * info.filterWidth * info.inChannels * info.outChannels;
  const t = asTaps(info, heap.threads());
  return t.filterHeight * t.filterWidth >= 2 && macs >= MIN_PARALLEL_MACS;
}

/**
 * dW of a float32 NHWC conv by the direct program on the heap's threads, or null when one thread would do
 * (a single thread configured, no shared memory, or too little work to split).
 */
export function threadedDirectBpf(backend: tf.KernelBackend, x: tf.TensorInfo, dy: tf.TensorInfo, real: tf.backend_util.Conv2DInfo, program: 'conv_bpf_direct' | 'conv_bpf_direct2', threads: number): tf.TensorInfo | null {
  if (threads < 2 || !directBpfSplits(backend, real)) return null;
  const info = asTaps(real, threads);
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: co, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
  const taps = kh * kw;
  // each tap's blocks of 16 output channels are calls of their own where the taps alone split unevenly (the MNIST
  // CNN's conv2: 9 taps over 2 threads are 5 + 4, 9 × 2 blocks are 9 + 9)
  const groups = taps % threads === 0 ? 1 : co / 16;
  const units = taps * groups;
  const tapCall = (px: number, pd: number, po: number, u: number): Call => {
    const t = Math.floor(u / groups);
    const g = u - t * groups;
    const i = Math.floor(t / kw);
    const j = t - i * kw;
    return {
      fn: program,
      args: [
        px, pd, po + 4 * t * c * co, n, h, w, c, co, 1, 1, oh, ow, info.strideHeight, info.strideWidth, info.padInfo.top - i, info.padInfo.left - j,
        (g * co) / groups, ((g + 1) * co) / groups,
      ],
    };
  };
  const runner = backendRunner(backend);
  if (runner !== null) {
    // in place on the backend's shared heap (wasm-shared-heap.ts): no copies
    const out = rawOutput(backend, [real.filterHeight, real.filterWidth, real.inChannels, co]).finish();
    const px = heapPtr(backend, x);
    const pd = heapPtr(backend, dy);
    const po = heapPtr(backend, out);
    // one call per tap (or per tap and block of output channels: its own part of dW), claimed by the threads as
    // they come free (simd/pool.ts)
    runner.parallel(Array.from({ length: units }, (_, u) => tapCall(px, pd, po, u)), threads);
    return out;
  }
  const heap = privateHeap();
  if (heap === null) return null;
  const out = rawOutput(backend, [real.filterHeight, real.filterWidth, real.inChannels, co]);
  const xv = rawInput(backend, x);
  const dyv = rawInput(backend, dy);
  const px = 0;
  const pd = px + 4 * xv.length;
  const po = pd + 4 * dyv.length;
  const tap = c * co;
  heap.reserve(po + 4 * taps * tap);
  const f = heap.f32();
  f.set(xv, px / 4);
  f.set(dyv, pd / 4);
  f.fill(0, po / 4, po / 4 + taps * tap);
  heap.parallel(Array.from({ length: units }, (_, u) => tapCall(px, pd, po, u)), threads);
  out.data.set(heap.f32().subarray(po / 4, po / 4 + taps * tap));
  return out.finish();
}
