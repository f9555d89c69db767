/**
 * FastOptimizer update rules (Adam and SGD, semantics.md §1) against float32 references computed by hand / in plain
 * JS in fastai's operation order; skipping rules (no grad, trainable filter); decay flags; op counts; validation.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { afterEach, describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { FastOptimizer, adamDebias2, adamStepSize, debias, decayFactor } from '../src/optim/index.js';
import type { OptimizerConfig, ParamGroup, ParamInfo } from '../src/optim/index.js';
import { onBackend } from './helpers/backend.js';

const require = createRequire(import.meta.url);
setWasmPaths(path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);

const f = Math.fround;
const ADAM: OptimizerConfig = { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 };
const SGD: OptimizerConfig = { type: 'sgd', wd: 0.1, beta2: 0.99, eps: 1e-5, mom: 0.9 };

const live: tf.Variable[] = [];
function param(key: string, values: number[], shape: number[], decay = true, isNorm = false): ParamInfo {
  const t = tf.tensor(values, shape, 'float32');
  const variable = tf.variable(t);
  t.dispose();
  live.push(variable);
  return { key, variable, decay, isNorm };
}
const read = (p: ParamInfo): Float32Array => p.variable.dataSync().slice() as Float32Array;
const gradsOf = (entries: [ParamInfo, number[]][]): tf.NamedTensorMap =>
  Object.fromEntries(entries.map(([p, g]) => [p.variable.name, tf.tensor(g, p.variable.shape, 'float32')]));

/** fastai's Adam on plain float32 numbers, one torch op at a time (no FMA). */
class RefAdam {
  m: number[] | null = null;
  v: number[] | null = null;
  t = 0;
  p: number[];
  constructor(
    p: number[],
    readonly decay: boolean,
    readonly cfg = ADAM,
  ) {
    this.p = p.map(f); // the parameters start as float32, like the variables
  }
  step(g: number[], lr: number, mom: number): void {
    const { wd, beta2, eps } = this.cfg;
    this.t += 1;
    const t = this.t;
    if (this.decay && wd !== 0) this.p = this.p.map((x) => f(x * f(1 - lr * wd)));
    const g2 = g.map((x) => f(f(x * f(1 - beta2)) * x));
    this.m = g.map((x, i) => (this.m ? f(f(this.m[i]! * f(mom)) + f(x * f(1 - mom))) : f(x * f(1 - mom))));
    this.v = g2.map((x, i) => (this.v ? f(f(this.v[i]! * f(beta2)) + x) : x));
    const d2 = f(debias(beta2, 1 - beta2, t));
    const ss = f(-lr / debias(mom, 1 - mom, t));
    this.p = this.p.map((x, i) => {
      const denom = f(f(Math.sqrt(f(this.v![i]! / d2))) + f(eps));
      return f(x + f(f(this.m![i]! * ss) / denom));
    });
  }
}

afterEach(() => {
  live.splice(0).forEach((v) => v.dispose());
});

describe('coefficients (float64, fastai formulas)', () => {
  it('debias(mom, 1−mom, t) = 1 − mom^t, step size and decay factor', () => {
    expect(debias(0.9, 0.1, 1)).toBeCloseTo(0.1, 15);
    expect(debias(0.95, 0.05, 3)).toBeCloseTo(1 - 0.95 ** 3, 15);
    expect(adamStepSize(1e-2, 0.85, 2)).toBeCloseTo(-1e-2 / (1 - 0.85 ** 2), 15);
    expect(adamDebias2(0.99, 10)).toBeCloseTo(1 - 0.99 ** 10, 15);
    expect(decayFactor(1e-2, 0.01)).toBe(1 - 1e-4);
  });
});

