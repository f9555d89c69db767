/** `buildFinetuneModel`: a loaded model of any topology, cut at `model.cut`, with a fresh seeded `model.head`. */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import { didYouMean } from '../plan/did-you-mean.js';
import { disposeQuietly } from './build.js';
import { checkInput, checkOutput, modelInputShape } from './check.js';
import { isContainer, layerPath, leafLayers, rebuildGraph, type RebuildOptions } from './graph.js';
import { applyHead } from './head.js';
import { layerSeed } from './layers.js';
import { abbreviate, ModelKeyError, throwModelKeyErrors } from './key-error.js';
import { splitPointError } from './groups.js';
import { findSplitLayer } from './split.js';
import type { DataShape, ModelPlan } from './types.js';

/** The top-level layers a numeric cut counts (no InputLayer): fastai's `children()`. */
function topLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return model.layers.filter((l) => l.getClassName() !== 'InputLayer');
}

/**
 * The layer the body ends at. A number is a Python slice end over the top-level layers (`cut: -1` drops the last
 * one; nested models count as one layer each, as fastai's create_body); a name is any layer, nested models searched
 * too. Returns the path of nested models leading to it.
 */
export function resolveCut(model: tf.LayersModel, cut: number | string): tf.layers.Layer[] {
  if (typeof cut === 'string') {
    const path = layerPath(model, cut);
    if (!path) {
      const names = [...leafLayers(model).map((l) => l.name), ...containerNames(model)];
      throw new ModelKeyError(['model', 'cut'], `no layer named "${cut}" in the loaded model${didYouMean(cut, names) || ` (its layers: ${abbreviate(names)})`}`);
    }
    return path;
  }
  const layers = topLayers(model);
  if (!Number.isInteger(cut)) throw new ModelKeyError(['model', 'cut'], `model.cut must be an integer or a layer name, got ${cut}`);
  const keep = cut < 0 ? layers.length + cut : Math.min(cut, layers.length);
  if (keep < 1) {
    throw new ModelKeyError(['model', 'cut'], `model.cut ${cut} keeps no layer of the loaded model (it has ${layers.length} layers)`);
  }
  return [layers[keep - 1]!];
}

/** A layer name fastlr gives a head layer (`l12_dense`, `l12_concat_pool_max`), or a prefix of one (`l`, `l12`). */
const HEAD_NAME = /^l(\d+(_\w*)?)?$/;

/**
 * resolveCut; when the cut names no layer, the split points that name no layer of the loaded model either are
 * reported with it (each at its key: `check` and the training commands list every wrong name at once). Points that
 * may name a head layer (numbered after the cut) or are indices are checked once the cut is known.
 */
function cutOrAllNameErrors(loaded: tf.LayersModel, plan: ModelPlan): tf.layers.Layer[] {
  try {
    return resolveCut(loaded, plan.model.cut ?? -1);
  } catch (e) {
    if (!(e instanceof ModelKeyError)) throw e;
    const names = leafLayers(loaded).map((l) => l.name);
    const more = (plan.model.groups ?? []).flatMap((p, k) =>
      typeof p === 'string' && !HEAD_NAME.test(p) && findSplitLayer(names, p) < 0 ? [splitPointError(names, p, k, `no layer named "${p}" or starting with it`)] : [],
    );
    throwModelKeyErrors([e, ...more]);
    throw e;
  }
}

function containerNames(model: tf.LayersModel): string[] {
  return model.layers.filter(isContainer).flatMap((c) => [c.name, ...containerNames(c)]);
}

/** Initialiser keys of a layer config (`kernelInitializer`, `depthwiseInitializer`, `gammaInitializer`, …) get a seed. */
function seedInitializers(config: tf.serialization.ConfigDict, planSeed: number, index: number): tf.serialization.ConfigDict {
  const out = { ...config };
  for (const [k, v] of Object.entries(config)) {
    if (!k.endsWith('Initializer') || typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    const init = v as { className?: unknown; config?: Record<string, unknown> };
    if (typeof init.className !== 'string') continue;
    out[k] = { ...init, config: { ...(init.config ?? {}), seed: layerSeed(planSeed, index, `reinit:${k}`) } } as tf.serialization.ConfigDictValue;
  }
  return out;
}

/**
 * Fine-tuning model: a new flat functional model of fresh layers with copies of the loaded weights (nested models
 * expanded), every layer trainable (freezing is fastlr's mask, src/model/groups.ts):
 *
 *   - with `model.head`: the body up to and including the cut layer (`model.cut`: index or layer name, see
 *     resolveCut), then the head applied to its output (names `l<index>_<type>` numbered on from the body's layers,
 *     initialisers seeded by plan.seed, their index and the role 'head-kernel');
 *   - without a head: the whole model.
 *
 * `model.bn_momentum` (when set) replaces the momentum of the loaded BatchNormalization layers; `model.reinit`
 * gives every loaded layer fresh weights seeded by plan.seed instead of the saved ones.
 *
 * Takes ownership of `loaded`: it is disposed once its weights are copied (also when this throws).
 */
export function buildFinetuneModel(
  loaded: tf.LayersModel,
  plan: ModelPlan,
  ds: DataShape,
  /** checkOutput false: the data's classes are not known (`fastlr check` before the data exists) */
  checks: { checkOutput?: boolean } = {},
): tf.LayersModel {
  const created: tf.layers.Layer[] = [];
  let model: tf.LayersModel | null = null;
  try {
    const inputShape = modelInputShape(loaded);
    checkInput(inputShape, ds, 'the loaded model input');
    const head = plan.model.head ?? [];
    const bnMomentum = plan.model.bn_momentum ?? null;
    const reinit = plan.model.reinit === true;
    let built = 0;
    const opts: RebuildOptions = {
      copyWeights: !reinit,
      config: (layer, config) => {
        let c = config;
        if (bnMomentum !== null && layer.getClassName() === 'BatchNormalization') c = { ...c, momentum: bnMomentum };
        if (reinit) c = seedInitializers(c, plan.seed, built);
        built++;
        return c;
      },
    };
    if (head.length > 0) opts.upTo = cutOrAllNameErrors(loaded, plan);
    const body = rebuildGraph(loaded, opts);
    created.push(...body.layers);
    if (body.outputs.length !== 1) {
      throw new ModelKeyError(['model', 'cut'], `the body has ${body.outputs.length} outputs; cut at a layer with one output`);
    }
    let output = body.outputs[0]!;
    if (head.length > 0) {
      const taken = new Set(body.layers.map((l) => l.name));
      const h = applyHead(output, head, body.layers.length, plan.seed, taken, created);
      output = h.output;
    }
    try {
      model = tf.model({ inputs: body.inputs, outputs: output, name: 'fastlr_finetune' });
    } catch (e) {
      throw new FastlrError(`model.from: cannot build the fine-tuning model: ${(e as Error).message}`);
    }
    if (checks.checkOutput ?? true) checkOutput(model, plan.loss, ds);
    const result = model;
    model = null;
    created.length = 0;
    return result;
  } finally {
    if (model) disposeQuietly(model);
    else disposeLayers(created);
    disposeQuietly(loaded);
  }
}

/** Free the variables of layers that never became part of a model. */
function disposeLayers(layers: readonly tf.layers.Layer[]): void {
  for (const l of layers) {
    for (const w of l.weights) {
      try {
        w.dispose();
      } catch {
        // already disposed
      }
    }
  }
}
