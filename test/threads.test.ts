/**
 * Threads (config `threads`, --threads, FASTLR_THREADS; src/kernels/simd/pool.ts): every output element is computed
 * by one thread in a fixed order, so results are BIT-IDENTICAL at 1, 2 or 3 threads — kernel by kernel on the wasm
 * and cpu backends, and for a whole short `fastlr fit` (the saved weights, byte for byte). The setting is
 * validated where it was written and recorded in every JSON document and in plan.json.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { availableThreads, poolStats, setThreads, threadCount, threadsAdaptive } from '../src/kernels/simd/pool.js';
import { adaptiveChoices, adaptiveSteps, resetAdaptive, stepBegin, stepEnd, withThreads } from '../src/kernels/simd/adaptive.js';
import { privateHeap } from '../src/kernels/simd/runtime.js';
import { rowBlocks } from '../src/kernels/simd/tiles.js';
import { BN_TRAIN_KERNEL } from '../src/kernels/batch-norm.js';
import { ACT_BIAS_GRAD_KERNEL } from '../src/kernels/act-bias-grad.js';
import { foldWeights } from '../src/kernels/fold-weights.js';
import { biasAct } from '../src/kernels/bias-act.js';
import { adamStep } from '../src/kernels/adam-step.js';
import { adamSteps } from '../src/kernels/adam-steps.js';
import { runCli } from './helpers/cli.js';
import { values } from './helpers/kernels.js';

const size = (s: number[]): number => s.reduce((x, y) => x * y, 1);
const t = (shape: number[], seed: number): tf.Tensor => tf.tensor(values(size(shape), seed), shape);
const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

interface Case {
  name: string;
  run(): tf.Tensor;
  /** must run on the pool at 2 threads (so the comparison checks a real split): on both backends, or on wasm only */
  splits?: true | 'wasm';
}

