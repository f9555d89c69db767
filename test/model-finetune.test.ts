import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  leafLayers,
  buildFinetuneModel,
  buildModel,
  loadModelDir,
  paramGroups,
  saveModelDir,
  type DataShape,
  type LayerSpecLike,
  type ModelPlan,
} from '../src/model/index.js';

const five: DataShape = { inputShape: [6, 6, 1], task: 'classification', nClasses: 5, targetDim: 1 };
const three: DataShape = { ...five, nClasses: 3 };
const BODY: LayerSpecLike[] = [
  { type: 'conv2d', filters: 2, kernel: 3, activation: 'relu' },
  { type: 'batchnorm' },
  { type: 'flatten' },
  { type: 'dense', units: 8, activation: 'relu' },
  { type: 'dense', units: 5 },
];
const HEAD: LayerSpecLike[] = [{ type: 'dense', units: 3 }];

function ftPlan(model: Partial<ModelPlan['model']>, seed = 9): ModelPlan {
  return { seed, loss: 'cross_entropy', model: { from: 'base', cut: -1, groups: [], train_bn: true, ...model } };
}

const names = (m: tf.LayersModel): string[] => leafLayers(m).map((l) => l.name);

function bytes(m: tf.LayersModel, key: string): Buffer {
  const w = m.weights.find((v) => v.originalName === key);
  if (!w) throw new Error(`no weight ${key}`);
  return Buffer.from((w.read().dataSync() as Float32Array).slice().buffer);
}

async function savedBase(): Promise<{ dir: string; base: tf.LayersModel }> {
  const base = buildModel({ seed: 1, loss: 'cross_entropy', model: { layers: BODY } }, five);
  tf.tidy(() => {
    for (const w of base.weights) w.write(tf.randomNormal(w.shape as number[], 0, 1, 'float32', 4).add(w.read()));
  });
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'fastlr-ft-')), 'base');
  await saveModelDir(base, dir);
  return { dir, base };
}

