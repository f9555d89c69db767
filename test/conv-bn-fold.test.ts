/**
 * The conv → BatchNorm → ReLU(6) fold (src/model/fold-plan.ts plans it, src/kernels/conv-bn-fold.ts runs it): the
 * plan on graph descriptions (pure), the plan of a real graph with branches, and fused against unfused on wasm and
 * cpu — outputs, predict, the gradients a frozen body passes through, no fold where a fold parameter trains, no
 * fold in training mode, tensors flat.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { setThreads } from '../src/kernels/simd/pool.js';
import { describeGraph, planBnActs, planFolds, type FoldGraph, type GraphNode } from '../src/model/fold-plan.js';
import { foldPlanOf, setConvBnFold, setFoldTrained, withGradientTargets } from '../src/kernels/conv-bn-fold.js';
import { setInferenceMode } from '../src/model/batchnorm.js';
import { relErr, values } from './helpers/kernels.js';
import { eachKernelMode } from './helpers/kernel-modes.js';
import { kernelsOf, unfused } from './helpers/folds.js';

// ------------------------------------------------------------------------------------------------- the plan
const node = (layer: string, kind: GraphNode['kind'], inputs: number[], outputs: number[]): GraphNode => ({ layer, kind, inputs, outputs });

describe('planFolds (a graph description → the folds)', () => {
  it('conv → BN → relu6 folds whole; a depthwise → BN → relu too', () => {
    const g: FoldGraph = {
      nodes: [node('in', 'other', [], [0]), node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('r', 'relu6', [2], [3]),
        node('d', 'depthwise', [3], [4]), node('bn2', 'batchnorm', [4], [5]), node('r2', 'relu', [5], [6]), node('out', 'other', [6], [7])],
      outputs: [7],
    };
    expect(planFolds(g)).toEqual([
      { conv: 'c', bn: 'bn', act: 'r', activation: 'relu6' },
      { conv: 'd', bn: 'bn2', act: 'r2', activation: 'relu' },
    ]);
  });

  it('a BN whose output feeds two layers folds into the conv but keeps its output (no activation folded)', () => {
    const g: FoldGraph = {
      nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('r', 'relu', [2], [3]), node('add', 'other', [2, 3], [4])],
      outputs: [4],
    };
    expect(planFolds(g)).toEqual([{ conv: 'c', bn: 'bn', act: null, activation: 'linear' }]);
  });

  it('nothing folds through a model output, a conv with two consumers, a shared layer or a non-BN consumer', () => {
    const convOut: FoldGraph = { nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2])], outputs: [1, 2] };
    expect(planFolds(convOut)).toEqual([]);
    const bnOut: FoldGraph = { nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('r', 'relu6', [2], [3])], outputs: [2, 3] };
    expect(planFolds(bnOut)).toEqual([{ conv: 'c', bn: 'bn', act: null, activation: 'linear' }]);
    const twoReaders: FoldGraph = { nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('x', 'other', [1], [3])], outputs: [2, 3] };
    expect(planFolds(twoReaders)).toEqual([]);
    const shared: FoldGraph = {
      nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('c', 'conv2d', [2], [3]), node('bn2', 'batchnorm', [3], [4])],
      outputs: [4],
    };
    expect(planFolds(shared)).toEqual([]);
    const sharedBn: FoldGraph = {
      nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('c2', 'conv2d', [2], [3]), node('bn', 'batchnorm', [3], [4])],
      outputs: [4],
    };
    expect(planFolds(sharedBn)).toEqual([]);
    const notBn: FoldGraph = { nodes: [node('c', 'conv2d', [0], [1]), node('r', 'relu', [1], [2])], outputs: [2] };
    expect(planFolds(notBn)).toEqual([]);
  });
});

describe('planBnActs (training mode: a BN computing the activation after it)', () => {
  it('a BN read only by a ReLU / ReLU6 (once, not an output) pairs with it, whatever precedes it; Activation(relu6) does not', () => {
    const g: FoldGraph = {
      nodes: [node('in', 'other', [], [0]), node('bn', 'batchnorm', [0], [1]), node('r', 'relu6', [1], [2]), node('bn2', 'batchnorm', [2], [3]),
        node('r2', 'relu', [3], [4]), node('bn3', 'batchnorm', [4], [5]), node('m6', 'relu6-minimum', [5], [6]), node('bn4', 'batchnorm', [6], [7]),
        node('r4', 'relu6', [7], [8]), node('add', 'other', [7, 8], [9]), node('bn5', 'batchnorm', [9], [10]), node('r5', 'relu', [10], [11])],
      outputs: [10, 11],
    };
    expect(planBnActs(g)).toEqual([{ bn: 'bn', act: 'r', activation: 'relu6' }, { bn: 'bn2', act: 'r2', activation: 'relu' }]);
    // the inference fold still takes Activation(relu6) as relu6
    const fold: FoldGraph = { nodes: [node('c', 'conv2d', [0], [1]), node('bn', 'batchnorm', [1], [2]), node('m6', 'relu6-minimum', [2], [3])], outputs: [3] };
    expect(planFolds(fold)).toEqual([{ conv: 'c', bn: 'bn', act: 'm6', activation: 'relu6' }]);
  });

  it('no pair for a shared BN or a shared activation', () => {
    const sharedBn: FoldGraph = { nodes: [node('bn', 'batchnorm', [0], [1]), node('r', 'relu', [1], [2]), node('bn', 'batchnorm', [2], [3])], outputs: [3] };
    expect(planBnActs(sharedBn)).toEqual([]);
    const sharedAct: FoldGraph = { nodes: [node('bn', 'batchnorm', [0], [1]), node('r', 'relu', [1], [2]), node('r', 'relu', [2], [3])], outputs: [3] };
    expect(planBnActs(sharedAct)).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------- a real graph
const H = 8;
const init = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });
const bn = (name: string) => tf.layers.batchNormalization({ name, epsilon: 1e-3 });

/** Running statistics and γ/β away from the defaults, so that the fold really rescales and shifts. */
function perturbBn(model: tf.LayersModel, seed: number): void {
  let k = seed;
  for (const w of model.weights) {
    if (!/batch_normalization|_bn/.test(w.name) && !/bn/.test(w.originalName)) continue;
    const t = w.read();
    const v = values(t.size, k++);
    const name = w.originalName;
    const data = name.endsWith('moving_variance') ? v.map((a) => 0.5 + Math.abs(a)) : name.endsWith('gamma') ? v.map((a) => 1 + 0.5 * a) : v.map((a) => 0.3 * a);
    const next = tf.tensor(data, t.shape);
    w.write(next);
    next.dispose();
  }
}

