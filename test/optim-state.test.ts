/**
 * FastOptimizer state: snapshot/restore bit-identity (in process and into a fresh optimizer over fresh variables,
 * through the binary and JSON forms), clearState, restore validation, codec round trips.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { FastOptimizer, decodeState, encodeState, stateFromJSON, stateToJSON } from '../src/optim/index.js';
import type { OptimizerConfig, OptimizerState, ParamInfo } from '../src/optim/index.js';

const ADAM: OptimizerConfig = { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 };
const SGD: OptimizerConfig = { type: 'sgd', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 };

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const live: tf.Variable[] = [];
afterEach(() => {
  live.splice(0).forEach((v) => v.dispose());
});

/** A tiny regression problem: W [4,3] (decays, group 0), b [3] (no decay, group 1). Fresh variables each call. */
function model(init?: { W: Float32Array; b: Float32Array }): ParamInfo[] {
  const mk = (key: string, data: Float32Array, shape: number[], decay: boolean): ParamInfo => {
    const t = tf.tensor(data.slice(), shape, 'float32');
    const variable = tf.variable(t); // auto-named: a new instance has other variable names, same keys
    t.dispose();
    live.push(variable);
    return { key, variable, decay, isNorm: false };
  };
  const W = init?.W ?? Float32Array.from({ length: 12 }, (_, i) => Math.fround(Math.sin(i + 1) * 0.5));
  const b = init?.b ?? Float32Array.from({ length: 3 }, (_, i) => Math.fround(0.1 * (i - 1)));
  return [mk('dense/kernel', W, [4, 3], true), mk('dense/bias', b, [3], false)];
}
const X = tf.tensor2d([
  [1, 0.5, -1, 2],
  [0, 1, 1, -1],
  [2, -1, 0.5, 0],
]);
const Yt = tf.tensor2d([
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
]);
const hyper = (i: number): { lr: number[]; mom: number } => ({
  lr: [0.01 * (1 + Math.sin(i)), 0.02 * (1 + Math.cos(i))],
  mom: 0.85 + 0.1 * Math.abs(Math.sin(3 * i)),
});

function trainSteps(params: ParamInfo[], opt: FastOptimizer, from: number, to: number): void {
  const [W, b] = params.map((p) => p.variable) as [tf.Variable, tf.Variable];
  for (let i = from; i < to; i++) {
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.sub(tf.add(tf.matMul(X, W), b), Yt))), [W, b]);
    const h = hyper(i);
    opt.setHypers(h.lr, h.mom);
    opt.step(grads);
    value.dispose();
    tf.dispose(grads);
  }
}
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const weightBits = (params: ParamInfo[]): number[][] => params.map((p) => bits(p.variable.dataSync() as Float32Array));
const stateBits = (s: OptimizerState): unknown =>
  Object.fromEntries(
    Object.entries(s.params).map(([k, p]) => [k, { step: p.step, shape: p.shape, m: p.m && bits(p.m), v: p.v && bits(p.v) }]),
  );

