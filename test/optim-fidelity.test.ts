/**
 * Unit-level reproduction of real fastai runs with FastOptimizer: the 10-32-3 MLP of lr_find_dataset.json, trained
 * with the per-iteration lr/mom recorded in the vectors (schedule maths is tested elsewhere), compared on every raw
 * batch loss and on the final weights. Runs on the cpu and wasm backends.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { FastOptimizer } from '../src/optim/index.js';
import type { ParamGroup, ParamInfo } from '../src/optim/index.js';
import { onBackend } from './helpers/backend.js';

const vec = (f: string): unknown =>
  JSON.parse(readFileSync(path.resolve(__dirname, 'fixtures/fastai', f), 'utf8'));

type Weights = Record<'0.weight' | '0.bias' | '2.weight' | '2.bias', number[] | number[][]>;
interface FitRun {
  name: string;
  initial_weights: Weights;
  final_weights: Weights;
  per_iteration: { it: number; lr: number[]; mom: number; raw_loss: number }[];
}
interface FindRun {
  args: { stop_div: boolean };
  initial_weights: Weights;
  recorded_smooth_losses: number[];
  per_iteration: { it: number; batch: number; lr: number; mom: number; wd: number; raw_loss: number }[];
}
const fitRun = (vec('fit_runs.json') as { runs: FitRun[] }).runs.find((r) => r.name === 'fit_one_cycle_3ep_lr1e-2')!;
const findRuns = (vec('lr_find_run.json') as { runs: FindRun[] }).runs;
const ds = vec('lr_find_dataset.json') as { train: { x: number[][]; y: number[] } };

const BS = 64;
const N_BATCHES = Math.floor(ds.train.y.length / BS); // drop_last, shuffle=False: consecutive rows, same every epoch
const X = Float32Array.from(ds.train.x.flat(), Math.fround);
const Y = Int32Array.from(ds.train.y);

const require = createRequire(import.meta.url);
const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep;
setWasmPaths(wasmDir);

/** Raw tf.Variables from PyTorch's state_dict: Linear weight [out, in] → kernel [in, out]. */
function buildParams(w: Weights, tag: string): ParamInfo[] {
  const mk = (key: keyof Weights, transpose: boolean, decay: boolean): ParamInfo => {
    const t = tf.tidy(() => {
      const a = tf.tensor(w[key] as number[] | number[][], undefined, 'float32');
      return transpose ? a.transpose() : a;
    });
    const variable = tf.variable(t, true, `${tag}/${key}`);
    t.dispose();
    return { key, variable, decay, isNorm: false };
  };
  return [mk('0.weight', true, true), mk('0.bias', false, false), mk('2.weight', true, true), mk('2.bias', false, false)];
}

function batchLoss(params: ParamInfo[], b: number): tf.Scalar {
  const [k0, b0, k1, b1] = params.map((p) => p.variable) as [tf.Variable, tf.Variable, tf.Variable, tf.Variable];
  const x = tf.tensor2d(X.subarray(b * BS * 10, (b + 1) * BS * 10), [BS, 10]);
  const y = tf.oneHot(tf.tensor1d(Y.subarray(b * BS, (b + 1) * BS), 'int32'), 3);
  const logits = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, k0), b0)), k1), b1);
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1))) as tf.Scalar;
}

/** Runs the given (lr, mom) per iteration; returns the raw loss of each batch (before its step). */
function train(params: ParamInfo[], opt: FastOptimizer, hypers: { lr: number[]; mom: number }[]): number[] {
  const losses: number[] = [];
  const vars = params.map((p) => p.variable);
  hypers.forEach((h, it) => {
    const { value, grads } = tf.variableGrads(() => batchLoss(params, it % N_BATCHES), vars);
    losses.push(value.dataSync()[0] as number);
    opt.setHypers(h.lr, h.mom);
    opt.step(grads);
    value.dispose();
    tf.dispose(grads);
  });
  return losses;
}

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

