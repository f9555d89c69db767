/**
 * FastlrFoldWeights and its gradient (src/kernels/fold-weights.ts): a BN folded into the conv's weights, filter' =
 * w·s, bias' = β + (b − μ)·s with s = γ/√(variance + ε), against the same formula in tf's ops, value and gradient
 * to every input (the moving statistics too), with and without γ / β / the conv's bias, for conv and depthwise
 * filters with channel counts on the SIMD path (C % 4 = 0) and the plain loops.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/index.js';
import { foldWeights, FOLD_WEIGHTS_KERNEL } from '../src/kernels/fold-weights.js';
import { relErr, values } from './helpers/kernels.js';

interface Case {
  name: string;
  w: number[];
  depthwise: boolean;
  gamma: boolean;
  beta: boolean;
  bias: boolean;
}

const CASES: Case[] = [
  { name: 'conv 3×3×5×12, γ β b', w: [3, 3, 5, 12], depthwise: false, gamma: true, beta: true, bias: true },
  { name: 'conv 1×1×7×6 (C % 4 ≠ 0), γ β', w: [1, 1, 7, 6], depthwise: false, gamma: true, beta: true, bias: false },
  { name: 'depthwise 3×3×40×1, no γ, b', w: [3, 3, 40, 1], depthwise: true, gamma: false, beta: true, bias: true },
  { name: 'depthwise 3×3×3×2 (C = 6), no β, no b', w: [3, 3, 3, 2], depthwise: true, gamma: true, beta: false, bias: false },
  { name: 'conv 1×1×96×40 (rows > 32: blocked sums), γ β', w: [1, 1, 96, 40], depthwise: false, gamma: true, beta: true, bias: false },
];

const EPS = 1e-3;

/** the fold in tf's ops (conv-bn-fold.ts's fallback) */
function stockFold(depthwise: boolean, w: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, b: tf.Tensor | null): [tf.Tensor, tf.Tensor] {
  const inv = tf.div(1, tf.sqrt(tf.add(variance, EPS)));
  const s = gamma === null ? inv : tf.mul(gamma, inv);
  const filter = depthwise ? tf.mul(w, tf.reshape(s, [w.shape[2]!, w.shape[3]!])) : tf.mul(w, s);
  const centred = b === null ? tf.neg(mean) : tf.sub(b, mean);
  const shifted = tf.mul(centred, s);
  return [filter, beta === null ? shifted : tf.add(beta, shifted)];
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`${FOLD_WEIGHTS_KERNEL} on ${backend}`, () => {
    for (const c of CASES) {
      it(`${c.name}: values and the gradients to w, μ, σ², γ, β, b agree with tf's ops to rounding`, async () => {
        await initBackend(backend);
        // the output channels: a depthwise filter's c·m, a conv's cout
        const C = c.depthwise ? c.w[2]! * c.w[3]! : c.w[3]!;
        const n = c.w.reduce((a, b) => a * b, 1);
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const w = tf.tensor(values(n, 1), c.w);
          const mean = tf.tensor(values(C, 2));
          const variance = tf.tensor(values(C, 3)).abs().add(0.1);
          const gamma = c.gamma ? tf.tensor(values(C, 4)).mul(2) : null;
          const beta = c.beta ? tf.tensor(values(C, 5)) : null;
          const bias = c.bias ? tf.tensor(values(C, 6)).mul(3) : null;
          const rf = tf.tensor(values(n, 7), c.w);
          const rb = tf.tensor(values(C, 8));
          const xs = [w, mean, variance, gamma, beta, bias].filter((t): t is tf.Tensor => t !== null);
          const unpack = (a: tf.Tensor[]): (tf.Tensor | null)[] => {
            let i = 0;
            return [w, mean, variance, gamma, beta, bias].map((t) => (t === null ? null : a[i++]!));
          };
          const loss = (fold: (...t: (tf.Tensor | null)[]) => [tf.Tensor, tf.Tensor]) => (...a: tf.Tensor[]): tf.Scalar => {
            const [f, b] = fold(...unpack(a));
            return tf.add(tf.sum(tf.mul(f, rf)), tf.sum(tf.mul(b, rb))) as tf.Scalar;
          };
          const ours = (...t: (tf.Tensor | null)[]): [tf.Tensor, tf.Tensor] => {
            const r = foldWeights({ w: t[0]!, mean: t[1]!, variance: t[2]!, gamma: t[3]!, beta: t[4]!, bias: t[5]! }, EPS);
            if (r === null) throw new Error('FastlrFoldWeights not registered');
            return r;
          };
          const stock = (...t: (tf.Tensor | null)[]): [tf.Tensor, tf.Tensor] => stockFold(c.depthwise, t[0]!, t[1]!, t[2]!, t[3]!, t[4]!, t[5]!);
          const [f1, b1] = ours(w, mean, variance, gamma, beta, bias);
          const [f2, b2] = stock(w, mean, variance, gamma, beta, bias);
          expect(f1.shape).toEqual(c.w);
          expect(relErr(f1.dataSync(), f2.dataSync())).toBeLessThan(1e-6);
          expect(relErr(b1.dataSync(), b2.dataSync())).toBeLessThan(1e-6);
          const g1 = tf.grads(loss(ours))(xs);
          const g2 = tf.grads(loss(stock))(xs);
          g1.forEach((g, i) => {
            expect(g.shape).toEqual(xs[i]!.shape);
            expect(relErr(g.dataSync(), g2[i]!.dataSync()), `gradient ${i}`).toBeLessThan(1e-5);
            expect(g.dataSync().some((v) => v !== 0)).toBe(true);
          });
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });
}
