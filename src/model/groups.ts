/**
 * Parameter groups (fastai's param_groups / splitter) and freezing (fastai's freeze_to), as data.
 *
 * Freezing is returned as a mask, never applied to `layer.trainable`: the engine simply leaves frozen variables
 * out of the gradient and the optimizer step (semantics §6: no gradient, no weight decay). This is also right for
 * BatchNorm: in tfjs a layer's `trainable` flag does not change how BatchNormalization runs (batch statistics and
 * moving-average updates follow the `training` call argument only), so frozen groups' norm layers keep updating
 * their running statistics in training mode, exactly like PyTorch/fastai, where requires_grad=False does not
 * switch a BatchNorm to eval mode.
 */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import { didYouMean } from '../plan/did-you-mean.js';
import { abbreviate, ModelKeyError, throwModelKeyErrors } from './key-error.js';
import { leafLayers } from './graph.js';
import { headSpecLayers } from './head.js';
import { splitCandidates, splitIndex } from './split.js';
import type { ModelPlan } from './types.js';

export interface ParamInfo {
  /** stable across processes: `<layer name>/<weight name>` (LayerVariable.originalName), e.g. `l0_dense/kernel` */
  key: string;
  variable: tf.Variable;
  /** weight decay applies: false for biases and normalisation parameters (fastai wd_bn_bias=False) */
  decay: boolean;
  /** a normalisation layer's parameter (BatchNorm gamma/beta): trains in frozen groups when train_bn */
  isNorm: boolean;
  /** name and index (in groupLayers(model)) of the layer holding it */
  layer: string;
  layerIndex: number;
}

export interface ParamGroup {
  params: ParamInfo[];
  /** names of the layers in this group, in model order (also those without parameters) */
  layers: string[];
}

const NORM_LAYERS = new Set(['BatchNormalization', 'LayerNormalization']);

/**
 * The layers parameter groups are made of: the computing layers of the model, nested models expanded, in
 * topological order (no InputLayer). For a Sequential these are its layers.
 */
export function groupLayers(model: tf.LayersModel): tf.layers.Layer[] {
  return leafLayers(model);
}

/** The error of split point `p` (model.groups[k]) on the layers `names`, with a "did you mean" for a name. */
export function splitPointError(names: readonly string[], p: number | string, k: number, error: string): ModelKeyError {
  const hint = typeof p === 'string' ? didYouMean(p, splitCandidates(names)) || ` (layers: ${abbreviate(names)})` : '';
  return new ModelKeyError(['model', 'groups', k], `model.groups: ${error}${hint}`);
}

/**
 * Resolve split points to indices into groupLayers(model): each point starts a new group. A number is an index
 * (negative counts from the end, as in Python); a string opens a group at the first layer whose name equals it or
 * starts with it (src/model/split.ts). Points must increase strictly and lie in 1 … L-1 so that no group is empty.
 */
export function resolveSplitPoints(model: tf.LayersModel, points: readonly (number | string)[]): number[] {
  const names = groupLayers(model).map((l) => l.name);
  const bad: ModelKeyError[] = [];
  const out = points.map((p, k) => {
    const r = splitIndex(names, p);
    if ('error' in r) {
      bad.push(splitPointError(names, p, k, r.error));
      return -1;
    }
    return r.index;
  });
  // every point that names no layer at once (check lists each at its line:col), the order only once all resolve
  throwModelKeyErrors(bad);
  for (let k = 1; k < out.length; k++) {
    if (out[k]! <= out[k - 1]!) {
      const at = (i: number) => `${names[i]} (layer ${i})`;
      throw new ModelKeyError(
        ['model', 'groups', k],
        `model.groups: split points must increase: ${JSON.stringify(points[k])} opens at ${at(out[k]!)}, not after ${at(out[k - 1]!)}`,
      );
    }
  }
  return out;
}

/**
 * The split points in effect: `plan.model.groups`, or — when it is empty and the model was loaded with a new
 * `model.head` — one split before the head (body | head), fastai's default_split for transfer learning. The head's
 * layers are the last ones in topological order (every body layer feeds the cut, so it comes before the head).
 */
export function effectiveSplitPoints(model: tf.LayersModel, plan: ModelPlan): (number | string)[] {
  const groups = plan.model.groups ?? [];
  if (groups.length > 0) return [...groups];
  const head = plan.model.head ?? [];
  const L = groupLayers(model).length;
  const headCount = head.reduce((a, s) => a + headSpecLayers(s), 0);
  if (plan.model.from && head.length > 0 && headCount < L) return [L - headCount];
  return [];
}