const CASES: Case[] = [
  { name: 'matMul 64×784 · 784×256', splits: true, run: () => tf.matMul(t([64, 784], 1), t([784, 256], 2)) },
  { name: 'matMul 67×300 · 300×136 (rows % 4 = 3)', run: () => tf.matMul(t([67, 300], 3), t([300, 136], 4)) },
  { name: 'matMul 784×64ᵀ · 64×256 (dW)', run: () => tf.matMul(t([64, 784], 5), t([64, 256], 6), true, false) },
  { name: 'matMul batch 3 × 41×128 · 128×64', run: () => tf.matMul(t([3, 41, 128], 7), t([3, 128, 64], 8)) },
  { name: 'dense 64×800 · 800×10 (+bias, relu)', run: () => tf.fused.matMul({ a: t([64, 800], 9), b: t([800, 10], 10), bias: t([10], 11), activation: 'relu' }) },
  { name: 'conv2d 16×28×28×1 3×3×16 (conv_direct, split by output rows)', splits: 'wasm', run: () => tf.conv2d(t([16, 28, 28, 1], 12) as tf.Tensor4D, t([3, 3, 1, 16], 13) as tf.Tensor4D, 1, 'valid') },
  {
    name: 'conv2d 8×31×29×3 3×3×32 stride 2 same and 4×13×13×16 3×3×32 valid (conv_direct: edge positions one at a time, pairs inside)',
    splits: 'wasm',
    run: () => tf.concat([
      tf.conv2d(t([8, 31, 29, 3], 55) as tf.Tensor4D, t([3, 3, 3, 32], 56) as tf.Tensor4D, 2, 'same').flatten(),
      tf.conv2d(t([4, 13, 13, 16], 57) as tf.Tensor4D, t([3, 3, 16, 32], 58) as tf.Tensor4D, 1, 'valid').flatten(),
    ]),
  },
  { name: 'conv2d 8×13×13×16 3×3×32 same stride 2', run: () => tf.conv2d(t([8, 13, 13, 16], 14) as tf.Tensor4D, t([3, 3, 16, 32], 15) as tf.Tensor4D, 2, 'same') },
  { name: 'conv2d 1×1 pointwise 4×14×14×24 → 48', run: () => tf.conv2d(t([4, 14, 14, 24], 18) as tf.Tensor4D, t([1, 1, 24, 48], 19) as tf.Tensor4D, 1, 'valid') },
  { name: 'conv2d 5×5 same 3×17×19×8 → 24 (padding on every side)', run: () => tf.conv2d(t([3, 17, 19, 8], 20) as tf.Tensor4D, t([5, 5, 8, 24], 21) as tf.Tensor4D, 1, 'same') },
  {
    name: 'conv2d gradients, first MNIST layer 32×28×28×1 → 16 (direct filter gradient, one channel)',
    run: () => {
      const x = t([32, 28, 28, 1], 22) as tf.Tensor4D;
      const w = t([3, 3, 1, 16], 23) as tf.Tensor4D;
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid').square().sum());
      const [dx, dw] = g([x, w]);
      return tf.concat([dx!.flatten(), dw!.flatten()]);
    },
  },
  {
    name: 'conv2d gradients (filter and input) 16×13×13×16 → 32',
    run: () => {
      const x = t([16, 13, 13, 16], 16) as tf.Tensor4D;
      const w = t([3, 3, 16, 32], 17) as tf.Tensor4D;
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid').square().sum());
      const [dx, dw] = g([x, w]);
      return tf.concat([dx!.flatten(), dw!.flatten()]);
    },
  },
  {
    name: 'conv2d 1×1 filter gradients 8×14×14×24 → 48 and stride 2 8×14×14×96 → 160 (split by input-channel blocks)',
    splits: 'wasm',
    run: () => {
      const dw = (x: tf.Tensor4D, w: tf.Tensor4D, stride: number): tf.Tensor =>
        tf.grad((b: tf.Tensor) => tf.conv2d(x, b as tf.Tensor4D, stride, 'same').square().sum())(w);
      const a = dw(t([8, 14, 14, 24], 50) as tf.Tensor4D, t([1, 1, 24, 48], 51) as tf.Tensor4D, 1);
      const b = dw(t([8, 14, 14, 96], 52) as tf.Tensor4D, t([1, 1, 96, 160], 53) as tf.Tensor4D, 2);
      return tf.concat([a.flatten(), b.flatten()]);
    },
  },
  {
    name: 'ZeroPadding2D forward and gradient (PadV2, Slice) 8×28×28×32, uneven pads, and a slice of a batch (split by images / runs)',
    splits: 'wasm',
    run: () => {
      const x = t([8, 28, 28, 32], 54);
      const pad = (a: tf.Tensor): tf.Tensor => tf.pad(a, [[0, 0], [0, 1], [0, 1], [0, 0]]);
      const dx = tf.grad((a: tf.Tensor) => pad(a).square().sum())(x);
      const uneven = tf.pad(x, [[0, 0], [1, 2], [0, 3], [0, 0]]);
      const part = tf.slice(x, [1, 2, 3, 0], [5, 20, 17, 32]);
      return tf.concat([pad(x).flatten(), dx.flatten(), uneven.flatten(), part.flatten()]);
    },
  },
  {
    name: 'depthwise conv and its gradients 8×28×28×32 3×3 same (MobileNet; split by images, the filter gradient by channels)',
    splits: true,
    run: () => {
      const x = t([8, 28, 28, 32], 24) as tf.Tensor4D;
      const w = t([3, 3, 32, 1], 25) as tf.Tensor4D;
      const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same').square().sum());
      const [dx, dw] = g([x, w]);
      return tf.concat([tf.depthwiseConv2d(x, w, 2, 'same').flatten(), dx!.flatten(), dw!.flatten()]);
    },
  },
  {
    name: 'batch norm (training) and its gradient 16×14×14×32 (sums split by rows at 32-row blocks, then folded in block order; the passes by rows)',
    splits: true,
    run: () => {
      const x = t([16, 14, 14, 32], 26);
      const scale = t([32], 27);
      const offset = t([32], 28);
      const bn = (a: tf.Tensor): tf.Tensor => (tf.engine().runKernel(BN_TRAIN_KERNEL, { x: a, scale, offset }, { varianceEpsilon: 1e-3 }) as tf.Tensor[])[0]!;
      const dx = tf.grad((a: tf.Tensor) => bn(a).square().sum())(x);
      return tf.concat([bn(x).flatten(), dx.flatten()]);
    },
  },
  {
    name: 'batch norm (training) computing relu6 / relu, and its gradient 16×14×14×32 (the masked sums, the fused passes)',
    splits: true,
    run: () => {
      const x = t([16, 14, 14, 32], 50).mul(4);
      const scale = t([32], 51).mul(3);
      const offset = t([32], 52).mul(6);
      const bn = (a: tf.Tensor, activation: string): tf.Tensor =>
        (tf.engine().runKernel(BN_TRAIN_KERNEL, { x: a, scale, offset }, { varianceEpsilon: 1e-3, activation }) as tf.Tensor[])[0]!;
      const out = ['relu6', 'relu'].flatMap((act) => [bn(x, act).flatten(), tf.grad((a: tf.Tensor) => bn(a, act).mul(x).sum())(x).flatten()]);
      return tf.concat(out);
    },
  },
  {
    name: 'a folded conv-BN-act gradient 16×14×14×32: the relu6 mask and the bias sum in one pass, and the linear bias sum (blocked sums split by rows at 32-row blocks)',
    splits: true,
    run: () => {
      const y = t([16, 14, 14, 32], 55).mul(5).add(3);
      const dy = t([16, 14, 14, 32], 56);
      const [dz, db] = tf.engine().runKernel(ACT_BIAS_GRAD_KERNEL, { y, dy }, { activation: 'relu6' }) as tf.Tensor[];
      const [dbLinear] = tf.engine().runKernel(ACT_BIAS_GRAD_KERNEL, { dy }, { activation: 'linear' }) as tf.Tensor[];
      return tf.concat([dz!.flatten(), db!, dbLinear!]);
    },
  },
  {
    name: 'folded conv weights (FastlrFoldWeights) 1×1×320×256 and their gradient (products split by rows, the Σ dfilter·w by 32-row blocks)',
    splits: true,
    run: () => {
      const [w, mean, variance, gamma, beta] = [t([1, 1, 320, 256], 57), t([256], 58), t([256], 59).abs().add(0.1), t([256], 60), t([256], 61)];
      const [rf, rb] = [t([1, 1, 320, 256], 62), t([256], 63)];
      const fold = (a: tf.Tensor, g: tf.Tensor): [tf.Tensor, tf.Tensor] => foldWeights({ w: a, mean, variance, gamma: g, beta, bias: null }, 1e-3)!;
      const [f, b] = fold(w, gamma);
      const [dw, dg] = tf.grads((a: tf.Tensor, g: tf.Tensor) => {
        const [ff, bb] = fold(a, g);
        return tf.add(tf.sum(tf.mul(ff, rf)), tf.sum(tf.mul(bb, rb)));
      })([w, gamma]);
      return tf.concat([f.flatten(), b, dw!.flatten(), dg!]);
    },
  },
  {
    name: 'batch norm in inference mode (FusedBatchNorm) and its gradient 16×14×14×32 (split by rows)',
    splits: true,
    run: () => {
      const x = t([16, 14, 14, 32], 45);
      const [mean, variance, offset, scale] = [t([32], 46), t([32], 47).abs(), t([32], 48), t([32], 49)];
      const bn = (a: tf.Tensor): tf.Tensor => tf.batchNorm(a, mean, variance, offset, scale, 1e-3);
      const dx = tf.grad((a: tf.Tensor) => bn(a).square().sum())(x);
      return tf.concat([bn(x).flatten(), dx.flatten()]);
    },
  },
  {
    name: 'max pool 2×2 and its gradient 64×26×26×16 and 32×11×11×32 (odd: an uncovered row and column; split by images)',
    splits: 'wasm',
    run: () => {
      const pool = (x: tf.Tensor4D): tf.Tensor[] => {
        const dx = tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 2, 2, 'valid').square().sum())(x);
        return [tf.maxPool(x, 2, 2, 'valid').flatten(), dx.flatten()];
      };
      return tf.concat([...pool(t([64, 26, 26, 16], 35) as tf.Tensor4D), ...pool(t([32, 11, 11, 32], 59) as tf.Tensor4D)]);
    },
  },
  {
    name: 'max pool 3×3 stride 2 same (padding, overlapping windows) and its gradient 16×25×23×8',
    splits: 'wasm',
    run: () => {
      const x = t([16, 25, 23, 8], 36) as tf.Tensor4D;
      const dx = tf.grad((a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, 3, 2, 'same').square().sum())(x);
      return tf.concat([tf.maxPool(x, 3, 2, 'same').flatten(), dx.flatten()]);
    },
  },
  {
    name: "a conv layer's bias + relu and the relu gradient 64×26×26×16 (split by rows / elements)",
    splits: 'wasm',
    run: () => {
      const x = t([64, 26, 26, 16], 37);
      const b = t([16], 38) as tf.Tensor1D;
      const g = tf.grads((a: tf.Tensor, bb: tf.Tensor) => biasAct(a, bb as tf.Tensor1D, true).square().sum());
      const [dx, db] = g([x, b]);
      return tf.concat([biasAct(x, b, true).flatten(), dx!.flatten(), db!.flatten()]);
    },
  },
  {
    name: 'conv2d input gradient 64×13×13×16 → 32 (stride 1: conv_direct on the flipped filter, split by rows)',
    splits: 'wasm',
    run: () => {
      const w = t([3, 3, 16, 32], 39) as tf.Tensor4D;
      const dy = t([64, 11, 11, 32], 40) as tf.Tensor4D;
      return tf.conv2dTranspose(dy, w, [64, 13, 13, 16], 1, 'valid').flatten();
    },
  },
  {
    name: 'Adam, first and later steps, with and without weight decay, 784×256 (split by elements)',
    splits: 'wasm',
    run: () => {
      const c = { decay: 0.999, mom: 0.9, beta2: 0.99, debias2: 0.0199, stepSize: -0.01, eps: 1e-5 };
      const [p1, m1, v1] = adamStep(t([784, 256], 41), t([784, 256], 42), null, null, c, true);
      const [p2, m2, v2] = adamStep(p1, t([784, 256], 43), m1, v1, c, false);
      return tf.concat([p1, m1, v1, p2, m2, v2].map((x) => x.flatten()));
    },
  },
  {
    name: 'Adam over six parameters in one call (784×256, 300×129 split, small ones whole; first and later steps)',
    splits: 'wasm',
    run: () => {
      const shapes = [[784, 256], [256], [300, 129], [33], [7, 5], [129]];
      const steps = shapes.map((shape, i) => {
        const first = i % 2 === 1;
        return {
          p: t(shape, 50 + 4 * i),
          g: t(shape, 51 + 4 * i),
          m: first ? null : t(shape, 52 + 4 * i),
          v: first ? null : tf.abs(t(shape, 53 + 4 * i)),
          coefs: { decay: 0.999, mom: 0.9, beta2: 0.99, debias2: 0.0199 * (i + 1), stepSize: -0.01, eps: 1e-5 },
          decayOn: i % 3 === 0,
        };
      });
      return tf.concat(adamSteps(steps).flatMap((o) => o.map((x) => x.flatten())));
    },
  },
];

