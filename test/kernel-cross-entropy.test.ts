// FastlrCrossEntropy + its gradient kernel (src/kernels/cross-entropy.ts) against PyTorch's formula written with
// plain tfjs ops (−mean(Σ log_softmax(z)·onehot(y))) and tf.grad of it, on wasm and cpu; labels int32 or float32,
// a label outside [0, C) contributes nothing and gets no gradient (as its all-zero one-hot row); the engine's lossTensor uses the kernel
// when it is registered and the op path with FASTLR_KERNELS=stock.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { CROSS_ENTROPY_KERNEL } from '../src/kernels/cross-entropy.js';
import { lossTensor } from '../src/engine/loss.js';
import { relErr, values } from './helpers/kernels.js';

function reference(z: tf.Tensor2D, y: number[], c: number): { value: Float32Array; grad: Float32Array } {
  return tf.tidy(() => {
    const oh = tf.oneHot(tf.tensor1d(y, 'int32'), c);
    const f = (t: tf.Tensor): tf.Scalar => tf.neg(tf.mean(tf.sum(tf.mul(tf.logSoftmax(t as tf.Tensor2D), oh), 1)));
    const value = f(z).dataSync() as Float32Array;
    const grad = tf.grad(f)(z).dataSync() as Float32Array;
    return { value: Float32Array.from(value), grad: Float32Array.from(grad) };
  });
}

function ours(z: tf.Tensor2D, labels: tf.Tensor1D): { value: Float32Array; grad: Float32Array } {
  return tf.tidy(() => {
    const f = (t: tf.Tensor): tf.Scalar => lossTensor('cross_entropy', t, labels);
    const value = f(z).dataSync() as Float32Array;
    const grad = tf.grad(f)(z).dataSync() as Float32Array;
    return { value: Float32Array.from(value), grad: Float32Array.from(grad) };
  });
}

const CASES = [
  { name: 'batch 64, 10 classes (MNIST)', b: 64, c: 10, scale: 3 },
  { name: 'batch 5, 2 classes, large logits', b: 5, c: 2, scale: 80 },
  { name: 'batch 7, 37 classes', b: 7, c: 37, scale: 1 },
];

describe('FastlrCrossEntropy', () => {
  afterAll(async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    for (const [ci, cs] of CASES.entries()) {
      for (const dtype of ['int32', 'float32'] as const) {
        it(`${backend}: ${cs.name}, ${dtype} labels: value and gradient as the op formula`, async () => {
          await initBackend(backend);
          registerKernelOverrides(backend);
          expect(tf.getKernel(CROSS_ENTROPY_KERNEL, backend)).toBeDefined();
          const z = tf.mul(tf.tensor2d(values(cs.b * cs.c, 10 + ci), [cs.b, cs.c]), cs.scale) as tf.Tensor2D;
          const y = Array.from({ length: cs.b }, (_, i) => (i * 7 + ci) % cs.c);
          const labels = tf.tensor1d(y, dtype);
          const before = tf.memory().numTensors;
          const info = await tf.profile(() => {
            tf.tidy(() => {
              tf.grad((t: tf.Tensor) => lossTensor('cross_entropy', t, labels))(z);
            });
          });
          const got = ours(z, labels);
          const ref = reference(z, y, cs.c);
          expect(tf.memory().numTensors).toBe(before);
          expect(relErr(got.value, ref.value)).toBeLessThan(1e-6);
          expect(relErr(got.grad, ref.grad)).toBeLessThan(1e-6);
          // one kernel forward, one backward (no logSoftmax / oneHot chain)
          expect(info.kernels.map((k) => k.name).filter((n) => n.startsWith('Fastlr'))).toEqual([CROSS_ENTROPY_KERNEL, `${CROSS_ENTROPY_KERNEL}Grad`]);
          expect(info.kernels.some((k) => k.name === 'OneHot' || k.name === 'Exp')).toBe(false);
          tf.dispose([z, labels]);
        });
      }
    }

    it(`${backend}: a label outside [0, C) adds nothing to the loss and its row gets no gradient`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const z = tf.tensor2d(values(4 * 3, 77), [4, 3]);
      const got = ours(z, tf.tensor1d([0, 2, 5, -1], 'int32'));
      const ref = reference(z, [0, 2, 5, -1], 3);
      expect(relErr(got.value, ref.value)).toBeLessThan(1e-6);
      expect(relErr(got.grad, ref.grad)).toBeLessThan(1e-6);
      z.dispose();
    });
  }

  it('stock kernels: lossTensor takes the op path and gives the same numbers', async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
    const z = tf.tensor2d(values(64 * 10, 5), [64, 10]);
    const labels = tf.tensor1d(Array.from({ length: 64 }, (_, i) => i % 10), 'int32');
    const fused = ours(z, labels);
    restoreStockKernels('cpu');
    try {
      expect(tf.getKernel(CROSS_ENTROPY_KERNEL, 'cpu')).toBeUndefined();
      const info = await tf.profile(() => {
        tf.tidy(() => lossTensor('cross_entropy', z, labels));
      });
      expect(info.kernels.some((k) => k.name === CROSS_ENTROPY_KERNEL)).toBe(false);
      const stock = ours(z, labels);
      expect(relErr(fused.value, stock.value)).toBeLessThan(1e-6);
      expect(relErr(fused.grad, stock.grad)).toBeLessThan(1e-6);
    } finally {
      registerKernelOverrides('cpu');
      tf.dispose([z, labels]);
    }
  });
});
