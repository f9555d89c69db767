/**
 * Plan-level checks: rules that tie keys together (LR list length vs parameter groups, model layers vs from,
 * metrics vs loss, …). They read the raw config tolerantly — each value through its own sub-schema, skipped when
 * invalid (that is reported elsewhere) — so they run even when other keys are wrong: all errors at once.
 */
import type { z } from 'zod';
import { didYouMean } from './did-you-mean.js';
import { findSplitLayer, splitCandidates } from '../model/split.js';
import { abbreviate } from '../model/key-error.js';
import type { RawIssue } from './issues.js';
import { configSchema, type LayerSpec, type LossName, type MetricName } from './schema.js';
import { schemaAt } from './schema-walk.js';

type Seg = string | number;

function rawAt(raw: unknown, path: readonly Seg[]): unknown {
  let d = raw;
  for (const s of path) {
    if (typeof d !== 'object' || d === null) return undefined;
    d = (d as Record<string, unknown>)[String(s)];
  }
  return d;
}

function has(raw: unknown, path: readonly Seg[]): boolean {
  return rawAt(raw, path) !== undefined;
}

/** The value at `path` parsed by its own schema (defaults filled), or undefined when invalid. */
function valueAt<T>(raw: unknown, path: readonly Seg[]): T | undefined {
  const s = schemaAt(configSchema, path, raw);
  if (!s) return undefined;
  const r = (s as z.ZodType).safeParse(rawAt(raw, path));
  return r.success ? (r.data as T) : undefined;
}

const CLASSIFICATION_METRICS: readonly MetricName[] = ['accuracy', 'error_rate'];

/** Default metrics when the config gives none. */
export function defaultMetrics(loss: LossName): MetricName[] {
  return loss === 'mse' ? ['mae'] : ['accuracy'];
}

/** Names the run reports, usable in `expect:` and `fit.monitor`. */
export function metricNames(metrics: readonly MetricName[]): string[] {
  return ['train_loss', 'valid_loss', ...metrics.flatMap((m) => [`valid_${m}`, m])];
}

/** The layers' names: their `name`, else `l<index>_<type>` (the model builder's naming). */
export function layerNames(layers: readonly LayerSpec[], offset = 0): string[] {
  return layers.map((l, i) => l.name ?? `l${i + offset}_${l.type}`);
}

/** Split points (index or layer name) → indices, with the problems found; undefined indices are unresolvable. */
export function resolveSplitPoints(
  groups: readonly (number | string)[],
  names: readonly string[] | undefined,
): { indices: (number | undefined)[]; issues: RawIssue[] } {
  const issues: RawIssue[] = [];
  const indices = groups.map((g, k): number | undefined => {
    const path = ['model', 'groups', k];
    if (typeof g === 'number') {
      if (!names) return g > 0 ? g : undefined;
      const i = g < 0 ? names.length + g : g;
      if (i < 1 || i >= names.length) {
        issues.push({ path, message: `split point ${g} is outside the model (it has ${names.length} layers: use 1..${names.length - 1}, or -1..-${names.length - 1} from the end)` });
        return undefined;
      }
      return i;
    }
    if (!names) return undefined;
    const idx = findSplitLayer(names, g);
    if (idx < 0) {
      issues.push({ path, message: `no layer named "${g}" or starting with it${didYouMean(g, splitCandidates(names)) || ` (layers: ${abbreviate(names)})`}` });
      return undefined;
    }
    if (idx === 0) {
      issues.push({ path, message: `"${g}" matches the first layer (${names[0]}): a split point before it would leave an empty group` });
      return undefined;
    }
    return idx;
  });
  let prev = 0;
  indices.forEach((idx, k) => {
    if (idx === undefined) return;
    if (idx <= prev) issues.push({ path: ['model', 'groups', k], message: `split points must increase: ${idx} after ${prev}` });
    prev = Math.max(prev, idx);
  });
  return { indices, issues };
}

