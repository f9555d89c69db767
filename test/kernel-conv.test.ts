/**
 * Our Conv2DBackpropFilter / Conv2DBackpropInput (src/kernels) against the stock cpu kernels, on several shapes:
 * valid/same padding, strides 1/2, 1×1/3×3/5×5 filters, 1-16 input channels, both Conv2DBackpropFilter paths on
 * wasm (the direct SIMD loop when co % 16 == 0, im2col + matmul otherwise: patchesᵀ·dy by gemm_tn when co % 8 == 0)
 * and the cpu override.
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
  stride: number;
  pad: 'valid' | 'same';
}

const CASES: Case[] = [
  // wasm: co % 16 == 0 takes the direct loop (two input channels per pass when ci is even)
  { x: [2, 28, 28, 1], filter: [3, 3, 1, 16], stride: 1, pad: 'valid' }, // the MNIST CNN's first layer
  { x: [2, 28, 28, 1], filter: [3, 3, 1, 16], stride: 2, pad: 'same' }, // stride 2, padding
  { x: [2, 9, 9, 3], filter: [3, 3, 3, 32], stride: 2, pad: 'valid' }, // two channel groups, odd ci
  { x: [2, 8, 8, 4], filter: [1, 1, 4, 16], stride: 1, pad: 'valid' }, // 1×1 (dW: xᵀ·dy by gemm_tn, not the direct loop)
  { x: [1, 7, 6, 1], filter: [5, 5, 1, 16], stride: 2, pad: 'same' }, // 5×5 wider than the output
  { x: [2, 9, 9, 3], filter: [5, 5, 3, 16], stride: 1, pad: 'same' }, // 75 rows, odd ci
  { x: [2, 13, 13, 16], filter: [3, 3, 16, 32], stride: 1, pad: 'valid' }, // the MNIST CNN's second layer
  { x: [2, 9, 8, 32], filter: [3, 5, 32, 16], stride: 1, pad: 'same' }, // wasm dx by conv_direct: padding, non-square
  { x: [2, 10, 9, 8], filter: [5, 5, 8, 12], stride: 1, pad: 'same' }, // wasm gemm + col2im_nhwc: padding, 5×5
  { x: [1, 6, 7, 12], filter: [3, 2, 12, 20], stride: 1, pad: 'same' }, // non-square filter, K = 72
  { x: [2, 9, 9, 4], filter: [3, 3, 4, 16], stride: 2, pad: 'same' }, // even ci, stride 2, padding
  { x: [2, 11, 11, 2], filter: [3, 3, 2, 16], stride: 2, pad: 'valid' }, // stride 2 drops the last row
  // co % 16 != 0: im2col + matmul
  { x: [2, 10, 10, 2], filter: [3, 3, 2, 8], stride: 1, pad: 'same' },
  { x: [2, 9, 9, 3], filter: [5, 5, 3, 12], stride: 2, pad: 'valid' },
  // co % 8 == 0 (wasm): patches [m, k] read transposed by gemm_tn; a 1×1 stride-1 conv reads x itself
  { x: [2, 7, 7, 12], filter: [1, 1, 12, 24], stride: 1, pad: 'valid' },
  { x: [2, 9, 8, 5], filter: [3, 3, 5, 24], stride: 2, pad: 'same' },
];


function outShape(c: Case): [number, number, number, number] {
  const [n, h, w] = c.x;
  const [kh, kw, , co] = c.filter;
  const oh = c.pad === 'same' ? Math.ceil(h / c.stride) : Math.ceil((h - kh + 1) / c.stride);
  const ow = c.pad === 'same' ? Math.ceil(w / c.stride) : Math.ceil((w - kw + 1) / c.stride);
  return [n, oh, ow, co];
}

/** dW and dx of one case on the active backend, through the kernels conv2d's gradient runs. */
function grads(c: Case, seed: number): { dw: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
    const dyShape = outShape(c);
    const x = tf.tensor(values(size(c.x), seed), c.x);
    const filter = tf.tensor(values(size(c.filter), seed + 1), c.filter);
    const dy = tf.tensor(values(size(dyShape), seed + 2), dyShape);
    const common = { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: c.filter } as unknown as tf.NamedAttrMap) as tf.Tensor;
    const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, { ...common, inputShape: c.x } as unknown as tf.NamedAttrMap) as tf.Tensor;
    expect(dw.shape).toEqual(c.filter);
    expect(dx.shape).toEqual(c.x);
    return { dw: dw.dataSync().slice() as Float32Array, dx: dx.dataSync().slice() as Float32Array };
  });
}

/** max |a − b| relative to the largest |b| (sums of many products: elementwise relative error is meaningless near 0) */

const reference = new Map<number, { dw: Float32Array; dx: Float32Array }>();

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
  restoreStockKernels('cpu');
  CASES.forEach((c, i) => reference.set(i, grads(c, 10 * i + 1)));
});

describe.each(['wasm', 'cpu'])('conv gradients on %s (ours) vs the stock cpu kernels', (backend) => {
  it.each(CASES.map((c, i) => [`x ${c.x.join('×')} filter ${c.filter.join('×')} stride ${c.stride} ${c.pad}`, i] as const))(
    '%s',
    async (_name, i) => {
      expect(await tf.setBackend(backend)).toBe(true);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = grads(CASES[i]!, 10 * i + 1);
      expect(tf.memory().numTensors).toBe(before);
      const want = reference.get(i)!;
      expect(relErr(got.dw, want.dw)).toBeLessThan(1e-5);
      expect(relErr(got.dx, want.dx)).toBeLessThan(1e-5);
    },
  );
});
