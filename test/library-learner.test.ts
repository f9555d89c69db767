/**
 * createLearner's behaviour a user relies on: lrFind leaves the model, optimizer and random state bit-identical;
 * fineTune follows fastai's fine_tune schedules (fine_tune_cases) and freezes as declared; a functional graph with a
 * residual Add trains; callbacks and AbortSignal; bad options are FastlrErrors with useful messages; no tensor leaks;
 * save writes a folder tfjs loads; the user's tensors and model stay the user's.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createLearner, FastlrError, type CreateLearnerOptions } from '../src/index.js';
import { loadModelDir } from '../src/model/index.js';
import { readVectors } from './helpers/fastai-fixture.js';
import { rel, sameBits, weightBits } from './helpers/library-fixture.js';

interface VecStep {
  train_iter: number;
  epoch: number;
  batch: number;
  lr: number[];
  mom: number[];
  requires_grad: boolean[];
}
interface FineTuneCase {
  epochs: number;
  n_iter_per_epoch: number;
  n_groups: number;
  effective_defaults: { base_lr: number; freeze_epochs: number; lr_mult: number; pct_start: number; div: number };
  phases: { phase: string; steps: VecStep[] }[];
}
const CASE = readVectors<{ fine_tune_cases: FineTuneCase[] }>('one_cycle_schedules.json').fine_tune_cases[0]!;

/** Seeded rows: 3 classes, 8 features, a learnable rule. */
function rows(n: number, seed: number): { xs: tf.Tensor2D; ys: tf.Tensor1D } {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = Array.from({ length: 8 }, () => rnd() * 2 - 1);
    x.push(r);
    y.push(r[0]! + r[1]! > 0.3 ? 0 : r[2]! > 0 ? 1 : 2);
  }
  return { xs: tf.tensor2d(x), ys: tf.tensor1d(y, 'int32') };
}

/** dense 8 relu → dropout → dense 8 relu → dense 3, seeded initialisers. */
function mlp(dropout = 0): tf.Sequential {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const layers: tf.layers.Layer[] = [tf.layers.dense({ units: 8, activation: 'relu', inputShape: [8], name: 'l0_dense', kernelInitializer: init(1) })];
  if (dropout > 0) layers.push(tf.layers.dropout({ rate: dropout, name: 'drop' }));
  layers.push(tf.layers.dense({ units: 8, activation: 'relu', name: 'l1_dense', kernelInitializer: init(2) }));
  layers.push(tf.layers.dense({ units: 3, name: 'l2_dense', kernelInitializer: init(3) }));
  return tf.sequential({ layers });
}

/** A functional graph with a residual branch: x → stem → [a → b] + stem → head. */
function residual(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const input = tf.input({ shape: [8] });
  const stem = tf.layers.dense({ units: 16, activation: 'relu', name: 'stem', kernelInitializer: init(4) }).apply(input) as tf.SymbolicTensor;
  const a = tf.layers.dense({ units: 16, activation: 'relu', name: 'block_a', kernelInitializer: init(5) }).apply(stem) as tf.SymbolicTensor;
  const b = tf.layers.dense({ units: 16, name: 'block_b', kernelInitializer: init(6) }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'block_add' }).apply([stem, b]) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, name: 'head_dense', kernelInitializer: init(7) }).apply(sum) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

async function expectFastlrError(p: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, `expected a FastlrError matching ${pattern}`).toBeInstanceOf(FastlrError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toMatch(/\n\s+at /);
}

let train: { xs: tf.Tensor2D; ys: tf.Tensor1D };
let valid: { xs: tf.Tensor2D; ys: tf.Tensor1D };
const base = (over: Partial<CreateLearnerOptions> = {}): Omit<CreateLearnerOptions, 'model'> => ({ train, valid, batchSize: 4, seed: 11, backend: 'cpu', ...over });

beforeAll(async () => {
  await tf.setBackend('cpu');
  train = rows(80, 1); // 20 batches of 4: the vector case's iterations per epoch
  valid = rows(20, 2);
});

describe('lrFind leaves everything as it found it', () => {
  it('weights bit-identical right after; a fit after lrFind equals the same fit without it (optimizer state, RNG with shuffle and dropout)', async () => {
    const run = async (withFind: boolean) => {
      const model = mlp(0.25);
      const learn = await createLearner({ model, ...base() });
      await learn.fitOneCycle(1, 1e-2);
      if (withFind) {
        const before = weightBits(model);
        const found = await learn.lrFind({ numIt: 40 });
        expect(found.lrs).toHaveLength(found.stop.iteration);
        expect(sameBits(weightBits(model), before)).toBe(true);
      }
      const hist = await learn.fitOneCycle(2, 1e-2);
      const w = weightBits(model);
      learn.dispose();
      model.dispose();
      return { w, epochs: hist.epochs.map(({ seconds: _s, ...e }) => e) };
    };
    const a = await run(true);
    const b = await run(false);
    expect(a.epochs).toEqual(b.epochs);
    expect(sameBits(a.w, b.w)).toBe(true);
  });

  it('keeps the freeze state: a frozen learner is still frozen after lrFind', async () => {
    const model = mlp();
    const learn = await createLearner({ model, ...base({ groups: [1, 2] }) });
    learn.freeze();
    expect(learn.frozenGroups).toBe(2);
    await learn.lrFind({ numIt: 10 });
    expect(learn.frozenGroups).toBe(2);
    learn.dispose();
    model.dispose();
  });
});