describe('threads: the tile split', () => {
  it('rowBlocks covers every row once, in order, blocks aligned to 4', () => {
    for (const rows of [1, 3, 4, 5, 64, 67, 784, 1001]) {
      for (const parts of [1, 2, 3, 7]) {
        const b = rowBlocks(rows, parts);
        expect(b[0]![0]).toBe(0);
        expect(b[b.length - 1]![1]).toBe(rows);
        b.forEach(([from, to], i) => {
          expect(to).toBeGreaterThan(from);
          if (i > 0) expect(from).toBe(b[i - 1]![1]);
          if (i < b.length - 1) expect((to - from) % 4).toBe(0);
        });
        expect(b.length).toBeLessThanOrEqual(parts);
      }
    }
  });

  it('auto is the cores available; bad counts are refused', async () => {
    expect(availableThreads()).toBe(os.availableParallelism());
    expect((await initBackend('cpu', { threads: 'auto' })).threads).toBe(os.availableParallelism());
    expect((await initBackend('cpu', { threads: 3 })).threads).toBe(3);
    await expect(initBackend('cpu', { threads: 0 })).rejects.toThrow(/positive integer/);
  });
});

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`threads: kernels on ${backend} are bit-identical at 1, 2 and 3 threads`, () => {
    afterAll(() => setThreads(1));
    for (const c of CASES) {
      it(c.name, async () => {
        await initBackend(backend, { threads: 1 });
        const got = [1, 2, 3].map((n) => {
          setThreads(n);
          const before = tf.memory().numTensors;
          poolStats(true);
          const out = tf.tidy(c.run);
          const data = out.dataSync() as Float32Array;
          out.dispose();
          if (n > 1 && (c.splits === true || c.splits === backend)) expect(poolStats(true).splitRuns).toBeGreaterThan(0);
          expect(tf.memory().numTensors).toBe(before);
          return bytes(data.slice());
        });
        expect(got[1]!.equals(got[0]!)).toBe(true);
        expect(got[2]!.equals(got[0]!)).toBe(true);
      });
    }
  });
}

