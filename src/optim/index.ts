export { FastOptimizer } from './fast-optimizer.js';
export { adamDebias2, adamStepSize, debias, decayFactor } from './coefficients.js';
export { decodeState, encodeState, stateFromJSON, stateToJSON } from './state-codec.js';
export type {
  FreezeResult,
  OptimizerConfig,
  OptimizerHypers,
  OptimizerState,
  OptimizerStateJSON,
  OptimizerType,
  ParamGroup,
  ParamInfo,
  ParamStateJSON,
  ParamStateSnapshot,
} from './types.js';
