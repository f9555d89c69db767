/** Checks that a model fits the data and the loss, with messages a user can act on. */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import type { DataShape } from './types.js';

const prod = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const fmt = (s: readonly (number | null)[]) => `[${s.map((v) => (v === null ? 'batch' : v)).join(', ')}]`;

/** The shape of one sample the model takes (its input shape without the batch axis). */
export function modelInputShape(model: tf.LayersModel): number[] {
  const shape = model.inputs[0]!.shape.slice(1);
  return shape.map((v) => {
    if (v === null) throw new FastlrError('the model input has an unknown dimension besides the batch axis');
    return v;
  });
}

/** The model's input must hold exactly the values of one data sample (its shape may differ, e.g. [784] vs [28, 28, 1]). */
export function checkInput(inputShape: readonly number[], ds: DataShape, what: string): void {
  if (prod(inputShape) !== prod(ds.inputShape)) {
    throw new FastlrError(
      `${what} ${fmt(inputShape)} takes ${prod(inputShape)} values per sample, but the data has ${prod(ds.inputShape)} (${fmt(ds.inputShape)})`,
    );
  }
}

/** Output units the loss needs for this data. */
export function expectedOutputs(loss: string, ds: DataShape): number[] {
  if (loss === 'mse') return [ds.targetDim];
  if (loss === 'binary_cross_entropy') return ds.nClasses === 2 ? [1, 2] : [ds.nClasses];
  return [ds.nClasses];
}

/**
 * The output must be [batch, k] with k as the loss needs, and logits: the loss applies softmax (cross_entropy) or
 * sigmoid (binary_cross_entropy) itself, so a last layer that already applies it is an error.
 */
export function checkOutput(model: tf.LayersModel, loss: string, ds: DataShape): void {
  const out = model.outputs[0]!.shape;
  const ok = expectedOutputs(loss, ds);
  const what = loss === 'mse' ? `${ds.targetDim} regression target(s)` : `${ds.nClasses} classes`;
  if (out.length !== 2) {
    throw new FastlrError(
      `the model's output has shape ${fmt(out)}; loss ${loss} on ${what} needs [batch, ${ok.join(' or ')}]` +
        (out.length > 2 ? ' (add a `flatten` layer before the dense layers?)' : ''),
    );
  }
  if (!ok.includes(out[1] as number)) {
    throw new FastlrError(
      `the model's last layer outputs ${out[1]} values, but loss ${loss} on ${what} needs ${ok.join(' or ')}`,
    );
  }
  const last = model.layers[model.layers.length - 1]!;
  const act = (last.getConfig() as { activation?: unknown }).activation;
  const applied = loss === 'cross_entropy' ? 'softmax' : loss === 'binary_cross_entropy' ? 'sigmoid' : null;
  if (applied && act === applied) {
    throw new FastlrError(
      `the last layer (${last.name}) applies ${applied}, but the model must output logits: loss ${loss} applies ${applied} itself; remove that activation`,
    );
  }
}