/**
 * input → [conv 3×3 → BN → ReLU6] → [depthwise (bias) → BN → Activation relu] → [conv 1×1 → BN] (two readers: ReLU and
 * Add) → Add → [pad → depthwise stride 2 → BN → ReLU6] → nested model [conv → BN → ReLU] → BN after a non-conv
 * (not folded) → GAP → dense.
 */
function graph(stemBias = 0): tf.LayersModel {
  const inner = (() => {
    const i = tf.input({ shape: [H / 2, H / 2, 8] });
    let y = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: true, name: 'inner_conv', kernelInitializer: init(11) }).apply(i) as tf.SymbolicTensor;
    y = bn('inner_bn').apply(y) as tf.SymbolicTensor;
    y = tf.layers.reLU({ name: 'inner_relu' }).apply(y) as tf.SymbolicTensor;
    return tf.model({ inputs: i, outputs: y, name: 'inner' });
  })();
  const input = tf.input({ shape: [H, H, 4] });
  let x = tf.layers.conv2d({
    filters: 8, kernelSize: 3, padding: 'same', name: 'stem', kernelInitializer: init(1),
    useBias: stemBias !== 0, biasInitializer: tf.initializers.constant({ value: stemBias }),
  }).apply(input) as tf.SymbolicTensor;
  x = bn('stem_bn').apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'stem_relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: true, name: 'dw', depthwiseInitializer: init(2), biasInitializer: init(3) }).apply(x) as tf.SymbolicTensor;
  x = bn('dw_bn').apply(x) as tf.SymbolicTensor;
  x = tf.layers.activation({ activation: 'relu', name: 'dw_relu' }).apply(x) as tf.SymbolicTensor;
  let p = tf.layers.conv2d({ filters: 8, kernelSize: 1, padding: 'same', useBias: false, name: 'proj', kernelInitializer: init(4) }).apply(x) as tf.SymbolicTensor;
  p = bn('proj_bn').apply(p) as tf.SymbolicTensor;
  const r = tf.layers.reLU({ maxValue: 6, name: 'proj_relu' }).apply(p) as tf.SymbolicTensor;
  x = tf.layers.add({ name: 'add' }).apply([p, r]) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'pad' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'dw2', depthwiseInitializer: init(5) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'dw2_bn', epsilon: 1e-2 }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'dw2_relu' }).apply(x) as tf.SymbolicTensor;
  x = inner.apply(x) as tf.SymbolicTensor;
  x = bn('late_bn').apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'logits', kernelInitializer: init(6) }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: 'fold_graph' });
  perturbBn(model, 40);
  return model;
}

