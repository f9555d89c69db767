// BatchNormalization's moving-statistics update as one kernel (src/kernels/moving-average.ts): bit for bit
// tfjs-layers' doMovingAverage (v − (v − stat)·(1 − momentum) as Sub, Multiply, Sub) on cpu and wasm, odd channel
// counts, values around the edges (±0, subnormals, large, ±Infinity, NaN), several momenta; a training call of a
// BatchNormalization layer under a gradient tape runs it and none of the op chain (no Sub / Multiply, and only the
// Identity clones of the batch-norm kernel's own saved tensors), with the moving statistics exactly the op chain's
// applied to the call's batch statistics, and no tensor left behind.
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides } from '../src/kernels/index.js';
import { bnTrain } from '../src/kernels/batch-norm.js';
import { MOVING_AVERAGES_KERNEL, movingAverages } from '../src/kernels/moving-average.js';
import { values } from './helpers/kernels.js';

const EDGES = [0, -0, 1e-40, -1e-40, 3e38, -3e38, Infinity, -Infinity, NaN, 1, -1];

/** v and stat of n values: seeded, scaled differently, the edges mixed into the first ones */
function inputs(n: number, seed: number): [Float32Array, Float32Array] {
  const v = values(n, seed).map((x) => x * 3);
  const s = values(n, seed + 1).map((x) => x * 0.7 + 0.1);
  for (let i = 0; i < Math.min(n, EDGES.length); i++) {
    v[i] = EDGES[i]!;
    s[(i + 3) % n] = EDGES[EDGES.length - 1 - i]!;
  }
  return [v, s];
}

const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** tfjs-layers' doMovingAverage on ops */
function opChain(v: tf.Tensor, s: tf.Tensor, momentum: number): tf.Tensor {
  return tf.sub(v, tf.mul(tf.sub(v, s), 1 - momentum));
}

describe('FastlrMovingAverages', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it.each([
      [1, 0.999],
      [3, 0.9],
      [37, 0.99],
      [1280, 0.999],
      [13, 0.1],
    ])(`${backend}: %i channels, momentum %f, bit for bit the op chain`, async (n, momentum) => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const [a, b] = inputs(n, 5 + n);
        const [c, d] = inputs(n, 11 + n);
        const [vm, m, vv, v] = [a, b, c, d].map((x) => tf.tensor1d(x));
        const [gotMean, gotVar] = movingAverages(vm!, m!, vv!, v!, momentum);
        expect(bits(gotMean.dataSync() as Float32Array)).toEqual(bits(opChain(vm!, m!, momentum).dataSync() as Float32Array));
        expect(bits(gotVar.dataSync() as Float32Array)).toEqual(bits(opChain(vv!, v!, momentum).dataSync() as Float32Array));
      });
      expect(tf.memory().numTensors).toBe(before);
    });

    it(`${backend}: a BatchNormalization training call under a tape updates the statistics with it, no op chain`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const shape = [2, 3, 5, 7];
      const c = 7;
      const layer = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.99 });
      layer.build(shape);
      const init = [values(c, 1).map((x) => x + 1.5), values(c, 2), values(c, 3), values(c, 4).map((x) => Math.abs(x) + 0.5)];
      const initT = init.map((w) => tf.tensor1d(w));
      layer.setWeights(initT);
      tf.dispose(initT);
      const x = tf.tidy(() => tf.tensor(values(2 * 3 * 5 * 7, 9), shape).mul(2).add(0.3));
      // the expected statistics: the op chain on the batch statistics of the same kernel
      const expected = tf.tidy(() => {
        const [, mean, variance] = bnTrain(x, tf.tensor1d(init[0]!), tf.tensor1d(init[1]!), 1e-3);
        return [opChain(tf.tensor1d(init[2]!), mean, 0.99), opChain(tf.tensor1d(init[3]!), variance, 0.99)].map((t) =>
          bits(t.dataSync() as Float32Array),
        );
      });
      // dy given: no loss op of its own on the tape
      const dy = tf.tensor(values(2 * 3 * 5 * 7, 10), shape);
      const profile = await tf.profile(() => {
        tf.grad((xx: tf.Tensor) => layer.apply(xx, { training: true }) as tf.Tensor)(x, dy).dispose();
      });
      const names = profile.kernels.map((k) => k.name);
      expect(names.filter((k) => k === MOVING_AVERAGES_KERNEL)).toHaveLength(1);
      expect(names.filter((k) => k === 'Sub' || k === 'Multiply')).toEqual([]);
      // the batch-norm kernel's saved x, scale, offset, mean, variance: the only clones (the op chain adds 12)
      expect(names.filter((k) => k === 'Identity')).toHaveLength(5);
      dy.dispose();
      const moving = layer.getWeights().slice(2).map((t) => bits(t.dataSync() as Float32Array));
      expect(moving).toEqual(expected);
      x.dispose();
      layer.weights.forEach((w) => w.dispose());
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
