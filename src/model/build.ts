/** `buildModel(plan, ds)`: plan.model.layers → a tf.Sequential with seeded initialisers and stable names. */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import { checkInput, checkOutput } from './check.js';
import { layerName, makeLayer } from './layers.js';
import type { DataShape, LayerSpecLike, ModelPlan } from './types.js';

/**
 * Append `specs` to `model`, numbering them from `firstIndex` (names `l<index>_<type>`, seeds per index).
 * A tfjs shape error names the offending spec.
 */
export function addLayers(
  model: tf.Sequential,
  specs: readonly LayerSpecLike[],
  firstIndex: number,
  planSeed: number,
  opts: { inputShape?: readonly number[]; listKey: string; taken?: ReadonlySet<string>; seedRole?: string },
): void {
  specs.forEach((spec, j) => {
    const index = firstIndex + j;
    const name = layerName(spec, index);
    if (opts.taken?.has(name) || model.layers.some((l) => l.name === name)) {
      throw new FastlrError(`model.${opts.listKey}[${j}]: layer name "${name}" is already used in the model`);
    }
    const layer = makeLayer(spec, index, planSeed, {
      listKey: opts.listKey,
      ...(opts.seedRole !== undefined ? { seedRole: opts.seedRole } : {}),
      ...(j === 0 && opts.inputShape ? { inputShape: opts.inputShape } : {}),
    });
    try {
      model.add(layer);
    } catch (e) {
      throw new FastlrError(`model.${opts.listKey}[${j}] (${spec.type}): ${(e as Error).message}`);
    }
  });
}

/**
 * Build the model of `plan.model.layers` on input `plan.model.input` (default: the data's sample shape; a
 * flatten is never implicit). Same plan.seed → bit-identical initial weights, in any process and on any backend
 * (tfjs draws seeded initialisers in JS). The last layer must output logits of `nClasses` units for
 * cross_entropy (1 or 2 for binary_cross_entropy on 2 classes, targetDim for mse).
 */
export function buildModel(plan: ModelPlan, ds: DataShape): tf.Sequential {
  const specs = plan.model.layers;
  if (!specs || specs.length === 0) {
    throw new FastlrError(
      plan.model.from
        ? 'model.from is set: build the model with buildFinetuneModel(loaded, plan, ds)'
        : 'model.layers is empty: list the layers of the model (or use model.from)',
    );
  }
  const inputShape = plan.model.input ? [...plan.model.input] : [...ds.inputShape];
  checkInput(inputShape, ds, 'model.input');
  const model = tf.sequential({ name: 'fastlr_model' });
  try {
    addLayers(model, specs, 0, plan.seed, { inputShape, listKey: 'layers' });
    checkOutput(model, plan.loss, ds);
  } catch (e) {
    disposeQuietly(model);
    throw e;
  }
  return model;
}

export function disposeQuietly(model: tf.LayersModel): void {
  try {
    model.dispose();
  } catch {
    // a model that failed half-way may not be disposable; its variables are few
  }
}
