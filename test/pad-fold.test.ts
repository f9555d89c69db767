/**
 * A ZeroPadding2D taken into the convolution after it as explicit padding (src/model/fold-plan.ts planPads,
 * src/kernels/conv-bn-fold.ts): the plan on graph descriptions (pure) and on a real graph, and on wasm and cpu
 * (fastlr's kernels and the stock ones) against the model run as written: no PadV2 (and no Slice in its gradient),
 * the same outputs and gradients — bit for bit up to the sign of a zero where the BN trains (the skipped taps are
 * the zeros the pad would have added), to rounding where the BN folds too — with asymmetric pads, odd sizes, a
 * channel count the SIMD depthwise does not take (6), and a pad before a 'same' convolution left as it is.
 */
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { describeGraph, planPads, type FoldGraph, type GraphNode } from '../src/model/fold-plan.js';
import { withGradientTargets } from '../src/kernels/conv-bn-fold.js';
import { setInferenceMode } from '../src/model/batchnorm.js';
import { relErr, values } from './helpers/kernels.js';
import { eachKernelMode } from './helpers/kernel-modes.js';
import { kernelsOf, unfused } from './helpers/folds.js';

const node = (layer: string, kind: GraphNode['kind'], inputs: number[], outputs: number[], validPadding?: boolean): GraphNode =>
  validPadding === undefined ? { layer, kind, inputs, outputs } : { layer, kind, inputs, outputs, validPadding };

describe('planPads (a graph description → the pads taken into convolutions)', () => {
  it('a pad read only by a valid, undilated conv or depthwise conv called once', () => {
    const g: FoldGraph = {
      nodes: [node('p1', 'zeropad', [0], [1]), node('dw', 'depthwise', [1], [2], true), node('p2', 'zeropad', [2], [3]), node('c', 'conv2d', [3], [4], true)],
      outputs: [4],
    };
    expect(planPads(g)).toEqual([{ pad: 'p1', conv: 'dw' }, { pad: 'p2', conv: 'c' }]);
  });
  it('not before a same-padded (or dilated) conv, a non-conv, a second reader, as a model output, or called twice', () => {
    const same: FoldGraph = { nodes: [node('p', 'zeropad', [0], [1]), node('c', 'conv2d', [1], [2], false)], outputs: [2] };
    expect(planPads(same)).toEqual([]);
    const other: FoldGraph = { nodes: [node('p', 'zeropad', [0], [1]), node('pool', 'other', [1], [2])], outputs: [2] };
    expect(planPads(other)).toEqual([]);
    const twoReaders: FoldGraph = {
      nodes: [node('p', 'zeropad', [0], [1]), node('c', 'conv2d', [1], [2], true), node('d', 'depthwise', [1], [3], true)],
      outputs: [2, 3],
    };
    expect(planPads(twoReaders)).toEqual([]);
    const output: FoldGraph = { nodes: [node('p', 'zeropad', [0], [1]), node('c', 'conv2d', [1], [2], true)], outputs: [1, 2] };
    expect(planPads(output)).toEqual([]);
    const twice: FoldGraph = {
      nodes: [node('p', 'zeropad', [0], [1]), node('c', 'conv2d', [1], [2], true), node('p', 'zeropad', [2], [3]), node('d', 'depthwise', [3], [4], true)],
      outputs: [4],
    };
    expect(planPads(twice)).toEqual([]);
    const convTwice: FoldGraph = {
      nodes: [node('p', 'zeropad', [0], [1]), node('c', 'conv2d', [1], [2], true), node('c', 'conv2d', [2], [3], true)],
      outputs: [3],
    };
    expect(planPads(convTwice)).toEqual([]);
  });
});

// -------------------------------------------------------------------------------------------- a real graph
const H = 7;
const C = 6;
const init = (seed: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed });

/**
 * input 7×7×6 → pad (0,1)(0,1) → depthwise 3×3 stride 2 valid (bias) → BN → ReLU6 → pad (1,2)(2,1) → conv 3×3
 * stride 2 valid 16 (bias) → BN → ReLU → pad 1 → conv 3×3 'same' 8 (not taken: same padding) → GAP → dense 3.
 */
