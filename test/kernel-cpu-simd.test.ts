/**
 * The cpu backend's SIMD-gemm kernels (src/kernels/cpu-simd.ts: BatchMatMul, _FusedMatMul, Conv2D, FusedConv2D,
 * Conv2DBackpropInput; more conv gradient shapes are in kernel-conv.test.ts) and element-wise loops
 * (cpu-elementwise.ts: Sum, Add, Relu, the Relu gradient, MaxPool) against the stock cpu kernels: transpose flags, batches,
 * row counts not a multiple of 4, widths not a multiple of 8, broadcast batches (stock path), strides, paddings,
 * 1-16 input channels, bias and activations, NCHW and dilations (stock path). Also: no tensor is left behind.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { relErr, values } from './helpers/kernels.js';


const size = (s: number[]): number => s.reduce((x, y) => x * y, 1);
const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(values(size(shape), seed), shape);


interface Case {
  name: string;
  run(seed: number): tf.Tensor;
  /** compare element for element (NaN, ±0, ±Infinity) instead of by relative error */
  exact?: boolean;
}

type Act = 'relu' | 'linear' | 'sigmoid' | 'elu' | 'relu6' | 'leakyrelu' | undefined;

const mm = (a: number[], b: number[], ta: boolean, tb: boolean): Case => ({
  name: `matMul ${a.join('×')}${ta ? 'ᵀ' : ''} · ${b.join('×')}${tb ? 'ᵀ' : ''}`,
  run: (s) => tf.matMul(t(a, s), t(b, s + 1), ta, tb),
});

const fmm = (a: number[], b: number[], ta: boolean, tb: boolean, activation: Act, bias: boolean): Case => ({
  name: `fused matMul ${a.join('×')}${ta ? 'ᵀ' : ''} · ${b.join('×')}${tb ? 'ᵀ' : ''} ${activation ?? 'none'}${bias ? ' +bias' : ''}`,
  run: (s) => {
    const n = b[tb ? b.length - 2 : b.length - 1]!;
    return tf.fused.matMul({
      a: t(a, s), b: t(b, s + 1), transposeA: ta, transposeB: tb,
      ...(bias ? { bias: t([n], s + 2) } : {}),
      ...(activation ? { activation } : {}),
      ...(activation === 'leakyrelu' ? { leakyreluAlpha: 0.1 } : {}),
    });
  },
});

interface ConvSpec {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number;
  pad: 'valid' | 'same' | number;
  dilation?: number;
  nchw?: boolean;
}

const conv = (c: ConvSpec): Case => ({
  name: `conv2d x ${c.x.join('×')} f ${c.f.join('×')} stride ${c.stride} pad ${c.pad}${c.dilation ? ` dilation ${c.dilation}` : ''}${c.nchw ? ' NCHW' : ''}`,
  run: (s) => tf.conv2d(t(c.x, s) as tf.Tensor4D, t(c.f, s + 1) as tf.Tensor4D, c.stride, c.pad, c.nchw ? 'NCHW' : 'NHWC', c.dilation ?? 1),
});

const fconv = (c: ConvSpec, activation: Act, bias: boolean): Case => ({
  name: `fused conv2d x ${c.x.join('×')} f ${c.f.join('×')} stride ${c.stride} pad ${c.pad} ${activation ?? 'none'}${bias ? ' +bias' : ''}`,
  run: (s) =>
    tf.fused.conv2d({
      x: t(c.x, s) as tf.Tensor4D, filter: t(c.f, s + 1) as tf.Tensor4D, strides: c.stride, pad: c.pad,
      ...(bias ? { bias: t([c.f[3]], s + 2) } : {}),
      ...(activation ? { activation } : {}),
      ...(activation === 'leakyrelu' ? { leakyreluAlpha: 0.2 } : {}),
    }),
});

