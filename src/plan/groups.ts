/** Which layers fall in each parameter group (split points of model.groups), without building the model. */
import { layerNames, resolveSplitPoints } from './cross-checks.js';
import type { Plan } from './schema.js';

export interface LayerGroup {
  index: number;
  /** layer indices [start, end) */
  start: number;
  end: number;
  layers: string[];
}

/** Number of parameter groups: split points + 1. */
export function groupCount(plan: Pick<Plan, 'model'>): number {
  return plan.model.groups.length + 1;
}

/**
 * The model's layer names in order: the config's layers, or (with `from`) the saved model's layers cut at
 * `model.cut` (Python slice semantics, as fastai's create_body) followed by the head. Undefined when the saved
 * model's layers are not known.
 */
export function modelLayerNames(plan: Pick<Plan, 'model'>, savedLayers?: readonly string[]): string[] | undefined {
  if (plan.model.layers) return layerNames(plan.model.layers);
  if (!savedLayers) return undefined;
  const body = savedLayers.slice(0, plan.model.cut);
  return [...body, ...layerNames(plan.model.head ?? [], body.length)];
}

/** The layers of each group; undefined when the layer names are not known. */
export function parameterGroups(plan: Pick<Plan, 'model'>, names: readonly string[] | undefined): LayerGroup[] | undefined {
  if (!names) return undefined;
  const { indices } = resolveSplitPoints(plan.model.groups, names);
  const cuts = [0, ...indices.map((i) => i ?? 0), names.length];
  const groups: LayerGroup[] = [];
  for (let g = 0; g + 1 < cuts.length; g++) {
    const start = cuts[g]!;
    const end = cuts[g + 1]!;
    groups.push({ index: g, start, end, layers: names.slice(start, end) });
  }
  return groups;
}
