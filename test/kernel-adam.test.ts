/**
 * FastlrAdamStep (src/kernels/adam-step.ts) against FastOptimizer's op-by-op Adam (the stock kernels) and against an
 * exactly rounded float32 reference, on the cpu and wasm backends, over several sizes (SIMD body and scalar tail),
 * first and later steps, with and without weight decay, changing lr and mom.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { adamStep, adamStepAvailable } from '../src/kernels/adam-step.js';
import { ADAM_STEPS_KERNEL, adamSteps, adamStepsAvailable } from '../src/kernels/adam-steps.js';
import { registerKernelOverrides, restoreStockKernels } from '../src/kernels/index.js';
import { FastOptimizer, type ParamInfo } from '../src/optim/index.js';
import { onBackend } from './helpers/backend.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

const f = Math.fround;
const ADAM = { type: 'adam' as const, mom: 0.9, beta2: 0.99, eps: 1e-5, wd: 0.01 };
const SIZES: number[][] = [[1], [3], [4], [7], [2, 5], [4, 4], [17, 3], [784, 33]];

/** deterministic pseudo-random float32 values in (-scale, scale) */
function values(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = f(((s / 2 ** 32) * 2 - 1) * scale);
  }
  return out;
}

/** fastai's Adam, one float32 operation at a time, exactly rounded. */
function refAdam(p0: Float32Array, grads: Float32Array[], hypers: { lr: number; mom: number }[], decay: boolean): Float32Array[] {
  const { beta2, eps, wd } = ADAM;
  const n = p0.length;
  const p = Float64Array.from(p0);
  let m: Float64Array | null = null;
  let v: Float64Array | null = null;
  grads.forEach((g, k) => {
    const { lr, mom } = hypers[k]!;
    const t = k + 1;
    const d2 = f(1 - beta2 ** t);
    const ss = f(-lr / (1 - mom ** t));
    const nm = new Float64Array(n);
    const nv = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const g2 = f(f(g[i]! * f(1 - beta2)) * g[i]!);
      nm[i] = m ? f(f(m[i]! * f(mom)) + f(g[i]! * f(1 - mom))) : f(g[i]! * f(1 - mom));
      nv[i] = v ? f(f(v[i]! * f(beta2)) + g2) : g2;
      const pd = decay && wd !== 0 ? f(p[i]! * f(1 - lr * wd)) : p[i]!;
      p[i] = f(pd + f(f(nm[i]! * ss) / f(f(Math.sqrt(f(nv[i]! / d2))) + f(eps))));
    }
    m = nm;
    v = nv;
  });
  return [Float32Array.from(p), Float32Array.from(m!), Float32Array.from(v!)];
}

const HYPERS = [
  { lr: 1e-3, mom: 0.95 },
  { lr: 3e-2, mom: 0.9 },
  { lr: 5e-3, mom: 0.85 },
  { lr: 2.5, mom: 0.9 },
];

/** Run FastOptimizer over HYPERS on one weight (decaying) and one bias (not); returns [p, m, v] of each. */
function runOptimizer(shape: number[], seed: number): Float32Array[][] {
  const n = shape.reduce((a, b) => a * b, 1);
  const mk = (key: string, decay: boolean, s: number): ParamInfo => ({
    key,
    variable: tf.tidy(() => tf.variable(tf.tensor(values(n, s, 2), shape, 'float32'))),
    decay,
    isNorm: false,
  });
  const w = mk('w', true, seed);
  const b = mk('b', false, seed + 1);
  const opt = new FastOptimizer([{ params: [w, b] }], ADAM);
  HYPERS.forEach((h, k) => {
    const grads: tf.NamedTensorMap = {
      [w.variable.name]: tf.tensor(values(n, seed + 10 * k + 2, 0.5), shape, 'float32'),
      [b.variable.name]: tf.tensor(values(n, seed + 10 * k + 3, 3), shape, 'float32'),
    };
    opt.setHypers([h.lr], h.mom);
    opt.step(grads);
    tf.dispose(grads);
  });
  const snap = opt.snapshot();
  const out = [w, b].map((p) => [p.variable.dataSync().slice() as Float32Array, snap.params[p.key]!.m!, snap.params[p.key]!.v!]);
  opt.dispose();
  w.variable.dispose();
  b.variable.dispose();
  return out;
}

