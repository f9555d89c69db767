// FastlrBiasAct (src/kernels/bias-act.ts): a Conv2D layer's bias + relu as one op while training. The loss and
// every gradient bit for bit those of tfjs-layers' own Conv2D (conv2d + add + relu) on wasm and cpu; no tensor kept;
// outside a gradient tape and with FASTLR_KERNELS=stock the original call runs.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { BIAS_ACT_KERNEL, installConvLayer, uninstallConvLayer } from '../src/kernels/bias-act.js';
import { values } from './helpers/kernels.js';

function cnn(seed: number, activation: 'relu', padding: 'same' | 'valid', c: number): { model: tf.Sequential; x: tf.Tensor; t: tf.Tensor } {
  const model = tf.sequential();
  model.add(tf.layers.inputLayer({ inputShape: [9, 8, 3] }));
  model.add(tf.layers.conv2d({ filters: c, kernelSize: 3, activation, padding }));
  model.add(tf.layers.conv2d({ filters: 6, kernelSize: 2, strides: 2, activation: 'relu' }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 4 }));
  model.weights.forEach((w, i) => w.write(tf.tensor(values(w.shape.reduce((a, b) => a * b, 1), seed + i), w.shape)));
  const x = tf.tensor(values(3 * 9 * 8 * 3, seed + 50), [3, 9, 8, 3]);
  const t = tf.tensor(values(3 * 4, seed + 60), [3, 4]);
  return { model, x, t };
}

function step(n: ReturnType<typeof cnn>): { arrays: Float32Array[] } {
  const vars = n.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.squaredDifference(n.model.apply(n.x, { training: true }) as tf.Tensor, n.t)), vars);
    return { arrays: [value, ...vars.map((v) => grads[v.name]!)].map((g) => Float32Array.from(g.dataSync() as Float32Array)) };
  });
}

async function kernels(n: ReturnType<typeof cnn>, training: boolean): Promise<string[]> {
  const vars = n.model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const info = await tf.profile(() => {
    tf.tidy(() => {
      if (training) tf.variableGrads(() => tf.mean(n.model.apply(n.x, { training: true }) as tf.Tensor), vars);
      else n.model.predict(n.x);
    });
  });
  return info.kernels.map((k) => k.name);
}

describe('FastlrBiasAct', () => {
  afterAll(async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    for (const [act, pad, c] of [['relu', 'valid', 8], ['relu', 'same', 5], ['relu', 'same', 16]] as const) {
      it(`${backend}: conv ${act} ${pad}, ${c} channels — loss and gradients bit for bit as tfjs-layers' Conv2D`, async () => {
        await initBackend(backend);
        registerKernelOverrides(backend);
        const n = cnn(3, act, pad, c);
        try {
          uninstallConvLayer();
          const ref = step(n);
          expect(await kernels(n, true)).not.toContain(BIAS_ACT_KERNEL);
          installConvLayer();
          const before = tf.memory().numTensors;
          const ours = step(n);
          expect(tf.memory().numTensors).toBe(before);
          const names = await kernels(n, true);
          expect(names.filter((k) => k === BIAS_ACT_KERNEL)).toHaveLength(2);
          expect(names).not.toContain('Relu');
          ours.arrays.forEach((a, i) => expect(Array.from(a), `output ${i}`).toEqual(Array.from(ref.arrays[i]!)));
          // not recording: the layer's own (fused) inference path
          expect(await kernels(n, false)).not.toContain(BIAS_ACT_KERNEL);
        } finally {
          installConvLayer();
          n.model.dispose();
          tf.dispose([n.x, n.t]);
        }
      });
    }
  }

  // a linear conv without a bias (the stem before a BatchNorm): plain conv2d under a tape, so no input gradient is
  // computed for the layer fed by data (tfjs's fused conv2d computes dx in every step)
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`${backend}: a linear conv without bias fed by data computes no input gradient; loss and gradients as tfjs-layers' Conv2D`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const model = tf.sequential();
      model.add(tf.layers.inputLayer({ inputShape: [9, 8, 3] }));
      model.add(tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }));
      model.add(tf.layers.conv2d({ filters: 6, kernelSize: 2, activation: 'relu' }));
      model.add(tf.layers.flatten());
      model.add(tf.layers.dense({ units: 4 }));
      model.weights.forEach((w, i) => w.write(tf.tensor(values(w.shape.reduce((a, b) => a * b, 1), 9 + i), w.shape)));
      const n = { model, x: tf.tensor(values(3 * 9 * 8 * 3, 70), [3, 9, 8, 3]), t: tf.tensor(values(3 * 4, 80), [3, 4]) } as unknown as ReturnType<typeof cnn>;
      const inputGrads = (names: string[]): number => names.filter((k) => k === 'Conv2DBackpropInput').length;
      try {
        uninstallConvLayer();
        const ref = step(n);
        expect(inputGrads(await kernels(n, true))).toBe(2);
        installConvLayer();
        const before = tf.memory().numTensors;
        const ours = step(n);
        expect(tf.memory().numTensors).toBe(before);
        // only the second conv's dx (the first conv's weights need it); none for the first, fed by data
        expect(inputGrads(await kernels(n, true))).toBe(1);
        ours.arrays.forEach((a, i) => {
          const r = ref.arrays[i]!;
          const scale = Math.max(1e-6, ...Array.from(r, Math.abs));
          a.forEach((v, j) => expect(Math.abs(v - r[j]!) / scale, `output ${i}[${j}]`).toBeLessThan(1e-5));
        });
      } finally {
        installConvLayer();
        model.dispose();
        tf.dispose([n.x, n.t]);
      }
    });
  }

  it('stock kernels: not registered, Conv2D runs its own call', async () => {
    await initBackend('cpu');
    restoreStockKernels('cpu');
    const n = cnn(4, 'relu', 'valid', 8);
    try {
      expect(tf.getKernel(BIAS_ACT_KERNEL, 'cpu')).toBeUndefined();
      expect(await kernels(n, true)).not.toContain(BIAS_ACT_KERNEL);
    } finally {
      registerKernelOverrides('cpu');
      n.model.dispose();
      tf.dispose([n.x, n.t]);
    }
  });
});