describe.each(['cpu', 'wasm'])('FastOptimizer on %s', (backend) => {
  onBackend(backend);
  // cpu computes each float32 op exactly rounded, like torch: bit-identical. wasm (XNNPACK) is checked to 1e-6.
  const close = (got: Float32Array, want: number[]): void => {
    if (backend === 'cpu') expect(Array.from(got)).toEqual(want);
    else want.forEach((w, i) => expect(Math.abs(got[i]! - w)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(w))));
  };

  it('Adam: two groups, per-group lr, changing mom (bias correction with the current mom), decay flags', () => {
    const w0 = [0.5, -1.25, 2, 0.125, -0.75, 3];
    const b0 = [0.1, -0.2];
    const w1 = [1.5, -0.5];
    const W0 = param('w0', w0, [3, 2]);
    const B0 = param('b0', b0, [2], false);
    const W1 = param('w1', w1, [2, 1]);
    const opt = new FastOptimizer([{ params: [W0, B0] }, { params: [W1] }], ADAM);
    const refs = [new RefAdam(w0, true), new RefAdam(b0, false), new RefAdam(w1, true)];
    const sched = [
      { lr: [1e-3, 1e-2], mom: 0.95 },
      { lr: [3e-3, 3e-2], mom: 0.9 },
      { lr: [5e-3, 5e-2], mom: 0.85 },
      { lr: [2e-3, 2e-2], mom: 0.9 },
      { lr: [1e-4, 1e-3], mom: 0.95 },
    ];
    sched.forEach((h, k) => {
      const gs = [
        w0.map((_, i) => Math.sin(1 + i + 3 * k) * 0.3),
        b0.map((_, i) => Math.cos(2 + i + k) * 0.05),
        w1.map((_, i) => Math.sin(5 * i - k) * 2),
      ].map((a) => a.map(f));
      const grads = gradsOf([
        [W0, gs[0]!],
        [B0, gs[1]!],
        [W1, gs[2]!],
      ]);
      opt.setHypers(h.lr, h.mom);
      opt.step(grads);
      tf.dispose(grads);
      refs[0]!.step(gs[0]!, h.lr[0]!, h.mom);
      refs[1]!.step(gs[1]!, h.lr[0]!, h.mom);
      refs[2]!.step(gs[2]!, h.lr[1]!, h.mom);
    });
    close(read(W0), refs[0]!.p);
    close(read(B0), refs[1]!.p);
    close(read(W1), refs[2]!.p);
    const snap = opt.snapshot();
    close(snap.params['w0']!.m!, refs[0]!.m!);
    close(snap.params['w0']!.v!, refs[0]!.v!);
    expect(opt.paramStep('w0')).toBe(5);
    expect(opt.stepCount).toBe(5);
    // the run moved the weights far more than the tolerance
    expect(Math.abs(read(W1)[0]! - w1[0]!)).toBeGreaterThan(1e-2);
    opt.dispose();
  });

  it('decay flags: with a zero gradient Adam moves a decaying weight by exactly ·(1 − lr·wd), a bias not at all', () => {
    const W = param('w', [1, -2, 4], [3]);
    const B = param('b', [1, -2, 4], [3], false);
    const opt = new FastOptimizer([{ params: [W, B] }], { ...ADAM, wd: 0.1 });
    opt.setHypers([0.5], 0.9);
    const grads = gradsOf([
      [W, [0, 0, 0]],
      [B, [0, 0, 0]],
    ]);
    opt.step(grads);
    tf.dispose(grads);
    const k = f(1 - 0.5 * 0.1);
    close(read(W), [1, -2, 4].map((x) => f(x * k)));
    expect(Array.from(read(B))).toEqual([1, -2, 4]);
    opt.dispose();
  });

  it('wd = 0: no decay multiply at all (fastai `if do_wd and wd!=0`)', async () => {
    const W = param('w', [1, 2], [2]);
    const opt = new FastOptimizer([{ params: [W] }], { ...ADAM, wd: 0 });
    opt.setHypers([0.1], 0.9);
    const grads = gradsOf([[W, [1, 1]]]);
    opt.step(grads); // first step (state creation)
    const prof = await tf.profile(() => opt.step(grads));
    expect(prof.kernels.length).toBe(13);
    tf.dispose(grads);
    opt.dispose();
  });

  it('SGD with momentum: the hand-computed two-step example', () => {
    // p=[1,−2] decays (wd 0.1), b=[0.5] does not. fastai: p ← p(1−lr·wd); m ← mom·m + g; p ← p − lr·m.
    // step 1 (lr 0.1, mom 0.9; m starts at 0): p=[0.99,−1.98], m=[0.5,0.25] → p=[0.94,−2.005]; b: m=1 → 0.4
    // step 2 (lr 0.2, mom 0.8): p=[0.9212,−1.9649], m=[0.4−1, 0.2+2]=[−0.6,2.2] → p=[1.0412,−2.4049];
    //                           b: m=0.8+1=1.8 → 0.4−0.36=0.04
    const P = param('p', [1, -2], [2]);
    const B = param('b', [0.5], [1], false);
    const opt = new FastOptimizer([{ params: [P, B] }], SGD);
    const steps = [
      { lr: 0.1, mom: 0.9, g: [0.5, 0.25], gb: [1] },
      { lr: 0.2, mom: 0.8, g: [-1, 2], gb: [1] },
    ];
    for (const s of steps) {
      const grads = gradsOf([
        [P, s.g],
        [B, s.gb],
      ]);
      opt.setHypers([s.lr], s.mom);
      opt.step(grads);
      tf.dispose(grads);
    }
    const p = read(P);
    const b = read(B);
    [1.0412, -2.4049].forEach((w, i) => expect(Math.abs(p[i]! - w)).toBeLessThan(1e-6));
    expect(Math.abs(b[0]! - 0.04)).toBeLessThan(1e-6);
    const snap = opt.snapshot();
    [-0.6, 2.2].forEach((w, i) => expect(Math.abs(snap.params['p']!.m![i]! - w)).toBeLessThan(1e-6));
    expect(snap.params['p']!.v).toBeUndefined();
    opt.dispose();
  });

  it('SGD built with mom 0 is plain SGD for life (fastai sgd_step), even when a schedule sets a momentum', () => {
    const P = param('p', [1, -2], [2]);
    const opt = new FastOptimizer([{ params: [P] }], { ...SGD, wd: 0, mom: 0 });
    for (const g of [
      [1, 1],
      [1, 1],
    ]) {
      const grads = gradsOf([[P, g]]);
      opt.setHypers([0.1], 0.9);
      opt.step(grads);
      tf.dispose(grads);
    }
    close(read(P), [f(f(1 - f(0.1)) - f(0.1)), f(f(-2 - f(0.1)) - f(0.1))]);
    expect(opt.snapshot().params['p']).toEqual({ step: 2, shape: [2] });
    opt.dispose();
  });

  it('params without a gradient, or outside `trainable`, are untouched: no update, no decay, state kept', () => {
    const A = param('a', [1, 2], [2]);
    const B = param('b', [3, 4], [2]);
    const C = param('c', [5, 6], [2]);
    const opt = new FastOptimizer([{ params: [A, B] }, { params: [C] }], ADAM);
    opt.setHypers([0.1, 0.1], 0.9);
    let grads = gradsOf([
      [A, [1, 1]],
      [B, [1, 1]],
      [C, [1, 1]],
    ]);
    opt.step(grads);
    tf.dispose(grads);
    const before = opt.snapshot();
    const [a0, b0, c0] = [read(A), read(B), read(C)];
    grads = gradsOf([
      [A, [1, -1]],
      [B, [2, 2]],
    ]); // no grad for C
    opt.step(grads, new Set(['a'])); // B filtered out
    tf.dispose(grads);
    expect(read(B)).toEqual(b0);
    expect(read(C)).toEqual(c0);
    expect(read(A)).not.toEqual(a0);
    const after = opt.snapshot();
    expect(after.params['b']).toEqual(before.params['b']);
    expect(after.params['c']).toEqual(before.params['c']);
    expect(after.params['a']!.step).toBe(2);
    expect(opt.paramStep('b')).toBe(1);
    expect(opt.stepCount).toBe(2);
    opt.dispose();
  });

  it('op count: Adam 14 kernels per decaying param, 13 otherwise; SGD 5 / 4; no tensor left behind', async () => {
    for (const [cfg, perDecay, perOther] of [
      [ADAM, 14, 13],
      [SGD, 5, 4],
    ] as const) {
      const W = param('w', Array(12).fill(0.5), [3, 4]);
      const B = param('b', Array(4).fill(0.1), [4], false);
      const opt = new FastOptimizer([{ params: [W, B] }], cfg);
      const grads = gradsOf([
        [W, Array(12).fill(0.01)],
        [B, Array(4).fill(0.02)],
      ]);
      opt.setHypers([1e-3], 0.9);
      opt.step(grads);
      const n0 = tf.memory().numTensors;
      const prof = await tf.profile(() => opt.step(grads));
      expect(prof.kernels.length).toBe(perDecay + perOther);
      expect(prof.newTensors).toBe(0);
      opt.step(grads);
      expect(tf.memory().numTensors).toBe(n0);
      tf.dispose(grads);
      opt.dispose();
    }
  });

  it('dispose() releases every tensor the optimizer created', () => {
    const n0 = tf.memory().numTensors;
    const W = param('w', [1, 2, 3], [3]);
    const opt = new FastOptimizer([{ params: [W] }], ADAM);
    opt.setHypers([1e-3], 0.9);
    const grads = gradsOf([[W, [1, 2, 3]]]);
    opt.step(grads);
    opt.step(grads);
    tf.dispose(grads);
    expect(tf.memory().numTensors).toBeGreaterThan(n0 + 1);
    opt.dispose();
    W.variable.dispose();
    live.length = 0;
    expect(tf.memory().numTensors).toBe(n0);
    expect(() => opt.step({})).toThrow(FastlrError);
  });
});

