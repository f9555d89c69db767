/**
 * Sum over every axis but the last (a bias gradient: [64,26,26,16] -> [16]), float32, SIMD on the wasm heap.
 * The stock wasm kernel first transposes the reduced axes innermost (~2 ms for that shape). Other sums: stock.
 */
import * as tf from '@tensorflow/tfjs';
import { type Kernel, type KernelArgs } from './kernel-context.js';
import { leadingSumCase } from './kernel-attrs.js';
import { heapOutput, heapPtr, simdPrograms } from './simd/runtime.js';

export function leadingAxesSum(stock: Kernel): Kernel {
  return (args: KernelArgs): tf.TensorInfo => {
    const m = leadingSumCase(args);
    const progs = m === null ? null : simdPrograms(args.backend);
    if (m === null || progs === null) return stock(args);
    const out = heapOutput(args.backend, m.outShape);
    // the same sum either way; with c % 4 == 0 its running sums stay in registers (simd/sum-programs.ts)
    (m.c % 4 === 0 ? progs.col_sum_reg : progs.col_sum)(heapPtr(args.backend, m.x), heapPtr(args.backend, out), m.rows, m.c);
    return out;
  };
}
