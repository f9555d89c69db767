// BatchNormalization on fastlr's fused kernels (src/kernels/batch-norm.ts), training and inference mode, and the ClipByValue
// gradient kernel (clip-grad.ts) against tfjs's stock op chains on the stock cpu kernels: the layer's output, its
// moving mean/variance after the call, and the gradients w.r.t. the input, gamma and beta, on cpu and wasm, for
// channel counts that take the SIMD programs (8, 20, 16) and the plain loops (3), rank 2 and 4, more rows than one
// summation block; the gradient through the statistics outputs; an instance whose `call` is wrapped (BN mode
// control) still deciding the mode; and the stock behaviour back after restoreStockKernels.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { installConvBnFold, uninstallConvBnFold } from '../src/kernels/conv-bn-fold.js';
import { bnTrain } from '../src/kernels/batch-norm.js';
import { relErr, values } from './helpers/kernels.js';

const SHAPES: number[][] = [[2, 5, 6, 8], [3, 4, 4, 20], [2, 3, 3, 3], [70, 12], [1, 40, 40, 16]];
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** output, moving mean, moving variance, dx, dgamma, dbeta of one call (training or inference mode) of a fresh BN layer */
function bnRun(shape: number[], seed: number, training = true): Float32Array[] {
  return tf.tidy(() => {
    const c = shape[shape.length - 1]!;
    const layer = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9 });
    layer.build(shape);
    layer.setWeights([
      tf.tensor(values(c, seed + 1)).add(1.5),
      tf.tensor(values(c, seed + 2)),
      tf.tensor(values(c, seed + 3)).mul(0.1),
      tf.tensor(values(c, seed + 4)).abs().add(0.5),
    ]);
    // inputs with a per-channel offset and scale, as real activations
    const x = tf.variable(tf.tensor(values(size(shape), seed), shape).mul(tf.linspace(0.5, 3, c)).add(tf.linspace(-1, 2, c)));
    const r = tf.tensor(values(size(shape), seed + 5), shape);
    let y: tf.Tensor | null = null;
    const vars = [x, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
    const { grads } = tf.variableGrads(() => {
      const out = layer.apply(x, { training }) as tf.Tensor;
      y = tf.keep(out.clone());
      return tf.sum(tf.mul(out, r));
    }, vars);
    const moving = layer.getWeights().slice(2);
    const res = [y!, ...moving, ...vars.map((v) => grads[v.name]!)].map((t) => t.dataSync().slice() as Float32Array);
    (y as tf.Tensor | null)?.dispose();
    x.dispose();
    layer.weights.forEach((w) => w.dispose());
    return res;
  });
}

/** y, mean, variance and the gradients w.r.t. x, gamma, beta of sum(y·r) + sum(mean·u) + sum(variance·v) */
function statsGrad(fused: boolean, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const shape = [3, 5, 4, 8];
    const c = 8;
    const x = tf.tensor(values(size(shape), seed), shape).add(0.7);
    const g = tf.tensor(values(c, seed + 1)).add(1.2);
    const b = tf.tensor(values(c, seed + 2));
    const r = tf.tensor(values(size(shape), seed + 3), shape);
    const u = tf.tensor(values(c, seed + 4));
    const v = tf.tensor(values(c, seed + 5));
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor[] => {
      if (fused) return bnTrain(xx, gg, bb, 1e-3);
      const m = tf.moments(xx, [0, 1, 2]);
      return [tf.batchNorm4d(xx as tf.Tensor4D, m.mean, m.variance, bb, gg, 1e-3), m.mean, m.variance];
    };
    const loss = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Scalar => {
      const [y, mean, variance] = f(xx, gg, bb);
      return tf.sum(tf.mul(y!, r)).add(tf.sum(tf.mul(mean!, u))).add(tf.sum(tf.mul(variance!, v)));
    };
    const grads = tf.grads(loss)([x, g, b]);
    return [...f(x, g, b), ...grads].map((t) => t.dataSync().slice() as Float32Array);
  });
}

/** ReLU(max 6) forward and gradient, with values at and around the clip edges and ±0; clipByValue's gradient with NaN */
function clipRun(seed: number): Float32Array[] {
  return tf.tidy(() => {
    // NaN only for the clip alone: Relu's own NaN handling differs between backends and in FastlrReluGrad
    const edge = tf.tensor1d([0, -0, 6, 6.000001, 5.999999, -1e-30, -0.5, 0.25, Infinity, -Infinity, 3]);
    const x = tf.concat([tf.tensor(values(997, seed)).mul(9), edge]);
    const w = tf.tensor(values(x.size, seed + 1));
    const layer = tf.layers.reLU({ maxValue: 6 });
    const f = (a: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, w));
    const dx = tf.grad(f)(x);
    const xn = tf.concat([x, tf.tensor1d([NaN])]);
    const wn = tf.concat([w, tf.tensor1d([0.5])]);
    const dClip = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(a, -0.5, 0.25), wn)))(xn);
    return [layer.apply(x) as tf.Tensor, dx, dClip].map((t) => t.dataSync().slice() as Float32Array);
  });
}

