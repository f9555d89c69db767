// fastlr's kernel overrides (src/kernels) against tfjs's stock cpu kernels: values and gradients of the ops a
// training step uses, on several shapes. The reference is the cpu backend with every override removed.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { Rng } from '../src/engine/rng.js';
import { relErr } from './helpers/kernels.js';

type Case = { name: string; inputs: number[][]; f: (...xs: tf.Tensor[]) => tf.Tensor };

/** value and gradient (w.r.t. every input) of sum(f(xs) · w) for a fixed random w */
function valueAndGrads(c: Case, data: Float32Array[]): Float32Array[] {
  return tf.tidy(() => {
    const xs = c.inputs.map((shape, i) => tf.tensor(data[i]!, shape, 'float32'));
    const out = c.f(...xs);
    const rng = new Rng(99);
    const w = tf.tensor(Float32Array.from({ length: out.size }, () => rng.next() * 2 - 1), out.shape, 'float32');
    const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(c.f(...a), w)));
    return [out, ...g(xs)].map((t) => t.dataSync() as Float32Array).map((a) => Float32Array.from(a));
  });
}


const conv = (s: number, pad: 'valid' | 'same') => (x: tf.Tensor, f: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s, pad);
const CASES: Case[] = [];
for (const k of [1, 3, 5]) {
  for (const s of [1, 2]) {
    for (const pad of ['valid', 'same'] as const) {
      CASES.push({ name: `conv2d ${k}x${k} stride ${s} ${pad}`, inputs: [[3, 11, 10, 4], [k, k, 4, 6]], f: conv(s, pad) });
    }
  }
}
CASES.push({ name: 'conv2d 3x3 on one channel (the first layer of the digits CNN)', inputs: [[8, 28, 28, 1], [3, 3, 1, 16]], f: conv(1, 'valid') });
CASES.push(
  { name: 'maxpool 2x2', inputs: [[2, 8, 8, 3]], f: (x) => tf.maxPool(x as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'maxpool 3x3 stride 2 same, odd size', inputs: [[2, 9, 7, 2]], f: (x) => tf.maxPool(x as tf.Tensor4D, 3, 2, 'same') },
  { name: 'maxpool of all-negative windows', inputs: [[1, 4, 4, 2]], f: (x) => tf.maxPool(tf.sub(tf.neg(tf.abs(x)), 1) as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'matmul', inputs: [[16, 24], [24, 8]], f: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D) },
  { name: 'matmul transposeA', inputs: [[24, 16], [24, 8]], f: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, true, false) },
  { name: 'matmul transposeB', inputs: [[16, 24], [8, 24]], f: (a, b) => tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true) },
  { name: 'dense + bias + relu', inputs: [[16, 24], [24, 8], [8]], f: (x, k, b) => tf.relu(tf.add(tf.matMul(x as tf.Tensor2D, k as tf.Tensor2D), b)) },
  { name: 'sum over leading axes', inputs: [[4, 5, 6]], f: (x) => tf.sum(x, [0, 1]) },
  { name: 'cast and identity', inputs: [[3, 4]], f: (x) => tf.mul(tf.cast(tf.cast(x, 'float32'), 'float32'), 2) },
);

function inputsFor(c: Case, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return c.inputs.map((shape) => Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next() * 2 - 1));
}

describe('kernel overrides match the stock cpu kernels', async () => {
  await tf.setBackend('cpu');
  restoreStockKernels('cpu');
  const reference = CASES.map((c, i) => valueAndGrads(c, inputsFor(c, i)));
  const stockFilterGrad = tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc;

  it('the overrides are really installed (the comparisons below test our kernels)', async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
    expect(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.kernelFunc).not.toBe(stockFilterGrad);
    await initBackend('wasm');
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined(); // tfjs-backend-wasm has none of its own
  });

  afterAll(async () => {
    await tf.setBackend('cpu');
    registerKernelOverrides('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it.each(CASES.map((c, i) => [c.name, i] as const))(`${backend}: %s`, async (_name, i) => {
      await initBackend(backend);
      expect(tf.getBackend()).toBe(backend);
      registerKernelOverrides(backend);
      const c = CASES[i]!;
      const ours = valueAndGrads(c, inputsFor(c, i));
      ours.forEach((a, k) => expect(relErr(a, reference[i]![k]!), `${c.name}: output ${k}`).toBeLessThan(1e-5));
    });
  }
});