describe.each([ADAM, SGD])('snapshot / restore ($type)', (cfg) => {
  it('restore into a fresh optimizer over fresh variables (binary form), continue → bit-identical to uninterrupted', () => {
    const a = model();
    const optA = new FastOptimizer([{ params: [a[0]!] }, { params: [a[1]!] }], cfg);
    trainSteps(a, optA, 0, 8);

    const b = model();
    const optB = new FastOptimizer([{ params: [b[0]!] }, { params: [b[1]!] }], cfg);
    trainSteps(b, optB, 0, 4);
    const bytes = encodeState(optB.snapshot());
    const weights = {
      W: (b[0]!.variable.dataSync() as Float32Array).slice(),
      b: (b[1]!.variable.dataSync() as Float32Array).slice(),
    };
    optB.dispose();

    const c = model(weights);
    expect(c[0]!.variable.name).not.toBe(b[0]!.variable.name);
    const optC = new FastOptimizer([{ params: [c[0]!] }, { params: [c[1]!] }], cfg);
    optC.restore(decodeState(bytes));
    expect(optC.stepCount).toBe(4);
    expect(optC.paramStep('dense/kernel')).toBe(4);
    expect(optC.hypers).toEqual(hyper(3));
    trainSteps(c, optC, 4, 8);

    expect(weightBits(c)).toEqual(weightBits(a));
    expect(stateBits(optC.snapshot())).toEqual(stateBits(optA.snapshot()));
    expect(optC.stepCount).toBe(optA.stepCount);
    // and the comparison is not vacuous: training moved the weights
    expect(weightBits(a)).not.toEqual(weightBits(model()));
    optA.dispose();
    optC.dispose();
  });

  it('in-process rewind (what find does): snapshot, train, restore weights + state, train again → same bits', () => {
    const p = model();
    const opt = new FastOptimizer([{ params: [p[0]!] }, { params: [p[1]!] }], cfg);
    trainSteps(p, opt, 0, 3);
    const s = opt.snapshot();
    const w = p.map((q) => (q.variable.dataSync() as Float32Array).slice());
    trainSteps(p, opt, 3, 6);
    const first = weightBits(p);
    const firstState = stateBits(opt.snapshot());
    // the snapshot is a deep copy: stepping did not change it
    expect(stateBits(s)).not.toEqual(firstState);
    p.forEach((q, i) => q.variable.assign(tf.tensor(w[i]!, q.variable.shape)));
    opt.restore(s);
    trainSteps(p, opt, 3, 6);
    expect(weightBits(p)).toEqual(first);
    expect(stateBits(opt.snapshot())).toEqual(firstState);
    opt.dispose();
  });

  it('snapshot and restore are deep copies: mutating their arrays does not reach the optimizer', () => {
    const p = model();
    const opt = new FastOptimizer([{ params: [p[0]!] }, { params: [p[1]!] }], cfg);
    trainSteps(p, opt, 0, 3);
    const s = opt.snapshot();
    const ref = stateBits(s);
    s.params['dense/kernel']!.m!.fill(7); // the cpu backend's dataSync hands out its own buffer
    expect(stateBits(opt.snapshot())).toEqual(ref);
    const s2 = opt.snapshot();
    opt.restore(s2);
    s2.params['dense/kernel']!.m!.fill(9); // the cpu backend's tf.tensor keeps the array it is given
    expect(stateBits(opt.snapshot())).toEqual(ref);
    opt.dispose();
  });

  it('JSON form round-trips bit-exactly through JSON.stringify', () => {
    const p = model();
    const opt = new FastOptimizer([{ params: [p[0]!] }, { params: [p[1]!] }], cfg);
    trainSteps(p, opt, 0, 3);
    const s = opt.snapshot();
    const back = stateFromJSON(JSON.parse(JSON.stringify(stateToJSON(s))));
    expect(stateBits(back)).toEqual(stateBits(s));
    expect(back.hypers).toEqual(s.hypers);
    expect(back.stepCount).toBe(3);
    expect(back.type).toBe(cfg.type);
    opt.dispose();
  });
});

describe('clearState', () => {
  it('forgets m, v, t and the step count, frees the tensors; the next step is a first step again', () => {
    const base = tf.memory().numTensors;
    const p = model();
    const opt = new FastOptimizer([{ params: [p[0]!] }, { params: [p[1]!] }], ADAM);
    trainSteps(p, opt, 0, 3);
    const withState = tf.memory().numTensors;
    opt.clearState();
    expect(opt.stepCount).toBe(0);
    expect(opt.paramStep('dense/kernel')).toBe(0);
    expect(opt.snapshot().params).toEqual({});
    expect(withState - tf.memory().numTensors).toBe(4); // m and v of 2 params
    expect(opt.hypers).toEqual(hyper(2)); // hypers survive, as in fastai

    const w = p.map((q) => (q.variable.dataSync() as Float32Array).slice());
    const fresh = model({ W: w[0]!, b: w[1]! });
    const optF = new FastOptimizer([{ params: [fresh[0]!] }, { params: [fresh[1]!] }], ADAM);
    trainSteps(p, opt, 3, 5);
    trainSteps(fresh, optF, 3, 5);
    expect(weightBits(p)).toEqual(weightBits(fresh));
    opt.dispose();
    optF.dispose();
    live.splice(0).forEach((v) => v.dispose());
    expect(tf.memory().numTensors).toBe(base);
  });
});

