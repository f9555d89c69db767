export { type LrSpec, spreadLr, evenMults, formatLrSpec } from './spread.js';
export {
  type Sched,
  schedCos,
  schedExp,
  schedLin,
  schedNo,
  combinePositions,
  combineScheds,
  combinedCos,
  type Step,
  type OneCycleHypers,
  type OneCycleOptions,
  ONE_CYCLE_DEFAULTS,
  oneCycleScheds,
  oneCycleAt,
  fitPositions,
  oneCycleSchedule,
  type FineTuneOptions,
  FINE_TUNE_DEFAULTS,
  fineTuneLrs,
  fineTuneSchedule,
  fineTuneRecipe,
  type OneCycleStageHypers,
} from './schedules.js';
export {
  type StageId,
  type StagePlan,
  type OneCycleConfig,
  type StagePlanInput,
  STAGE_PHASE,
  fitStage,
  fineTuneStages,
  finetuneStagesOf,
  stagesOf,
} from './stages.js';
export {
  MIN_RANGE_TEST_ITERATIONS,
  rangeTestIterations,
  rangeTestLr,
  type SmoothLossState,
  SmoothLoss,
  type RangeTestStopReason,
  type RangeTestStopInput,
  rangeTestStop,
  RangeTestStopRule,
} from './range-test.js';
export { f32, fmaF32, lerpF32 } from './float32.js';
// the suggestions are pure maths too; re-exported so callers import one module
export * from '../suggest/index.js';
