// FastlrDense (src/kernels/dense.ts): a Dense layer as one op with a lazy gradient. The same loss and gradients as
// tfjs-layers' own Dense (the unfused path, patch removed) on both backends; the first layer's input gradient is never
// computed; rank-3 inputs, no bias and other activations keep working; FASTLR_KERNELS=stock never sees the op.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { DENSE_KERNEL, installDenseLayer, uninstallDenseLayer } from '../src/kernels/dense.js';
import { relErr, values } from './helpers/kernels.js';

interface Net {
  model: tf.Sequential;
  x: tf.Tensor;
  target: tf.Tensor;
}

function net(inputShape: number[], layers: tf.layers.Layer[], seed: number): Net {
  const model = tf.sequential();
  model.add(tf.layers.inputLayer({ inputShape }));
  for (const l of layers) model.add(l);
  // deterministic weights (the initialisers draw from Math.random)
  model.weights.forEach((w, i) => w.write(tf.tensor(values(w.shape.reduce((a, b) => a * b, 1), seed + i), w.shape)));
  const x = tf.tensor(values(5 * inputShape.reduce((a, b) => a * b, 1), seed + 100), [5, ...inputShape]);
  const out = model.outputs[0]!.shape.slice(1) as number[];
  const target = tf.tensor(values(5 * out.reduce((a, b) => a * b, 1), seed + 200), [5, ...out]);
  return { model, x, target };
}

/** loss and the gradient of every trainable weight */
function lossAndGrads(n: Net): { loss: Float32Array; grads: Float32Array[] } {
  const vars = n.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const res = tf.tidy(() => {
    const f = (): tf.Scalar => tf.mean(tf.squaredDifference(n.model.apply(n.x, { training: true }) as tf.Tensor, n.target));
    const { value, grads } = tf.variableGrads(f, vars);
    return { loss: value.dataSync() as Float32Array, grads: vars.map((v) => Float32Array.from(grads[v.name]!.dataSync() as Float32Array)) };
  });
  return res;
}

async function kernelNames(n: Net): Promise<string[]> {
  const vars = n.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const info = await tf.profile(() => {
    tf.tidy(() => {
      tf.variableGrads(() => tf.mean(tf.squaredDifference(n.model.apply(n.x, { training: true }) as tf.Tensor, n.target)), vars);
    });
  });
  return info.kernels.map((k) => k.name);
}

const CASES: { name: string; make: () => Net }[] = [
  {
    name: 'relu then linear (the MNIST MLP shape, small)',
    make: () => net([12], [tf.layers.dense({ units: 16, activation: 'relu' }), tf.layers.dense({ units: 8 })], 1),
  },
  {
    name: 'rank-3 input, no bias',
    make: () => net([3, 7], [tf.layers.dense({ units: 8, activation: 'relu', useBias: false }), tf.layers.dense({ units: 5 })], 2),
  },
  {
    name: 'a tanh layer (not fused) between fused ones',
    make: () =>
      net([9], [tf.layers.dense({ units: 8, activation: 'relu' }), tf.layers.dense({ units: 6, activation: 'tanh' }), tf.layers.dense({ units: 3 })], 3),
  },
];

describe('FastlrDense', () => {
  afterAll(async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    it.each(CASES.map((c, i) => [c.name, i] as const))(`${backend}: %s — same loss and gradients as the unfused layer`, async (_n, i) => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const n = CASES[i]!.make();
      try {
        uninstallDenseLayer();
        const before = tf.memory().numTensors;
        const ref = lossAndGrads(n);
        const refKernels = await kernelNames(n);
        installDenseLayer();
        const ours = lossAndGrads(n);
        const oursKernels = await kernelNames(n);
        expect(tf.memory().numTensors).toBe(before);
        expect(relErr(ours.loss, ref.loss)).toBeLessThan(1e-6);
        ours.grads.forEach((g, k) => expect(relErr(g, ref.grads[k]!), `gradient ${k}`).toBeLessThan(1e-6));
        expect(refKernels).not.toContain(DENSE_KERNEL);
        expect(oursKernels).toContain(DENSE_KERNEL);
        expect(oursKernels.length).toBeLessThan(refKernels.length);
      } finally {
        installDenseLayer();
        n.model.dispose();
        tf.dispose([n.x, n.target]);
      }
    });
  }

  it('the first layer input gets no gradient: one matmul fewer than dx, dW for every layer', async () => {
    await initBackend('wasm');
    registerKernelOverrides('wasm');
    const n = CASES[0]!.make();
    try {
      const names = await kernelNames(n);
      // forward: inside the two FastlrDense; backward: dx of layer 2, dW of layers 1 and 2 — no dx of layer 1
      expect(names.filter((k) => k === 'BatchMatMul')).toHaveLength(3);
      expect(names.filter((k) => k === DENSE_KERNEL)).toHaveLength(2);
    } finally {
      n.model.dispose();
      tf.dispose([n.x, n.target]);
    }
  });

  it('stock kernels: the op is not registered and Dense runs tfjs-layers’ own call', async () => {
    await initBackend('cpu');
    restoreStockKernels('cpu');
    const n = CASES[0]!.make();
    try {
      expect(tf.getKernel(DENSE_KERNEL, 'cpu')).toBeUndefined();
      const names = await kernelNames(n);
      expect(names).not.toContain(DENSE_KERNEL);
      expect(lossAndGrads(n).grads.every((g) => g.every(Number.isFinite))).toBe(true);
    } finally {
      registerKernelOverrides('cpu');
      n.model.dispose();
      tf.dispose([n.x, n.target]);
    }
  });
});