/** max|a−b| / max|b| over a tensor, and the worst per-element relative error (elements with |b| > 1e-3). */
function compareTensor(got: Float32Array, want: number[]): { rel: number; worstElem: number } {
  let maxDiff = 0;
  let maxRef = 0;
  let worstElem = 0;
  want.forEach((w, i) => {
    const d = Math.abs((got[i] as number) - w);
    maxDiff = Math.max(maxDiff, d);
    maxRef = Math.max(maxRef, Math.abs(w));
    if (Math.abs(w) > 1e-3) worstElem = Math.max(worstElem, d / Math.abs(w));
  });
  return { rel: maxDiff / maxRef, worstElem };
}

const adamCfg = { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 } as const;

describe.each(['cpu', 'wasm'])('fastai fidelity on %s', (backend) => {
  onBackend(backend);

  it('fit_one_cycle(3, lr_max=1e-2): every raw loss and the final weights within 1e-5 relative', () => {
    const before = tf.memory().numTensors;
    const params = buildParams(fitRun.initial_weights, `fit-${backend}`);
    const groups: ParamGroup[] = [{ params }];
    const opt = new FastOptimizer(groups, adamCfg);
    const iters = fitRun.per_iteration;
    expect(iters.length).toBe(3 * N_BATCHES);
    const losses = train(params, opt, iters);

    const lossErr = losses.map((l, i) => relErr(l, iters[i]!.raw_loss));
    const maxLossErr = Math.max(...lossErr);
    const weightErr: Record<string, { rel: number; worstElem: number }> = {};
    for (const p of params) {
      const key = p.key as keyof Weights;
      const got = tf.tidy(() => (p.key.endsWith('weight') ? p.variable.transpose() : p.variable.clone()).dataSync());
      weightErr[key] = compareTensor(got as Float32Array, (fitRun.final_weights[key] as (number | number[])[]).flat());
    }
    console.log(
      `[optim-fidelity ${backend}] fit_one_cycle: max raw-loss rel err ${maxLossErr.toExponential(2)}; weights ` +
        Object.entries(weightErr)
          .map(([k, e]) => `${k} rel ${e.rel.toExponential(2)} worst-elem ${e.worstElem.toExponential(2)}`)
          .join(', '),
    );
    // Required: 1e-4. Reached: ~1e-7 on both backends, so assert 1e-5: moving the weight decay after the Adam
    // update (a subtle misreading of fastai) gives 2.5e-5 on the weights and must fail here.
    expect(maxLossErr).toBeLessThanOrEqual(1e-5);
    for (const e of Object.values(weightErr)) {
      expect(e.rel).toBeLessThanOrEqual(1e-5);
      expect(e.worstElem).toBeLessThanOrEqual(1e-4);
    }
    // the run really trained: the loss fell and the weights moved far beyond the tolerance
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! * 0.6);
    expect(opt.stepCount).toBe(30);
    expect(opt.paramStep('0.weight')).toBe(30);

    opt.dispose();
    params.forEach((p) => p.variable.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('lr_find (constant mom 0.9, lr 1e-7 → 10): raw losses within 1e-5 up to the curve minimum, 1e-3 after', () => {
    const run = findRuns.find((r) => r.args.stop_div)!;
    const params = buildParams(run.initial_weights, `find-${backend}`);
    const opt = new FastOptimizer([{ params }], adamCfg);
    for (const p of run.per_iteration) expect(p.wd).toBe(0.01);
    const losses = train(
      params,
      opt,
      run.per_iteration.map((p) => ({ lr: [p.lr], mom: p.mom })),
    );
    const sm = run.recorded_smooth_losses;
    const minIdx = sm.indexOf(Math.min(...sm));
    const errs = losses.map((l, i) => relErr(l, run.per_iteration[i]!.raw_loss));
    const upToMin = Math.max(...errs.slice(0, minIdx + 1));
    const after = Math.max(...errs.slice(minIdx + 1, errs.length - 5));
    console.log(
      `[optim-fidelity ${backend}] lr_find: max raw-loss rel err ${upToMin.toExponential(2)} up to index ${minIdx}, ` +
        `${after.toExponential(2)} after (last 5 left out)`,
    );
    expect(upToMin).toBeLessThanOrEqual(1e-5);
    expect(after).toBeLessThanOrEqual(1e-3);
    opt.dispose();
    params.forEach((p) => p.variable.dispose());
  });
});
