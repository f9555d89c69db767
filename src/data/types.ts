/**
 * Data types of fastlr and the slice of the resolved Plan the data module reads.
 *
 * `DataPlan` is a structural subset of `Plan` (src/plan/): the real Plan is assignable to it, so this module does not
 * depend on the plan module. Fields are typed leniently (readonly arrays, optional where a default is obvious);
 * values are checked at run time where a wrong one would do harm.
 */
import type { AugmentOption } from './augment.js';
import type { NormalizeOption, Preprocessing } from './preprocess.js';

/** One split of a dataset, row-major. */
export interface Split {
  /**
   * n × prod(inputShape) feature values. Image splits keep uint8 pixels instead (`rows`) and materialise this only
   * when it is read (unaugmented, centre-cropped: for inspection and tests; the batcher never reads it for images).
   */
  x: Float32Array;
  /** classification: n class ids; regression: n × targetDim targets */
  y: Float32Array;
  n: number;
  /** where a row's input values come from when they are made per batch (images: uint8 pixels, augmentation) */
  rows?: RowSource;
}

/** Makes the input values of one row on demand (per batch). */
export interface RowSource {
  /**
   * Write row `row`'s prod(inputShape) values into `out` at `offset`. `epoch` keys the random transforms of a
   * training split (a pure function of seed, epoch and row); splits without them ignore it.
   */
  fill(row: number, out: Float32Array, offset: number, epoch: number): void;
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
  /** images: what pixel bytes become (data.images.scale / normalize), recorded in plan and saved model */
  preprocessing?: Preprocessing;
  /** things the user should know about the data (printed with the skipped files) */
  warnings?: string[];
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
  /** [lo, hi] that bytes 0..255 map to linearly (default [0, 1]) */
  scale?: readonly number[] | null;
  normalize?: NormalizeOption;
  /** squash (default): the whole image resized; crop: fastai's Resize (random crop position on train, centre on valid) */
  resize?: 'squash' | 'crop';
  augment?: AugmentOption;
  /** images whose header claims more pixels than this are skipped before decoding */
  max_pixels?: number;
  /** decoded uint8 pixels kept in memory up to this many MiB; images beyond are decoded again per batch */
  cache_mb?: number;
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