describe('threads: auto measures per call site and keeps a kernel on one thread where splitting does not pay', () => {
  afterAll(() => setThreads(1));
  const busy = (ms: number): void => {
    const end = performance.now() + ms;
    while (performance.now() < end);
  };

  it('a site whose split path is slower settles on one thread, a faster one on the split; an explicit count never measures', () => {
    setThreads('auto');
    const counts = threadCount();
    if (counts < 2) setThreads(2); // one core: explicit 2 below still checks the no-measuring path
    if (counts >= 2) {
      expect(threadsAdaptive()).toBe(true);
      const slowSplit: number[] = [];
      const fastSplit: number[] = [];
      for (let i = 0; i < 40; i++) {
        withThreads('test slow split', (t) => { slowSplit.push(t); busy(t > 1 ? 3 : 0.2); });
        withThreads('test fast split', (t) => { fastSplit.push(t); busy(t > 1 ? 0.2 : 3); });
      }
      // after the probes: one thread on the first site (but for the re-probes), the split on the second
      const tail = (a: number[]): number[] => a.slice(20);
      expect(tail(slowSplit).filter((t) => t === 1).length).toBeGreaterThanOrEqual(18);
      expect(tail(fastSplit).filter((t) => t > 1).length).toBeGreaterThanOrEqual(18);
      const sites = adaptiveChoices().filter((c) => c.key.startsWith('test '));
      expect(sites.find((c) => c.key.startsWith('test slow'))?.threads).toBe('one');
      expect(sites.find((c) => c.key.startsWith('test fast'))?.threads).toBe('split');
    }
    setThreads(2);
    expect(threadsAdaptive()).toBe(false);
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) withThreads('test explicit', (t) => { seen.add(t); });
    expect([...seen]).toEqual([2]);
  });

  it('whole steps judge the sites: a split that is faster per call but makes the step slower is dropped for one thread everywhere', () => {
    setThreads('auto');
    if (threadCount() < 2) return setThreads(1); // one core: nothing to split, the judge never runs
    for (const penalty of [3, 0]) {
      resetAdaptive();
      const used: number[] = [];
      for (let i = 0; i < 40; i++) {
        stepBegin();
        let split = false;
        // per call the split is faster; but a step that split costs `penalty` ms elsewhere (the main thread's JS
        // waiting for a core a worker holds, say), which no call site's timing sees
        withThreads('test step site', (t) => { split = t > 1; busy(t > 1 ? 0.3 : 1); });
        if (split) busy(penalty);
        stepEnd();
        used.push(split ? 2 : 1);
      }
      const after = used.slice(20); // warm-up and the comparison are over; no re-probe falls in steps 20-39
      const st = adaptiveSteps();
      expect(st.steps).toBe(40);
      if (penalty > 0) {
        expect(st.split).toBe(false);
        expect(after.every((t) => t === 1)).toBe(true);
        expect(adaptiveChoices().find((c) => c.key.startsWith('test step'))?.threads).toBe('split');
      } else {
        expect(st.split).toBe(true);
        expect(after.filter((t) => t > 1).length).toBeGreaterThanOrEqual(18);
      }
    }
    resetAdaptive();
    setThreads(1);
  });

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`on ${backend}, auto gives the same bytes as one thread on every call, whichever path each call took`, async () => {
      await initBackend(backend, { threads: 1 });
      const run = (): Buffer => {
        const out = tf.tidy(() => {
          const x = t([16, 13, 13, 16], 31) as tf.Tensor4D;
          const w = t([3, 3, 16, 32], 32) as tf.Tensor4D;
          const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'valid').square().sum());
          const [dx, dw] = g([x, w]);
          return tf.concat([dx!.flatten(), dw!.flatten(), tf.matMul(t([64, 784], 33), t([784, 256], 34)).flatten()]);
        });
        const data = out.dataSync() as Float32Array;
        out.dispose();
        return bytes(data.slice());
      };
      const one = run();
      setThreads('auto');
      for (let i = 0; i < 12; i++) expect(run().equals(one)).toBe(true);
      setThreads(1);
    });
  }
});

