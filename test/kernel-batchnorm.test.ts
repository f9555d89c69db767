// BatchNormalization on fastlr's fused kernels (src/kernels/batch-norm.ts), training and inference mode, and the ClipByValue
// gradient kernel (clip-grad.ts) against tfjs's stock op chains on the stock cpu kernels: the layer's output, its
// moving mean/variance after the call, and the gradients w.r.t. the input, gamma and beta, on cpu and wasm, for
// channel counts that take the SIMD programs (8, 20, 16) and the plain loops (3), rank 2 and 4, more rows than one
// summation block; the gradient through the statistics outputs; an instance whose `call` is wrapped (BN mode
// control) still deciding the mode; and the stock behaviour back after restoreStockKernels.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { bnActPlanOf, installConvBnFold, setConvBnFold, uninstallConvBnFold } from '../src/kernels/conv-bn-fold.js';
import { bnTrain } from '../src/kernels/batch-norm.js';
import { setThreads } from '../src/kernels/simd/pool.js';
import { relErr, values } from './helpers/kernels.js';

const SHAPES: number[][] = [[2, 5, 6, 8], [3, 4, 4, 20], [2, 3, 3, 3], [70, 12], [1, 40, 40, 16]];
const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);

/** output, moving mean, moving variance, dx, dgamma, dbeta of one call (training or inference mode) of a fresh BN layer */
function bnRun(shape: number[], seed: number, training = true): Float32Array[] {
  return tf.tidy(() => {
    const c = shape[shape.length - 1]!;
    const layer = tf.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.9 });
    layer.build(shape);
    layer.setWeights([
      tf.tensor(values(c, seed + 1)).add(1.5),
      tf.tensor(values(c, seed + 2)),
      tf.tensor(values(c, seed + 3)).mul(0.1),
      tf.tensor(values(c, seed + 4)).abs().add(0.5),
    ]);
    // inputs with a per-channel offset and scale, as real activations
    const x = tf.variable(tf.tensor(values(size(shape), seed), shape).mul(tf.linspace(0.5, 3, c)).add(tf.linspace(-1, 2, c)));
    const r = tf.tensor(values(size(shape), seed + 5), shape);
    let y: tf.Tensor | null = null;
    const vars = [x, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
    const { grads } = tf.variableGrads(() => {
      const out = layer.apply(x, { training }) as tf.Tensor;
      y = tf.keep(out.clone());
      return tf.sum(tf.mul(out, r));
    }, vars);
    const moving = layer.getWeights().slice(2);
    const res = [y!, ...moving, ...vars.map((v) => grads[v.name]!)].map((t) => t.dataSync().slice() as Float32Array);
    (y as tf.Tensor | null)?.dispose();
    x.dispose();
    layer.weights.forEach((w) => w.dispose());
    return res;
  });
}

/** y, mean, variance and the gradients w.r.t. x, gamma, beta of sum(y·r) + sum(mean·u) + sum(variance·v) */
function statsGrad(fused: boolean, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const shape = [3, 5, 4, 8];
    const c = 8;
    const x = tf.tensor(values(size(shape), seed), shape).add(0.7);
    const g = tf.tensor(values(c, seed + 1)).add(1.2);
    const b = tf.tensor(values(c, seed + 2));
    const r = tf.tensor(values(size(shape), seed + 3), shape);
    const u = tf.tensor(values(c, seed + 4));
    const v = tf.tensor(values(c, seed + 5));
    const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor[] => {
      if (fused) return bnTrain(xx, gg, bb, 1e-3);
      const m = tf.moments(xx, [0, 1, 2]);
      return [tf.batchNorm4d(xx as tf.Tensor4D, m.mean, m.variance, bb, gg, 1e-3), m.mean, m.variance];
    };
    const loss = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Scalar => {
      const [y, mean, variance] = f(xx, gg, bb);
      return tf.sum(tf.mul(y!, r)).add(tf.sum(tf.mul(mean!, u))).add(tf.sum(tf.mul(variance!, v)));
    };
    const grads = tf.grads(loss)([x, g, b]);
    return [...f(x, g, b), ...grads].map((t) => t.dataSync().slice() as Float32Array);
  });
}

