/**
 * Slice on the wasm backend, copying whole contiguous runs: the trailing axes a slice keeps whole are merged with
 * the innermost axis it cuts, so each run is one typed-array copy. tfjs-backend-wasm's slice4d copies one
 * innermost row at a time — ZeroPadding2D's gradient (a slice of [N, H+1, W+1, C] to [N, H, W, C], four of them in
 * a MobileNetV2 step) made N·H·W copies of C floats each (~8 ns a float); here it is N·H copies of W·C floats.
 * Same values (a copy); string and non-4-byte dtypes go to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import type { Call } from './simd/pool.js';
import { backendRunner, heapPtr } from './simd/runtime.js';
import { MIN_SPLIT_BYTES } from './simd/split.js';
import { tileCount } from './simd/tiles.js';
import { withThreads } from './simd/adaptive.js';

interface WasmLike {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Copy runs of a slice: `run` floats at each input offset, in output order (pure index arithmetic). */
export function sliceRuns(shape: readonly number[], begin: readonly number[], size: readonly number[]): { offsets: number[]; run: number } {
  const rank = shape.length;
  // innermost axis the slice cuts (every axis after it is kept whole)
  let d = rank - 1;
  while (d > 0 && begin[d] === 0 && size[d] === shape[d]) d--;
  const strides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1]! * shape[i + 1]!;
  const run = rank === 0 ? 1 : size[d]! * strides[d]!;
  const offsets: number[] = [];
  const idx = new Array<number>(d).fill(0);
  const count = size.slice(0, d).reduce((a, b) => a * b, 1);
  const base = begin.reduce((acc, b, i) => acc + b * strides[i]!, 0);
  for (let k = 0; k < count; k++) {
    let o = base;
    for (let i = 0; i < d; i++) o += idx[i]! * strides[i]!;
    offsets.push(o);
    for (let i = d - 1; i >= 0; i--) {
      if (++idx[i]! < size[i]!) break;
      idx[i] = 0;
    }
  }
  return { offsets, run };
}

/**
 * The runs as copy_rows calls (simd/copy-programs.ts) over `tiles` tiles: runs at a constant input stride (output
 * runs are back to back) form one call, cut into row blocks so there are about `tiles` calls. Byte offsets.
 */
export function sliceCalls(offsets: readonly number[], run: number, src: number, dst: number, tiles: number): Call[] {
  const groups: [number, number, number][] = []; // first run, runs, input stride (floats)
  for (let k = 0; k < offsets.length; ) {
    let n = 1;
    const stride = k + 1 < offsets.length ? offsets[k + 1]! - offsets[k]! : run;
    while (k + n < offsets.length && offsets[k + n]! - offsets[k + n - 1]! === stride) n++;
    groups.push([k, n, stride]);
    k += n;
  }
  const per = Math.max(1, Math.ceil(offsets.length / tiles));
  const calls: Call[] = [];
  for (const [k0, n, stride] of groups) {
    for (let r = 0; r < n; r += per) {
      const rows = Math.min(per, n - r);
      calls.push({ fn: 'copy_rows', args: [src + 4 * (offsets[k0]! + r * stride), dst + 4 * (k0 + r) * run, rows, 4 * run, 4 * stride, 4 * run] });
    }
  }
  return calls;
}

export function runSliceWasm(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    if (x == null || !(x.dtype === 'float32' || x.dtype === 'int32') || x.shape.length < 2) return stock(args);
    const attrs = args.attrs ?? {};
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs['begin'] as number[], attrs['size'] as number[]);
    if (size.some((s) => s === 0)) return stock(args);
    const w = args.backend as unknown as WasmLike;
    const out = w.makeOutput(size, x.dtype);
    // views after the allocation (it may grow the heap)
    const src = w.typedArrayFromHeap(x);
    const dst = w.typedArrayFromHeap(out);
    const { offsets, run } = sliceRuns(x.shape, begin, size);
    const copyAll = (): void => {
      for (let k = 0; k < offsets.length; k++) dst.set(src.subarray(offsets[k]!, offsets[k]! + run), k * run);
    };
    // on the shared heap (wasm-shared-heap.ts), split over the threads by runs: each output byte copied once
    const runner = backendRunner(args.backend);
    const bytes = 8 * offsets.length * run;
    if (runner === null || runner.threads() < 2 || offsets.length < 2 || bytes < MIN_SPLIT_BYTES) {
      copyAll();
      return out;
    }
    withThreads(`Slice ${x.shape.join('x')} ${size.join('x')}`, (t) => {
      const calls = t < 2 ? [] : sliceCalls(offsets, run, heapPtr(args.backend, x), heapPtr(args.backend, out), tileCount(t));
      if (calls.length < 2 || calls.length > 1023) copyAll();
      else runner.parallel(calls, t);
    });
    return out;
  };
}
