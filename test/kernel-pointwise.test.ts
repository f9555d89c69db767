// Pointwise convolutions (src/kernels/pointwise.ts: 1×1 stride-1 Conv2D / FusedConv2D / Conv2DBackpropInput as
// products through our BatchMatMul on wasm), the col2im Conv2DBackpropInput wasm uses when strided or narrow,
// and the run-copying Slice (src/kernels/slice.ts) against the stock cpu kernels: forward value and both gradients on a table of shapes — MobileNetV2's own channel pairs scaled down,
// widths that take the SIMD gemm (% 8 == 0) and those that do not, a fused bias/activation (the stock path), 1×1
// with stride 2 and with explicit padding (not pointwise: the fallback) — and ZeroPadding2D's gradient, slices
// that cut inner, outer and several axes, int32, on cpu and wasm, at 1 and 2 threads. No tensor left behind.
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { sliceRuns } from '../src/kernels/slice.js';
import { relErr, values } from './helpers/kernels.js';

interface Spec {
  x: [number, number, number, number];
  co: number;
  stride?: number;
  pad?: 'same' | 'valid' | number;
  fused?: boolean;
  /** filter size (default 1) */
  k?: number;
}

const SPECS: Spec[] = [
  { x: [2, 12, 12, 32], co: 16 }, // block 0 project
  { x: [2, 9, 9, 16], co: 96 }, // expand
  { x: [3, 7, 7, 144], co: 24 },
  { x: [2, 5, 5, 24], co: 144 },
  { x: [1, 4, 4, 960], co: 160 },
  { x: [2, 3, 3, 320], co: 1280 },
  { x: [2, 6, 5, 12], co: 20 }, // widths not multiples of 8: XNNPACK / the stock paths
  { x: [2, 6, 6, 7], co: 5 },
  { x: [2, 8, 8, 16], co: 24, fused: true }, // bias + relu: the stock fused kernel
  { x: [2, 9, 9, 16], co: 24, stride: 2, pad: 'same' }, // 1×1 stride 2 (ResNet shortcut): not pointwise
  { x: [2, 6, 6, 8], co: 16, pad: 1 }, // 1×1 with explicit padding: not pointwise
  { x: [1, 1, 1, 64], co: 32 }, // a single pixel
  // not pointwise, backprop input by col2im on wasm (strided or < 8 input channels)
  { x: [2, 16, 16, 3], co: 8, k: 3, stride: 2, pad: 'same' }, // MobileNetV2's Conv1, scaled down
  { x: [2, 9, 9, 16], co: 8, k: 3, stride: 2, pad: 'valid' },
  { x: [2, 7, 7, 5], co: 16, k: 3, pad: 'same' },
  { x: [2, 8, 8, 12], co: 8, k: 3, pad: 'same' }, // stride 1, 12 channels: the conv formulation
];

const size = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const name = (s: Spec): string => `x ${s.x.join('×')} k${s.k ?? 1} → ${s.co}${s.stride ? ` stride ${s.stride}` : ''}${s.pad !== undefined ? ` pad ${s.pad}` : ''}${s.fused ? ' fused bias+relu' : ''}`;

function valueAndGrads(s: Spec, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor(values(size(s.x), seed), s.x) as tf.Tensor4D;
    const k = s.k ?? 1;
    const w = tf.tensor(values(k * k * s.x[3] * s.co, seed + 1), [k, k, s.x[3], s.co]) as tf.Tensor4D;
    const bias = tf.tensor(values(s.co, seed + 2));
    const stride = s.stride ?? 1;
    const pad = s.pad ?? 'same';
    const f = (a: tf.Tensor, b: tf.Tensor): tf.Tensor =>
      s.fused
        ? tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: stride, pad, bias, activation: 'relu' })
        : tf.fused.conv2d({ x: a as tf.Tensor4D, filter: b as tf.Tensor4D, strides: stride, pad });
    const y = f(x, w);
    const r = tf.tensor(values(y.size, seed + 3), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b), r)))([x, w]);
    const plain = tf.conv2d(x, w, stride, pad);
    return [y, dx!, dw!, plain].map((t) => t.dataSync().slice() as Float32Array);
  });
}