/** ReLU(max 6) forward and gradient, with values at and around the clip edges and ±0; clipByValue's gradient with NaN */
function clipRun(seed: number): Float32Array[] {
  return tf.tidy(() => {
    // NaN only for the clip alone: Relu's own NaN handling differs between backends and in FastlrReluGrad
    const edge = tf.tensor1d([0, -0, 6, 6.000001, 5.999999, -1e-30, -0.5, 0.25, Infinity, -Infinity, 3]);
    const x = tf.concat([tf.tensor(values(997, seed)).mul(9), edge]);
    const w = tf.tensor(values(x.size, seed + 1));
    const layer = tf.layers.reLU({ maxValue: 6 });
    const f = (a: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(a) as tf.Tensor, w));
    const dx = tf.grad(f)(x);
    const xn = tf.concat([x, tf.tensor1d([NaN])]);
    const wn = tf.concat([w, tf.tensor1d([0.5])]);
    const dClip = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(a, -0.5, 0.25), wn)))(xn);
    return [layer.apply(x) as tf.Tensor, dx, dClip].map((t) => t.dataSync().slice() as Float32Array);
  });
}

describe('batch norm and clip gradients on fastlr kernels match the stock op chains', async () => {
  await tf.setBackend('cpu');
  restoreStockKernels('cpu');
  const refBn = SHAPES.map((s, i) => bnRun(s, 10 + 13 * i));
  const refBnInference = SHAPES.map((s, i) => bnRun(s, 10 + 13 * i, false));
  const refStats = statsGrad(false, 3);
  const refClip = clipRun(4);
  registerKernelOverrides('cpu');

  afterAll(async () => {
    await tf.setBackend('cpu');
    registerKernelOverrides('cpu');
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it.each(SHAPES.map((s, i) => [s.join('×'), i] as const))(`${backend}: BN layer, training, x %s`, async (_n, i) => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = bnRun(SHAPES[i]!, 10 + 13 * i);
      expect(tf.memory().numTensors).toBe(before);
      ['y', 'moving mean', 'moving variance', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => {
        expect(relErr(got[k]!, refBn[i]![k]!), what).toBeLessThan(what === 'dx' ? 2e-5 : 1e-5);
      });
    });

    // inference mode (running statistics: validation, bn_freeze, bn_inference): FusedBatchNorm and its gradient
    it.each(SHAPES.map((s, i) => [s.join('×'), i] as const))(`${backend}: BN layer, inference mode, x %s`, async (_n, i) => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = bnRun(SHAPES[i]!, 10 + 13 * i, false);
      expect(tf.memory().numTensors).toBe(before);
      const ref = refBnInference[i]!;
      ['y', 'moving mean', 'moving variance', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => {
        if (what.startsWith('moving')) expect(Array.from(got[k]!), `${what} untouched`).toEqual(Array.from(ref[k]!));
        else expect(relErr(got[k]!, ref[k]!), what).toBeLessThan(1e-5);
      });
    });

    it(`${backend}: the gradient through the mean and variance outputs`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const got = statsGrad(true, 3);
      ['y', 'mean', 'variance', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => {
        expect(relErr(got[k]!, refStats[k]!), what).toBeLessThan(2e-5);
      });
    });

    it(`${backend}: ReLU(max 6) and clipByValue gradients, edges and NaN included, exactly`, async () => {
      await initBackend(backend);
      registerKernelOverrides(backend);
      const got = clipRun(4);
      // equal values (NaN as NaN); the sign of a zero is not compared (the Relu gradient gives +0 where stock's
      // dy·step(x) gives −0)
      const norm = (a: Float32Array): number[] => Array.from(a, (v) => (v === 0 ? 0 : v));
      got.forEach((g, k) => {
        const a = norm(g);
        const b = norm(refClip[k]!);
        const diff = a.flatMap((v, i) => (Object.is(v, b[i]) ? [] : [`${i}: ${v} vs ${b[i]}`]));
        expect(diff, `output ${k}`).toEqual([]);
      });
    });
  }

  it('a wrapped instance call still decides the mode (inference: moving statistics untouched)', async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
    tf.tidy(() => {
      const layer = tf.layers.batchNormalization({});
      layer.build([4, 3, 3, 8]);
      const call = layer.call.bind(layer);
      layer.call = (inputs, kwargs) => call(inputs, { ...kwargs, training: false });
      const before = layer.getWeights().map((w) => w.dataSync().slice());
      const x = tf.tensor(values(4 * 9 * 8, 1), [4, 3, 3, 8]).add(3);
      const y = layer.apply(x, { training: true }) as tf.Tensor;
      // inference with moving mean 0, variance 1: y = x / sqrt(1 + eps)
      expect(relErr(y.dataSync() as Float32Array, x.div(Math.sqrt(1 + 1e-3)).dataSync() as Float32Array)).toBeLessThan(1e-6);
      layer.getWeights().forEach((w, k) => expect(Array.from(w.dataSync())).toEqual(Array.from(before[k]!)));
      layer.weights.forEach((w) => w.dispose());
    });
  });

  it('restoreStockKernels puts the stock training branch back', async () => {
    await initBackend('cpu');
    // the conv-bn fold patches BatchNormalization too (its pass-through): out while this checks the original comes back
    uninstallConvBnFold();
    restoreStockKernels('cpu');
    restoreStockKernels('wasm');
    const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: unknown };
    const stockCall = proto.call;
    registerKernelOverrides('cpu');
    expect(proto.call).not.toBe(stockCall);
    restoreStockKernels('cpu');
    expect(proto.call).toBe(stockCall);
    registerKernelOverrides('cpu');
    registerKernelOverrides('wasm');
    installConvBnFold();
  });
});

