/**
 * The fidelity vectors through the library: a model built in the test with tfjs's API and fastai's initial weights,
 * the data as tensors in fastai's order. lrFind reproduces lr_find_run.json and fitOneCycle fit_runs.json at the
 * tolerances of semantics.md §7; a tf.data.Dataset of the same rows gives the same numbers, bit for bit.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createLearner, FastlrError, type LrFindResult } from '../src/index.js';
import { readVectors, smoothLossErrors, type TorchLinearWeights } from './helpers/fastai-fixture.js';
import { fastaiMlp, fastaiTensors, rel, tensorRel, transpose } from './helpers/library-fixture.js';

interface RunVector {
  args: { start_lr: number; end_lr: number; num_it: number; stop_div: boolean };
  n_iterations_run: number;
  stop_reason: string;
  recorded_lrs: number[];
  recorded_smooth_losses: number[];
  suggestions: Record<string, number>;
  initial_weights: TorchLinearWeights;
}
interface FitVector {
  initial_weights: TorchLinearWeights;
  final_weights: TorchLinearWeights;
  per_iteration: { it: number; lr: number[]; mom: number; raw_loss: number; smooth_loss: number }[];
  epoch_values: [number, number, number][];
}

const findRuns = readVectors<{ runs: RunVector[] }>('lr_find_run.json').runs;
const fitRef = readVectors<{ runs: FitVector[] }>('fit_runs.json').runs[0]!;

/** fastai's setup: bs 64, no shuffle, drop_last, Adam(wd 0.01), one group. */
const SETUP = { batchSize: 64, shuffle: false, dropLast: true, seed: 0, optimizer: { type: 'adam', wd: 0.01 }, loss: 'cross_entropy', metrics: ['accuracy'], backend: 'cpu' } as const;

function expectFindMatches(r: LrFindResult, ref: RunVector): { before: number; after: number } {
  expect(r.lrs.length).toBe(ref.n_iterations_run);
  expect(r.stop.iteration).toBe(ref.n_iterations_run);
  expect(r.stop.reason).toBe(ref.stop_reason.startsWith('divergence') ? 'diverged' : 'num_it');
  expect(r.rawLosses).toHaveLength(r.lrs.length);
  r.lrs.forEach((lr, i) => expect(rel(lr, ref.recorded_lrs[i]!)).toBeLessThan(1e-12));
  const { before, after } = smoothLossErrors(r.losses, ref.recorded_smooth_losses);
  expect(before).toBeLessThan(1e-5);
  expect(after).toBeLessThan(1e-3);
  for (const m of ['valley', 'slide', 'steep', 'minimum'] as const) {
    const s = r.suggestions[m];
    expect('lr' in s, `${m}: ${JSON.stringify(s)}`).toBe(true);
    if ('lr' in s) expect(rel(s.lr, ref.suggestions[m]!)).toBeLessThan(1e-5);
  }
  const valley = r.suggestions.valley;
  expect(r.suggested).toBe('lr' in valley ? valley.lr : NaN);
  return { before, after };
}