describe("fineTune is fastai's fine_tune (fine_tune_defaults_3groups)", () => {
  it('both stages: per-step lr of every group and mom; the frozen stage leaves groups 0 and 1 untouched', async () => {
    expect(CASE.n_groups).toBe(3);
    const model = mlp();
    const learn = await createLearner({ model, ...base({ groups: ['l1_dense', 'l2_dense'] }) });
    expect(learn.groups).toEqual([['l0_dense'], ['l1_dense'], ['l2_dense']]);
    const steps: Record<string, number>[] = [];
    let bodyAfterFrozen: Uint32Array[] = [];
    const body0 = weightBits(model).slice(0, 4);
    const d = CASE.effective_defaults;
    const res = await learn.fineTune(CASE.epochs, {
      freezeEpochs: d.freeze_epochs,
      callbacks: {
        onBatchEnd: (_b, logs) => void steps.push(logs),
        onEpochEnd: () => {
          if (bodyAfterFrozen.length === 0) bodyAfterFrozen = weightBits(model).slice(0, 4);
        },
      },
    });
    expect(res.frozen?.epochs).toHaveLength(d.freeze_epochs);
    expect(res.unfrozen?.epochs).toHaveLength(CASE.epochs);
    expect(sameBits(bodyAfterFrozen, body0)).toBe(true);
    const want = CASE.phases.flatMap((p) => p.steps);
    expect(steps).toHaveLength(want.length);
    let worst = 0;
    want.forEach((w, k) => {
      const s = steps[k]!;
      expect([s.iter, s.epoch]).toEqual([w.train_iter, w.epoch]);
      w.lr.forEach((v, g) => (worst = Math.max(worst, rel(s[`lr_${g}`]!, v))));
      worst = Math.max(worst, rel(s.mom!, w.mom[0]!));
    });
    expect(worst).toBeLessThan(1e-12);
    // the result's schedules are the same numbers
    expect(res.frozen!.schedule.map((x) => x.lr)).toEqual(steps.slice(0, CASE.n_iter_per_epoch).map((s) => [s.lr_0, s.lr_1, s.lr_2]));
    expect(learn.frozenGroups).toBe(0);
    learn.dispose();
    model.dispose();
  });

  it('freezeEpochs 0 runs only the unfrozen stage; fitOneCycle takes per-group lists and { lo, hi }', async () => {
    const model = mlp();
    const learn = await createLearner({ model, ...base({ groups: [1, 2] }) });
    const r = await learn.fineTune(1, { freezeEpochs: 0, baseLr: 4e-3 });
    expect(r.frozen).toBeNull();
    expect(r.unfrozen!.schedule[0]!.lr).toEqual([2e-3 / 100 / 5, Math.sqrt(2e-3 / 100 * 2e-3) / 5, 2e-3 / 5].map((v, i) => r.unfrozen!.schedule[0]!.lr[i]! && v));
    const list = await learn.fitOneCycle(1, [1e-4, 1e-3, 1e-2], { div: 10, pctStart: 0.5 });
    expect(list.schedule[0]!.lr.map((v) => v * 10)).toEqual([1e-4, 1e-3, 1e-2].map((v, i) => list.schedule[0]!.lr[i]! * 10 && v));
    const range = await learn.fitOneCycle(1, { lo: 1e-4, hi: 1e-2 });
    expect(rel(range.schedule[0]!.lr[1]! * 25, 1e-3)).toBeLessThan(1e-12);
    learn.dispose();
    model.dispose();
  });
});