describe('threads: the worker pool', () => {
  it('runs program calls on several threads over one shared memory', () => {
    const heap = privateHeap();
    expect(heap).not.toBeNull();
    setThreads(3);
    try {
      expect(heap!.threads()).toBe(3);
      // three relu_grad calls on disjoint quarters; the fourth quarter stays untouched
      const n = 1024;
      heap!.reserve(4 * 4 * n * 3);
      const f = heap!.f32();
      const y = values(4 * n, 1);
      const dy = values(4 * n, 2);
      f.set(y, 0);
      f.set(dy, 4 * n);
      f.fill(7, 8 * n, 12 * n);
      heap!.parallel([0, 1, 2].map((q) => ({ fn: 'relu_grad', args: [4 * q * n, 4 * (4 * n + q * n), 4 * (8 * n + q * n), n] })));
      const out = heap!.f32().subarray(8 * n, 12 * n);
      for (let i = 0; i < 3 * n; i++) expect(out[i]).toBe(y[i]! > 0 ? dy[i] : 0);
      for (let i = 3 * n; i < 4 * n; i++) expect(out[i]).toBe(7);
    } finally {
      setThreads(1);
    }
  });

  it('runs more calls than threads, each exactly once, whichever thread claims it', () => {
    const heap = privateHeap();
    expect(heap).not.toBeNull();
    setThreads(2);
    try {
      // 37 relu_grad calls of 64 elements each (a prime count, so the threads cannot split them evenly)
      const calls = 37;
      const n = 64 * calls;
      heap!.reserve(4 * 3 * n);
      const f = heap!.f32();
      const y = values(n, 3);
      const dy = values(n, 4);
      for (let round = 0; round < 50; round++) {
        f.set(y, 0);
        f.set(dy, n);
        f.fill(7, 2 * n, 3 * n);
        heap!.parallel(Array.from({ length: calls }, (_, q) => ({ fn: 'relu_grad', args: [4 * 64 * q, 4 * (n + 64 * q), 4 * (2 * n + 64 * q), 64] })));
        const out = heap!.f32().subarray(2 * n, 3 * n);
        for (let i = 0; i < n; i++) if (out[i] !== (y[i]! > 0 ? dy[i] : 0)) throw new Error(`round ${round}: element ${i} is ${out[i]}`);
      }
    } finally {
      setThreads(1);
    }
  });
});