const BATCH = 3;
const input = (): tf.Tensor4D => tf.tensor(values(BATCH * H * H * 4, 9).map((v) => 2 * v), [BATCH, H, H, 4]) as tf.Tensor4D;

describe('the plan of a real graph', () => {
  it('names the convs, BNs and activations that fold (nested model planned on its own)', async () => {
    await initBackend('cpu');
    const model = graph();
    const folds = planFolds(describeGraph(model));
    expect(folds).toEqual([
      { conv: 'stem', bn: 'stem_bn', act: 'stem_relu', activation: 'relu6' },
      { conv: 'dw', bn: 'dw_bn', act: 'dw_relu', activation: 'relu' },
      { conv: 'proj', bn: 'proj_bn', act: null, activation: 'linear' },
      { conv: 'dw2', bn: 'dw2_bn', act: 'dw2_relu', activation: 'relu6' },
    ]);
    const inner = model.getLayer('inner') as tf.LayersModel;
    expect(planFolds(describeGraph(inner))).toEqual([{ conv: 'inner_conv', bn: 'inner_bn', act: 'inner_relu', activation: 'relu' }]);
    expect(foldPlanOf(model).size).toBe(4);
    // a cut at a conv: the BN that follows in the full graph is not part of the cut model, nothing folds there
    const cut = tf.model({ inputs: model.inputs, outputs: model.getLayer('proj').output as tf.SymbolicTensor });
    expect(planFolds(describeGraph(cut)).map((f) => f.conv)).toEqual(['stem', 'dw']);
    model.dispose();
  });
});

afterAll(() => {
  setConvBnFold(true);
});

