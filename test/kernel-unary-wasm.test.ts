/**
 * wasm Relu, ClipByValue, Relu6 and MaxPool on fastlr's SIMD programs (unary.ts, max-pool.ts; split over threads)
 * against tfjs-backend-wasm's own XNNPACK kernels: the same BITS, special values included (Relu and ClipByValue:
 * NaN of either sign, ±0, ±Infinity, the bounds themselves; MaxPool on finite inputs, where "the first strictly
 * greater value" and XNNPACK's max agree), on sizes with a scalar tail and at 1 and 2 threads.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { setThreads } from '../src/kernels/simd/pool.js';
import { values } from './helpers/kernels.js';

const SPECIAL = [NaN, -NaN, 0, -0, Infinity, -Infinity, 6, -6, 5.999999, 6.000001, 1e-45, -1e-45, -2.5, 4, 0.5, 7];

function special(n: number, seed: number): Float32Array {
  const v = values(n, seed);
  for (let i = 0; i < n; i++) v[i] = i % 5 === 0 ? SPECIAL[(i / 5) % SPECIAL.length]! : v[i]! * 9;
  return v;
}

const bits = (t: tf.Tensor): Buffer => {
  const d = t.dataSync() as Float32Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
};

interface Case {
  name: string;
  kernel: string;
  run(): tf.Tensor;
}

const CASES: Case[] = [
  { name: 'relu, 1003 values (scalar tail)', kernel: 'Relu', run: () => tf.relu(tf.tensor(special(1003, 1))) },
  { name: 'relu, 8×56×56×24 (split)', kernel: 'Relu', run: () => tf.relu(tf.tensor(special(8 * 56 * 56 * 24, 2), [8, 56, 56, 24])) },
  { name: 'relu6 (the Relu6 kernel), 8×28×28×48 (split) and 1001 values', kernel: 'Relu6', run: () => tf.concat([tf.relu6(tf.tensor(special(8 * 28 * 28 * 48, 3))), tf.relu6(tf.tensor(special(1001, 8)))]) },
  { name: 'relu then clipByValue 0..6, 8×28×28×48', kernel: 'ClipByValue', run: () => tf.clipByValue(tf.relu(tf.tensor(special(8 * 28 * 28 * 48, 9))), 0, 6) },
  { name: 'clipByValue -2.5..4, 1001 values', kernel: 'ClipByValue', run: () => tf.clipByValue(tf.tensor(special(1001, 4)), -2.5, 4) },
  { name: 'maxPool 2×2 64×26×26×16', kernel: 'MaxPool', run: () => tf.maxPool(tf.tensor(values(64 * 26 * 26 * 16, 5), [64, 26, 26, 16]) as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'maxPool 3×3 stride 2 same, 5×17×15×8 (padding, overlap)', kernel: 'MaxPool', run: () => tf.maxPool(tf.tensor(values(5 * 17 * 15 * 8, 6), [5, 17, 15, 8]) as tf.Tensor4D, 3, 2, 'same') },
  { name: 'maxPool 2×3 stride 1 valid, 3×9×8×4', kernel: 'MaxPool', run: () => tf.maxPool(tf.tensor(values(3 * 9 * 8 * 4, 7), [3, 9, 8, 4]) as tf.Tensor4D, [2, 3], 1, 'valid') },
];

describe('wasm Relu, ClipByValue and MaxPool: bit-identical to the stock XNNPACK kernels', () => {
  afterAll(() => {
    setThreads(1);
    registerKernelOverrides('wasm');
  });
  for (const c of CASES) {
    it(c.name, async () => {
      await initBackend('wasm', { threads: 1 });
      restoreStockKernels('wasm');
      const stockFn = tf.getKernel(c.kernel, 'wasm')?.kernelFunc;
      const ref = tf.tidy(() => bits(c.run()));
      registerKernelOverrides('wasm');
      expect(tf.getKernel(c.kernel, 'wasm')?.kernelFunc).not.toBe(stockFn);
      for (const n of [1, 2]) {
        setThreads(n);
        const got = tf.tidy(() => bits(c.run()));
        expect(got.equals(ref), `${c.name} at ${n} thread(s)`).toBe(true);
      }
    });
  }
});
