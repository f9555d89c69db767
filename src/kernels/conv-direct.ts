/**
 * Runs conv_direct (simd/direct-conv-programs.ts) on the wasm heap, in place: one call at one thread, else its
 * output rows (b, yr) split over the backend's shared-heap threads (where `threads: auto` measures it pays,
 * simd/adaptive.ts). Each output row is computed by one call in the program's fixed order: the same bits at any
 * thread count. Used by Conv2D (wasm-conv2d.ts) and, on the flipped filter, Conv2DBackpropInput (wasm-conv-bpi.ts).
 */
import * as tf from '@tensorflow/tfjs';
import type { Call } from './simd/pool.js';
import { backendRunner, heapRunner } from './simd/runtime.js';
import { MIN_PARALLEL_MACS, rowBlocks, tileCount } from './simd/tiles.js';
import { withThreads } from './simd/adaptive.js';

/** NHWC geometry of one conv_direct: x [n, h, w, ci] * filter [kh, kw, ci, co] -> out [n, oh, ow, co], co % 16 == 0 */
export interface DirectConv {
  n: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  sh: number;
  sw: number;
  top: number;
  left: number;
}

/** The geometry of a Conv2D's forward pass (dilation 1). */
export function directOf(info: tf.backend_util.Conv2DInfo): DirectConv {
  return {
    n: info.batchSize, h: info.inHeight, w: info.inWidth, ci: info.inChannels, co: info.outChannels,
    kh: info.filterHeight, kw: info.filterWidth, oh: info.outHeight, ow: info.outWidth,
    sh: info.strideHeight, sw: info.strideWidth, top: info.padInfo.top, left: info.padInfo.left,
  };
}

/**
 * out = conv_direct(x, filter) at byte offsets px, pw, po of the backend's heap; false (nothing run) when the heap
 * has no SIMD programs. `key` names the call site for `threads: auto`.
 */
export function runConvDirect(backend: tf.KernelBackend, px: number, pw: number, po: number, g: DirectConv, key: string): boolean {
  const runner = backendRunner(backend) ?? heapRunner(backend);
  if (runner === null) return false;
  const rows = g.n * g.oh;
  const geo = [g.h, g.w, g.ci, g.co, g.kh, g.kw, g.oh, g.ow, g.sh, g.sw, g.top, g.left];
  const call = (a: number, b: number): Call => ({ fn: 'conv_direct', args: [px, pw, po, a, b - a, ...geo] });
  const macs = rows * g.ow * g.kh * g.kw * g.ci * g.co;
  if (runner.threads() < 2 || rows < 2 || macs < MIN_PARALLEL_MACS) {
    runner.parallel([call(0, rows)], 1);
    return true;
  }
  withThreads(`conv_direct ${key}`, (t) => runner.parallel(rowBlocks(rows, tileCount(t, rows), 1).map(([a, b]) => call(a, b)), t));
  return true;
}
