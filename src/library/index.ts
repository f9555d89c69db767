export {
  createLearner,
  type CreateLearnerOptions,
  type FastlrLearner,
  type FitCallbacks,
  type LrFindOptions,
  type FitOneCycleOptions,
  type FineTuneOptions,
} from './create-learner.js';
export type { LrFindResult, FitResult, FineTuneResult } from './run.js';
export type { TensorData, DatasetData, DataInput } from './data-source.js';
