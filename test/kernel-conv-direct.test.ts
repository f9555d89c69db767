/**
 * wasm Conv2D by conv_direct (src/kernels/simd/direct-conv-programs.ts: few input channels, co % 16 == 0, no patch
 * matrix) against the stock cpu kernel: odd heights and widths, strides 1 and 2, valid and same padding (windows
 * cut at every edge, a 5×5 window wider than the output), non-square filters, 1 to 16 input channels, one and
 * several blocks of 16 output channels, single positions and pairs. test/threads.test.ts checks 1, 2 and 3 threads
 * byte-equal on these kernels.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { relErr, values } from './helpers/kernels.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: [number, number];
  pad: 'valid' | 'same';
}

const CASES: Case[] = [
  { x: [2, 28, 28, 1], filter: [3, 3, 1, 16], stride: [1, 1], pad: 'valid' }, // the MNIST CNN's first layer
  { x: [2, 13, 13, 16], filter: [3, 3, 16, 32], stride: [1, 1], pad: 'valid' }, // its second layer
  { x: [2, 15, 17, 3], filter: [3, 3, 3, 32], stride: [2, 2], pad: 'same' }, // MobileNetV2's stem, odd sizes
  { x: [3, 9, 7, 5], filter: [3, 3, 5, 16], stride: [1, 1], pad: 'same' }, // padding on every side, odd ci
  { x: [2, 11, 10, 2], filter: [3, 3, 2, 48], stride: [2, 2], pad: 'valid' }, // stride 2 drops the last row
  { x: [1, 7, 6, 1], filter: [5, 5, 1, 16], stride: [2, 2], pad: 'same' }, // a 5×5 window wider than the output
  { x: [2, 6, 9, 8], filter: [3, 2, 8, 16], stride: [1, 2], pad: 'same' }, // non-square filter and stride
  { x: [1, 2, 1, 4], filter: [3, 3, 4, 16], stride: [1, 1], pad: 'same' }, // narrower than the window: no pairs
];

const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

function forward(c: Case, seed: number): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor(values(size(c.x), seed), c.x) as tf.Tensor4D;
    const filter = tf.tensor(values(size(c.filter), seed + 1), c.filter) as tf.Tensor4D;
    return tf.conv2d(x, filter, c.stride, c.pad).dataSync().slice() as Float32Array;
  });
}

const reference = new Map<number, Float32Array>();

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
  restoreStockKernels('cpu');
  CASES.forEach((c, i) => reference.set(i, forward(c, 7 * i + 3)));
});

describe('wasm Conv2D by conv_direct vs the stock cpu kernel', () => {
  it.each(CASES.map((c, i) => [`x ${c.x.join('×')} filter ${c.filter.join('×')} stride ${c.stride.join('×')} ${c.pad}`, i] as const))(
    '%s',
    async (_name, i) => {
      expect(await tf.setBackend('wasm')).toBe(true);
      registerKernelOverrides('wasm');
      const before = tf.memory().numTensors;
      const got = forward(CASES[i]!, 7 * i + 3);
      expect(tf.memory().numTensors).toBe(before);
      expect(relErr(got, reference.get(i)!)).toBeLessThan(1e-5);
    },
  );
});