interface SliceSpec {
  shape: number[];
  begin: number[];
  size: number[];
}
const SLICES: SliceSpec[] = [
  { shape: [2, 9, 9, 8], begin: [0, 0, 0, 0], size: [2, 8, 8, 8] }, // ZeroPadding2D ((0,1),(0,1))'s gradient
  { shape: [2, 9, 9, 8], begin: [0, 1, 1, 0], size: [2, 7, 7, 8] }, // symmetric padding
  { shape: [3, 5, 6, 7], begin: [1, 0, 2, 3], size: [2, 5, 3, 4] }, // every kind of axis cut
  { shape: [4, 6], begin: [1, 2], size: [2, 3] },
  { shape: [4, 6], begin: [1, 0], size: [2, 6] }, // contiguous
  { shape: [2, 3, 4, 5, 6], begin: [0, 1, 0, 2, 0], size: [2, 2, 4, 3, 6] }, // rank 5
];

function slices(): Float32Array[] {
  return tf.tidy(() => {
    const out = SLICES.map((s, i) => tf.slice(tf.tensor(values(size(s.shape), 40 + i), s.shape), s.begin, s.size));
    // the gradient of a ZeroPadding2D layer, and an int32 slice
    const x = tf.tensor(values(2 * 8 * 8 * 8, 7), [2, 8, 8, 8]);
    const pad = tf.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]] });
    const r = tf.tensor(values(2 * 9 * 9 * 8, 8), [2, 9, 9, 8]);
    const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(pad.apply(a) as tf.Tensor, r)))(x);
    const ints = tf.slice(tf.range(0, 120, 1, 'int32').reshape([4, 5, 6]), [1, 1, 1], [2, 3, 4]).toFloat();
    return [...out, g, ints].map((t) => t.dataSync().slice() as Float32Array);
  });
}

describe('pointwise convolutions and Slice match the stock cpu kernels', async () => {
  await tf.setBackend('cpu');
  restoreStockKernels('cpu');
  const reference = SPECS.map((s, i) => valueAndGrads(s, 200 + 11 * i));
  const refSlices = slices();
  registerKernelOverrides('cpu');

  afterAll(async () => {
    await initBackend('cpu', { threads: 1 });
    registerKernelOverrides('cpu');
  });

  it('sliceRuns merges the trailing whole axes into one run', () => {
    expect(sliceRuns([2, 9, 9, 8], [0, 0, 0, 0], [2, 8, 8, 8])).toEqual({ offsets: [0, 72, 144, 216, 288, 360, 432, 504, 648, 720, 792, 864, 936, 1008, 1080, 1152], run: 64 });
    expect(sliceRuns([4, 6], [1, 0], [2, 6])).toEqual({ offsets: [6], run: 12 });
    expect(sliceRuns([4, 6], [1, 2], [2, 3])).toEqual({ offsets: [8, 14], run: 3 });
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const threads of [1, 2]) {
      it.each(SPECS.map((s, i) => [name(s), i] as const))(`${backend}, ${threads} thread(s): %s`, async (_n, i) => {
        await initBackend(backend, { threads });
        registerKernelOverrides(backend);
        const before = tf.memory().numTensors;
        const got = valueAndGrads(SPECS[i]!, 200 + 11 * i);
        expect(tf.memory().numTensors).toBe(before);
        ['value', 'dx', 'dfilter', 'conv2d'].forEach((what, k) => {
          expect(got[k]!.length, what).toBe(reference[i]![k]!.length);
          expect(relErr(got[k]!, reference[i]![k]!), what).toBeLessThan(1e-5);
        });
      });
    }

    it(`${backend}: slices and the ZeroPadding2D gradient, exactly`, async () => {
      await initBackend(backend, { threads: 1 });
      registerKernelOverrides(backend);
      const before = tf.memory().numTensors;
      const got = slices();
      expect(tf.memory().numTensors).toBe(before);
      got.forEach((g, k) => expect(Array.from(g), `slice ${k}`).toEqual(Array.from(refSlices[k]!)));
    });
  }

  it('wasm: the pointwise path is installed (Conv2D, FusedConv2D, Conv2DBackpropInput, Slice replaced)', async () => {
    await initBackend('wasm');
    const names = registerKernelOverrides('wasm');
    for (const k of ['Conv2D', 'FusedConv2D', 'Conv2DBackpropInput', 'Slice']) expect(names).toContain(k);
  });
});