describe('batch norm and clip gradients on fastlr kernels match the stock op chains', async () => {
  await tf.setBackend('cpu');
  restoreStockKernels('cpu');
  const refBn = SHAPES.map((s, i) => bnRun(s, 10 + 13 * i));
  const refBnInference = SHAPES.map((s, i) => bnRun(s, 10 + 13 * i, false));
  const refStats = statsGrad(false, 3);
  const refClip = clipRun(4);
  registerKernelOverrides('cpu');

  afterAll(async () => {
    await tf.setBackend('cpu');
    registerKernelOverrides('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it.each(SHAPES.map((s, i) => [s.join('×'), i] as const))(`${backend}: BN layer, training, x %s`, async (_n, i) => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = bnRun(SHAPES[i]!, 10 + 13 * i);
      expect(tf.memory().numTensors).toBe(before);
      ['y', 'moving mean', 'moving variance', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => {
        expect(relErr(got[k]!, refBn[i]![k]!), what).toBeLessThan(what === 'dx' ? 2e-5 : 1e-5);
      });
    });

    // inference mode (running statistics: validation, bn_freeze, bn_inference): FusedBatchNorm and its gradient
    it.each(SHAPES.map((s, i) => [s.join('×'), i] as const))(`${backend}: BN layer, inference mode, x %s`, async (_n, i) => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = bnRun(SHAPES[i]!, 10 + 13 * i, false);
      expect(tf.memory().numTensors).toBe(before);
      const ref = refBnInference[i]!;
      ['y', 'moving mean', 'moving variance', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => {
        if (what.startsWith('moving')) expect(Array.from(got[k]!), `${what} untouched`).toEqual(Array.from(ref[k]!));
        else expect(relErr(got[k]!, ref[k]!), what).toBeLessThan(1e-5);
      });
    });

    it(`${backend}: the gradient through the mean and variance outputs`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const got = statsGrad(true, 3);
      ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => {
        expect(relErr(got[k]!, refStats[k]!), what).toBeLessThan(2e-5);
      });
    });

    it(`${backend}: ReLU(max 6) and clipByValue gradients, edges and NaN included, exactly`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const got = clipRun(4);
      // equal values (NaN as NaN); the sign of a zero is not compared (the Relu gradient gives +0 where stock's
      // dy·step(x) gives −0)
      const norm = (a: Float32Array): number[] => Array.from(a, (v) => (v === 0 ? 0 : v));
      got.forEach((g, k) => {
        const a = norm(g);
        const b = norm(refClip[k]!);
        const diff = a.flatMap((v, i) => (Object.is(v, b[i]) ? [] : [`${i}: ${v} vs ${b[i]}`]));
        expect(diff, `output ${k}`).toEqual([]);
      });
    });
  }

  it('a wrapped instance call still decides the mode (inference: moving statistics untouched)', async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
    tf.tidy(() => {
      const layer = tf.layers.batchNormalization({});
      layer.build([4, 3, 3, 8]);
      const call = layer.call.bind(layer);
      layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
      const before = layer.getWeights().map((w) => w.dataSync().slice());
      const x = tf.tensor(values(4 * 9 * 8, 1), [4, 3, 3, 8]).add(3);
      const y = layer.apply(x, { training: true }) as tf.Tensor;
      // inference with moving mean 0, variance 1: y = x / sqrt(1 + eps)
      expect(relErr(y.dataSync() as Float32Array, x.div(Math.sqrt(1 + 1e-3)).dataSync() as Float32Array)).toBeLessThan(1e-6);
      layer.getWeights().forEach((w, k) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[k]!)));
      layer.weights.forEach((w) => w.dispose());
    });
  });

  it('restoreStockKernels puts the stock training branch back', async () => {
    await initBackend('cpu');
    // the conv-bn fold patches BatchNormalization too (its pass-through): out while this checks the original comes back
    uninstallConvBnFold();
    restoreStockKernels('cpu');
    restoreStockKernels('wasm');
    const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: unknown };
    const stockCall = proto.call;
    registerKernelOverrides('cpu');
    expect(proto.call).not.toBe(stockCall);
    restoreStockKernels('cpu');
    expect(proto.call).toBe(stockCall);
    registerKernelOverrides('cpu');
    registerKernelOverrides('wasm');
    installConvBnFold();
  });
});
