export type { Dataset, Split, SkippedItem, Task, DataPlan } from './types.js';
export { loadDataset, type LoadDatasetOptions } from './load.js';
export { epochOrder, batchCount, Batcher } from './batching.js';
export { randomSplit } from './split.js';
export { loadMnistAll } from './mnist.js';
export { decodeProgress } from './progress.js';
export {
  IMAGENET_STATS,
  describePreprocessing,
  preprocessingMismatch,
  recordedPreprocessing,
  type Preprocessing,
} from './preprocess.js';
