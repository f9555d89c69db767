import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../dist/backend/index.js';
import { setThreads, poolStats } from '../dist/kernels/simd/pool.js';
import { BN_TRAIN_KERNEL } from '../dist/kernels/batch-norm.js';
for (const be of ['wasm', 'cpu']) {
  await initBackend(be, { threads: 2 });
  setThreads(2);
  const x = tf.randomNormal([8, 28, 28, 32]); const w = tf.randomNormal([3, 3, 32, 1]);
  poolStats(true);
  const g = tf.grads((a, b) => tf.depthwiseConv2d(a, b, 1, 'same').square().sum()); g([x, w]);
  console.log(be, 'dw', poolStats(true));
  const xb = tf.randomNormal([16, 14, 14, 32]), sc = tf.ones([32]), of = tf.zeros([32]);
  const bn = (a) => tf.engine().runKernel(BN_TRAIN_KERNEL, { x: a, scale: sc, offset: of }, { varianceEpsilon: 1e-3 })[0];
  tf.grad((a) => bn(a).square().sum())(xb);
  console.log(be, 'bn', poolStats(true));
}
process.exit(0);
