import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expectedRuntime, runCli } from './helpers/cli.js';
import { fixtureConfig, readVectors, writeFastaiFixture, type TorchLinearWeights } from './helpers/fastai-fixture.js';
import { loadModelDir } from '../src/model/index.js';

interface FitVector {
  initial_weights: TorchLinearWeights;
  final_weights: TorchLinearWeights;
  per_iteration: { it: number; lr: number[]; mom: number; raw_loss: number; smooth_loss: number }[];
  epoch_values: [number, number, number][];
}

const ref = readVectors<{ runs: FitVector[] }>('fit_runs.json').runs[0]!;

const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

/** max |a-b| / max |b| over a tensor: the relative error of a weight matrix as a whole */
function tensorRel(a: number[], b: number[]): number {
  let num = 0;
  let den = 0;
  a.forEach((v, i) => {
    num = Math.max(num, Math.abs(v - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  });
  return num / den;
}

describe("fidelity: `fastlr fit` reproduces fastai's fit_one_cycle(3, lr_max=1e-2) (fit_runs.json)", () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('per-iteration lr/mom, raw losses, epoch values and final weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastlr-fitfid-'));
    const f = await writeFastaiFixture(dir, ref.initial_weights);
    const cfg = join(dir, 'fit.yaml');
    writeFileSync(cfg, fixtureConfig(f, `fit: { epochs: 3, lr: 1e-2 }\noutput: ${JSON.stringify(join(dir, 'runs'))}\n`));
    const res = await runCli(['fit', cfg, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as { epochs: { train_loss: number; valid_loss: number; metrics: { accuracy: number } }[]; run_dir: string; kernels: string; optimizer_path: string; backend: string };
    // under FASTLR_KERNELS=stock (npm run test:stock) or the stand-in tfjs-node the same numbers come from stock kernels and ops
    const want = expectedRuntime();
    expect([doc.kernels, doc.optimizer_path]).toEqual([want.kernels, want.optimizer_path]);
    if (want.backend) expect(doc.backend).toBe(want.backend);
    // schedule.csv: one row per batch with lr, mom and the raw loss
    const rows = readFileSync(join(doc.run_dir, 'schedule.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
    expect(rows.length).toBe(ref.per_iteration.length);
    let worstLoss = 0;
    ref.per_iteration.forEach((it, i) => {
      const [iter, , , lr, mom, loss] = rows[i]!;
      expect(iter).toBe(it.it);
      expect(rel(lr!, it.lr[0]!)).toBeLessThan(1e-12);
      expect(rel(mom!, it.mom)).toBeLessThan(1e-12);
      worstLoss = Math.max(worstLoss, rel(loss!, it.raw_loss));
    });
    expect(worstLoss).toBeLessThan(1e-4);
    // epoch values: train_loss (smoothed), valid_loss, accuracy
    doc.epochs.forEach((e, i) => {
      const [tl, vl, acc] = ref.epoch_values[i]!;
      expect(rel(e.train_loss, tl)).toBeLessThan(1e-4);
      expect(rel(e.valid_loss, vl)).toBeLessThan(1e-4);
      expect(rel(e.metrics.accuracy, acc)).toBeLessThan(1e-4);
    });
    // final weights, from the saved model folder (tfjs layout: kernels are [in, out])
    const model = await loadModelDir(join(doc.run_dir, 'model'));
    const [k0, b0, k1, b1] = model.getWeights().map((t) => Array.from(t.dataSync()));
    const T = (m: number[][]): number[] => m[0]!.flatMap((_, j) => m.map((r) => r[j]!));
    const fw = ref.final_weights;
    const errs = [tensorRel(k0!, T(fw['0.weight'])), tensorRel(b0!, fw['0.bias']), tensorRel(k1!, T(fw['2.weight'])), tensorRel(b1!, fw['2.bias'])];
    for (const e of errs) expect(e).toBeLessThan(1e-4);
    model.dispose();
    // the run folder is complete
    for (const name of ['plan.json', 'report.json', 'metrics.csv', 'schedule.csv', 'ckpt/last/state.json', 'ckpt/best/state.json', 'model/model.json']) {
      expect(existsSync(join(doc.run_dir, name)), name).toBe(true);
    }
    expect(readdirSync(doc.run_dir).some((n) => n.includes('.tmp-'))).toBe(false);
    console.log(`fit fidelity: raw loss max rel ${worstLoss.toExponential(2)}, final weights max rel ${Math.max(...errs).toExponential(2)}`);
  });
});