describe('threads: training steps of a CNN with BatchNorm, depthwise and a residual Add', () => {
  afterAll(() => setThreads(1));
  /** conv(relu) → BN → depthwise → BN → relu → Add(the conv) → maxpool → 1×1 conv(relu) → dense: every split kernel */
  function build(): tf.LayersModel {
    const L = tf.layers;
    const input = tf.input({ shape: [20, 20, 8] });
    const c1 = L.conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c1' }).apply(input) as tf.SymbolicTensor;
    const b1 = L.batchNormalization({ name: 'bn1' }).apply(c1) as tf.SymbolicTensor;
    const dw = L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'dw' }).apply(b1) as tf.SymbolicTensor;
    const b2 = L.batchNormalization({ name: 'bn2' }).apply(dw) as tf.SymbolicTensor;
    const r2 = L.reLU({ name: 'r2' }).apply(b2) as tf.SymbolicTensor;
    const add = L.add({ name: 'add' }).apply([r2, c1]) as tf.SymbolicTensor;
    const pool = L.maxPooling2d({ poolSize: 2, name: 'pool' }).apply(add) as tf.SymbolicTensor;
    const c2 = L.conv2d({ filters: 16, kernelSize: 1, activation: 'relu', name: 'c2' }).apply(pool) as tf.SymbolicTensor;
    const flat = L.flatten({ name: 'flat' }).apply(c2) as tf.SymbolicTensor;
    const out = L.dense({ units: 10, name: 'out' }).apply(flat) as tf.SymbolicTensor;
    return tf.model({ inputs: input, outputs: out });
  }

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`on ${backend}: losses and weights (running statistics included) are bit-identical at 1, 2 and 3 threads`, async () => {
      const { Learner } = await import('../src/engine/learner.js');
      const { layerParams } = await import('../src/model/groups.js');
      await initBackend(backend, { threads: 1 });
      const batch = 16;
      const px = 20 * 20 * 8;
      const x = values(batch * px, 44);
      const y = Float32Array.from({ length: batch }, (_, i) => (i * 7) % 10);
      let init: tf.Tensor[] | null = null;
      const results: { losses: number[]; weights: Buffer }[] = [];
      for (const n of [1, 2, 3]) {
        setThreads(n);
        const before = tf.memory().numTensors;
        const model = build();
        if (init === null) init = model.getWeights().map((w) => w.clone());
        else model.setWeights(init);
        const params = model.layers.flatMap((l, i) => layerParams(l, i));
        const learner = new Learner({
          model,
          groups: [{ params, layers: model.layers.map((l) => l.name) }],
          data: {
            train: { x, y, n: batch }, valid: { x: x.subarray(0, px), y: y.subarray(0, 1), n: 1 }, inputShape: [20, 20, 8],
            task: 'classification', nClasses: 10, targetDim: 1, classNames: Array.from({ length: 10 }, (_, i) => String(i)), source: 'random',
          },
          loss: 'cross_entropy', metrics: [], optimizer: { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 },
          batchSize: batch, shuffle: false, dropLast: false, seed: 42, trainBn: true,
        } as ConstructorParameters<typeof Learner>[0]);
        const xs = tf.tensor4d(x, [batch, 20, 20, 8]);
        const ys = tf.tensor1d(y);
        poolStats(true);
        const losses: number[] = [];
        for (let s = 0; s < 3; s++) losses.push(await learner.trainStep(xs, ys, [3e-3]));
        if (n > 1 && backend === 'wasm') expect(poolStats(true).splitRuns).toBeGreaterThan(0);
        const weights = Buffer.concat(model.getWeights().map((w) => bytes(w.dataSync() as Float32Array)));
        results.push({ losses, weights });
        tf.dispose([xs, ys]);
        learner.dispose();
        model.dispose();
        expect(tf.memory().numTensors).toBeLessThanOrEqual(before + (n === 1 ? init.length : 0));
      }
      tf.dispose(init!);
      expect(results[1]!.losses).toEqual(results[0]!.losses);
      expect(results[2]!.losses).toEqual(results[0]!.losses);
      expect(results[1]!.weights.equals(results[0]!.weights)).toBe(true);
      expect(results[2]!.weights.equals(results[0]!.weights)).toBe(true);
    });
  }
});

