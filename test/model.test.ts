import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { buildModel, paramGroups, type DataShape, type LayerSpecLike, type ModelPlan } from '../src/model/index.js';

const mnistShape: DataShape = { inputShape: [28, 28, 1], task: 'classification', nClasses: 10, targetDim: 1 };

const CNN: LayerSpecLike[] = [
  { type: 'conv2d', filters: 4, kernel: 3, strides: 1, padding: 'valid', activation: 'relu', use_bias: true },
  { type: 'maxpool', pool: 2, padding: 'valid' },
  { type: 'batchnorm', momentum: 0.9, epsilon: 1e-5 },
  { type: 'conv2d', filters: 6, kernel: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', use_bias: true },
  { type: 'avgpool', pool: 2, padding: 'valid' },
  { type: 'flatten' },
  { type: 'dropout', rate: 0.25 },
  { type: 'dense', units: 10, activation: 'linear', use_bias: true },
];

function plan(layers: LayerSpecLike[], extra: Partial<ModelPlan> = {}, model: Partial<ModelPlan['model']> = {}): ModelPlan {
  return { seed: 42, loss: 'cross_entropy', ...extra, model: { layers, cut: -1, groups: [], train_bn: true, ...model } };
}

function weightsOf(m: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const w of m.weights) out.set(w.originalName, w.read().dataSync() as Float32Array);
  return out;
}