eachKernelMode('fused against unfused', ({ backend, stock }) => {

    it('inference outputs (apply and predict) agree to rounding; the folded BNs and activations run no kernel', async () => {
      const start = tf.memory().numTensors;
      const model = graph();
      const x = input();
      // the first fused call keeps the folded weights of the constant parameters (2 tensors per fold)
      tf.dispose(model.apply(x, { training: false }) as tf.Tensor);
      const before = tf.memory().numTensors;
      const ref = unfused(() => tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync().slice()));
      const got = tf.tidy(() => (model.apply(x, { training: false }) as tf.Tensor).dataSync().slice());
      const pred = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice());
      expect(relErr(got as Float32Array, ref as Float32Array)).toBeLessThan(1e-5);
      expect(relErr(pred as Float32Array, ref as Float32Array)).toBeLessThan(1e-5);
      expect(got).not.toEqual(new Float32Array(got.length));
      expect(tf.memory().numTensors).toBe(before);
      const kUnfused = await kernelsOf(() => unfused(() => model.apply(x, { training: false }) as tf.Tensor));
      const kFused = await kernelsOf(() => model.apply(x, { training: false }) as tf.Tensor);
      const count = (ks: string[], name: string): number => ks.filter((k) => k === name).length;
      // 6 BNs; 5 fold (stem, dw, proj, dw2, inner), late_bn follows a nested model
      expect(count(kUnfused, 'FusedBatchNorm')).toBe(6);
      expect(count(kFused, 'FusedBatchNorm')).toBe(1);
      // proj_relu (its BN had two readers) is the only activation left: one Relu6 op, or relu + clip on stock
      expect(count(kFused, 'Relu6') + count(kFused, 'Relu')).toBe(1);
      expect(count(kFused, 'FusedDepthwiseConv2D')).toBe(2);
      expect(tf.memory().numTensors).toBe(before);
      // a write of any source (here the running mean of stem_bn, the depthwise kernel) is seen by the next call
      tf.tidy(() => {
        const m = (model.getLayer('stem_bn') as unknown as { movingMean: tf.LayerVariable }).movingMean;
        m.write(tf.add(m.read(), 0.25));
        const k = (model.getLayer('dw') as unknown as { depthwiseKernel: tf.LayerVariable }).depthwiseKernel;
        k.write(tf.mul(k.read(), -1.5));
      });
      const ref2 = unfused(() => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice()));
      const got2 = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice());
      expect(relErr(ref2 as Float32Array, ref as Float32Array)).toBeGreaterThan(1e-2);
      expect(relErr(got2 as Float32Array, ref2 as Float32Array)).toBeLessThan(1e-5);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      model.dispose();
      // and they go with the model
      expect(tf.memory().numTensors).toBe(start);
    });

    it('BN without scale or without center (inference: tfjs-layers cannot train those) folds too', async () => {
      const i = tf.input({ shape: [H, H, 4] });
      let y = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'c', kernelInitializer: init(21), biasInitializer: init(22) }).apply(i) as tf.SymbolicTensor;
      y = tf.layers.batchNormalization({ name: 'bn_noscale', scale: false }).apply(y) as tf.SymbolicTensor;
      y = tf.layers.reLU({ maxValue: 6, name: 'r' }).apply(y) as tf.SymbolicTensor;
      y = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', name: 'd', depthwiseInitializer: init(23), useBias: false }).apply(y) as tf.SymbolicTensor;
      y = tf.layers.batchNormalization({ name: 'bn_nocenter', center: false }).apply(y) as tf.SymbolicTensor;
      const model = tf.model({ inputs: i, outputs: y });
      perturbBn(model, 60);
      const x = input();
      const ref = unfused(() => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice()));
      const got = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice());
      expect(relErr(got as Float32Array, ref as Float32Array)).toBeLessThan(1e-5);
      expect(foldPlanOf(model).size).toBe(2);
      const kernels = await kernelsOf(() => model.predict(x) as tf.Tensor);
      expect(kernels.filter((k) => k === 'FusedBatchNorm').length).toBe(0);
      x.dispose();
      model.dispose();
    });

    it('training mode: nothing folds (batch statistics), results bit-identical', async () => {
      const model = graph();
      const x = input();
      const w0 = model.getWeights().map((t) => t.dataSync().slice());
      const ref = unfused(() => tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).dataSync().slice()));
      // put the moving statistics back (training mode updated them)
      model.setWeights(w0.map((d, i) => tf.tensor(d, model.getWeights()[i]!.shape)));
      const got = tf.tidy(() => (model.apply(x, { training: true }) as tf.Tensor).dataSync().slice());
      expect(Buffer.from(got.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
      x.dispose();
      model.dispose();
    });

    // stock tfjs-backend-wasm cannot train a convolution at all (no Conv2DBackpropFilter): gradients on stock cpu
    const grads = stock && backend === 'wasm' ? it.skip : it;

    grads('a frozen body in a training step (BNs held in inference mode, only the head differentiated): same loss and head gradients to rounding; the gradient of a trainable BN before the folds passes through them', async () => {
      const model = graph();
      for (const l of [model.getLayer('stem_bn'), model.getLayer('dw_bn'), model.getLayer('proj_bn'), model.getLayer('dw2_bn'), model.getLayer('late_bn')]) setInferenceMode(l, true);
      setInferenceMode((model.getLayer('inner') as tf.LayersModel).getLayer('inner_bn'), true);
      const x = input();
      const labels = tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3);
      // differentiated: the head, and stem_bn's γ/β (so stem does not fold, and a gradient flows through dw, proj, dw2, inner)
      const targets = [...model.getLayer('logits').trainableWeights, ...model.getLayer('stem_bn').trainableWeights].map((w) => w.read() as tf.Variable);
      const step = (): { loss: number; grads: Float32Array[] } =>
        tf.tidy(() => {
          const f = (): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
          const { value, grads } = withGradientTargets(targets, () => tf.variableGrads(f, targets));
          return { loss: value.dataSync()[0]!, grads: targets.map((v) => grads[v.name]!.dataSync().slice() as Float32Array) };
        });
      step(); // the folded weights of the constant parameters, kept from here on
      const before = tf.memory().numTensors;
      const ref = unfused(step);
      const got = step();
      expect(tf.memory().numTensors).toBe(before);
      expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss));
      expect(got.grads.length).toBe(4);
      got.grads.forEach((g, i) => {
        expect(relErr(g, ref.grads[i]!)).toBeLessThan(1e-4);
        expect(g.some((v) => v !== 0)).toBe(true);
      });
      // and the fold really ran under the tape: FastlrConvBnAct (our kernels) for dw, proj, dw2, inner_conv
      const names = await kernelsOf(() => {
        const { value, grads } = withGradientTargets(targets, () =>
          tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, targets));
        tf.dispose(grads);
        return value;
      });
      // every BN but late_bn folded (stem_bn with its γ/β differentiated through the folded weights);
      // stock: tf.fused with a linear activation (conv + bias), then the activation op
      expect(names.filter((k) => k === 'FusedBatchNorm').length).toBe(1);
      expect(names.filter((k) => k === 'FastlrConvBnAct').length).toBe(stock ? 0 : 5);
      // only stem's folded bias gets a gradient: its mask and bias sum in one pass, the constant folds' masks alone
      expect(names.filter((k) => k === 'FastlrActBiasGrad').length).toBe(stock ? 0 : 1);
      // stem's folded weights on the tape: one op each way; the constant folds' weights are kept (no op)
      expect(names.filter((k) => k === 'FastlrFoldWeights').length).toBe(stock ? 0 : 1);
      expect(names.filter((k) => k === 'FastlrFoldWeightsGrad').length).toBe(stock ? 0 : 1);
      // setFoldTrained(false): no fold where a fold parameter is differentiated (stem), the constant ones still fold
      const was = setFoldTrained(false);
      const names2 = await kernelsOf(() => {
        const { value, grads } = withGradientTargets(targets, () =>
          tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, targets));
        tf.dispose(grads);
        return value;
      });
      setFoldTrained(was);
      expect(names2.filter((k) => k === 'FusedBatchNorm').length).toBe(2);
      expect(names2.filter((k) => k === 'FastlrConvBnAct').length).toBe(stock ? 0 : 4);
      tf.dispose([x, labels]);
      model.dispose();
    });

    grads('a whole net with every BN in inference mode (bn_inference: γ, β, kernels differentiated): folded, every gradient the unfused one to rounding, also with BN statistics far from 0 (pretrained-like)', async () => {
      for (const calibrated of [false, true]) {
        const model = graph(calibrated ? 10 : 0);
        for (const l of model.layers) if (l.getClassName() === 'BatchNormalization') setInferenceMode(l, true);
        setInferenceMode((model.getLayer('inner') as tf.LayersModel).getLayer('inner_bn'), true);
        const x = input();
        if (calibrated) {
          // stem's output is 10 + conv(x) per channel and its BN's running statistics are those of the batch: the
          // BN's input is μ ± σ with |μ|/σ large, where γ's gradient through folded weights could lose digits
          const sub = tf.model({ inputs: model.inputs, outputs: model.getLayer('stem').output as tf.SymbolicTensor });
          tf.tidy(() => {
            const { mean, variance } = tf.moments(sub.predict(x) as tf.Tensor, [0, 1, 2]);
            const bnl = model.getLayer('stem_bn') as unknown as { movingMean: tf.LayerVariable; movingVariance: tf.LayerVariable };
            bnl.movingMean.write(mean);
            bnl.movingVariance.write(variance);
            // |μ|/σ of the stem's channels: well above 1 (what makes the case)
            expect(Math.min(...(tf.div(tf.abs(mean), tf.sqrt(variance)).dataSync() as Float32Array))).toBeGreaterThan(4);
          });
        }
        const labels = tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3);
        const targets = model.trainableWeights.map((w) => w.read() as tf.Variable);
        const step = (): Float32Array[] =>
          tf.tidy(() => {
            const f = (): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
            const { grads } = withGradientTargets(targets, () => tf.variableGrads(f, targets));
            return targets.map((v) => grads[v.name]!.dataSync().slice() as Float32Array);
          });
        const before = tf.memory().numTensors;
        const ref = unfused(step);
        const got = step();
        expect(tf.memory().numTensors).toBe(before);
        got.forEach((g, i) => expect(relErr(g, ref[i]!), targets[i]!.name).toBeLessThan(1e-4));
        const names = await kernelsOf(() => {
          const { value, grads } = withGradientTargets(targets, () =>
            tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, targets));
          tf.dispose(grads);
          return value;
        });
        expect(names.filter((k) => k === 'FusedBatchNorm').length).toBe(1); // late_bn
        expect(names.filter((k) => k === 'FastlrConvBnAct').length).toBe(stock ? 0 : 5);
        // every fold's bias differentiated: each mask with its bias sum in one pass (FastlrActBiasGrad), no Sum kernel
        // over an activation
        expect(names.filter((k) => k === 'FastlrActBiasGrad').length).toBe(stock ? 0 : 5);
        // each fold's weights one op each way, none of tf's weight-sized chain (Sqrt: only late_bn's unfused gradient)
        expect(names.filter((k) => k === 'FastlrFoldWeights').length).toBe(stock ? 0 : 5);
        expect(names.filter((k) => k === 'FastlrFoldWeightsGrad').length).toBe(stock ? 0 : 5);
        if (!stock) expect(names.filter((k) => k === 'Sqrt').length).toBeLessThanOrEqual(1);
        // without declared targets (tf's own rule: trainable variables are differentiated) the same gradients
        const plain = tf.tidy(() => {
          const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
          return targets.map((v) => grads[v.name]!.dataSync().slice() as Float32Array);
        });
        plain.forEach((g, i) => expect(Buffer.from(g.buffer).equals(Buffer.from(got[i]!.buffer))).toBe(true));
        tf.dispose([x, labels]);
        model.dispose();
      }
    });
  });

