/**
 * freeze / unfreeze (semantics.md §6) against fastai's freeze_semantics.json: which params train and which keep
 * optimizer state after each step of each scenario. One documented difference: fastai still visits a param frozen
 * after it was trained (its grad is a zero tensor, not None), so it gets weight decay and (empty) Adam state; fastlr
 * gives frozen params nothing (§6: "Frozen parameters get no gradient and no weight decay").
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FastOptimizer } from '../src/optim/index.js';
import type { ParamGroup, ParamInfo } from '../src/optim/index.js';

interface VParam {
  group: number;
  name: string;
  requires_grad: boolean;
  do_wd: boolean;
  force_train: boolean;
  has_adam_state: boolean;
}
interface VStep {
  after: string;
  frozen_idx?: number;
  params: VParam[];
  tensors_changed?: Record<string, boolean>;
}
interface Scenario {
  name: string;
  train_bn: boolean;
  n_groups: number;
  bnfreeze_callback: boolean;
  steps: VStep[];
}
const vectors = JSON.parse(
  readFileSync(path.resolve(__dirname, 'fixtures/fastai/freeze_semantics.json'), 'utf8'),
) as { scenarios: Scenario[] };

// Sequential(Linear(4,8) [0], BatchNorm1d(8) [1], ReLU, Linear(8,8) [3], ReLU, Linear(8,2) [5]) in tfjs layout
const SHAPES: Record<string, number[]> = {
  '0.weight': [4, 8],
  '0.bias': [8],
  '1.weight': [8],
  '1.bias': [8],
  '3.weight': [8, 8],
  '3.bias': [8],
  '5.weight': [8, 2],
  '5.bias': [2],
};

beforeAll(async () => {
  await tf.setBackend('cpu');
});
const live: tf.Variable[] = [];
afterEach(() => {
  live.splice(0).forEach((v) => v.dispose());
});

function build(s: Scenario): { groups: ParamGroup[]; byKey: Map<string, ParamInfo> } {
  const groups: ParamGroup[] = Array.from({ length: s.n_groups }, () => ({ params: [] }));
  const byKey = new Map<string, ParamInfo>();
  s.steps[0]!.params.forEach((vp, j) => {
    const shape = SHAPES[vp.name]!;
    const variable = tf.tidy(() => tf.variable(tf.add(tf.mul(tf.sin(tf.range(0, shape.reduce((a, b) => a * b), 1)), 0.3), j * 0.01).reshape(shape)));
    live.push(variable);
    // decay flags as src/model produces them (fastai's do_wd); isNorm for the BatchNorm params
    const info: ParamInfo = { key: vp.name, variable, decay: vp.do_wd, isNorm: vp.name.startsWith('1.') };
    groups[vp.group]!.params.push(info);
    byKey.set(vp.name, info);
  });
  return { groups, byKey };
}

/** One epoch's worth of steps, with gradients for the variables the engine would differentiate. */
function fitSteps(opt: FastOptimizer, vars: tf.Variable[], n = 3): void {
  for (let i = 0; i < n; i++) {
    const grads: tf.NamedTensorMap = {};
    for (const v of vars) grads[v.name] = tf.tidy(() => tf.cos(tf.add(tf.range(0, v.size, 1), i)).reshape(v.shape));
    opt.setHypers(Array(opt.nGroups).fill(1e-2), 0.9);
    opt.step(grads);
    tf.dispose(grads);
  }
}

describe.each(vectors.scenarios)('$name', (s) => {
  it('trainable params and optimizer state match fastai after fit, freeze, fit while frozen, unfreeze', () => {
    const { groups, byKey } = build(s);
    const opt = new FastOptimizer(groups, { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 });
    const check = (step: VStep, fastlrDiffers = false): void => {
      for (const vp of step.params) {
        expect(opt.isTrainable(vp.name), `${step.after}: ${vp.name} trainable`).toBe(vp.requires_grad);
        const hasState = opt.paramStep(vp.name) > 0;
        if (fastlrDiffers && !vp.requires_grad) {
          // fastai quirk (see file header): state and decay for a frozen param; fastlr: none
          expect(hasState, `${step.after}: ${vp.name} state`).toBe(false);
        } else {
          expect(hasState, `${step.after}: ${vp.name} state`).toBe(vp.has_adam_state);
        }
      }
    };
    const [afterFit, afterFreeze, afterFrozenFit, afterUnfreeze] = s.steps as [VStep, VStep, VStep, VStep];
    expect(afterFreeze.after).toBe('freeze()');
    expect(afterUnfreeze.after).toBe('unfreeze()');

    fitSteps(opt, opt.trainableVariables());
    check(afterFit);

    const fr = opt.freeze({ trainBn: s.train_bn });
    expect(fr.frozenIdx).toBe(afterFreeze.frozen_idx);
    expect(fr.wholeModelFrozen).toBe(false);
    check(afterFreeze);

    const before = new Map([...byKey].map(([k, p]) => [k, (p.variable.dataSync() as Float32Array).slice()]));
    // the engine differentiates only the trainable variables; even when handed every gradient, step() skips frozen ones
    fitSteps(opt, [...byKey.values()].map((p) => p.variable));
    check(afterFrozenFit, true);
    for (const [key, changed] of Object.entries(afterFrozenFit.tensors_changed ?? {})) {
      const p = byKey.get(key);
      if (p === undefined) continue; // BatchNorm running statistics: the model's business, not the optimizer's
      const moved = !(p.variable.dataSync() as Float32Array).every((x, i) => x === before.get(key)![i]);
      // fastai's "changed" for a frozen decaying weight is its wd quirk only; fastlr leaves frozen params alone
      expect(moved, `${key} changed while frozen`).toBe(opt.isTrainable(key) ? changed : false);
    }

    const un = opt.unfreeze();
    expect(un.frozenIdx).toBe(afterUnfreeze.frozen_idx);
    check(afterUnfreeze);
    opt.dispose();
  });
});

describe('freezeTo edge cases', () => {
  const s = vectors.scenarios.find((x) => x.n_groups === 3 && x.train_bn)!;
  it('freezing every group leaves only the norm params (train_bn) and says so; negative n counts from the end', () => {
    const { groups } = build(s);
    const opt = new FastOptimizer(groups, { type: 'sgd', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 });
    const all = opt.freezeTo(3);
    expect(all).toEqual({ frozenIdx: 3, nGroups: 3, wholeModelFrozen: true });
    expect(opt.trainableParams().map((p) => p.key)).toEqual(['1.weight', '1.bias']);
    expect(opt.freezeTo(3, { trainBn: false }).wholeModelFrozen).toBe(true);
    expect(opt.trainableParams()).toEqual([]);
    expect(opt.freezeTo(-2).frozenIdx).toBe(1);
    expect(opt.trainableParams().map((p) => p.key)).toEqual(['1.weight', '1.bias', '3.weight', '3.bias', '5.weight', '5.bias']);
    expect(opt.freezeTo(-7).frozenIdx).toBe(0);
    expect(opt.trainableVariables().length).toBe(8);
    opt.dispose();
  });
});
