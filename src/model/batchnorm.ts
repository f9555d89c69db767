/**
 * BatchNorm under freezing, fastai's way (tfjs-layers' own rule differs: its BatchNormalization follows only the
 * `training` call argument — a layer with trainable=false still normalises with batch statistics and updates its
 * moving averages, tfjs-layers/dist/layers/normalization.js):
 *
 *   - `train_bn: true` (default): the BN parameters of frozen groups keep training (src/model/groups.ts freezeTo) and
 *     their layers run in training mode — batch statistics, moving averages updated — as fastai's train_bn;
 *   - `bn_freeze: true` (fastai's BnFreeze): the BN layers of frozen groups run in inference mode: the running
 *     statistics normalise and are never updated.
 *
 * Inference mode is a per-instance wrapper of the layer's `call` that passes `training: false`; it calls whatever
 * `call` the layer's prototype has at that moment, so it composes with kernels that patch BatchNormalization itself.
 */
import type * as tf from '@tensorflow/tfjs';
import { leafLayers } from './graph.js';
import type { ParamGroup } from './groups.js';

const FORCED = Symbol('fastlr.bnInference');
const WRAPPED = Symbol('fastlr.bnWrapped');

type Call = (inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];
interface Wrappable {
  call: Call;
  [FORCED]?: boolean;
  [WRAPPED]?: boolean;
}

export const isBatchNorm = (layer: tf.layers.Layer): boolean => layer.getClassName() === 'BatchNormalization';

/** Run `layer` in inference mode (`on`) whatever the caller asks, or as the caller asks again (`!on`). */
export function setInferenceMode(layer: tf.layers.Layer, on: boolean): void {
  const l = layer as unknown as Wrappable;
  if (!l[WRAPPED]) {
    l.call = function (this: Wrappable, inputs, kwargs) {
      const own = (Object.getPrototypeOf(this) as Wrappable).call;
      return own.call(this, inputs, this[FORCED] ? { ...kwargs, training: false } : kwargs);
    };
    l[WRAPPED] = true;
  }
  l[FORCED] = on;
}

/** True when `layer` is held in inference mode by setInferenceMode. */
export function inInferenceMode(layer: tf.layers.Layer): boolean {
  return (layer as unknown as Wrappable)[FORCED] === true;
}

/**
 * Put the BatchNorm layers of the first `frozenGroups` groups in inference mode when `bnFreeze` (every BN layer when
 * `all`: model.bn_inference), every other BN layer back in the mode the caller asks for. Returns the names of the
 * layers held in inference mode.
 */
export function applyBnFreeze(model: tf.LayersModel, groups: readonly ParamGroup[], frozenGroups: number, bnFreeze: boolean, all = false): string[] {
  const frozenNames = new Set(groups.slice(0, frozenGroups).flatMap((g) => g.layers));
  const held: string[] = [];
  for (const layer of leafLayers(model)) {
    if (!isBatchNorm(layer)) continue;
    const on = all || (bnFreeze && frozenNames.has(layer.name));
    if (on || inInferenceMode(layer)) setInferenceMode(layer, on);
    if (on) held.push(layer.name);
  }
  return held;
}