describe('the epilogue of a folded convolution on wasm (our product or depthwise program, then bias_clamp in place)', () => {
  const cases = [
    { ci: 16, co: 24, act: 'relu6', hw: [5, 7] },
    { ci: 8, co: 13, act: 'relu', hw: [5, 7] },
    { ci: 12, co: 32, act: 'linear', hw: [5, 7] },
    { ci: 5, co: 6, act: 'relu6', hw: [5, 7] },
    // 1426 rows: on one thread two full chunks of 680 rows, then 64 + 2 (gemm_r4 then gemm_r1)
    { ci: 16, co: 24, act: 'relu6', hw: [23, 31] },
  ] as const;
  it.each(cases)('1×1 FusedConv2D $ci→$co over $hw with bias and $act matches the stock kernel, the same bits at 1 and 2 threads', async ({ ci, co, act, hw }) => {
    await initBackend('wasm');
    await tf.setBackend('wasm');
    const run = (): Float32Array =>
      tf.tidy(() => {
        // values spread over [-8, 8) so that relu6 clamps at both ends
        const x = tf.tensor(values(2 * hw[0] * hw[1] * ci, 3).map((v) => 4 * v), [2, hw[0], hw[1], ci]) as tf.Tensor4D;
        const w = tf.tensor(values(ci * co, 4), [1, 1, ci, co]) as tf.Tensor4D;
        const b = tf.tensor(values(co, 5).map((v) => 3 * v), [co]) as tf.Tensor1D;
        return tf.fused.conv2d({ x, filter: w, bias: b, activation: act, strides: 1, pad: 'same' }).dataSync().slice() as Float32Array;
      });
    restoreStockKernels('wasm');
    const ref = run();
    registerKernelOverrides('wasm');
    setThreads(1);
    const one = run();
    setThreads(2);
    const two = run();
    setThreads('auto');
    expect(relErr(one, ref)).toBeLessThan(1e-6);
    expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer))).toBe(true);
    if (act === 'relu6') {
      expect(Math.max(...one)).toBe(6);
      expect(Math.min(...one)).toBe(0);
    }
  });
});

