/**
 * The YAML forms of a layer and their normalisation to `{ type, ...options }`.
 *
 *   - flatten                     → { type: 'flatten' }
 *   - batchnorm / - batchnorm: {} → { type: 'batchnorm' }
 *   - dense: 10                   → { type: 'dense', units: 10 }       (the type's shorthand option)
 *   - dense: { units: 10 }        → { type: 'dense', units: 10 }
 *   - { type: dense, units: 10 }  → unchanged (the normalised form, as plan.json holds it)
 *
 * Normalisation only reshapes; the zod schema validates the result.
 */

export const LAYER_TYPES = [
  'dense',
  'conv2d',
  'maxpool',
  'avgpool',
  'flatten',
  'dropout',
  'batchnorm',
  'activation',
  'global_avgpool',
  'global_maxpool',
  'concat_pool',
] as const;
export type LayerType = (typeof LAYER_TYPES)[number];

/** The option a bare value stands for, e.g. `- dense: 10` sets `units`. */
export const LAYER_SHORTHAND: Readonly<Partial<Record<LayerType, string>>> = {
  dense: 'units',
  conv2d: 'filters',
  maxpool: 'pool',
  avgpool: 'pool',
  dropout: 'rate',
  activation: 'activation',
};

/** Key a short-form value lands in when the type takes no bare value (`- flatten: 3`): reported as an error. */
export const NO_SHORTHAND_KEY = '__value';

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reshape one YAML layer item into `{ type, ...options }`; anything unrecognisable is returned as is. */
export function normalizeLayerInput(v: unknown): unknown {
  if (typeof v === 'string') return { type: v };
  if (!isPlainObject(v) || 'type' in v) return v;
  const keys = Object.keys(v);
  if (keys.length !== 1) return v;
  const type = keys[0]!;
  const body = v[type];
  if (body === null || body === undefined) return { type };
  if (isPlainObject(body)) return { type, ...body };
  const key = LAYER_SHORTHAND[type as LayerType] ?? NO_SHORTHAND_KEY;
  return { type, [key]: body };
}

/** True when `path` (YAML segments) is a list of layers: its items are layer items. */
export function isLayerList(path: readonly (string | number)[]): boolean {
  return path.length === 2 && path[0] === 'model' && (path[1] === 'layers' || path[1] === 'head');
}
