import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/backend/index.js';
import { restoreStockKernels } from '../dist/kernels/index.js';
await initBackend('wasm', { threads: 1 });
if (process.argv[2] === 'stock') restoreStockKernels('wasm');
const x = tf.randomNormal([64, 13, 13, 16], 0, 1, 'float32', 1); const w = tf.randomNormal([3,3,16,32], 0, 1, 'float32', 2);
for (let r = 0; r < 3; r++) { const t0 = performance.now(); for (let i = 0; i < 50; i++) tf.tidy(() => tf.conv2d(x, w, 1, 'valid').dataSync()); console.log('ms/conv', ((performance.now() - t0) / 50).toFixed(3)); }
