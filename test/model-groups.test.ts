import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  buildModel,
  freeze,
  freezeTo,
  frozenIndex,
  frozenLayers,
  paramGroups,
  trainableParams,
  unfreeze,
  type DataShape,
  type LayerSpecLike,
  type ModelPlan,
} from '../src/model/index.js';

interface VectorParam {
  group: number;
  name: string;
  requires_grad: boolean;
  do_wd: boolean;
  force_train: boolean;
}
interface Vectors {
  scenarios: {
    name: string;
    train_bn: boolean;
    n_groups: number;
    steps: { after: string; frozen_idx?: number; params: VectorParam[] }[];
  }[];
}
const vectors = JSON.parse(
  readFileSync(path.resolve(__dirname, 'fixtures/fastai/freeze_semantics.json'), 'utf8'),
) as Vectors;

const tab: DataShape = { inputShape: [4], task: 'classification', nClasses: 2, targetDim: 1 };
// the vectors' model: Sequential(Linear(4,8) [0], BatchNorm1d(8) [1], ReLU, Linear(8,8) [3], ReLU, Linear(8,2) [5])
const LAYERS: LayerSpecLike[] = [
  { type: 'dense', units: 8, activation: 'linear', use_bias: true },
  { type: 'batchnorm', momentum: 0.9, epsilon: 1e-5 },
  { type: 'activation', activation: 'relu' },
  { type: 'dense', units: 8, activation: 'linear', use_bias: true },
  { type: 'activation', activation: 'relu' },
  { type: 'dense', units: 2, activation: 'linear', use_bias: true },
];

function plan(groups: (number | string)[], model: Partial<ModelPlan['model']> = {}): ModelPlan {
  return { seed: 1, loss: 'cross_entropy', model: { layers: LAYERS, groups, train_bn: true, ...model } };
}

/** '0.weight' → 'l0_dense/kernel', '1.bias' → 'l1_batchnorm/beta' */
function torchName(key: string): string {
  const [layer, weight] = key.split('/') as [string, string];
  const index = /^l(\d+)_/.exec(layer)![1];
  return `${index}.${weight === 'kernel' || weight === 'gamma' ? 'weight' : 'bias'}`;
}