function maxRelErr(a: Float32Array, b: Float32Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!) / Math.max(1e-30, Math.abs(b[i]!)));
  return e;
}

describe.each(['cpu', 'wasm'])('FastlrAdamStep on %s', (backend) => {
  onBackend(backend, () => {
    registerKernelOverrides(backend);
  });

  it.each(SIZES.map((s, i) => [s, i] as const))('shape %j: bit-identical to exact float32 Adam, matches the op path', (shape, i) => {
    const seed = 100 + 7 * i;
    restoreStockKernels(backend);
    expect(adamStepAvailable()).toBe(false);
    expect(adamStepsAvailable()).toBe(false);
    const stock = runOptimizer(shape, seed);
    registerKernelOverrides(backend);
    expect(adamStepAvailable()).toBe(true);
    expect(adamStepsAvailable()).toBe(true);
    const before = tf.memory().numTensors;
    // one FastlrAdamSteps call per step (both parameters), then one FastlrAdamStep per parameter
    const fused = runOptimizer(shape, seed);
    const steps = tf.getKernel(ADAM_STEPS_KERNEL, backend)!;
    tf.unregisterKernel(ADAM_STEPS_KERNEL, backend);
    let single: Float32Array[][];
    try {
      expect(adamStepsAvailable()).toBe(false);
      single = runOptimizer(shape, seed);
    } finally {
      tf.registerKernel(steps);
    }
    expect(tf.memory().numTensors).toBe(before);
    for (let q = 0; q < 2; q++) for (let j = 0; j < 3; j++) expect(Array.from(single[q]![j]!)).toEqual(Array.from(fused[q]![j]!));
    const n = shape.reduce((a, b) => a * b, 1);
    const want = [
      refAdam(values(n, seed, 2), HYPERS.map((_, k) => values(n, seed + 10 * k + 2, 0.5)), HYPERS, true),
      refAdam(values(n, seed + 1, 2), HYPERS.map((_, k) => values(n, seed + 10 * k + 3, 3)), HYPERS, false),
    ];
    for (let q = 0; q < 2; q++) {
      for (let j = 0; j < 3; j++) {
        // the fused kernel rounds every operation exactly, on both backends
        expect(Array.from(fused[q]![j]!)).toEqual(Array.from(want[q]![j]!));
        // the op path is exact on cpu; XNNPACK's kernels (wasm) are within 1e-6
        if (backend === 'cpu') expect(Array.from(stock[q]![j]!)).toEqual(Array.from(fused[q]![j]!));
        else expect(maxRelErr(stock[q]![j]!, fused[q]![j]!)).toBeLessThanOrEqual(1e-6);
      }
    }
  });
  it('FastlrAdamSteps over parameters of odd sizes, first and later steps, decay on and off: FastlrAdamStep per parameter, bit for bit', () => {
    const shapes = [[1], [3], [7, 5], [17, 3], [4], [784, 33], [129]];
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      const steps = shapes.map((shape, i) => {
        const n = shape.reduce((a, b) => a * b, 1);
        const mk = (seed: number, scale: number): tf.Tensor => tf.tensor(values(n, 300 + 10 * i + seed, scale), shape, 'float32');
        const first = i % 3 === 1;
        const lr = 1e-3 * (i + 1);
        const mom = 0.9 - 0.01 * i;
        const t = first ? 1 : i + 2;
        return {
          p: mk(0, 2),
          g: mk(1, 0.5),
          m: first ? null : mk(2, 0.1),
          v: first ? null : tf.abs(mk(3, 0.01)),
          coefs: { decay: 1 - lr * ADAM.wd, mom, beta2: ADAM.beta2, debias2: 1 - ADAM.beta2 ** t, stepSize: -lr / (1 - mom ** t), eps: ADAM.eps },
          decayOn: i % 2 === 0,
        };
      });
      const all = adamSteps(steps);
      expect(all.length).toBe(steps.length);
      steps.forEach((s, i) => {
        const one = adamStep(s.p, s.g, s.m, s.v, s.coefs, s.decayOn);
        for (let j = 0; j < 3; j++) {
          expect(all[i]![j]!.shape).toEqual(s.p.shape);
          expect(Array.from(all[i]![j]!.dataSync())).toEqual(Array.from(one[j]!.dataSync()));
        }
      });
      expect(adamSteps([])).toEqual([]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });
});