/** The same rows as a tf.data.Dataset of { xs, ys } batches of 32 (not the learner's batch size: it re-batches). */
function asDataset(d: { xs: tf.Tensor2D; ys: tf.Tensor1D }): tf.data.Dataset<tf.TensorContainer> {
  return tf.data.zip({ xs: tf.data.array(d.xs.arraySync()), ys: tf.data.array(Array.from(d.ys.dataSync())) }).map((e) => {
    const { xs, ys } = e as { xs: number[]; ys: number };
    return { xs: tf.tensor1d(xs), ys: tf.scalar(ys, 'int32') };
  }).batch(32);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe("library lrFind reproduces fastai's lr_find (lr_find_run.json)", () => {
  for (const [k, ref] of findRuns.entries()) {
    it(`run ${k}: stop_div ${ref.args.stop_div}`, async () => {
      const model = fastaiMlp(ref.initial_weights);
      const data = fastaiTensors();
      const learn = await createLearner({ model, ...data, ...SETUP });
      const a = ref.args;
      const r = await learn.lrFind({ startLr: a.start_lr, endLr: a.end_lr, numIt: a.num_it, stopDiv: a.stop_div });
      const e = expectFindMatches(r, ref);
      console.log(`library lr_find run ${k}: max rel err ${e.before.toExponential(2)} up to the minimum, ${e.after.toExponential(2)} after`);
      learn.dispose();
      model.dispose();
      tf.dispose(data);
    });
  }
});

describe("library fitOneCycle reproduces fastai's fit_one_cycle(3, 1e-2) (fit_runs.json)", () => {
  it('per-iteration lr/mom and raw losses (onBatchEnd logs), epoch values (onEpochEnd logs, result), final weights', async () => {
    const model = fastaiMlp(fitRef.initial_weights);
    const data = fastaiTensors();
    const learn = await createLearner({ model, ...data, ...SETUP });
    const batches: Record<string, number>[] = [];
    const epochs: [number, Record<string, number>][] = [];
    const hist = await learn.fitOneCycle(3, 1e-2, {
      callbacks: { onBatchEnd: (_b, logs) => void batches.push(logs), onEpochEnd: (e, logs) => void epochs.push([e, logs]) },
    });
    expect(hist.stop).toEqual({ reason: 'completed', iteration: fitRef.per_iteration.length });
    expect(batches).toHaveLength(fitRef.per_iteration.length);
    let worstLoss = 0;
    fitRef.per_iteration.forEach((it, i) => {
      const b = batches[i]!;
      expect(b.iter).toBe(it.it);
      expect(rel(b.lr!, it.lr[0]!)).toBeLessThan(1e-12);
      expect(rel(b.mom!, it.mom)).toBeLessThan(1e-12);
      expect(rel(hist.schedule[i]!.lr[0]!, it.lr[0]!)).toBeLessThan(1e-12);
      worstLoss = Math.max(worstLoss, rel(b.loss!, it.raw_loss));
    });
    expect(worstLoss).toBeLessThan(1e-4);
    expect(epochs.map(([e]) => e)).toEqual([0, 1, 2]);
    expect(hist.epoch).toEqual([0, 1, 2]);
    fitRef.epoch_values.forEach(([tl, vl, acc], i) => {
      const e = hist.epochs[i]!;
      expect(rel(e.train_loss, tl)).toBeLessThan(1e-4);
      expect(rel(e.valid_loss, vl)).toBeLessThan(1e-4);
      expect(rel(e.metrics.accuracy!, acc)).toBeLessThan(1e-4);
      // the logs carry fastlr's and tfjs's names for the same values
      const logs = epochs[i]![1];
      expect(logs).toMatchObject({ train_loss: e.train_loss, valid_loss: e.valid_loss, loss: e.train_loss, val_loss: e.valid_loss, accuracy: e.metrics.accuracy, val_accuracy: e.metrics.accuracy });
      expect(hist.history.val_loss![i]).toBe(e.valid_loss);
    });
    expect(hist.final.valid_loss).toBe(hist.epochs[2]!.valid_loss);
    // trained in place: the user's own model object holds fastai's final weights
    expect(learn.model).toBe(model);
    const [k0, b0, k1, b1] = model.getWeights().map((t) => t.dataSync());
    const T = (m: number[][]): number[] => transpose(m).flat();
    const fw = fitRef.final_weights;
    const errs = [tensorRel(k0!, T(fw['0.weight'])), tensorRel(b0!, fw['0.bias']), tensorRel(k1!, T(fw['2.weight'])), tensorRel(b1!, fw['2.bias'])];
    for (const e of errs) expect(e).toBeLessThan(1e-4);
    console.log(`library fit fidelity: raw loss max rel ${worstLoss.toExponential(2)}, final weights max rel ${Math.max(...errs).toExponential(2)}`);
    learn.dispose();
    model.dispose();
    tf.dispose(data);
  });
});

describe('a tf.data.Dataset input gives the same numbers as tensors', () => {
  it('lrFind and fitOneCycle, bit for bit', async () => {
    const ref = findRuns[0]!;
    const run = async (useDataset: boolean) => {
      const model = fastaiMlp(ref.initial_weights);
      const data = fastaiTensors();
      const input = useDataset ? { train: asDataset(data.train), valid: asDataset(data.valid) } : data;
      const learn = await createLearner({ model, ...input, ...SETUP });
      const found = await learn.lrFind({ numIt: 30 });
      const hist = await learn.fitOneCycle(2, 3e-3);
      const w = model.getWeights().map((t) => Array.from(t.dataSync()));
      learn.dispose();
      model.dispose();
      tf.dispose(data);
      return { found, epochs: hist.epochs.map((e) => [e.train_loss, e.valid_loss, e.metrics.accuracy]), w };
    };
    const a = await run(false);
    const b = await run(true);
    expect(b.found.losses).toEqual(a.found.losses);
    expect(b.found.rawLosses).toEqual(a.found.rawLosses);
    expect(b.found.suggestions).toEqual(a.found.suggestions);
    expect(b.epochs).toEqual(a.epochs);
    expect(b.w).toEqual(a.w);
  });

  it('one-hot ys give the same numbers as class ids', async () => {
    const ref = findRuns[0]!;
    const run = async (oneHot: boolean) => {
      const model = fastaiMlp(ref.initial_weights);
      const data = fastaiTensors();
      const hot = (d: { xs: tf.Tensor2D; ys: tf.Tensor1D }) => ({ xs: d.xs, ys: tf.oneHot(d.ys, 3) });
      const input = oneHot ? { train: hot(data.train), valid: hot(data.valid) } : data;
      const learn = await createLearner({ model, ...input, ...SETUP });
      const hist = await learn.fitOneCycle(1, 1e-2);
      learn.dispose();
      model.dispose();
      tf.dispose([data, input]);
      return hist.epochs.map(({ seconds: _s, ...rest }) => rest);
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it('a Dataset whose elements are not { xs, ys } is a FastlrError', async () => {
    const model = fastaiMlp(findRuns[0]!.initial_weights);
    const bad = tf.data.array([1, 2, 3]);
    await expect(createLearner({ model, train: bad, backend: 'cpu' })).rejects.toThrow(FastlrError);
    await expect(createLearner({ model, train: bad, backend: 'cpu' })).rejects.toThrow(/every element of the tf.data.Dataset must be \{ xs, ys \}/);
    model.dispose();
  });
});