function graph(): tf.LayersModel {
  const input = tf.input({ shape: [H, H, C] });
  let x = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'pad1' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', name: 'dw', depthwiseInitializer: init(1), biasInitializer: init(2) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'dw_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ maxValue: 6, name: 'dw_relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: [[1, 2], [2, 1]], name: 'pad2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 16, kernelSize: 3, strides: 2, padding: 'valid', name: 'conv', kernelInitializer: init(3), biasInitializer: init(4) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization({ name: 'conv_bn' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU({ name: 'conv_relu' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.zeroPadding2d({ padding: 1, name: 'pad3' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'same_conv', kernelInitializer: init(5) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'logits', kernelInitializer: init(6) }).apply(x) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  // running statistics and γ/β away from the defaults
  let k = 40;
  for (const w of model.weights) {
    if (!w.originalName.includes('_bn')) continue;
    const v = values(w.read().size, k++);
    const name = w.originalName;
    const t = tf.tensor(name.endsWith('moving_variance') ? v.map((a) => 0.5 + Math.abs(a)) : name.endsWith('gamma') ? v.map((a) => 1 + 0.5 * a) : v.map((a) => 0.3 * a), w.read().shape);
    w.write(t);
    t.dispose();
  }
  return model;
}

const BATCH = 3;
const input = (): tf.Tensor4D => tf.tensor(values(BATCH * H * H * C, 9).map((v) => 2 * v), [BATCH, H, H, C]) as tf.Tensor4D;

const count = (ks: string[], name: string): number => ks.filter((k) => k === name).length;

/** Largest |a − b| (0: equal up to the sign of zeros); NaN anywhere counts as different. */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Number.isNaN(a[i]!) || Number.isNaN(b[i]!) ? Infinity : Math.abs(a[i]! - b[i]!));
  return d;
}

describe('the plan of a real graph', () => {
  it('takes the pads before the valid convolutions, not the one before a same convolution', () => {
    const model = graph();
    expect(planPads(describeGraph(model))).toEqual([{ pad: 'pad1', conv: 'dw' }, { pad: 'pad2', conv: 'conv' }]);
    model.dispose();
  });
});

eachKernelMode('pads taken into convolutions', ({ backend, stock }) => {

    it('inference (BN folded too): the outputs of the model as written to rounding, one PadV2 (before the same conv) instead of three; tensors flat', async () => {
      const model = graph();
      const x = input();
      tf.dispose(model.predict(x) as tf.Tensor);
      const before = tf.memory().numTensors;
      const ref = unfused(() => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice()));
      const got = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice());
      expect(relErr(got, ref)).toBeLessThan(1e-5);
      expect(maxAbsDiff(ref, new Float32Array(ref.length))).toBeGreaterThan(0);
      expect(count(await kernelsOf(() => unfused(() => model.predict(x) as tf.Tensor)), 'PadV2')).toBe(3);
      expect(count(await kernelsOf(() => model.predict(x) as tf.Tensor), 'PadV2')).toBe(1);
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      model.dispose();
    });

    // stock tfjs-backend-wasm cannot train a convolution at all (no Conv2DBackpropFilter)
    const grads = stock && backend === 'wasm' ? it.skip : it;

    grads('a training step (BN in training mode, nothing folds but the pads): loss and every gradient those of the model as written, up to the sign of a zero; no PadV2 or Slice for the taken pads', async () => {
      const model = graph();
      const x = input();
      const labels = tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const w0 = model.getWeights().map((t) => t.clone());
      const step = (): { loss: number; grads: Float32Array[] } =>
        tf.tidy(() => {
          const f = (): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
          const { value, grads } = withGradientTargets(vars, () => tf.variableGrads(f, vars));
          return { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice() as Float32Array) };
        });
      const before = tf.memory().numTensors;
      const ref = unfused(step);
      model.setWeights(w0); // the moving statistics back
      const got = step();
      expect(got.loss).toBe(ref.loss);
      got.grads.forEach((g, i) => {
        expect(maxAbsDiff(g, ref.grads[i]!), vars[i]!.name).toBe(0);
        expect(maxAbsDiff(g, new Float32Array(g.length)), vars[i]!.name).toBeGreaterThan(0);
      });
      expect(tf.memory().numTensors).toBe(before);
      const ks = await kernelsOf(() => tf.tidy(() => {
        const f = (): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
        const { value, grads } = tf.variableGrads(f, vars);
        tf.dispose(grads);
        return value;
      }));
      expect(count(ks, 'PadV2')).toBe(1);
      expect(count(ks, 'Slice')).toBe(1);
      tf.dispose([x, labels, ...w0]);
      model.dispose();
    });

    grads('a body in inference mode inside a training step (bn_inference): loss and every gradient those of the model as written to rounding', () => {
      const model = graph();
      for (const n of ['dw_bn', 'conv_bn']) setInferenceMode(model.getLayer(n), true);
      const x = input();
      const labels = tf.oneHot(tf.tensor1d([1, 0, 2], 'int32'), 3);
      const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
      const step = (): { loss: number; grads: Float32Array[] } =>
        tf.tidy(() => {
          const f = (): tf.Scalar => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar;
          const { value, grads } = withGradientTargets(vars, () => tf.variableGrads(f, vars));
          return { loss: value.dataSync()[0]!, grads: vars.map((v) => grads[v.name]!.dataSync().slice() as Float32Array) };
        });
      const ref = unfused(step);
      const got = step();
      expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-5 * Math.abs(ref.loss));
      got.grads.forEach((g, i) => expect(relErr(g, ref.grads[i]!), vars[i]!.name).toBeLessThan(1e-4));
      tf.dispose([x, labels]);
      model.dispose();
    });
  });