/** Every weight file of a run folder, concatenated in name order. */
function weightBytes(dir: string): Buffer {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.bin')) files.push(p);
    }
  };
  walk(dir);
  expect(files.length).toBeGreaterThan(0);
  return Buffer.concat(files.map((f) => readFileSync(f)));
}

describe('threads: a whole fit', () => {
  const dir = mkdtempSync(join(os.tmpdir(), 'fastlr-threads-'));
  const cfg = join(dir, 'cnn.yaml');
  writeFileSync(
    cfg,
    readFileSync('configs/mnist-cnn.yaml', 'utf8')
      .replace('  source: mnist\n', '  source: mnist\n  mnist: { limit: 256 }\n')
      .replace(/^expect:.*$/m, '')
      .replace(/^fit: \{ epochs: 6,/m, 'fit: { epochs: 1,'),
  );

  for (const backend of ['wasm', 'cpu'] as const) {
    it(`CNN on ${backend}: the saved weights are byte-equal at --threads 1, 2 and 3, and each document records its threads`, async () => {
      const weights: Buffer[] = [];
      for (const n of [1, 2, 3]) {
        const res = await runCli(['fit', cfg, '--json', '--backend', backend, '--threads', String(n), '--out', join(dir, `runs-${backend}-${n}`)]);
        expect(res.code, res.stderr).toBe(0);
        const doc = JSON.parse(res.stdout) as { threads: number; backend: string; run_dir: string };
        expect(doc.backend).toBe(backend);
        expect(doc.threads).toBe(n);
        const plan = JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8')) as { threads: unknown; threads_used: number };
        expect(plan.threads).toBe(n);
        expect(plan.threads_used).toBe(n);
        weights.push(weightBytes(doc.run_dir));
      }
      expect(weights[1]!.equals(weights[0]!)).toBe(true);
      expect(weights[2]!.equals(weights[0]!)).toBe(true);
    });
  }
});

describe('threads: the setting', () => {
  it('defaults to auto: every core, recorded in the find document', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'fastlr-threads-auto-'));
    const res = await runCli(['find', 'configs/mnist-mlp.yaml', '--json', '--quiet', '--set', 'find.num_it=6', '--set', 'data.mnist.limit=300', '--out', dir], {
      env: { FASTLR_THREADS: '' },
    });
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as { threads: number; run_dir?: string };
    expect(doc.threads).toBe(os.availableParallelism());
  });

  it('FASTLR_THREADS sets it, a flag wins over it, and bad values are errors naming where they came from', async () => {
    const env = await runCli(['check', 'configs/mnist-mlp.yaml', '--json'], { env: { FASTLR_THREADS: 'many' } });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('FASTLR_THREADS=many');
    expect(env.stderr).toMatch(/threads/);
    const flag = await runCli(['check', 'configs/mnist-mlp.yaml', '--threads', '0'], { env: { FASTLR_THREADS: '2' } });
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('--threads 0');
    const fromEnv = await runCli(['check', 'configs/mnist-mlp.yaml', '--json'], { env: { FASTLR_THREADS: '2' } });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(fromEnv.stdout))).toContain('"threads":2');
    const cfg = join(mkdtempSync(join(os.tmpdir(), 'fastlr-threads-cfg-')), 'bad.yaml');
    writeFileSync(cfg, `${readFileSync('configs/mnist-mlp.yaml', 'utf8')}\nthreads: -1\n`);
    const file = await runCli(['check', cfg]);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/bad\.yaml:\d+:\d+.*threads/);
  });
});