describe('paramGroups', () => {
  it('split points by index or by name give ordered groups with keys, decay and norm flags', () => {
    const m = buildModel(plan([2, 5]), tab);
    const byIndex = paramGroups(m, plan([2, 5]));
    const byName = paramGroups(m, plan(['l2_activation', 'l5_dense']));
    const negative = paramGroups(m, plan([2, -1]));
    for (const g of [byName, negative]) {
      expect(g.map((x) => x.params.map((p) => p.key))).toEqual(byIndex.map((x) => x.params.map((p) => p.key)));
    }
    expect(byIndex.map((g) => g.layers)).toEqual([
      ['l0_dense', 'l1_batchnorm'],
      ['l2_activation', 'l3_dense', 'l4_activation'],
      ['l5_dense'],
    ]);
    expect(byIndex.map((g) => g.params.map((p) => [p.key, p.decay, p.isNorm]))).toEqual([
      [
        ['l0_dense/kernel', true, false],
        ['l0_dense/bias', false, false],
        ['l1_batchnorm/gamma', false, true],
        ['l1_batchnorm/beta', false, true],
      ],
      [
        ['l3_dense/kernel', true, false],
        ['l3_dense/bias', false, false],
      ],
      [
        ['l5_dense/kernel', true, false],
        ['l5_dense/bias', false, false],
      ],
    ]);
    // the variables are the model's own (moving statistics are not parameters)
    const vars = byIndex.flatMap((g) => g.params.map((p) => p.variable));
    expect(vars.every((v) => v instanceof tf.Variable)).toBe(true);
    expect(vars.map((v) => v.id).sort()).toEqual(m.trainableWeights.map((w) => w.read().id).sort());
    expect(byIndex[0]!.params[2]!.layerIndex).toBe(1);
    // no split points: one group
    expect(paramGroups(m, plan([])).map((g) => g.params.length)).toEqual([8]);
    m.dispose();
  });

  it('rejects bad split points', () => {
    const m = buildModel(plan([]), tab);
    expect(() => paramGroups(m, plan([0]))).toThrow(/split point 0 is outside the model \(it has 6 layers: use 1..5/);
    expect(() => paramGroups(m, plan([6]))).toThrow(/1..5/);
    expect(() => paramGroups(m, plan([3, 2]))).toThrow(/must increase/);
    expect(() => paramGroups(m, plan([3, 'l3_dense']))).toThrow(/must increase/);
    expect(() => paramGroups(m, plan(['nope']))).toThrow(/no layer named "nope"/);
    expect(() => paramGroups(m, plan([1.5]))).toThrow(/not a layer index/);
    // group 1 = [l2_activation] has nothing to train
    expect(() => paramGroups(m, plan([2, 3]))).toThrow(/group 1 \(layers l2_activation\) has no trainable parameters/);
    m.dispose();
  });
});

describe('freezeTo (fastai freeze_to) against freeze_semantics.json', () => {
  for (const sc of vectors.scenarios) {
    it(sc.name, () => {
      const splits = sc.n_groups === 3 ? [2, 5] : [];
      const m = buildModel(plan(splits), tab);
      const groups = paramGroups(m, plan(splits, { train_bn: sc.train_bn }));
      expect(groups).toHaveLength(sc.n_groups);
      const flat = groups.flatMap((g, gi) => g.params.map((p, i) => ({ gi, i, p })));
      let mask = unfreeze(groups);
      for (const step of sc.steps) {
        if (step.after.startsWith('freeze()')) {
          mask = freeze(groups, sc.train_bn);
          expect(frozenIndex(groups.length, -1)).toBe(step.frozen_idx);
        } else if (step.after.startsWith('unfreeze()')) {
          mask = unfreeze(groups);
          expect(step.frozen_idx).toBe(0);
        }
        expect(flat.map(({ p }) => torchName(p.key))).toEqual(step.params.map((q) => q.name));
        step.params.forEach((q, k) => {
          const { gi, i, p } = flat[k]!;
          expect(gi, q.name).toBe(q.group);
          expect(mask[gi]![i], `${step.after} ${q.name} requires_grad`).toBe(q.requires_grad);
          expect(p.decay, `${q.name} do_wd`).toBe(q.do_wd);
          expect(p.isNorm && sc.train_bn, `${q.name} force_train`).toBe(q.force_train);
        });
      }
      m.dispose();
    });
  }

  it('freezeTo(n) for other n, trainableParams, frozenLayers', () => {
    const m = buildModel(plan([2, 5]), tab);
    const groups = paramGroups(m, plan([2, 5]));
    const m1 = freezeTo(groups, 1, true);
    expect(trainableParams(groups, m1).map((p) => p.key)).toEqual([
      'l1_batchnorm/gamma',
      'l1_batchnorm/beta',
      'l3_dense/kernel',
      'l3_dense/bias',
      'l5_dense/kernel',
      'l5_dense/bias',
    ]);
    expect(frozenLayers(groups, m1)).toEqual(['l0_dense']);
    expect(frozenLayers(groups, freeze(groups, false))).toEqual(['l0_dense', 'l1_batchnorm', 'l3_dense']);
    // n ≥ G freezes every group (fastai warns), norm params still train with train_bn
    expect(trainableParams(groups, freezeTo(groups, 3, true)).map((p) => p.key)).toEqual([
      'l1_batchnorm/gamma',
      'l1_batchnorm/beta',
    ]);
    expect(trainableParams(groups, freezeTo(groups, -2, false)).map((p) => p.layer)).toEqual([
      'l3_dense',
      'l3_dense',
      'l5_dense',
      'l5_dense',
    ]);
    // freezing does not touch the layers
    expect(m.layers.every((l) => l.trainable)).toBe(true);
    m.dispose();
  });
});