describe('validation', () => {
  it('rejects bad configs, hypers and gradients', () => {
    const W = param('w', [1, 2], [2]);
    const groups: ParamGroup[] = [{ params: [W] }];
    expect(() => new FastOptimizer([], ADAM)).toThrow(/no parameter groups/);
    expect(() => new FastOptimizer([{ params: [W, { ...W }] }], ADAM)).toThrow(/appears twice/);
    expect(() => new FastOptimizer(groups, { ...ADAM, beta2: 1 })).toThrow(/beta2/);
    expect(() => new FastOptimizer(groups, { ...ADAM, mom: 1 })).toThrow(/beta1/);
    const opt = new FastOptimizer(groups, ADAM);
    expect(() => opt.step({})).toThrow(/setHypers/);
    expect(() => opt.setHypers([1e-3, 1e-3], 0.9)).toThrow(/2 learning rates for 1/);
    expect(() => opt.setHypers([NaN], 0.9)).toThrow(/not finite/);
    expect(() => opt.setHypers([1e-3], 1)).toThrow(/beta1/);
    opt.setHypers([1e-3]);
    expect(opt.hypers).toEqual({ lr: [1e-3], mom: 0.9 }); // mom kept from the config, as in fastai's lr_find
    const bad = { nope: tf.zeros([2]) };
    expect(() => opt.step(bad)).toThrow(/unknown variable "nope"/);
    const wrong = { [W.variable.name]: tf.zeros([3]) };
    expect(() => opt.step(wrong)).toThrow(/shape/);
    tf.dispose([bad.nope, Object.values(wrong)[0]!]);
    expect(opt.stepCount).toBe(0);
    opt.dispose();
  });
});
