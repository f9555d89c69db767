/**
 * Mean's gradient (src/kernels/mean-grad.ts) against the stock one, bit for bit, on cpu and wasm: odd shapes, one
 * and several axes (negative ones too), keepDims, and MobileNetV2's global average pooling shape.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { meanGradConfig } from '../src/kernels/mean-grad.js';
import { values } from './helpers/kernels.js';
import { onBackend } from './helpers/backend.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

const CASES: { shape: number[]; axis: number | number[]; keepDims: boolean }[] = [
  { shape: [3, 5, 7, 13], axis: [1, 2], keepDims: false },
  { shape: [3, 5, 7, 13], axis: [1, 2], keepDims: true },
  { shape: [2, 7, 7, 1280], axis: [1, 2], keepDims: false },
  { shape: [9, 11], axis: 0, keepDims: false },
  { shape: [9, 11], axis: -1, keepDims: true },
  { shape: [4, 3, 5], axis: [0, 2], keepDims: false },
  { shape: [6, 7], axis: [0, 1], keepDims: false },
];

/** dx of sum(mean(x) · w) for a fixed w (so dy is not all ones) */
function grad(shape: number[], axis: number | number[], keepDims: boolean, seed: number): Float32Array {
  return tf.tidy(() => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = tf.tensor(values(n, seed), shape);
    const outShape = tf.mean(x, axis, keepDims).shape;
    const w = tf.tensor(values(outShape.reduce((a, b) => a * b, 1), seed + 1), outShape);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.mean(t, axis, keepDims), w)));
    return g(x).dataSync() as Float32Array;
  });
}

const BACKENDS = ['cpu', 'wasm'];

describe.each(BACKENDS)('Mean gradient on %s', (backend) => {
  onBackend(backend, () => {
    for (const b of BACKENDS) registerKernelOverrides(b);
  });

  it.each(CASES.map((c, i) => [c, i] as const))('%j: bit-identical to the stock gradient', (c, i) => {
    // our gradients go back to the stock ones only once no backend has our kernels
    for (const b of BACKENDS) restoreStockKernels(b);
    expect(tf.getGradient('Mean')).not.toBe(meanGradConfig);
    const stock = grad(c.shape, c.axis, c.keepDims, 10 + 3 * i);
    for (const b of BACKENDS) registerKernelOverrides(b);
    expect(tf.getGradient('Mean')).toBe(meanGradConfig);
    const before = tf.memory().numTensors;
    const ours = grad(c.shape, c.axis, c.keepDims, 10 + 3 * i);
    expect(tf.memory().numTensors).toBe(before);
    expect(ours.length).toBe(stock.length);
    expect(Buffer.from(ours.buffer, ours.byteOffset, ours.byteLength).equals(Buffer.from(stock.buffer, stock.byteOffset, stock.byteLength))).toBe(true);
  });
});
