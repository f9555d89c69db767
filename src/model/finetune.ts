/** `buildFinetuneModel`: a loaded model cut at `model.cut`, with a fresh seeded `model.head`. */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import { addLayers, disposeQuietly } from './build.js';
import { checkInput, checkOutput, modelInputShape } from './check.js';
import type { DataShape, ModelPlan } from './types.js';

/** The layers of a linear stack: a Sequential's layers, or a functional model that is a chain without branches. */
function chainLayers(model: tf.LayersModel): tf.layers.Layer[] {
  const layers = model.layers.filter((l) => l.getClassName() !== 'InputLayer');
  if (model instanceof tf.Sequential) return layers;
  for (let i = 1; i < layers.length; i++) {
    const inbound = layers[i]!.inboundNodes;
    const prev = inbound.length === 1 ? inbound[0]!.inboundLayers : [];
    if (prev.length !== 1 || prev[0] !== layers[i - 1]) {
      throw new FastlrError(
        `model.from: the loaded model is not a plain stack of layers (layer ${layers[i]!.name} has other inputs); only sequential models can be cut`,
      );
    }
  }
  return layers;
}

/** A new, unconnected layer with `layer`'s configuration (same name), trainable. */
function cloneLayer(layer: tf.layers.Layer, inputShape: number[] | null): tf.layers.Layer {
  const className = layer.getClassName();
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new FastlrError(`model.from: layer ${layer.name} has an unknown class ${className}`);
  const config = { ...layer.getConfig() } as tf.serialization.ConfigDict;
  delete config.batchInputShape;
  delete config.inputShape;
  delete config.batchSize;
  config.trainable = true;
  if (inputShape) config.batchInputShape = [null, ...inputShape];
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config) as unknown as tf.layers.Layer;
}

/**
 * Fine-tuning model: the loaded model's layers `[:cut]` (Python slice: `model.cut` default -1 drops the last layer;
 * a positive cut keeps that many layers) followed by fresh `model.head` layers (names `l<index>_<type>` numbered on
 * from the kept layers, initialisers seeded by plan.seed, their index and the role 'head-kernel'). Without a head the whole model is kept.
 * The result is a new tf.Sequential with its own variables holding copies of the loaded weights.
 *
 * Takes ownership of `loaded`: it is disposed once its weights are copied (also when this throws).
 */
export function buildFinetuneModel(loaded: tf.LayersModel, plan: ModelPlan, ds: DataShape): tf.Sequential {
  let model: tf.Sequential | null = null;
  try {
    const layers = chainLayers(loaded);
    const inputShape = modelInputShape(loaded);
    checkInput(inputShape, ds, 'the loaded model input');
    const head = plan.model.head ?? [];
    let keep = layers.length;
    if (head.length > 0) {
      const cut = plan.model.cut ?? -1;
      if (!Number.isInteger(cut)) throw new FastlrError(`model.cut must be an integer, got ${cut}`);
      keep = cut < 0 ? layers.length + cut : Math.min(cut, layers.length);
      if (keep < 1) {
        throw new FastlrError(`model.cut ${cut} keeps no layer of the loaded model (it has ${layers.length} layers)`);
      }
    }
    model = tf.sequential({ name: 'fastlr_finetune' });
    const kept = layers.slice(0, keep);
    kept.forEach((old, i) => {
      const fresh = cloneLayer(old, i === 0 ? inputShape : null);
      model!.add(fresh);
      const values = old.getWeights().map((w) => w.clone());
      fresh.setWeights(values);
      tf.dispose(values);
    });
    if (head.length > 0) {
      // 'head-kernel': a seed of its own, not the one the replaced layer had when the saved model was built
      addLayers(model, head, keep, plan.seed, { listKey: 'head', taken: new Set(kept.map((l) => l.name)), seedRole: 'head-kernel' });
    }
    checkOutput(model, plan.loss, ds);
    const result = model;
    model = null;
    return result;
  } finally {
    if (model) disposeQuietly(model);
    disposeQuietly(loaded);
  }
}
