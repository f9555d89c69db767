/**
 * The direct Conv2DBackpropFilter loop (conv_bpf_direct[2], simd/programs.ts) on N threads for the wasm backend.
 *
 * dW[i, j, :, :] for one filter tap (i, j) is exactly what the program computes for a 1×1 filter with the padding
 * shifted by the tap (top − i, left − j), written at that tap's slice of dW: the same loop, the same (b, y, xc)
 * summation order. The KH·KW taps are one call each, claimed by the threads as they come free (simd/pool.ts), each
 * writing only its own slice of dW: bit-identical to the one-thread call at any thread count.
 * x and dy are copied into fastlr's private shared memory (tfjs-backend-wasm's heap is not shared with workers).
 */
import * as tf from '@tensorflow/tfjs';
import { rawInput, rawOutput } from './raw-memory.js';
import type { Call } from './simd/pool.js';
import { backendRunner, heapPtr, privateHeap } from './simd/runtime.js';
import { MIN_PARALLEL_MACS } from './simd/tiles.js';

/** Whether the direct filter gradient of `info` is worth splitting over the configured threads at all. */
export function directBpfSplits(backend: tf.KernelBackend, info: tf.backend_util.Conv2DInfo): boolean {
  const heap = backendRunner(backend) ?? privateHeap();
  if (heap === null || heap.threads() < 2) return false;
  const taps = info.filterHeight * info.filterWidth;
  return taps >= 2 && info.batchSize * info.outHeight * info.outWidth * taps * info.inChannels * info.outChannels >= MIN_PARALLEL_MACS;
}

/**
 * dW of a float32 NHWC conv by the direct program on the heap's threads, or null when one thread would do
 * (a single thread configured, no shared memory, or too little work to split).
 */
export function threadedDirectBpf(backend: tf.KernelBackend, x: tf.TensorInfo, dy: tf.TensorInfo, info: tf.backend_util.Conv2DInfo, program: 'conv_bpf_direct' | 'conv_bpf_direct2', threads: number): tf.TensorInfo | null {
  if (threads < 2 || !directBpfSplits(backend, info)) return null;
  const { batchSize: n, inHeight: h, inWidth: w, inChannels: c, outChannels: co, filterHeight: kh, filterWidth: kw, outHeight: oh, outWidth: ow } = info;
  const taps = kh * kw;
  const tapCall = (px: number, pd: number, po: number, t: number): Call => {
    const i = Math.floor(t / kw);
    const j = t - i * kw;
    return {
      fn: program,
      args: [px, pd, po + 4 * t * c * co, n, h, w, c, co, 1, 1, oh, ow, info.strideHeight, info.strideWidth, info.padInfo.top - i, info.padInfo.left - j],
    };
  };
  const runner = backendRunner(backend);
  if (runner !== null) {
    // in place on the backend's shared heap (wasm-shared-heap.ts): no copies
    const out = rawOutput(backend, [kh, kw, c, co]).finish();
    const px = heapPtr(backend, x);
    const pd = heapPtr(backend, dy);
    const po = heapPtr(backend, out);
    // one call per tap (its own slice of dW), claimed by the threads as they come free (simd/pool.ts)
    runner.parallel(Array.from({ length: taps }, (_, t) => tapCall(px, pd, po, t)), threads);
    return out;
  }
  const heap = privateHeap();
  if (heap === null) return null;
  const out = rawOutput(backend, [kh, kw, c, co]);
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
  const call = (t: number): Call => tapCall(px, pd, po, t);
  heap.parallel(Array.from({ length: taps }, (_, t) => call(t)), threads);
  out.data.set(heap.f32().subarray(po / 4, po / 4 + taps * tap));
  return out.finish();
}