// ------------------------------------------------------ BN + the ReLU / ReLU6 after it (training mode), fused
const ACT_SHAPES: number[][] = [[3, 5, 7, 12], [2, 3, 5, 3], [1, 5, 9, 20], [45, 8]];
const bitsOf = (t: tf.Tensor): number[] => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

/**
 * x, γ, β, r of a case with the activation's edges hit exactly: channels 0 and 1 hold (row mod 5) − 2 (mean 0 over a
 * multiple of 5 rows, so z = β where x = 0) with β = 6 and 0; the others random, spread over [−3, 9].
 */
function actCase(shape: number[], seed: number): tf.Tensor[] {
  const c = shape[shape.length - 1]!;
  const n = size(shape);
  const xs = values(n, seed).map((v, i) => {
    const ch = i % c;
    return ch < 2 ? (Math.floor(i / c) % 5) - 2 : 6 * v + 3;
  });
  const beta = values(c, seed + 2).map((v, ch) => (ch === 0 ? 6 : ch === 1 ? 0 : 2 * v));
  return tf.tidy(() => [tf.tensor(xs, shape), tf.tensor(values(c, seed + 1)).add(1.2), tf.tensor(beta), tf.tensor(values(n, seed + 3), shape)]);
}

/** y and the gradients w.r.t. x, γ, β of sum(act(BN(x))·r), fused (the kernel's activation) or BN then the op */
function actRun(shape: number[], seed: number, act: 'relu' | 'relu6', fused: boolean): tf.Tensor[] {
  const [x, g, b, r] = actCase(shape, seed) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  const f = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor): tf.Tensor => {
    if (fused) return bnTrain(xx, gg, bb, 1e-3, act)[0];
    const y = bnTrain(xx, gg, bb, 1e-3)[0];
    return act === 'relu' ? tf.relu(y) : tf.relu6(y);
  };
  const grads = tf.grads((xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, gg, bb), r)))([x, g, b]);
  return [f(x, g, b), ...grads];
}

/** input → BN → ReLU6 → BN → ReLU → BN → (ReLU6, and Add of the BN's output and that ReLU6): two pairs fuse */
function actModel(shape: number[]): tf.LayersModel {
  const input = tf.input({ shape: shape.slice(1) });
  const bnl = (name: string) => tf.layers.batchNormalization({ name, epsilon: 1e-3, momentum: 0.9 });
  let y = tf.layers.reLU({ maxValue: 6, name: 'r1' }).apply(bnl('bn1').apply(input)) as tf.SymbolicTensor;
  y = tf.layers.reLU({ name: 'r2' }).apply(bnl('bn2').apply(y)) as tf.SymbolicTensor;
  const b3 = bnl('bn3').apply(y) as tf.SymbolicTensor;
  const r3 = tf.layers.reLU({ maxValue: 6, name: 'r3' }).apply(b3) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: tf.layers.add({ name: 'add' }).apply([b3, r3]) as tf.SymbolicTensor });
}