describe('a functional graph (tf.model with a residual Add) through lrFind and fitOneCycle', () => {
  it('finds a suggestion, trains at it, the loss falls; groups by layer names', async () => {
    const model = residual();
    const learn = await createLearner({ model, ...base({ groups: ['block_a', 'head_dense'] }) });
    expect(learn.groups.map((g) => g.at(-1))).toEqual(['stem', 'block_add', 'head_dense']);
    expect(learn.groups[1]).toEqual(['block_a', 'block_b', 'block_add']);
    const before = weightBits(model);
    const found = await learn.lrFind({ numIt: 60 });
    expect(sameBits(weightBits(model), before)).toBe(true);
    expect(found.suggested).toBeGreaterThan(0);
    const first = (await learn.fitOneCycle(1, 1e-4)).epochs[0]!.valid_loss;
    const hist = await learn.fitOneCycle(4, found.suggested!);
    expect(hist.epochs.at(-1)!.valid_loss).toBeLessThan(first);
    expect(hist.final.accuracy).toBeGreaterThan(0.6);
    learn.dispose();
    model.dispose();
  });
});

describe('tensors: nothing leaks, nothing of the user is disposed', () => {
  it('tf.memory().numTensors is flat across calls and back to the start after dispose', async () => {
    const model = mlp(0.1);
    const start = tf.memory().numTensors;
    const learn = await createLearner({ model, ...base({ groups: [1, 3] }) });
    await learn.lrFind({ numIt: 10 });
    await learn.fitOneCycle(1, 1e-3);
    const after1 = tf.memory().numTensors;
    await learn.lrFind({ numIt: 10 });
    await learn.fitOneCycle(1, 1e-3);
    await learn.fineTune(1, { freezeEpochs: 1 });
    learn.freeze();
    await learn.fitOneCycle(1, 1e-3);
    learn.unfreeze();
    await learn.fitOneCycle(1, 1e-3);
    expect(tf.memory().numTensors).toBe(after1);
    learn.dispose();
    expect(tf.memory().numTensors).toBe(start);
    expect(train.xs.isDisposed).toBe(false);
    expect(model.getWeights()[0]!.isDisposed).toBe(false);
    model.dispose();
  });
});

describe('callbacks and signal', () => {
  it('onTrainBegin / onBatchEnd / onEpochEnd / onTrainEnd in order, async ones awaited', async () => {
    const model = mlp();
    const learn = await createLearner({ model, ...base() });
    const log: string[] = [];
    await learn.fitOneCycle(2, 1e-3, {
      callbacks: [
        {
          onTrainBegin: () => void log.push('begin'),
          onBatchEnd: async (b) => {
            await new Promise((r) => setTimeout(r, 1));
            if (b === 19) log.push('batch19');
          },
          onEpochEnd: (e, logs) => void log.push(`epoch${e}:${Number.isFinite(logs.val_loss)}`),
          onTrainEnd: () => void log.push('end'),
        },
      ],
    });
    expect(log).toEqual(['begin', 'batch19', 'epoch0:true', 'batch19', 'epoch1:true', 'end']);
    learn.dispose();
    model.dispose();
  });

  it('aborting mid-fit stops after the batch (stop.reason interrupted); an already aborted signal is a FastlrError', async () => {
    const model = mlp();
    const learn = await createLearner({ model, ...base() });
    const ac = new AbortController();
    const hist = await learn.fitOneCycle(3, 1e-3, { signal: ac.signal, callbacks: { onBatchEnd: (b) => (b === 4 ? ac.abort() : undefined) } });
    expect(hist.stop).toEqual({ reason: 'interrupted', iteration: 5 });
    expect(hist.epochs).toHaveLength(0);
    await expectFastlrError(learn.lrFind({ signal: ac.signal }), /aborted before training started/);
    // the learner is usable again
    expect((await learn.fitOneCycle(1, 1e-3)).stop.reason).toBe('completed');
    learn.dispose();
    model.dispose();
  });

  it('a diverging fit is the CLI\'s exit-3 FastlrError', async () => {
    const model = mlp();
    const learn = await createLearner({ model, ...base() });
    let err: unknown;
    try {
      await learn.fitOneCycle(1, 1e6, { div: 1 });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as FastlrError).exitCode).toBe(3);
    expect((err as Error).message).toMatch(/training diverged: the loss became NaN\/infinite at step \d+/);
    learn.dispose();
    model.dispose();
  });
});

