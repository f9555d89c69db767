export type { LayerSpecLike, ModelPlan, DataShape } from './types.js';
export { buildModel } from './build.js';
export { buildFinetuneModel } from './finetune.js';
export { makeLayer, layerName, layerSeed } from './layers.js';
export { modelInputShape, checkOutput, expectedOutputs } from './check.js';
export { resolveModelFrom, tryResolveModelFrom, type ResolvedModelFrom } from './from.js';
export { saveModelDir, loadModelDir, modelDirHandler, readModelJson, checkWeightFiles, MODEL_JSON, WEIGHTS_BIN, type LoadOptions } from './io.js';
export { leafLayers, layerPath, rebuildGraph, isContainer } from './graph.js';
export { resolveCut } from './finetune.js';
export { applyHead, headLayerNames, headSpecLayers } from './head.js';
export { applyBnFreeze, setInferenceMode, inInferenceMode, isBatchNorm } from './batchnorm.js';
export { ModelKeyError, ModelKeyErrors, modelKeyIssues, type ModelKeyIssue } from './key-error.js';
export { findSplitLayer, splitIndex } from './split.js';
export { normalizeTopology, topologyLayers } from './keras-json.js';
export {
  paramGroups,
  resolveSplitPoints,
  effectiveSplitPoints,
  groupLayers,
  layerParams,
  freezeTo,
  freeze,
  unfreeze,
  frozenIndex,
  trainableParams,
  frozenLayers,
  type ParamInfo,
  type ParamGroup,
} from './groups.js';
export { inspectFinetune, type Inspected, type InspectedGroup } from './inspect.js';