/** output, gradients w.r.t. x and every γ, β, then the moving statistics, of one training call; kernels run */
async function modelRun(model: tf.LayersModel, shape: number[], seed: number, fused: boolean): Promise<{ bits: number[][]; kernels: string[] }> {
  const was = setConvBnFold(fused);
  try {
    const start = model.getWeights().map((w) => w.clone());
    const [x0, g, b, r] = actCase(shape, seed) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const x = tf.variable(x0);
    const vars = [x, ...model.trainableWeights.map((w) => w.read() as tf.Variable)];
    let bits: number[][] = [];
    const info = await tf.profile(() => {
      const out = tf.tidy(() => {
        let y: tf.Tensor | null = null;
        const { grads } = tf.variableGrads(() => {
          const o = model.apply(x, { training: true }) as tf.Tensor;
          y = tf.keep(o.clone());
          return tf.sum(tf.mul(o, r));
        }, vars);
        return [y!, ...vars.map((v) => grads[v.name]!), ...model.weights.filter((w) => /moving/.test(w.name)).map((w) => w.read().clone())];
      });
      bits = out.map(bitsOf);
      tf.dispose(out);
      return tf.scalar(0);
    });
    tf.dispose(info.result as tf.Tensor);
    model.setWeights(start);
    tf.dispose([...start, x0, g, b, r, x]);
    return { bits, kernels: info.kernels.map((k) => k.name) };
  } finally {
    setConvBnFold(was);
  }
}

describe('a training-mode BN computing the ReLU / ReLU6 after it is bit for bit the BN then the activation', () => {
  afterAll(() => setThreads(1));
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const threads of [1, 2]) {
      for (const act of ['relu', 'relu6'] as const) {
        it.each(ACT_SHAPES.map((s, i) => [s.join('×'), i] as const))(`${backend}, ${threads} thread(s): ${act}, x %s: y, dx, dγ, dβ`, async (_n, i) => {
          await initBackend(backend);
          registerKernelOverrides(backend);
          setThreads(threads);
          const before = tf.memory().numTensors;
          const [fused, plain] = [true, false].map((f) => tf.tidy(() => actRun(ACT_SHAPES[i]!, 70 + i, act, f).map(bitsOf)));
          expect(tf.memory().numTensors).toBe(before);
          ['y', 'dx', 'dgamma', 'dbeta'].forEach((what, k) => expect(fused![k], what).toEqual(plain![k]));
          // the edges were hit: z = 6 and z = 0 (channels 0, 1 at x = 0) give the activation's boundary gradients
          expect(new Set(plain![0]).size).toBeGreaterThan(10);
        });
      }

      it(`${backend}, ${threads} thread(s): in a model, each BN read only by its ReLU / ReLU6 computes it; one read twice keeps its ReLU6`, async () => {
        await initBackend(backend);
        registerKernelOverrides(backend);
        setThreads(threads);
        const shape = [3, 5, 7, 12];
        const model = actModel(shape);
        expect([...bnActPlanOf(model)].map(([bn, p]) => [bn.name, p.act.name, p.activation])).toEqual([['bn1', 'r1', 'relu6'], ['bn2', 'r2', 'relu']]);
        const before = tf.memory().numTensors;
        const fused = await modelRun(model, shape, 90, true);
        const plain = await modelRun(model, shape, 90, false);
        expect(tf.memory().numTensors).toBe(before);
        expect(fused.bits.length).toBe(1 + 1 + 6 + 6);
        fused.bits.forEach((b, k) => expect(b, `output ${k}`).toEqual(plain.bits[k]));
        const count = (ks: string[], name: string): number => ks.filter((k) => k === name).length;
        expect([count(fused.kernels, 'Relu6'), count(fused.kernels, 'Relu')]).toEqual([1, 0]);
        expect([count(plain.kernels, 'Relu6'), count(plain.kernels, 'Relu')]).toEqual([2, 1]);
        model.weights.forEach((w) => w.dispose());
      });
    }
  }
});