describe('bad options are FastlrErrors that say what to fix', () => {
  it('createLearner', async () => {
    const model = mlp();
    await expectFastlrError(createLearner({ ...base(), model: {} as tf.LayersModel }), /model must be a tf.LayersModel/);
    await expectFastlrError(createLearner({ ...base(), model, batchSize: 0 }), /^createLearner: batchSize: must be ≥ 1, got 0$/);
    await expectFastlrError(createLearner({ ...base(), model, optimizer: { type: 'adamw' as 'adam' } }), /optimizer\.type: expected one of adam, sgd, got "adamw"/);
    await expectFastlrError(createLearner({ ...base(), model, optimizer: { wd: -1 } }), /optimizer\.wd: must be ≥ 0, got -1$/);
    await expectFastlrError(createLearner({ ...base(), model, ...({ batch_size: 8 } as object) }), /batch_size: unknown key; did you mean "batchSize"\?/);
    await expectFastlrError(createLearner({ ...base(), model, backend: 'gpu' as 'cpu' }), /backend: expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu, got "gpu"/);
    await expectFastlrError(createLearner({ ...base(), model, groups: ['nope'] }), /model\.groups: .*nope/);
    await expectFastlrError(createLearner({ ...base(), model, batchSize: 500 }), /not enough for one batch of 500/);
    const ys = tf.tensor1d([0, 1, 5, 2], 'int32');
    const xs = tf.zeros([4, 8]);
    await expectFastlrError(createLearner({ ...base(), model, train: { xs, ys } }), /train\.ys\[2\] is 5: class ids must be integers in 0\.\.2/);
    await expectFastlrError(createLearner({ ...base(), model, train: { xs, ys: tf.tensor1d([0, 1]) } }), /xs has 4 samples .* ys needs 4 rows/);
    await expectFastlrError(createLearner({ ...base(), model, train: { xs: tf.zeros([4, 5]), ys } }), /the model takes samples of shape \[8\] \(8 values\), but train\.xs has samples of \[5\]/);
    const soft = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3).mul(0.9);
    await expectFastlrError(createLearner({ ...base(), model, train: { xs, ys: soft } }), /train\.ys row 0 is not one-hot/);
    await expectFastlrError(createLearner({ ...base(), model, loss: 'mse' }), /outputs 3 values, but loss mse on 1 regression target/);
    const softmaxOut = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [8], activation: 'softmax' })] });
    await expectFastlrError(createLearner({ ...base(), model: softmaxOut }), /applies softmax, but the model must output logits/);
    tf.dispose([xs, ys, soft]);
    softmaxOut.dispose();
    model.dispose();
  });

  it('lrFind, fitOneCycle, fineTune, freezeTo and a disposed learner', async () => {
    const model = mlp();
    const learn = await createLearner({ model, ...base() });
    await expectFastlrError(learn.lrFind({ startLr: 1, endLr: 0.1 }), /^lrFind: startLr: startLr must be smaller than endLr/);
    await expectFastlrError(learn.lrFind({ numIt: 2.5 }), /lrFind: numIt: expected an integer, got 2.5/);
    await expectFastlrError(learn.lrFind({ suggest: 'valey' as 'valley' }), /suggest: expected one of valley, slide, steep, minimum, got "valey"; did you mean "valley"\?/);
    await expectFastlrError(learn.fitOneCycle(0, 1e-3), /^fitOneCycle: epochs: must be ≥ 1, got 0$/);
    await expectFastlrError(learn.fitOneCycle(1, -1), /fitOneCycle: lrMax: /);
    await expectFastlrError(learn.fitOneCycle(1, [1e-3, 1e-2]), /learning rate list \[0\.001, 0\.01\] has 2 values but the model has 1 parameter group/);
    await expectFastlrError(learn.fitOneCycle(1, 1e-3, { pctStart: 1 }), /pctStart: must be < 1, got 1$/);
    await expectFastlrError(learn.fitOneCycle(1, 1e-3, { callbacks: { onBatchBegin: () => undefined } as object }), /callbacks\.onBatchBegin is not supported/);
    await expectFastlrError(learn.fineTune(1, { lrMult: 0.5 }), /fineTune: lrMult: must be ≥ 1, got 0.5$/);
    await expectFastlrError(learn.fineTune(1, { freeze_epochs: 2 } as object), /freeze_epochs: unknown key; did you mean "freezeEpochs"\?/);
    await expectFastlrError(() => learn.freezeTo(1.5), /freezeTo: expected an integer/);
    const first = learn.fitOneCycle(1, 1e-3);
    await expectFastlrError(learn.lrFind(), /fitOneCycle is still running/);
    await first;
    learn.dispose();
    await expectFastlrError(learn.fitOneCycle(1, 1e-3), /disposed/);
    model.dispose();
  });
});

describe('save', () => {
  it('writes a tfjs model folder that tf.loadLayersModel loads with the trained weights', async () => {
    const model = residual();
    const learn = await createLearner({ model, ...base() });
    await learn.fitOneCycle(1, 1e-3);
    const dir = join(mkdtempSync(join(tmpdir(), 'fastlr-libsave-')), 'model');
    await learn.save(dir);
    const back = await loadModelDir(dir);
    expect(sameBits(weightBits(back), weightBits(model))).toBe(true);
    const x = tf.ones([2, 8]);
    const [p, q] = [model.predict(x) as tf.Tensor, back.predict(x) as tf.Tensor];
    expect(Array.from(await q.data())).toEqual(Array.from(await p.data()));
    tf.dispose([x, p, q]);
    back.dispose();
    learn.dispose();
    model.dispose();
  });
});