/** Conv2DBackpropInput straight (kernel-conv.test.ts covers valid/same; these add explicit padding, stride 3) */
const bpi = (c: ConvSpec): Case => ({
  name: `conv2d backprop input x ${c.x.join('×')} f ${c.f.join('×')} stride ${c.stride} pad ${c.pad}`,
  run: (s) => {
    const [n, h, w] = c.x;
    const [kh, kw, , co] = c.f;
    const info = tf.backend_util.computeConv2DInfo(c.x, c.f, [c.stride, c.stride], 1, c.pad);
    const dy = t([n, info.outHeight, info.outWidth, co], s);
    expect(kh * kw * h * w).toBeGreaterThan(0);
    return tf.engine().runKernel(
      'Conv2DBackpropInput',
      { dy, filter: t(c.f, s + 1) },
      { strides: [c.stride, c.stride], pad: c.pad, dataFormat: 'NHWC', inputShape: c.x } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor;
  },
});

const CASES: Case[] = [
  mm([64, 784], [784, 256], false, false), // the MNIST MLP's forward
  mm([64, 784], [64, 256], true, false), // its dW = xᵀ·dy
  mm([64, 10], [256, 10], false, true), // dx = dy·Wᵀ
  mm([7, 13], [13, 24], false, false), // rows % 4 = 3
  mm([1, 5], [5, 8], false, false), // one row
  mm([5, 12], [12, 10], false, false), // width 10: padded to 16
  mm([3, 6, 9], [3, 9, 16], false, false), // batched
  mm([2, 9, 6], [2, 13, 9], true, true), // batched, both flags, width 13
  mm([4, 3], [1, 3, 16], false, false), // ranks differ
  mm([2, 4, 3], [1, 3, 5], false, false), // broadcast batch: stock
  fmm([64, 784], [784, 256], false, false, 'relu', true),
  fmm([13, 20], [20, 10], false, false, undefined, true),
  fmm([9, 7], [11, 7], false, true, 'sigmoid', true),
  fmm([6, 5], [5, 3], false, false, 'elu', false),
  fmm([6, 5], [5, 3], false, false, 'leakyrelu', true),
  fmm([6, 5], [5, 9], false, false, 'relu6', true),
  conv({ x: [3, 28, 28, 1], f: [3, 3, 1, 16], stride: 1, pad: 'valid' }), // the MNIST CNN's first layer
  conv({ x: [3, 13, 13, 16], f: [3, 3, 16, 32], stride: 1, pad: 'valid' }), // its second
  conv({ x: [2, 9, 9, 3], f: [3, 3, 3, 5], stride: 2, pad: 'same' }),
  conv({ x: [2, 10, 7, 2], f: [5, 5, 2, 12], stride: 2, pad: 'valid' }),
  conv({ x: [1, 7, 6, 4], f: [5, 5, 4, 8], stride: 1, pad: 'same' }), // filter wider than parts of the input
  conv({ x: [2, 8, 8, 3], f: [1, 1, 3, 7], stride: 1, pad: 'valid' }), // 1×1
  conv({ x: [2, 6, 6, 2], f: [3, 3, 2, 4], stride: 1, pad: 2 }), // explicit padding larger than needed
  conv({ x: [2, 9, 9, 2], f: [3, 3, 2, 4], stride: 1, pad: 'same', dilation: 2 }), // dilation: stock
  conv({ x: [2, 3, 9, 9], f: [3, 3, 3, 4], stride: 1, pad: 'same', nchw: true }), // NCHW: stock
  fconv({ x: [3, 28, 28, 1], f: [3, 3, 1, 16], stride: 1, pad: 'valid' }, 'relu', true),
  fconv({ x: [2, 9, 9, 3], f: [3, 3, 3, 5], stride: 2, pad: 'same' }, undefined, true),
  fconv({ x: [2, 9, 9, 3], f: [3, 3, 3, 6], stride: 1, pad: 'same' }, 'sigmoid', false),
  bpi({ x: [2, 6, 6, 2], f: [3, 3, 2, 4], stride: 1, pad: 2 }), // explicit padding larger than needed
  bpi({ x: [1, 10, 8, 3], f: [3, 2, 3, 5], stride: 3, pad: 'same' }), // stride 3, rectangular filter
  bpi({ x: [3, 13, 13, 16], f: [3, 3, 16, 32], stride: 1, pad: 'valid' }), // the MNIST CNN's second layer
  bpi({ x: [2, 9, 9, 1], f: [5, 5, 1, 9], stride: 2, pad: 'valid' }), // one input channel, width 25 padded
  // cpu-elementwise.ts
  { name: 'maxPool 2×2 [64,26,26,16]', run: (s) => tf.maxPool(t([64, 26, 26, 16], s) as tf.Tensor4D, 2, 2, 'valid') },
  { name: 'maxPool 3×3 stride 2 same, odd size', run: (s) => tf.maxPool(t([2, 9, 7, 3], s) as tf.Tensor4D, 3, 2, 'same'), exact: true },
  { name: 'maxPool 2×3 stride 1 valid', run: (s) => tf.maxPool(t([2, 6, 7, 5], s) as tf.Tensor4D, [2, 3], 1, 'valid'), exact: true },
  {
    name: 'maxPool with NaN and -Infinity windows',
    run: () => tf.maxPool(tf.tensor4d([NaN, NaN, NaN, NaN, -Infinity, 1, NaN, -Infinity, 3, NaN, 2, 5, -1, -2, -3, -4], [1, 4, 4, 1]), 2, 2, 'valid'),
    exact: true,
  },
  { name: 'maxPool 1×1 (stock identity)', run: (s) => tf.maxPool(t([2, 4, 4, 3], s) as tf.Tensor4D, 1, 1, 'valid'), exact: true },
  { name: 'sum over leading axes [64,26,26,16]', run: (s) => tf.sum(t([64, 26, 26, 16], s), [0, 1, 2]) },
  { name: 'sum over leading axes, keepDims, negative axes', run: (s) => tf.sum(t([5, 7, 3], s), [-3, -2], true) },
  { name: 'sum over the last axis (stock)', run: (s) => tf.sum(t([5, 7, 3], s), 2) },
  { name: 'sum of everything (stock)', run: (s) => tf.sum(t([5, 7], s)) },
  { name: 'bias add x + b', run: (s) => tf.add(t([4, 6, 6, 16], s), t([16], s + 1)) },
  { name: 'bias add b + x', run: (s) => tf.add(t([16], s + 1), t([9, 16], s)) },
  { name: 'add, same shapes (stock)', run: (s) => tf.add(t([9, 16], s), t([9, 16], s + 1)) },
  { name: 'add, other broadcast (stock)', run: (s) => tf.add(t([9, 16], s), t([9, 1], s + 1)) },
  { name: 'add int32 (stock)', run: () => tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.tensor1d([4, 5, 6], 'int32')) },
  { name: 'relu, with NaN, ±0, ±Infinity', run: (s) => tf.relu(tf.concat([t([50], s), tf.tensor1d([NaN, -0, 0, Infinity, -Infinity])])), exact: true },
  {
    name: 'relu gradient',
    run: (s) => {
      const x = t([3, 5, 5, 4], s);
      const w = t([3, 5, 5, 4], s + 1);
      return tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), w)))(x);
    },
  },
];