describe('buildFinetuneModel', () => {
  it('cut -1 + head: keeps the body weights bit for bit, appends a seeded head, disposes the loaded model', async () => {
    const { dir, base } = await savedBase();
    const loaded = await loadModelDir(dir);
    const tensorsBefore = tf.memory().numTensors;
    const loadedCount = loaded.weights.length;
    const m = buildFinetuneModel(loaded, ftPlan({ head: HEAD }), three);
    expect(m).toBeInstanceOf(tf.LayersModel);
    expect(names(m)).toEqual(['l0_conv2d', 'l1_batchnorm', 'l2_flatten', 'l3_dense', 'l4_dense']);
    expect(m.outputs[0]!.shape).toEqual([null, 3]);
    for (const key of ['l0_conv2d/kernel', 'l0_conv2d/bias', 'l1_batchnorm/gamma', 'l1_batchnorm/moving_variance', 'l3_dense/kernel']) {
      expect(bytes(m, key).equals(bytes(base, key))).toBe(true);
    }
    expect(m.getLayer('l4_dense').weights[0]!.shape).toEqual([8, 3]);
    // the loaded model's variables are gone: only the new model's remain
    expect(tf.memory().numTensors).toBe(tensorsBefore - loadedCount + m.weights.length);
    // same seed → same head; another seed → another head
    const again = buildFinetuneModel(await loadModelDir(dir), ftPlan({ head: HEAD }), three);
    expect(bytes(again, 'l4_dense/kernel').equals(bytes(m, 'l4_dense/kernel'))).toBe(true);
    const other = buildFinetuneModel(await loadModelDir(dir), ftPlan({ head: HEAD }, 10), three);
    expect(bytes(other, 'l4_dense/kernel').equals(bytes(m, 'l4_dense/kernel'))).toBe(false);
    // every layer trains by default; default groups: body | head
    const groups = paramGroups(m, ftPlan({ head: HEAD }));
    expect(groups.map((g) => g.layers)).toEqual([['l0_conv2d', 'l1_batchnorm', 'l2_flatten', 'l3_dense'], ['l4_dense']]);
    // explicit groups win
    expect(paramGroups(m, ftPlan({ head: HEAD, groups: [2, 4] })).map((g) => g.layers.length)).toEqual([2, 2, 1]);
    // training the new model leaves the base untouched (separate variables)
    const x = tf.randomUniform([4, 6, 6, 1], 0, 1, 'float32', 1);
    const y = tf.tidy(() => m.predict(x) as tf.Tensor);
    expect(y.shape).toEqual([4, 3]);

    // the fine-tuned model saves and loads as any model (finetune's stage 2), groups still body | head
    const dir2 = path.join(path.dirname(dir), 'stage1');
    await saveModelDir(m, dir2);
    const back = await loadModelDir(dir2);
    expect(paramGroups(back, ftPlan({ head: HEAD })).map((g) => g.layers.length)).toEqual([4, 1]);
    const y2 = tf.tidy(() => back.predict(x) as tf.Tensor);
    expect(Buffer.from((y2.dataSync() as Float32Array).buffer).equals(Buffer.from((y.dataSync() as Float32Array).buffer))).toBe(true);
    tf.dispose([x, y, y2]);
    for (const mm of [base, m, again, other, back]) mm.dispose();
  });

  it("a new head does not start as the replaced layer's initial weights when the base was built with the same seed", async () => {
    // the base's last layer l4_dense (5 units) and a 5-unit head l4_dense at the same index, same plan seed
    const fresh = buildModel({ seed: 9, loss: 'cross_entropy', model: { layers: BODY } }, five);
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'fastlr-ft-')), 'fresh');
    await saveModelDir(fresh, dir);
    const m = buildFinetuneModel(await loadModelDir(dir), ftPlan({ head: [{ type: 'dense', units: 5 }] }, 9), five);
    expect(names(m)).toEqual(names(fresh));
    expect(bytes(m, 'l3_dense/kernel').equals(bytes(fresh, 'l3_dense/kernel'))).toBe(true); // body: copied
    expect(bytes(m, 'l4_dense/kernel').equals(bytes(fresh, 'l4_dense/kernel'))).toBe(false); // head: its own seed
    m.dispose();
    fresh.dispose();
  });

  it('without a head the whole model is kept; a positive cut keeps that many layers', async () => {
    const { dir, base } = await savedBase();
    const whole = buildFinetuneModel(await loadModelDir(dir), ftPlan({}), five);
    expect(names(whole)).toEqual(names(base));
    for (const w of base.weights) expect(bytes(whole, w.originalName).equals(bytes(base, w.originalName))).toBe(true);
    expect(paramGroups(whole, ftPlan({})).length).toBe(1);

    const cut = buildFinetuneModel(
      await loadModelDir(dir),
      ftPlan({ cut: 3, head: [{ type: 'dense', units: 4, activation: 'relu' }, ...HEAD] }),
      three,
    );
    expect(names(cut)).toEqual(['l0_conv2d', 'l1_batchnorm', 'l2_flatten', 'l3_dense', 'l4_dense']);
    expect(cut.getLayer('l3_dense').weights[0]!.shape).toEqual([32, 4]);
    expect(paramGroups(cut, ftPlan({ cut: 3, head: [{ type: 'dense', units: 4 }, ...HEAD] })).map((g) => g.layers)).toEqual([
      ['l0_conv2d', 'l1_batchnorm', 'l2_flatten'],
      ['l3_dense', 'l4_dense'],
    ]);
    for (const mm of [base, whole, cut]) mm.dispose();
  });

  it('errors: cut keeping nothing, wrong head size, softmax head, input mismatch', async () => {
    const { dir, base } = await savedBase();
    base.dispose();
    await expect(loadModelDir(dir).then((l) => buildFinetuneModel(l, ftPlan({ cut: -5, head: HEAD }), three))).rejects.toThrow(
      /keeps no layer/,
    );
    await expect(loadModelDir(dir).then((l) => buildFinetuneModel(l, ftPlan({ head: HEAD }), five))).rejects.toThrow(
      /outputs 3 values, but loss cross_entropy on 5 classes needs 5/,
    );
    await expect(
      loadModelDir(dir).then((l) => buildFinetuneModel(l, ftPlan({ head: [{ type: 'dense', units: 3, activation: 'softmax' }] }), three)),
    ).rejects.toThrow(/logits/);
    await expect(
      loadModelDir(dir).then((l) => buildFinetuneModel(l, ftPlan({ head: HEAD }), { ...three, inputShape: [28, 28, 1] })),
    ).rejects.toThrow(/takes 36 values per sample, but the data has 784/);
    const before = tf.memory().numTensors;
    await expect(loadModelDir(dir).then((l) => buildFinetuneModel(l, ftPlan({ head: [{ type: 'conv2d' }] }), three))).rejects.toThrow();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a functional model that is a plain chain can be cut', () => {
    const inp = tf.input({ shape: [4] });
    const h = tf.layers.dense({ units: 6, name: 'h', activation: 'relu' }).apply(inp) as tf.SymbolicTensor;
    const o = tf.layers.dense({ units: 2, name: 'o' }).apply(h) as tf.SymbolicTensor;
    const f = tf.model({ inputs: inp, outputs: o });
    const hKernel = Buffer.from((f.getLayer('h').getWeights()[0]!.dataSync() as Float32Array).slice().buffer);
    const m = buildFinetuneModel(f, ftPlan({ head: HEAD }), { ...three, inputShape: [4] });
    expect(names(m)).toEqual(['h', 'l1_dense']);
    expect(bytes(m, 'h/kernel').equals(hKernel)).toBe(true);
    m.dispose();
  });
});