describe('FusedDepthwiseConv2D on wasm: dw_fwd then bias_clamp, against the stock kernel', () => {
  const cases = [
    { c: 8, k: 3, s: 1, pad: 'same', act: 'relu6' },
    { c: 12, k: 3, s: 2, pad: 'valid', act: 'relu' },
    { c: 16, k: 5, s: 1, pad: 'same', act: 'linear' },
  ] as const;
  it.each(cases)('c $c, $k×$k stride $s $pad, bias + $act', async ({ c, k, s, pad, act }) => {
    await initBackend('wasm');
    await tf.setBackend('wasm');
    const run = (): Float32Array =>
      tf.tidy(() => {
        const x = tf.tensor(values(2 * 9 * 9 * c, 6).map((v) => 6 * v), [2, 9, 9, c]) as tf.Tensor4D;
        const w = tf.tensor(values(k * k * c, 7), [k, k, c, 1]) as tf.Tensor4D;
        const b = tf.tensor(values(c, 8).map((v) => 2 * v), [c]) as tf.Tensor1D;
        return tf.fused.depthwiseConv2d({ x, filter: w, bias: b, activation: act, strides: s, pad }).dataSync().slice() as Float32Array;
      });
    restoreStockKernels('wasm');
    const ref = run();
    registerKernelOverrides('wasm');
    const got = run();
    expect(relErr(got, ref)).toBeLessThan(1e-6);
    if (act === 'relu6') expect(Math.max(...got)).toBe(6);
  });
});
