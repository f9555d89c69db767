/**
 * ReLU(max_value=6) layers (MobileNet's every activation) on fastlr's kernels run as one Relu6 op forward and one
 * FastlrClipGrad pass backward (src/kernels/relu6.ts), with the stock relu → clipByValue chain's values and gradient
 * bit for bit, subnormals and ±0 at the lower edge included; other max values keep the layer's own call.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { values } from './helpers/kernels.js';

/** The layer's output and input gradient on a 4-D batch with edge values, and the kernels one forward+backward ran. */
async function run(maxValue: number, seed: number): Promise<{ out: Float32Array[]; kernels: string[] }> {
  const edge = [0, -0, 1.401298464324817e-45, -1.401298464324817e-45, 1e-40, 6, 6.000001, 5.999999, maxValue, -1e-30, 3, Infinity, -Infinity];
  const n = 2 * 5 * 5 * 8;
  const raw = values(n, seed).map((v) => v * 9);
  edge.forEach((v, i) => (raw[i * 7] = v));
  const x = tf.tensor4d(raw, [2, 5, 5, 8]);
  const w = tf.tensor4d(values(n, seed + 1), [2, 5, 5, 8]);
  const layer = tf.layers.reLU({ maxValue });
  let out: Float32Array[] = [];
  const info = await tf.profile(() => {
    out = tf.tidy(() => {
      const f = (a: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, w));
      // (the loss value itself is a sum, whose order differs between backends: not compared)
      const { grad } = tf.valueAndGrad(f)(x);
      return [layer.apply(x) as tf.Tensor, grad].map((t) => t.dataSync().slice() as Float32Array);
    });
  });
  tf.dispose([x, w]);
  return { out, kernels: info.kernels.map((k) => k.name) };
}

const zeroSign = (a: Float32Array): number[] => Array.from(a, (v) => (v === 0 ? 0 : v));

describe('ReLU(max 6) as one Relu6 op on fastlr kernels', async () => {
  await tf.setBackend('cpu');
  restoreStockKernels('cpu');
  const ref6 = await run(6, 5);
  const ref4 = await run(4, 6);
  registerKernelOverrides('cpu');
  afterAll(async () => {
    await tf.setBackend('cpu');
    registerKernelOverrides('cpu');
  });

  it('stock: relu then clipByValue', () => {
    expect(ref6.kernels).toEqual(expect.arrayContaining(['Relu', 'ClipByValue']));
    expect(ref6.kernels).not.toContain('Relu6');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: one Relu6 forward, one FastlrClipGrad backward, values and gradient bit-identical to stock`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = await run(6, 5);
      expect(tf.memory().numTensors).toBe(before);
      expect(got.kernels.filter((k) => k === 'Relu6')).toHaveLength(2); // the loss's forward and the output read
      expect(got.kernels.filter((k) => k === 'FastlrClipGrad')).toHaveLength(1);
      expect(got.kernels).not.toContain('Relu');
      expect(got.kernels).not.toContain('ClipByValue');
      expect(got.kernels).not.toContain('FastlrReluGrad');
      got.out.forEach((g, k) => expect(zeroSign(g), `output ${k}`).toEqual(zeroSign(ref6.out[k]!)));
    });

    it(`${backend}: another max value runs the layer's own relu + clip, as stock`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const got = await run(4, 6);
      expect(got.kernels).not.toContain('Relu6');
      got.out.forEach((g, k) => expect(zeroSign(g), `output ${k}`).toEqual(zeroSign(ref4.out[k]!)));
    });
  }
});