export function checkPlanRules(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  const add = (path: Seg[], message: string, at: 'key' | 'value' = 'value'): void => {
    issues.push({ path, message, at });
  };

  // --- model: layers xor from
  const hasLayers = has(raw, ['model', 'layers']);
  const hasFrom = has(raw, ['model', 'from']);
  const modelRaw = rawAt(raw, ['model']);
  const modelKeys = typeof modelRaw === 'object' && modelRaw !== null ? Object.keys(modelRaw) : [];
  const known = new Set(Object.keys(configSchema.shape.model.unwrap().shape));
  const misspelt = modelKeys.some((k) => !known.has(k)); // "unknown key; did you mean layers?" says it already
  if (!hasLayers && !hasFrom && !misspelt) {
    add(['model'], 'needs layers (a list of layers) or from (a saved model folder)', 'key');
  }
  if (hasLayers && hasFrom) add(['model', 'from'], 'give either layers or from, not both', 'key');
  if (!hasFrom) {
    for (const k of ['head', 'cut', 'reinit', 'bn_momentum'] as const) {
      if (has(raw, ['model', k])) add(['model', k], `${k} goes with from (fine-tuning a saved model)`, 'key');
    }
  }
  if (hasFrom && has(raw, ['model', 'input'])) add(['model', 'input'], 'the input shape comes from the saved model (from)', 'key');

  // --- a metric listed twice would be two columns of one name in metrics.csv and the epoch table
  const metricItems = rawAt(raw, ['metrics']);
  if (Array.isArray(metricItems)) {
    metricItems.forEach((m, i) => {
      const firstAt = metricItems.indexOf(m);
      if (typeof m === 'string' && firstAt < i) add(['metrics', i], `${m} is listed twice (also item ${firstAt}): list each metric once`);
    });
  }

  // --- concat_pool has two branches: a functional head only
  const layerItems = rawAt(raw, ['model', 'layers']);
  if (Array.isArray(layerItems)) {
    layerItems.forEach((item, i) => {
      const t = typeof item === 'string' ? item : typeof item === 'object' && item !== null ? ((item as Record<string, unknown>)['type'] ?? Object.keys(item)[0]) : undefined;
      if (t === 'concat_pool') add(['model', 'layers', i], 'concat_pool has two branches, so it can only be a model.head layer (after a model.from body); use global_avgpool or global_maxpool here');
    });
  }

  // --- layer names are unique
  const layers = valueAt<LayerSpec[]>(raw, ['model', 'layers']);
  const head = valueAt<LayerSpec[]>(raw, ['model', 'head']);
  const seen = new Map<string, string>();
  for (const [list, items] of [['layers', layers], ['head', head]] as const) {
    items?.forEach((l, i) => {
      if (l.name === undefined) return;
      const where = `model.${list}[${i}]`;
      const before = seen.get(l.name);
      if (before) add(['model', list, i, 'name'], `layer name "${l.name}" is already used by ${before}`);
      else seen.set(l.name, where);
    });
  }

  // --- parameter groups and per-group learning rates
  const groups = valueAt<(number | string)[]>(raw, ['model', 'groups']);
  if (groups) {
    const names = layers && !hasFrom ? layerNames(layers) : undefined;
    issues.push(...resolveSplitPoints(groups, names).issues);
    const nGroups = groups.length + 1;
    for (const path of [['fit', 'lr'], ['finetune', 'lr']] as Seg[][]) {
      const lr = rawAt(raw, path);
      if (Array.isArray(lr) && lr.length !== nGroups) {
        const split =
          groups.length === 0 ? 'model.groups is empty' : `model.groups has ${groups.length} split point${groups.length > 1 ? 's' : ''}`;
        add(
          path,
          `${lr.length} learning rate${lr.length === 1 ? '' : 's'} for ${nGroups} parameter group${nGroups > 1 ? 's' : ''} (${split}): give ${nGroups}, one number, or a range { lo, hi }`,
        );
      }
    }
  }

  // --- data source needs its section
  const source = valueAt<string>(raw, ['data', 'source']);
  for (const s of ['csv', 'images'] as const) {
    if (source === s && !has(raw, ['data', s])) {
      const example = s === 'csv' ? 'csv: { path: data/train.csv, target: label }' : 'images: { path: data/pets, size: [64, 64] }';
      add(['data', 'source'], `source ${s} needs a data.${s} section, e.g. ${example}`);
    }
  }

  // --- task vs loss, classes
  const loss0 = valueAt<LossName>(raw, ['loss']);
  if (loss0 === 'mse' && (source === 'mnist' || source === 'images')) {
    add(['loss'], `loss mse needs regression targets, but data.source ${source} is a classification dataset`);
  }
  if (source === 'synthetic' && loss0) {
    const task = valueAt<string>(raw, ['data', 'synthetic', 'task']);
    if (task === 'regression' && loss0 !== 'mse') add(['data', 'synthetic', 'task'], `regression needs loss: mse (loss is ${loss0})`);
    if (task === 'classification' && loss0 === 'mse') add(['loss'], 'loss mse needs regression data: set data.synthetic.task: regression');
  }
  if (source === 'mnist') {
    const digits = valueAt<number[] | null>(raw, ['data', 'mnist', 'digits']);
    if (digits && digits.length < 2) add(['data', 'mnist', 'digits'], 'classification needs at least 2 digits');
  }

  // --- model input vs data sample shape
  const input = valueAt<number[]>(raw, ['model', 'input']);
  if (input && !hasFrom) {
    const size = input.reduce((a, b) => a * b, 1);
    let want: number | undefined;
    let what = '';
    if (source === 'mnist') {
      want = 784;
      what = 'mnist samples are 28×28×1 (784 values)';
    } else if (source === 'synthetic') {
      want = valueAt<number>(raw, ['data', 'synthetic', 'features']);
      what = `synthetic samples have data.synthetic.features = ${want} values`;
    } else if (source === 'images') {
      const size2 = valueAt<[number, number]>(raw, ['data', 'images', 'size']);
      const ch = valueAt<number>(raw, ['data', 'images', 'channels']);
      if (size2 && ch) {
        want = size2[0] * size2[1] * ch;
        what = `images are ${size2[0]}×${size2[1]}×${ch} (${want} values)`;
      }
    }
    if (want !== undefined && size !== want) add(['model', 'input'], `${what}; [${input.join(', ')}] has ${size}`);
  }

  // --- metrics vs loss; expect/monitor name metrics that exist
  const loss = valueAt<LossName>(raw, ['loss']);
  const written = valueAt<MetricName[]>(raw, ['metrics']);
  if (loss && written) {
    written.forEach((m, i) => {
      const cls = CLASSIFICATION_METRICS.includes(m);
      if (cls && loss === 'mse') add(['metrics', i], `${m} needs a classification loss (cross_entropy or binary_cross_entropy); loss is mse`);
      if (!cls && loss !== 'mse') add(['metrics', i], `${m} needs loss mse; loss is ${loss}`);
    });
  }
  if (loss) {
    const known = metricNames(written ?? defaultMetrics(loss));
    const monitor = valueAt<string>(raw, ['fit', 'monitor']);
    if (monitor !== undefined && !known.includes(monitor)) {
      add(['fit', 'monitor'], `unknown metric "${monitor}"${didYouMean(monitor, known) || ` (known: ${known.join(', ')})`}`);
    }
    const expect = rawAt(raw, ['expect']);
    if (typeof expect === 'object' && expect !== null && !Array.isArray(expect)) {
      for (const key of Object.keys(expect)) {
        if (!known.includes(key)) {
          add(['expect', key], `unknown metric "${key}"${didYouMean(key, known) || ` (known: ${known.join(', ')})`}`, 'key');
        }
      }
    }
  }
  return issues;
}
