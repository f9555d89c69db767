/**
 * wasm MaxPool / MaxPoolGrad on 2×2 stride-2 windows inside x (max_pool2 / max_pool_grad2, simd/maxpool-programs.ts)
 * against the semantics they document, written out here, bit for bit: the window's first value strictly greater than
 * everything before it from -Infinity (row-major) is the max and takes dy, every other input position gets 0,
 * including the last row / column of an odd h / w that no window covers. Inputs with many ties, -Infinity windows and
 * NaN; channels 4, 8, 12 and 32 (a multiple of 4, not always of 16); odd and even sizes; 'same' padding on even sizes
 * (no padding used). And against the stock cpu kernels on finite inputs. test/threads.test.ts checks the split.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { values } from './helpers/kernels.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

type Shape = [number, number, number, number];
const SHAPES: { x: Shape; pad: 'valid' | 'same' }[] = [
  { x: [3, 11, 11, 32], pad: 'valid' }, // the MNIST CNN's second pool: row and column 10 uncovered
  { x: [2, 26, 26, 16], pad: 'valid' },
  { x: [2, 7, 10, 4], pad: 'valid' }, // odd h, even w
  { x: [1, 6, 9, 12], pad: 'valid' }, // 12 channels, odd w
  { x: [2, 8, 6, 8], pad: 'same' }, // even sizes: same uses no padding
];

/** values in {-1, -2/3, ..., 1} (ties everywhere), with -Infinity and NaN sprinkled in when `special` */
function input(n: number, seed: number, special: boolean): Float32Array {
  const v = values(n, seed).map((a) => Math.round(a * 3) / 3);
  if (special) {
    for (let i = 0; i < n; i += 7) v[i] = -Infinity;
    for (let i = 3; i < n; i += 11) v[i] = NaN;
  }
  return v;
}

/** the documented semantics: [max per window, dx] */
function reference(x: Float32Array, dy: Float32Array, [n, h, w, c]: Shape): [Float32Array, Float32Array] {
  const [oh, ow] = [Math.floor(h / 2), Math.floor(w / 2)];
  const y = new Float32Array(n * oh * ow * c);
  const dx = new Float32Array(n * h * w * c);
  for (let b = 0; b < n; b++) {
    for (let r = 0; r < oh; r++) {
      for (let q = 0; q < ow; q++) {
        for (let d = 0; d < c; d++) {
          let best = -Infinity;
          let at = -1;
          for (const [i, j] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
            const k = ((b * h + 2 * r + i) * w + 2 * q + j) * c + d;
            if (x[k]! > best) {
              best = x[k]!;
              at = k;
            }
          }
          const o = ((b * oh + r) * ow + q) * c + d;
          y[o] = best;
          if (at >= 0) dx[at] = dy[o]!;
        }
      }
    }
  }
  return [y, dx];
}

function run(shape: Shape, pad: 'valid' | 'same', x: Float32Array, dy: Float32Array): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const xt = tf.tensor(x, shape) as tf.Tensor4D;
    const y = tf.maxPool(xt, 2, 2, pad);
    const dx = tf.engine().runKernel('MaxPoolGrad', { dy: tf.tensor(dy, y.shape), input: xt, output: y }, { filterSize: 2, strides: 2, pad }) as tf.Tensor;
    return [y.dataSync().slice() as Float32Array, dx.dataSync().slice() as Float32Array];
  });
}

const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

describe('wasm MaxPool and MaxPoolGrad, 2×2 stride 2 (max_pool2, max_pool_grad2)', () => {
  it.each(SHAPES.map((s, i) => [`${s.x.join('×')} ${s.pad}`, i] as const))('%s: the documented selection, bit for bit, special values included', async (_name, i) => {
    const { x: shape, pad } = SHAPES[i]!;
    await tf.setBackend('wasm');
    registerKernelOverrides('wasm');
    const size = shape.reduce((a, b) => a * b, 1);
    const x = input(size, 5 * i + 1, true);
    const dy = values(shape[0] * Math.floor(shape[1] / 2) * Math.floor(shape[2] / 2) * shape[3], 5 * i + 2);
    const before = tf.memory().numTensors;
    const [y, dx] = run(shape, pad, x, dy);
    expect(tf.memory().numTensors).toBe(before);
    const [wantY, wantDx] = reference(x, dy, shape);
    expect(bits(y)).toEqual(bits(wantY));
    expect(bits(dx)).toEqual(bits(wantDx));
  });

  it.each(SHAPES.map((s, i) => [`${s.x.join('×')} ${s.pad}`, i] as const))('%s: the stock cpu kernels on finite inputs with ties', async (_name, i) => {
    const { x: shape, pad } = SHAPES[i]!;
    const size = shape.reduce((a, b) => a * b, 1);
    const x = input(size, 5 * i + 3, false);
    const dy = values(shape[0] * Math.floor(shape[1] / 2) * Math.floor(shape[2] / 2) * shape[3], 5 * i + 4);
    await tf.setBackend('cpu');
    restoreStockKernels('cpu');
    const want = run(shape, pad, x, dy);
    registerKernelOverrides('cpu');
    await tf.setBackend('wasm');
    registerKernelOverrides('wasm');
    const got = run(shape, pad, x, dy);
    expect(bits(got[0])).toEqual(bits(want[0]));
    expect(bits(got[1])).toEqual(bits(want[1]));
  });
});