describe('buildModel', () => {
  it('builds the layers in order with names l<index>_<type> and logits of nClasses', () => {
    const m = buildModel(plan(CNN), mnistShape);
    expect(m.layers.map((l) => l.name)).toEqual([
      'l0_conv2d',
      'l1_maxpool',
      'l2_batchnorm',
      'l3_conv2d',
      'l4_avgpool',
      'l5_flatten',
      'l6_dropout',
      'l7_dense',
    ]);
    expect(m.inputs[0]!.shape).toEqual([null, 28, 28, 1]);
    expect(m.outputs[0]!.shape).toEqual([null, 10]);
    const y = tf.tidy(() => m.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor);
    expect(y.shape).toEqual([2, 10]);
    y.dispose();
    const bn = m.layers[2]!.getConfig();
    expect(bn.momentum).toBe(0.9);
    expect(bn.epsilon).toBe(1e-5);
    expect((m.layers[3]!.getConfig() as { strides: number[] }).strides).toEqual([2, 2]);
    expect((m.layers[1]!.getConfig() as { strides: number[] }).strides).toEqual([2, 2]);
    m.dispose();
  });

  it('same seed → identical initial weights and keys, in one process; another seed differs', () => {
    const a = buildModel(plan(CNN), mnistShape);
    const b = buildModel(plan(CNN), mnistShape);
    const c = buildModel(plan(CNN, { seed: 7 }), mnistShape);
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    expect([...wb.keys()]).toEqual([...wa.keys()]);
    // tfjs uniquifies variable names within a process, our keys do not change
    expect(b.weights.some((w) => w.name !== w.originalName)).toBe(true);
    for (const [k, v] of wa) expect(Buffer.from(wb.get(k)!.buffer).equals(Buffer.from(v.buffer))).toBe(true);
    const wc = weightsOf(c);
    expect(Buffer.from(wc.get('l0_conv2d/kernel')!.buffer).equals(Buffer.from(wa.get('l0_conv2d/kernel')!.buffer))).toBe(false);
    const k0 = wa.get('l0_conv2d/kernel')!;
    expect(new Set(k0).size).toBe(k0.length);
    // keys from paramGroups are the same across models
    const keys = (m: tf.LayersModel) => paramGroups(m, plan(CNN)).flatMap((g) => g.params.map((p) => p.key));
    expect(keys(b)).toEqual(keys(a));
    expect(keys(a)).toEqual([
      'l0_conv2d/kernel',
      'l0_conv2d/bias',
      'l2_batchnorm/gamma',
      'l2_batchnorm/beta',
      'l3_conv2d/kernel',
      'l3_conv2d/bias',
      'l7_dense/kernel',
      'l7_dense/bias',
    ]);
    // glorot-uniform limits, zero biases
    const limit = Math.sqrt(6 / (9 * 1 + 9 * 4));
    expect(Math.max(...k0.map(Math.abs))).toBeLessThanOrEqual(limit);
    expect([...wa.get('l0_conv2d/bias')!]).toEqual([0, 0, 0, 0]);
    for (const m of [a, b, c]) m.dispose();
  });

  it('layers of the same shape get different seeds', () => {
    const dense = (units: number): LayerSpecLike => ({ type: 'dense', units, activation: 'relu', use_bias: true });
    const tab: DataShape = { inputShape: [6], task: 'classification', nClasses: 6, targetDim: 1 };
    const m = buildModel(plan([dense(6), dense(6), dense(6)]), tab);
    const w = weightsOf(m);
    const k = ['l0_dense/kernel', 'l1_dense/kernel', 'l2_dense/kernel'].map((n) => Array.from(w.get(n)!));
    expect(k[0]).not.toEqual(k[1]);
    expect(k[1]).not.toEqual(k[2]);
    m.dispose();
  });

  it('model.input of the same size replaces the data shape; a flatten is never implicit', () => {
    const mlp: LayerSpecLike[] = [
      { type: 'dense', units: 8, activation: 'relu', use_bias: true },
      { type: 'dense', units: 10, activation: 'linear', use_bias: false },
    ];
    const m = buildModel(plan(mlp, {}, { input: [784] }), mnistShape);
    expect(m.inputs[0]!.shape).toEqual([null, 784]);
    expect(m.layers[1]!.weights.map((w) => w.originalName)).toEqual(['l1_dense/kernel']);
    m.dispose();
    expect(() => buildModel(plan(mlp), mnistShape)).toThrow(/add a `flatten` layer/);
    expect(() => buildModel(plan(mlp, {}, { input: [100] }), mnistShape)).toThrow(/takes 100 values per sample/);
  });

  it('checks the output against the loss and the data', () => {
    const head = (units: number, activation = 'linear'): LayerSpecLike[] => [
      { type: 'dense', units, activation, use_bias: true },
    ];
    const tab: DataShape = { inputShape: [4], task: 'classification', nClasses: 3, targetDim: 1 };
    expect(() => buildModel(plan(head(5)), tab)).toThrow(/outputs 5 values, but loss cross_entropy on 3 classes needs 3/);
    expect(() => buildModel(plan(head(3, 'softmax')), tab)).toThrow(/must output logits/);
    const reg: DataShape = { inputShape: [4], task: 'regression', nClasses: 0, targetDim: 1 };
    buildModel(plan(head(1), { loss: 'mse' }), reg).dispose();
    const bin: DataShape = { ...tab, nClasses: 2 };
    buildModel(plan(head(1), { loss: 'binary_cross_entropy' }), bin).dispose();
    expect(() => buildModel(plan(head(1, 'sigmoid'), { loss: 'binary_cross_entropy' }), bin)).toThrow(/sigmoid/);
  });

  it('bad layer lists are FastlrErrors naming the layer', () => {
    const tab: DataShape = { inputShape: [4], task: 'classification', nClasses: 3, targetDim: 1 };
    expect(() => buildModel(plan([]), tab)).toThrow(/model.layers is empty/);
    expect(() => buildModel(plan([{ type: 'lstm' }]), tab)).toThrow(/model.layers\[0\] \(lstm\): unknown layer type/);
    expect(() => buildModel(plan([{ type: 'dense', units: 0 }]), tab)).toThrow(/units must be a positive integer/);
    expect(() => buildModel(plan([{ type: 'dense', units: 3, activation: 'gelu' }]), tab)).toThrow(/activation must be one of/);
    const err = (() => {
      try {
        buildModel(plan([{ type: 'maxpool', pool: 2 }, { type: 'dense', units: 3 }]), tab);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as Error).message).toMatch(/model.layers\[0\] \(maxpool\)/);
    expect(() =>
      buildModel(plan([{ type: 'dense', units: 3, name: 'x' }, { type: 'dense', units: 3, name: 'x' }]), tab),
    ).toThrow(/layer name "x" is already used/);
  });
});
