/** The plan module: YAML config + schema → typed, resolved Plan (every default filled in). */
export {
  loadPlan,
  resolvePlan,
  resolvePlanLocated,
  planHash,
  defaultName,
  type LoadPlanOptions,
  type LoadedPlan,
  type LocatedPlan,
} from './load.js';
export { readConfigText } from './yaml-source.js';
export type { RawIssue } from './issues.js';
export { planJsonSchema } from './json-schema.js';
export {
  configSchema,
  planSchema,
  lrSpecSchema,
  layerSchema,
  ACTIVATIONS,
  DATA_SOURCES,
  LOSSES,
  METRICS,
  type Plan,
  type LayerSpec,
  type LrSpec,
  type Activation,
  type DataSource,
  type LossName,
  type MetricName,
} from './schema.js';
export { defaultMetrics, metricNames, layerNames, resolveSplitPoints } from './cross-checks.js';
export { parameterGroups, groupCount, modelLayerNames, type LayerGroup } from './groups.js';
export { LAYER_TYPES, LAYER_SHORTHAND, type LayerType } from './layers.js';
