/**
 * wasm Sum over every axis but the last (bias gradients; leading-sum.ts): with c % 4 == 0 col_sum_reg
 * (simd/sum-programs.ts, the running sums in registers), else col_sum. Both are the sequential float32 sum from 0 over
 * the rows in order, checked here bit for bit against that sum written out (Math.fround after every add), on channel
 * counts that use every block size of col_sum_reg (32, 16, 4 channels) and odd row counts, and against the stock cpu
 * kernel within float rounding.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { relErr, values } from './helpers/kernels.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

const SHAPES: number[][] = [
  [64, 26, 26, 16], // the MNIST CNN's first bias gradient
  [64, 11, 11, 32],
  [3, 7, 5, 4],
  [1, 9, 12],
  [2, 3, 3, 36], // 32 + 4
  [5, 3, 68], // 32 + 32 + 4
  [7, 52], // 32 + 16 + 4
  [3, 6], // c % 4 != 0: col_sum
];

function sequential(x: Float32Array, rows: number, c: number): Float32Array {
  const out = new Float32Array(c);
  for (let r = 0; r < rows; r++) for (let j = 0; j < c; j++) out[j] = Math.fround(out[j]! + x[r * c + j]!);
  return out;
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('wasm Sum over the leading axes', () => {
  it.each(SHAPES.map((s, i) => [s.join('×'), i] as const))('%s: the sequential float32 sum, bit for bit, and the stock cpu kernel', async (_name, i) => {
    const shape = SHAPES[i]!;
    const size = shape.reduce((a, b) => a * b, 1);
    const c = shape[shape.length - 1]!;
    const x = values(size, 11 * i + 1);
    const axes = shape.slice(0, -1).map((_, k) => k);
    await tf.setBackend('cpu');
    restoreStockKernels('cpu');
    const stock = tf.tidy(() => tf.sum(tf.tensor(x, shape), axes).dataSync().slice() as Float32Array);
    registerKernelOverrides('cpu');
    await tf.setBackend('wasm');
    registerKernelOverrides('wasm');
    const before = tf.memory().numTensors;
    const got = tf.tidy(() => tf.sum(tf.tensor(x, shape), axes).dataSync().slice() as Float32Array);
    expect(tf.memory().numTensors).toBe(before);
    expect(bits(got)).toEqual(bits(sequential(x, size / c, c)));
    expect(relErr(got, stock)).toBeLessThan(1e-5);
  });
});
