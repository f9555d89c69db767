/**
 * Sum over every axis but the last (a bias gradient: [64,26,26,16] -> [16]), float32, SIMD on the wasm heap.
 * The stock wasm kernel first transposes the reduced axes innermost (~2 ms for that shape). Other sums: stock.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';

function axesOf(axis: unknown, rank: number): number[] | null {
  if (axis == null) return Array.from({ length: rank }, (_, i) => i);
  const list = Array.isArray(axis) ? axis : [axis];
  const out: number[] = [];
  for (const a of list) {
    if (typeof a !== 'number' || !Number.isInteger(a)) return null;
    out.push(a < 0 ? a + rank : a);
  }
  return [...new Set(out)].sort((p, q) => p - q);
}

export function leadingAxesSum(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const x = args.inputs['x'];
    if (x == null || x.dtype !== 'float32' || x.shape.length < 2) return stock(args);
    const rank = x.shape.length;
    const axes = axesOf(args.attrs?.['axis'], rank);
    if (axes === null || axes.length !== rank - 1 || axes.some((a, i) => a !== i)) return stock(args);
    const c = x.shape[rank - 1] ?? 0;
    const rows = x.shape.slice(0, -1).reduce((p, s) => p * s, 1);
    if (c === 0 || rows === 0) return stock(args);
    const progs = simdPrograms(args.backend);
    if (progs === null) return stock(args);
    const keepDims = args.attrs?.['keepDims'] === true;
    const out = heapOutput(args.backend, keepDims ? [...Array<number>(rank - 1).fill(1), c] : [c]);
    progs.col_sum(heapPtr(args.backend, x), heapPtr(args.backend, out), rows, c);
    return out;
  };
}
