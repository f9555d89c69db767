/**
 * Data types of fastlr and the slice of the resolved Plan the data module reads.
 *
 * `DataPlan` is a structural subset of `Plan` (src/plan/): the real Plan is assignable to it, so this module does not
 * depend on the plan module. Fields are typed leniently (readonly arrays, optional where a default is obvious);
 * values are checked at run time where a wrong one would do harm.
 */

/** One split of a dataset, row-major. */
export interface Split {
  /** n × prod(inputShape) feature values */
  x: Float32Array;
  /** classification: n class ids; regression: n × targetDim targets */
  y: Float32Array;
  n: number;
}

/** An input file that could not be read and was left out (images). */
export interface SkippedItem {
  path: string;
  reason: string;
}

export type Task = 'classification' | 'regression';

export interface Dataset {
  train: Split;
  valid: Split;
  /** shape of one sample, e.g. [28, 28, 1] or [features] */
  inputShape: number[];
  task: Task;
  /** number of classes (0 for regression) */
  nClasses: number;
  /** values per target: 1 for classification (the id) and for single-column regression */
  targetDim: number;
  /** class id → name (sorted as fastai's CategoryMap); [] for regression */
  classNames: string[];
  /** human description of where the data came from, e.g. `mnist`, `csv:/abs/iris.csv` */
  source: string;
  /** inputs that could not be read and were left out (images source); absent or [] when none */
  skipped?: SkippedItem[];
}

export interface MnistOptions {
  digits?: readonly number[] | null;
  limit?: number | null;
}

export interface CsvOptions {
  path?: string | null;
  train?: string | null;
  valid?: string | null;
  target: string;
  features?: readonly string[] | null;
}

export interface ImagesOptions {
  path: string;
  /** [height, width] */
  size: readonly number[];
  channels: number;
}

export interface SyntheticOptions {
  task: Task;
  n: number;
  features: number;
  classes: number;
  noise: number;
}

/** The part of the resolved Plan that `loadDataset` reads. */
export interface DataPlan {
  seed: number;
  loss: string;
  data: {
    source: string;
    valid_pct: number;
    mnist?: MnistOptions | null;
    csv?: CsvOptions | null;
    images?: ImagesOptions | null;
    synthetic?: SyntheticOptions | null;
  };
}
