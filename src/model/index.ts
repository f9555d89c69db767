export type { LayerSpecLike, ModelPlan, DataShape } from './types.js';
export { buildModel } from './build.js';
export { buildFinetuneModel } from './finetune.js';
export { makeLayer, layerName, layerSeed } from './layers.js';
export { modelInputShape, checkOutput, expectedOutputs } from './check.js';
export { resolveModelFrom, tryResolveModelFrom, type ResolvedModelFrom } from './from.js';
export { saveModelDir, loadModelDir, modelDirHandler, MODEL_JSON, WEIGHTS_BIN } from './io.js';
export {
  paramGroups,
  resolveSplitPoints,
  effectiveSplitPoints,
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
