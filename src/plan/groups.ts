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

/** A loaded model with a new head and no model.groups: body | head (as src/model/groups.ts effectiveSplitPoints). */
function headSplit(plan: Pick<Plan, 'model'>): boolean {
  return plan.model.groups.length === 0 && plan.model.from !== undefined && (plan.model.head ?? []).length > 0;
}

/** Number of parameter groups: split points + 1 (2 for a loaded body with a new head and no model.groups). */
export function groupCount(plan: Pick<Plan, 'model'>): number {
  return headSplit(plan) ? 2 : plan.model.groups.length + 1;
}

/**
 * The model's layer names in order: the config's layers, or (with `from`) the saved model's layers cut at
 * `model.cut` (Python slice semantics, as fastai's create_body) followed by the head. Undefined when the saved
 * model's layers are not known.
 */
export function modelLayerNames(plan: Pick<Plan, 'model'>, savedLayers?: readonly string[]): string[] | undefined {
  if (plan.model.layers) return layerNames(plan.model.layers);
  if (!savedLayers) return undefined;
  const head = plan.model.head ?? [];
  // without a head the loaded model is kept whole (src/model/finetune.ts)
  if (head.length === 0) return [...savedLayers];
  const cut = plan.model.cut;
  const body = savedLayers.slice(0, typeof cut === 'string' ? savedLayers.indexOf(cut) + 1 : cut);
  return [...body, ...layerNames(head, body.length)];
}

/** The layers of each group; undefined when the layer names are not known. */
export function parameterGroups(plan: Pick<Plan, 'model'>, names: readonly string[] | undefined): LayerGroup[] | undefined {
  if (!names) return undefined;
  const points = headSplit(plan) ? [names.length - (plan.model.head ?? []).length] : plan.model.groups;
  const { indices } = resolveSplitPoints(points, names);
  const cuts = [0, ...indices.map((i) => i ?? 0), names.length];
  const groups: LayerGroup[] = [];
  for (let g = 0; g + 1 < cuts.length; g++) {
    const start = cuts[g]!;
    const end = cuts[g + 1]!;
    groups.push({ index: g, start, end, layers: names.slice(start, end) });
  }
  return groups;
}
