/**
 * createLearner's BatchNorm options are the YAML's model keys under camelCase (trainBn = model.train_bn, bnFreeze =
 * model.bn_freeze, bnInference = model.bn_inference) and do what the keys do: a functional graph with BatchNorm in
 * the body and in the head, trained by fitOneCycle / fineTune, its weights read back bit for bit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createLearner, FastlrError, type CreateLearnerOptions } from '../src/index.js';
import { learnerOptionsSchema } from '../src/library/options.js';
import { configSchema } from '../src/plan/schema.js';

/** x → dense → BN → relu → [dense] + → BN → dense 3: body (stem…body_add) | head (head_bn, logits). */
function bnGraph(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [6] });
  let x = tf.layers.dense({ units: 8, name: 'stem', kernelInitializer: init(1) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'stem_bn', momentum: 0.5 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'stem_relu' }).apply(x) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 8, name: 'body_dense', kernelInitializer: init(2) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.add({ name: 'body_add' }).apply([x, b]) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'head_bn', momentum: 0.5 }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'logits', kernelInitializer: init(3) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

let train: { xs: tf.Tensor2D; ys: tf.Tensor1D };

/** Every weight of the model by name: its float32 bytes. */
function bits(model: tf.LayersModel): Map<string, Uint8Array> {
  return new Map(model.weights.map((w) => [w.originalName, new Uint8Array((w.read().dataSync() as Float32Array).slice().buffer)]));
}
const same = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean => a !== undefined && b !== undefined && Buffer.from(a).equals(Buffer.from(b));

/** The weights whose bytes changed between `before` and `after`, as `layer/weight` names, sorted. */
function changed(before: Map<string, Uint8Array>, after: Map<string, Uint8Array>): string[] {
  return [...after].filter(([k, v]) => !same(before.get(k), v)).map(([k]) => k).sort();
}

const base = (over: Partial<CreateLearnerOptions> = {}): Omit<CreateLearnerOptions, 'model'> => ({ train, batchSize: 8, seed: 3, backend: 'cpu', groups: ['head_bn'], ...over });

beforeAll(async () => {
  await tf.setBackend('cpu');
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x = Array.from({ length: 48 }, () => Array.from({ length: 6 }, () => rnd() * 4 - 1));
  train = { xs: tf.tensor2d(x), ys: tf.tensor1d(x.map((r) => (r[0]! > 1 ? 0 : r[1]! > 1 ? 1 : 2)), 'int32') };
});

const STATS = ['head_bn/moving_mean', 'head_bn/moving_variance', 'stem_bn/moving_mean', 'stem_bn/moving_variance'];

describe('createLearner takes the BatchNorm keys of the YAML (model.train_bn, bn_freeze, bn_inference)', () => {
  it('every model key the library applies to a user model has its camelCase option', () => {
    const modelKeys = Object.keys(configSchema.shape.model.unwrap().shape);
    // keys that describe a model fastlr builds or loads itself: a library user passes the model
    const building = new Set(['input', 'layers', 'from', 'cut', 'head', 'reinit', 'bn_momentum']);
    const camel = (k: string) => k.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
    const options = Object.keys(learnerOptionsSchema.shape);
    const wanted = modelKeys.filter((k) => !building.has(k)).map(camel);
    expect(wanted).toEqual(expect.arrayContaining(['groups', 'trainBn', 'bnFreeze', 'bnInference']));
    expect(options).toEqual(expect.arrayContaining(wanted));
  });

  it('default: every BatchNorm in training mode, its running statistics move', async () => {
    const model = bnGraph();
    const before = bits(model);
    const learn = await createLearner({ model, ...base() });
    await learn.fitOneCycle(1, 1e-2);
    expect(changed(before, bits(model))).toEqual(expect.arrayContaining(STATS));
    learn.dispose();
    model.dispose();
  });

  it('bnInference: running statistics bit-identical through fitOneCycle and fineTune; gamma/beta and the rest train', async () => {
    const model = bnGraph();
    const before = bits(model);
    const learn = await createLearner({ model, ...base({ bnInference: true }) });
    await learn.fitOneCycle(1, 1e-2);
    await learn.fineTune(1, { baseLr: 1e-2 });
    const moved = changed(before, bits(model));
    for (const k of STATS) expect(moved, k).not.toContain(k);
    expect(moved).toEqual(expect.arrayContaining(['head_bn/gamma', 'head_bn/beta', 'stem_bn/gamma', 'stem/kernel', 'logits/kernel']));
    learn.dispose();
    model.dispose();
  });

  it('bnFreeze + trainBn false, frozen: the body bit-identical (its BN statistics too), the head and its BN train', async () => {
    const model = bnGraph();
    const before = bits(model);
    const learn = await createLearner({ model, ...base({ bnFreeze: true, trainBn: false }) });
    learn.freeze();
    await learn.fitOneCycle(1, 1e-2);
    const moved = changed(before, bits(model));
    expect(moved).toEqual(['head_bn/beta', 'head_bn/gamma', 'head_bn/moving_mean', 'head_bn/moving_variance', 'logits/bias', 'logits/kernel']);
    learn.dispose();
    model.dispose();
  });

  it('bnFreeze with trainBn (the default), frozen: body BN gamma/beta train in inference mode, its statistics stay', async () => {
    const model = bnGraph();
    const before = bits(model);
    const learn = await createLearner({ model, ...base({ bnFreeze: true }) });
    learn.freeze();
    await learn.fitOneCycle(1, 1e-2);
    const moved = changed(before, bits(model));
    expect(moved).toEqual(expect.arrayContaining(['stem_bn/gamma', 'stem_bn/beta']));
    expect(moved).not.toContain('stem_bn/moving_mean');
    expect(moved).not.toContain('stem_bn/moving_variance');
    expect(moved).not.toContain('stem/kernel');
    learn.dispose();
    model.dispose();
  });

  it('a bad value names the option', async () => {
    const model = bnGraph();
    const err = await createLearner({ model, ...base({ bnInference: 'yes' as unknown as boolean }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as Error).message).toMatch(/^createLearner: bnInference: /);
    model.dispose();
  });
});
