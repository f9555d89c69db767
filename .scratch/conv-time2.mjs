import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/backend/index.js';
await initBackend('wasm', { threads: 1 });
const x = tf.randomNormal([64, 13, 13, 16], 0, 1, 'float32', 1); const w = tf.randomNormal([3,3,16,32], 0, 1, 'float32', 2);
let t0 = performance.now(); const y = tf.conv2d(x, w, 1, 'valid'); console.log('conv', performance.now() - t0); t0 = performance.now(); y.dataSync(); console.log('read', performance.now() - t0);
t0 = performance.now(); const z = tf.randomNormal([64, 13, 13, 16], 0, 1, 'float32', 3); console.log('randn', performance.now() - t0);
t0 = performance.now(); for (let i = 0; i < 20; i++) tf.conv2d(x, w, 1, 'valid').dispose(); console.log('conv x20', (performance.now() - t0) / 20);