const reference = new Map<number, { shape: number[]; data: Float32Array }>();

function run(c: Case, seed: number): { shape: number[]; data: Float32Array } {
  return tf.tidy(() => {
    const y = c.run(seed);
    return { shape: y.shape, data: y.dataSync().slice() as Float32Array };
  });
}

beforeAll(async () => {
  expect(await tf.setBackend('cpu')).toBe(true);
  restoreStockKernels('cpu');
  CASES.forEach((c, i) => reference.set(i, run(c, 11 * i + 5)));
  registerKernelOverrides('cpu');
});

afterAll(() => {
  registerKernelOverrides('cpu');
});

describe('cpu kernels (ours) vs the stock cpu kernels', () => {
  it.each(CASES.map((c, i) => [c.name, i] as const))('%s', async (_name, i) => {
    expect(await tf.setBackend('cpu')).toBe(true);
    registerKernelOverrides('cpu');
    const before = tf.memory().numTensors;
    const got = run(CASES[i]!, 11 * i + 5);
    expect(tf.memory().numTensors).toBe(before);
    const want = reference.get(i)!;
    expect(got.shape).toEqual(want.shape);
    if (CASES[i]!.exact === true) expect(Array.from(got.data)).toEqual(Array.from(want.data));
    else expect(relErr(got.data, want.data)).toBeLessThan(1e-5);
  });

  it('the gradients of a fused dense layer and a fused conv match stock', async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
    const grads = (): Float32Array[] =>
      tf.tidy(() => {
        const x = t([5, 8, 8, 3], 1) as tf.Tensor4D;
        const f = t([3, 3, 3, 8], 2) as tf.Tensor4D;
        const cb = t([8], 3);
        const w = t([6 * 6 * 8, 10], 4) as tf.Tensor2D;
        const b = t([10], 5);
        const loss = (xx: tf.Tensor, ff: tf.Tensor, cbb: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor): tf.Scalar => {
          const h = tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ff as tf.Tensor4D, strides: 1, pad: 'valid', bias: cbb, activation: 'relu' });
          const y = tf.fused.matMul({ a: h.reshape([5, 6 * 6 * 8]), b: ww as tf.Tensor2D, bias: bb, activation: 'relu' });
          return y.square().sum();
        };
        const g = tf.grads(loss)([x, f, cb, w, b]);
        return g.map((v) => v.dataSync().slice() as Float32Array);
      });
    restoreStockKernels('cpu');
    const want = grads();
    registerKernelOverrides('cpu');
    const before = tf.memory().numTensors;
    const got = grads();
    expect(tf.memory().numTensors).toBe(before);
    got.forEach((g, i) => expect(relErr(g, want[i]!)).toBeLessThan(1e-5));
  });
});
