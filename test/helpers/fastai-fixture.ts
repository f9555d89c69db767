import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { saveModelDir } from '../../src/model/index.js';
import { VECTORS } from './cli.js';

export interface TorchLinearWeights {
  '0.weight': number[][];
  '0.bias': number[];
  '2.weight': number[][];
  '2.bias': number[];
}

interface DatasetJson {
  train: { x: number[][]; y: number[] };
  valid: { x: number[][]; y: number[] };
}

export function readVectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(VECTORS, name), 'utf8')) as T;
}

function toCsv(x: number[][], y: number[]): string {
  const header = [...x[0]!.map((_, i) => `f${i}`), 'y'].join(',');
  return [header, ...x.map((row, i) => [...row, y[i]].join(','))].join('\n') + '\n';
}

/** PyTorch Linear keeps weight as [out, in]; a tfjs Dense kernel is [in, out]. */
function transpose(m: number[][]): number[][] {
  return m[0]!.map((_, j) => m.map((row) => row[j]!));
}

/**
 * The fastai reference problem as fastlr inputs: lr_find_dataset.json as train/valid CSV files and
 * the 10-32-3 MLP with the given PyTorch initial weights as a tfjs model folder.
 */
export async function writeFastaiFixture(dir: string, w: TorchLinearWeights): Promise<{ train: string; valid: string; model: string }> {
  mkdirSync(dir, { recursive: true });
  const ds = readVectors<DatasetJson>('lr_find_dataset.json');
  const train = join(dir, 'train.csv');
  const valid = join(dir, 'valid.csv');
  writeFileSync(train, toCsv(ds.train.x, ds.train.y));
  writeFileSync(valid, toCsv(ds.valid.x, ds.valid.y));
  const nIn = w['0.weight'][0]!.length;
  const nHidden = w['0.weight'].length;
  const nOut = w['2.weight'].length;
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: nHidden, activation: 'relu', inputShape: [nIn], name: 'l0_dense' }),
      tf.layers.dense({ units: nOut, name: 'l1_dense' }),
    ],
  });
  const ts = [
    tf.tensor2d(transpose(w['0.weight'])),
    tf.tensor1d(w['0.bias']),
    tf.tensor2d(transpose(w['2.weight'])),
    tf.tensor1d(w['2.bias']),
  ];
  model.setWeights(ts);
  ts.forEach((t) => t.dispose());
  const modelDir = join(dir, 'model');
  await saveModelDir(model, modelDir);
  model.dispose();
  return { train, valid, model: modelDir };
}

/** A config for the reference problem: CSV data in file order, the saved model, Adam defaults. */
export function fixtureConfig(f: { train: string; valid: string; model: string }, extra = ''): string {
  return `name: fastai-reference
seed: 0
data:
  source: csv
  batch_size: 64
  shuffle: false
  drop_last: true
  csv: { train: ${JSON.stringify(f.train)}, valid: ${JSON.stringify(f.valid)}, target: y }
model:
  from: ${JSON.stringify(f.model)}
loss: cross_entropy
metrics: [accuracy]
optimizer: { type: adam, wd: 0.01 }
${extra}`;
}

/**
 * Worst relative error of our smoothed losses against fastai's recorded ones, split at fastai's minimum (semantics §7:
 * ≤1e-5 up to it, ≤1e-3 after it), the last 5 points left out.
 */
export function smoothLossErrors(ours: readonly number[], ref: readonly number[]): { before: number; after: number } {
  const upto = ref.length - 5;
  const argmin = ref.slice(0, upto).reduce((m, v, i) => (v < ref[m]! ? i : m), 0);
  let before = 0;
  let after = 0;
  for (let i = 0; i < upto; i++) {
    const e = Math.abs(ours[i]! - ref[i]!) / Math.max(Math.abs(ref[i]!), 1e-12);
    if (i <= argmin) before = Math.max(before, e);
    else after = Math.max(after, e);
  }
  return { before, after };
}