describe('restore validation (nothing changes when it throws)', () => {
  it('rejects another type, unknown keys, wrong shapes, missing moments, wrong group count', () => {
    const p = model();
    const opt = new FastOptimizer([{ params: [p[0]!] }, { params: [p[1]!] }], ADAM);
    trainSteps(p, opt, 0, 2);
    const good = opt.snapshot();
    const before = stateBits(good);
    const kernel = good.params['dense/kernel']!;
    const cases: [OptimizerState, RegExp][] = [
      [{ ...good, type: 'sgd' }, /for sgd/],
      [{ ...good, params: { ...good.params, 'other/kernel': kernel } }, /unknown parameter "other\/kernel"/],
      [{ ...good, params: { ...good.params, 'dense/kernel': { ...kernel, shape: [3, 4] } } }, /shape \[3,4\]/],
      [{ ...good, params: { ...good.params, 'dense/kernel': { step: 2, shape: [4, 3], m: kernel.m! } } }, /lacks v/],
      [{ ...good, params: { ...good.params, 'dense/kernel': { ...kernel, m: new Float32Array(5) } } }, /5 values/],
      [{ ...good, hypers: { lr: [1], mom: 0.9 } }, /1 learning rates/],
    ];
    for (const [bad, msg] of cases) {
      expect(() => opt.restore(bad)).toThrow(msg);
      expect(stateBits(opt.snapshot())).toEqual(before);
      expect(opt.stepCount).toBe(2);
    }
    opt.dispose();
  });
});

describe('codec', () => {
  const special: OptimizerState = {
    format: 'fastlr-optim/1',
    type: 'adam',
    stepCount: 7,
    hypers: { lr: [1e-7, 0.1 + 0.2], mom: 0.95 },
    params: {
      'a/kernel': {
        step: 7,
        shape: [2, 3],
        m: Float32Array.from([NaN, Infinity, -Infinity, -0, 1e-45, 3.4e38]),
        v: Float32Array.from([0, 1, 2, 3, 4, 5]),
      },
      'a/bias': { step: 3, shape: [], m: Float32Array.from([0.1]), v: Float32Array.from([0.2]) },
      'b/bias': { step: 1, shape: [0] },
    },
  };
  it('binary and JSON forms keep NaN, ±Infinity, −0 and denormals bit-exactly', () => {
    for (const back of [decodeState(encodeState(special)), stateFromJSON(JSON.parse(JSON.stringify(stateToJSON(special))))]) {
      expect(stateBits(back)).toEqual(stateBits(special));
      expect(back.hypers).toEqual(special.hypers);
      expect(back.stepCount).toBe(7);
    }
  });
  it('the binary form is compact: header + 4 bytes per value', () => {
    const bytes = encodeState(special);
    expect(bytes.byteLength).toBeLessThan(400 + 4 * 14);
  });
  it('malformed input is a FastlrError', () => {
    const bytes = encodeState(special);
    expect(() => decodeState(bytes.subarray(0, 6))).toThrow(FastlrError);
    expect(() => decodeState(Uint8Array.from([1, 2, 3, 4, 0, 0, 0, 0]))).toThrow(/bad magic/);
    expect(() => decodeState(bytes.subarray(0, bytes.byteLength - 4))).toThrow(/offset out of range/);
    const json = stateToJSON(special);
    expect(() => stateFromJSON({ ...json, format: 'x' })).toThrow(/format/);
    expect(() => stateFromJSON({ ...json, params: { x: { step: 1, shape: [3], m: json.params['a/bias']!.m } } })).toThrow(
      /1 values for shape \[3\]/,
    );
  });
});
