#!/usr/bin/env node
// The MNIST CNN's heavy kernels one by one (batch 64, the shapes of configs/mnist-cnn.yaml), ms per call on wasm:
//   node bench/tools/cnn-kernels.mjs [threads=1] [reps=40]
// Wall time per call (median of reps), the main thread's run time less its waits for a core (schedstat), and for
// split calls the pool's "balanced" time on a core (simd/pool.ts PoolStats, FASTLR_POOL_CPU=1): what a machine
// with a free core per thread would take.
process.env.FASTLR_POOL_CPU ??= '1';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../dist/backend/index.js';
import { poolStats } from '../../dist/kernels/simd/pool.js';
const [threadsArg = '1', repsArg = '40'] = process.argv.slice(2);
await initBackend('wasm', { threads: Number(threadsArg) });
const reps = Number(repsArg);
const r = (shape, seed) => tf.randomNormal(shape, 0, 1, 'float32', seed);
const x1 = r([64, 28, 28, 1], 1), w1 = r([3, 3, 1, 16], 2), y1 = r([64, 26, 26, 16], 3), p1 = r([64, 13, 13, 16], 4);
const w2 = r([3, 3, 16, 32], 5), y2 = r([64, 11, 11, 32], 6), p2 = r([64, 5, 5, 32], 7);
const run = (name, inputs, attrs) => tf.engine().runKernel(name, inputs, attrs);
const conv = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] };
const pool = { filterSize: [2, 2], strides: [2, 2], pad: 'valid' };
const xm = r([8, 224, 224, 3], 8), wm = r([3, 3, 3, 32], 9);
const cases = [
  ['Conv2D mobilenet stem', () => run('Conv2D', { x: xm, filter: wm }, { ...conv, strides: [2, 2], pad: 'same' })],
  ['Conv2D conv1', () => run('Conv2D', { x: x1, filter: w1 }, conv)],
  ['Conv2D conv2', () => run('Conv2D', { x: p1, filter: w2 }, conv)],
  ['BackpropFilter conv1', () => run('Conv2DBackpropFilter', { x: x1, dy: y1 }, { ...conv, filterShape: [3, 3, 1, 16] })],
  ['BackpropFilter conv2', () => run('Conv2DBackpropFilter', { x: p1, dy: y2 }, { ...conv, filterShape: [3, 3, 16, 32] })],
  ['BackpropInput conv2', () => run('Conv2DBackpropInput', { dy: y2, filter: w2 }, { ...conv, inputShape: [64, 13, 13, 16] })],
  ['MaxPool 26x26x16', () => run('MaxPool', { x: y1 }, pool)],
  ['MaxPool 11x11x32', () => run('MaxPool', { x: y2 }, pool)],
  ['MaxPoolGrad 26x26x16', () => run('MaxPoolGrad', { dy: p1, input: y1, output: p1 }, pool)],
  ['Sum 64x26x26x16', () => run('Sum', { x: y1 }, { axis: [0, 1, 2], keepDims: false })],
  ['Sum 64x11x11x32', () => run('Sum', { x: y2 }, { axis: [0, 1, 2], keepDims: false })],
  ['MaxPoolGrad 11x11x32', () => run('MaxPoolGrad', { dy: p2, input: y2, output: p2 }, pool)],
];
const waited = () => readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ').map(Number);
const filter = process.env.ONLY;
for (const [name, f] of cases) {
  if (filter && !name.includes(filter)) continue;
  for (let i = 0; i < 3; i++) tf.dispose(f());
  const walls = [];
  let crit = 0;
  poolStats(true);
  for (let i = 0; i < reps; i++) {
    const [, w0] = waited();
    const t0 = performance.now();
    const out = f();
    const t = performance.now() - t0;
    const [, w1] = waited();
    tf.dispose(out);
    walls.push(t);
    crit += t - (w1 - w0) / 1e6;
  }
  walls.sort((a, b) => a - b);
  const ps = poolStats(true);
  const split = ps.splitRuns > 0 ? `  split ${(ps.splitRuns / reps).toFixed(1)}/call balanced-cpu ${(ps.splitBalancedCpuMs / reps).toFixed(3)} work-cpu ${(ps.splitWorkCpuMs / reps).toFixed(3)}` : '';
  console.log(`${name.padEnd(24)} median ${walls[walls.length >> 1].toFixed(3)} ms  min ${walls[0].toFixed(3)}  main-less-waits ${(crit / reps).toFixed(3)}${split}`);
}
