import * as tf from '@tensorflow/tfjs';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { Batcher, batchCount, epochOrder, loadDataset } from '../src/data/index.js';
import { buildModel, paramGroups } from '../src/model/index.js';

describe('data + model together', () => {
  it('an MLP learns mnist from Batcher batches (labels line up with pixels)', async () => {
    const plan = {
      seed: 42,
      loss: 'cross_entropy',
      data: { source: 'mnist', valid_pct: 0.2, mnist: { digits: null, limit: 3000 } },
      model: {
        input: [784],
        layers: [
          { type: 'dense', units: 32, activation: 'relu', use_bias: true },
          { type: 'dense', units: 10, activation: 'linear', use_bias: true },
        ],
        groups: [],
      },
    };
    const ds = await loadDataset(plan);
    const model = buildModel(plan, ds);
    const vars = paramGroups(model, plan).flatMap((g) => g.params.map((p) => p.variable));
    const opt = tf.train.adam(3e-3);
    const xShape = [784];
    const train = new Batcher(ds.train, ds, 64, xShape);
    const valid = new Batcher(ds.valid, ds, 64, xShape);
    const rng = seedrandom('epochs');
    const before = tf.memory().numTensors;
    for (let epoch = 0; epoch < 3; epoch++) {
      const order = epochOrder(ds.train.n, true, rng);
      for (let b = 0; b < batchCount(ds.train.n, 64, true); b++) {
        const { x, y } = train.batch(order, b);
        tf.tidy(() => {
          opt.minimize(
            () => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 10), model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
            false,
            vars,
          );
        });
        tf.dispose([x, y]);
      }
    }
    let right = 0;
    const order = epochOrder(ds.valid.n, false, rng);
    for (let b = 0; b < batchCount(ds.valid.n, 64, false); b++) {
      const { x, y } = valid.batch(order, b);
      right += tf.tidy(() => (model.predict(x) as tf.Tensor).argMax(-1).equal(y).sum().dataSync()[0]!);
      tf.dispose([x, y]);
    }
    expect(tf.memory().numTensors - before).toBeLessThan(20); // optimizer slots only
    expect(right / ds.valid.n).toBeGreaterThan(0.85);
    opt.dispose();
    model.dispose();
  });
});
