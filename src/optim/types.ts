import type * as tf from '@tensorflow/tfjs';

/**
 * One trainable tensor of the model, as src/model's `paramGroups` produces it (declared here structurally so the
 * optimizer does not depend on the model module).
 */
export interface ParamInfo {
  /** stable across processes (layerName/weightName): optimizer state is keyed by it */
  key: string;
  variable: tf.Variable;
  /** false for biases and normalization parameters: no weight decay */
  decay: boolean;
  /** normalization-layer parameter: stays trainable in frozen groups when train_bn */
  isNorm: boolean;
}

/** An ordered parameter group (body … head); each group has its own learning rate. */
export interface ParamGroup {
  params: ParamInfo[];
}

export type OptimizerType = 'adam' | 'sgd';

/** The `optimizer:` section of the plan. */
export interface OptimizerConfig {
  type: OptimizerType;
  /** decoupled weight decay: p ← p·(1 − lr·wd) for params with `decay` */
  wd: number;
  /** Adam's second-moment factor (fastai's sqr_mom) */
  beta2: number;
  /** Adam's epsilon, added outside the square root */
  eps: number;
  /**
   * Initial β1 (Adam) / momentum (SGD), held until a schedule sets another one. For SGD, 0 means plain SGD with no
   * momentum buffer for the optimizer's whole life (fastai decides this when it builds SGD).
   */
  mom: number;
}

/** The hyper-parameters the next step() uses. */
export interface OptimizerHypers {
  /** one learning rate per parameter group */
  lr: number[];
  /** β1 (Adam) or momentum (SGD), the same for every group */
  mom: number;
}

/** Optimizer state of one parameter (deep copy, detached from any tensor). */
export interface ParamStateSnapshot {
  /** steps this parameter took since its state was last cleared (fastai's `step`, Adam's t) */
  step: number;
  shape: number[];
  /** Adam: average of gradients (fastai grad_avg); SGD: momentum buffer. Absent for SGD without momentum. */
  m?: Float32Array;
  /** Adam: average of squared gradients (fastai sqr_avg) */
  v?: Float32Array;
}

/** Everything FastOptimizer needs to continue bit-identically; keyed by ParamInfo.key. */
export interface OptimizerState {
  format: 'fastlr-optim/1';
  type: OptimizerType;
  /** step() calls since construction or the last clearState() */
  stepCount: number;
  /** null when setHypers was never called */
  hypers: OptimizerHypers | null;
  /** only parameters that have state (params never stepped, frozen from the start, or cleared are absent) */
  params: Record<string, ParamStateSnapshot>;
}

/** JSON-safe form of OptimizerState: arrays as base64 of little-endian float32 (exact, NaN/Infinity survive). */
export interface ParamStateJSON {
  step: number;
  shape: number[];
  m?: string;
  v?: string;
}
export interface OptimizerStateJSON {
  format: 'fastlr-optim/1';
  type: OptimizerType;
  stepCount: number;
  hypers: OptimizerHypers | null;
  params: Record<string, ParamStateJSON>;
}

/** Result of freezeTo(): which groups are frozen; wholeModelFrozen lets the caller warn as fastai does. */
export interface FreezeResult {
  frozenIdx: number;
  nGroups: number;
  wholeModelFrozen: boolean;
}
