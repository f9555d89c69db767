/**
 * fastai's reference problem built the way a library user builds it: the 10-32-3 MLP with tfjs's own API and the
 * PyTorch initial weights, the data as tensors in fastai's order (lr_find_dataset.json).
 */
import * as tf from '@tensorflow/tfjs';
import { readVectors, type TorchLinearWeights } from './fastai-fixture.js';

interface DatasetJson {
  train: { x: number[][]; y: number[] };
  valid: { x: number[][]; y: number[] };
}

/** PyTorch Linear keeps weight as [out, in]; a tfjs Dense kernel is [in, out]. */
export function transpose(m: number[][]): number[][] {
  return m[0]!.map((_, j) => m.map((row) => row[j]!));
}

/** tf.sequential([dense 32 relu, dense 3]) holding fastai's initial weights. */
export function fastaiMlp(w: TorchLinearWeights): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: w['0.weight'].length, activation: 'relu', inputShape: [w['0.weight'][0]!.length], name: 'l0_dense' }),
      tf.layers.dense({ units: w['2.weight'].length, name: 'l1_dense' }),
    ],
  });
  setTorchWeights(model, w);
  return model;
}

export function setTorchWeights(model: tf.LayersModel, w: TorchLinearWeights, layers = ['l0_dense', 'l1_dense']): void {
  const [a, b] = layers.map((n) => model.getLayer(n));
  const ts = [tf.tensor2d(transpose(w['0.weight'])), tf.tensor1d(w['0.bias']), tf.tensor2d(transpose(w['2.weight'])), tf.tensor1d(w['2.bias'])];
  a!.setWeights([ts[0]!, ts[1]!]);
  b!.setWeights([ts[2]!, ts[3]!]);
  tf.dispose(ts);
}

/** train/valid as { xs float32 [n, 10], ys int32 [n] } in file order; the caller disposes them. */
export function fastaiTensors(): { train: { xs: tf.Tensor2D; ys: tf.Tensor1D }; valid: { xs: tf.Tensor2D; ys: tf.Tensor1D } } {
  const ds = readVectors<DatasetJson>('lr_find_dataset.json');
  const split = (s: { x: number[][]; y: number[] }) => ({ xs: tf.tensor2d(s.x), ys: tf.tensor1d(s.y, 'int32') });
  return { train: split(ds.train), valid: split(ds.valid) };
}

export const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

/** max |a-b| / max |b| over a tensor: the relative error of a weight matrix as a whole */
export function tensorRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

/** Every weight of the model as bits (for bit-identity checks). */
export function weightBits(model: tf.LayersModel): Uint32Array[] {
  return model.getWeights().map((t) => new Uint32Array(Float32Array.from(t.dataSync() as Float32Array).buffer));
}

export function sameBits(a: Uint32Array[], b: Uint32Array[]): boolean {
  return a.length === b.length && a.every((x, i) => x.length === b[i]!.length && x.every((v, j) => v === b[i]![j]));
}
