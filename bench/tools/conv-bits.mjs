// Are fastlr's wasm convolutions bit-identical to XNNPACK's? node bench/tools/conv-bits.mjs
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../dist/backend/index.js';
import { restoreStockKernels, registerKernelOverrides } from '../../dist/kernels/index.js';
await initBackend('wasm', { threads: 1 });
const cases = [
  [[64, 28, 28, 1], [3, 3, 1, 16], 1, 'valid'],
  [[64, 13, 13, 16], [3, 3, 16, 32], 1, 'valid'],
  [[64, 11, 11, 32], [3, 3, 32, 16], 1, [[0, 0], [2, 2], [2, 2], [0, 0]]],
  [[8, 14, 14, 24], [1, 1, 24, 48], 1, 'valid'],
  [[8, 15, 15, 8], [3, 3, 8, 16], 2, 'same'],
];
for (const [xs, ws, s, pad] of cases) {
  const x = tf.randomNormal(xs, 0, 1, 'float32', 1), w = tf.randomNormal(ws, 0, 1, 'float32', 2);
  registerKernelOverrides('wasm');
  const a = tf.conv2d(x, w, s, pad).dataSync();
  restoreStockKernels('wasm');
  const b = tf.conv2d(x, w, s, pad).dataSync();
  let diff = 0, maxd = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) { diff++; maxd = Math.max(maxd, Math.abs(a[i] - b[i])); }
  console.log(JSON.stringify(xs), JSON.stringify(ws), `differing ${diff}/${a.length}, max |d| ${maxd}`);
}
