// Depthwise convolution kernels (src/kernels/depthwise.ts) against the stock cpu kernels: the forward value and both
// gradients (tf.grads: DepthwiseConv2dNativeBackpropInput and ...Filter) on a table of shapes — kernel 3/5,
// stride 1/2, same/valid/explicit padding, channel multiplier 1/2, channel counts that take the SIMD programs
// (4, 20: groups of 16 and of 4) and the plain loops (3, multiplier 2), odd sizes, batches > 1 — on cpu and on
// wasm (where tfjs-backend-wasm 4.22 has no gradient kernels of its own). Also the fused forward on cpu, a dilated
// forward, and that no tensor is left behind.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { relErr, values } from './helpers/kernels.js';

type Pad = 'valid' | 'same' | number;
interface Spec {
  x: [number, number, number, number];
  k: number;
  cm: number;
  stride: number;
  pad: Pad;
}

const SPECS: Spec[] = [];
// multiplier 1: 4 or 20 channels (the SIMD programs); multiplier 2: 3 or 4 channels (the plain loops)
let nth = 0;
for (const k of [3, 5]) {
  for (const stride of [1, 2]) {
    for (const pad of ['same', 'valid'] as const) {
      for (const cm of [1, 2]) {
        const c = (cm === 1 ? [4, 20] : [3, 4])[nth++ % 2]!;
        SPECS.push({ x: [2, 11, 9, c], k, cm, stride, pad });
      }
    }
  }
}
SPECS.push(
  { x: [2, 9, 11, 3], k: 3, cm: 1, stride: 2, pad: 'same' }, // odd channel count: plain loops
  { x: [3, 10, 7, 5], k: 5, cm: 1, stride: 1, pad: 'valid' },
  { x: [1, 28, 28, 32], k: 3, cm: 1, stride: 2, pad: 'same' }, // a MobileNetV2 stride-2 block, scaled down
  { x: [3, 14, 14, 96], k: 3, cm: 1, stride: 1, pad: 'same' }, // a stride-1 block
  { x: [2, 15, 15, 8], k: 3, cm: 1, stride: 2, pad: 'valid' }, // after ZeroPadding2D: odd size, valid, stride 2
  { x: [2, 7, 6, 12], k: 3, cm: 1, stride: 1, pad: 1 }, // explicit padding
  { x: [2, 4, 5, 8], k: 5, cm: 1, stride: 1, pad: 'same' }, // filter larger than the input
  { x: [1, 9, 10, 6], k: 3, cm: 3, stride: 2, pad: 'same' }, // multiplier 3, plain loops
);

const size = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const name = (s: Spec): string => `x ${s.x.join('×')} k${s.k} ×${s.cm} stride ${s.stride} pad ${s.pad}`;

/** the forward value and the gradients w.r.t. x and the filter of sum(depthwiseConv2d(x, w) · r) */
function valueAndGrads(s: Spec, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(values(size(s.x), seed), s.x) as tf.Tensor4D;
    const fShape = [s.k, s.k, s.x[3], s.cm];
    const w = tf.tensor(values(size(fShape), seed + 1), fShape) as tf.Tensor4D;
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, s.stride, s.pad);
    const y = f(x, w);
    const r = tf.tensor(values(y.size, seed + 2), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), r)))([x, w]);
    return [y, dx!, dw!].map((t) => t.dataSync().slice() as Float32Array);
  });
}

/** a fused depthwise conv (bias + activation) and a dilated one, forward only */
function extras(seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(values(2 * 9 * 9 * 8, seed), [2, 9, 9, 8]) as tf.Tensor4D;
    const w = tf.tensor(values(3 * 3 * 8, seed + 1), [3, 3, 8, 1]) as tf.Tensor4D;
    const bias = tf.tensor(values(8, seed + 2), [8]);
    const fused = tf.fused.depthwiseConv2d({ x, filter: w, strides: 2, pad: 'same', bias, activation: 'relu6' });
    const fusedLinear = tf.fused.depthwiseConv2d({ x, filter: w, strides: 1, pad: 'valid', bias });
    const dilated = tf.depthwiseConv2d(x, w, 1, 'same', 'NHWC', 2);
    const w2 = tf.tensor(values(3 * 3 * 8 * 2, seed + 3), [3, 3, 8, 2]) as tf.Tensor4D;
    const dilated2 = tf.depthwiseConv2d(x, w2, 1, 'valid', 'NHWC', [2, 1]);
    return [fused, fusedLinear, dilated, dilated2].map((t) => t.dataSync().slice() as Float32Array);
  });
}

describe('depthwise kernels match the stock cpu kernels', async () => {
  await tf.setBackend('cpu');
  restoreStockKernels('cpu');
  const reference = SPECS.map((s, i) => valueAndGrads(s, 100 + 7 * i));
  const referenceExtras = extras(5);
  registerKernelOverrides('cpu');

  afterAll(async () => {
    await tf.setBackend('cpu');
    registerKernelOverrides('cpu');
  });

  it('the overrides are installed on both backends', async () => {
    await initBackend('wasm');
    registerKernelOverrides('wasm');
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropInput', 'wasm')).toBeDefined();
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'wasm')).toBeDefined();
    await initBackend('cpu');
    registerKernelOverrides('cpu');
    restoreStockKernels('cpu');
    const stock = tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'cpu')?.kernelFunc;
    registerKernelOverrides('cpu');
    expect(tf.getKernel('DepthwiseConv2dNativeBackpropFilter', 'cpu')?.kernelFunc).not.toBe(stock);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it.each(SPECS.map((s, i) => [name(s), i] as const))(`${backend}: %s`, async (_n, i) => {
      await initBackend(backend);
      expect(tf.getBackend()).toBe(backend);
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = valueAndGrads(SPECS[i]!, 100 + 7 * i);
      expect(tf.memory().numTensors).toBe(before);
      ['value', 'dx', 'dfilter'].forEach((what, k) => {
        expect(got[k]!.length, what).toBe(reference[i]![k]!.length);
        expect(relErr(got[k]!, reference[i]![k]!), `${what}`).toBeLessThan(1e-5);
      });
    });
  }

  it('cpu: fused (bias, relu6 / linear) and dilated forwards', async () => {
    await initBackend('cpu');
    registerKernelOverrides('cpu');
    const got = extras(5);
    got.forEach((g, k) => expect(relErr(g, referenceExtras[k]!), `output ${k}`).toBeLessThan(1e-5));
  });
});