/** The trainable parameters of `layer`, with keys and decay/norm flags. */
export function layerParams(layer: tf.layers.Layer, layerIndex: number): ParamInfo[] {
  const isNormLayer = NORM_LAYERS.has(layer.getClassName());
  return layer.trainableWeights.map((w) => {
    const v = w.read();
    if (!(v instanceof tf.Variable)) throw new Error(`weight ${w.originalName} is not backed by a tf.Variable`);
    const short = w.originalName.startsWith(`${layer.name}/`)
      ? w.originalName.slice(layer.name.length + 1)
      : w.originalName;
    const isBias = short === 'bias' || short.endsWith('/bias');
    return {
      key: w.originalName,
      variable: v,
      decay: !(isBias || isNormLayer),
      isNorm: isNormLayer,
      layer: layer.name,
      layerIndex,
    };
  });
}

/**
 * Ordered parameter groups (body … head) of `model` split at `plan.model.groups` (see effectiveSplitPoints).
 * Every group must hold at least one trainable parameter. Keys are unique and stable across processes.
 */
export function paramGroups(model: tf.LayersModel, plan: ModelPlan): ParamGroup[] {
  const layers = groupLayers(model);
  const splits = resolveSplitPoints(model, effectiveSplitPoints(model, plan));
  const bounds = [0, ...splits, layers.length];
  const groups: ParamGroup[] = [];
  const seen = new Set<string>();
  for (let g = 0; g + 1 < bounds.length; g++) {
    const params: ParamInfo[] = [];
    const names: string[] = [];
    for (let i = bounds[g]!; i < bounds[g + 1]!; i++) {
      const layer = layers[i]!;
      names.push(layer.name);
      for (const p of layerParams(layer, i)) {
        if (seen.has(p.key)) throw new FastlrError(`two weights of the model share the key ${p.key}`);
        seen.add(p.key);
        params.push(p);
      }
    }
    if (params.length === 0) {
      throw new ModelKeyError(
        ['model', 'groups'],
        `model.groups: group ${g} (layers ${abbreviate(names)}) has no trainable parameters; move the split point`,
      );
    }
    groups.push({ params, layers: names });
  }
  return groups;
}

/** fastai's freeze_to index: n ≥ 0 as is, n < 0 counts from the end (clamped at 0). */
export function frozenIndex(nGroups: number, n: number): number {
  return Math.max(0, n >= 0 ? n : nGroups + n);
}

/**
 * fastai's `freeze_to(n)` as a mask (`mask[g][i]` = groups[g].params[i] trains): groups before the frozen index
 * are frozen, except their norm parameters when `trainBn`; later groups train. n ≥ G freezes every group (fastai
 * warns). `freeze` = freezeTo(-1): only the last group trains (with G = 1 nothing is frozen); `unfreeze` = freezeTo(0).
 */
export function freezeTo(groups: readonly ParamGroup[], n: number, trainBn = true): boolean[][] {
  const k = frozenIndex(groups.length, n);
  return groups.map((g, gi) => g.params.map((p) => gi >= k || (trainBn && p.isNorm)));
}

export function freeze(groups: readonly ParamGroup[], trainBn = true): boolean[][] {
  return freezeTo(groups, -1, trainBn);
}

export function unfreeze(groups: readonly ParamGroup[]): boolean[][] {
  return freezeTo(groups, 0, true);
}

/** The parameters a mask lets train, in group order. */
export function trainableParams(groups: readonly ParamGroup[], mask: readonly (readonly boolean[])[]): ParamInfo[] {
  return groups.flatMap((g, gi) => g.params.filter((_, i) => mask[gi]?.[i] === true));
}

/** Names of layers whose parameters are all frozen under `mask` (layers without parameters are not listed). */
export function frozenLayers(groups: readonly ParamGroup[], mask: readonly (readonly boolean[])[]): string[] {
  const state = new Map<string, boolean>(); // layer → any param trains
  groups.forEach((g, gi) =>
    g.params.forEach((p, i) => state.set(p.layer, (state.get(p.layer) ?? false) || mask[gi]?.[i] === true)),
  );
  return [...state].filter(([, trains]) => !trains).map(([name]) => name);
}
