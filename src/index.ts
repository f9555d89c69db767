/**
 * fastlr as a library: fastai's learning-rate maths (pure), the plan loader, and the same phases the
 * CLI runs (range test, one-cycle fit) on the shared engine.
 */

// pure maths (no tensors): LR spreading, schedules, the range test's rules, the four suggestions
export {
  spreadLr,
  evenMults,
  type LrSpec,
  schedCos,
  schedExp,
  schedLin,
  combinedCos,
  oneCycleSchedule,
  oneCycleAt,
  fineTuneSchedule,
  fineTuneLrs,
  type Step,
  type OneCycleOptions,
  type FineTuneOptions,
  rangeTestLr,
  rangeTestStop,
  SmoothLoss,
  suggest,
  valley,
  slide,
  steep,
  minimum,
  METHODS,
  type Method,
  type Suggestion,
  type SuggestedLr,
  type NoSuggestion,
} from './schedule/index.js';

// the library: the user's own tf.LayersModel and tensors (README: "Use it as a library")
export {
  createLearner,
  type CreateLearnerOptions,
  type FastlrLearner,
  type FitCallbacks,
  type LrFindOptions,
  type FitOneCycleOptions,
  type FineTuneOptions as LearnerFineTuneOptions,
  type LrFindResult,
  type FitResult,
  type FineTuneResult,
  type TensorData,
  type DatasetData,
  type DataInput,
} from './library/index.js';

// config → plan
export { loadPlan, planJsonSchema, type Plan } from './plan/index.js';

// the engine and its phases
export { openSession, type Session } from './phases/session.js';
export { rangeTest, type RangeTestConfig, type RangeTestResult } from './phases/find.js';
export { fitOneCycle, type OneCycleConfig } from './phases/fit.js';
export { Learner, type LearnerSnapshot, type LoopOptions, type LoopResult } from './engine/learner.js';
export { StopSignal, type EngineEvent, type StopReason } from './engine/events.js';
export { FastOptimizer } from './optim/index.js';
export { initBackend } from './backend/index.js';
export { FastlrError, ConfigError, ExitCode } from './errors.js';
