/**
 * The slice of the resolved Plan the model module reads, typed structurally (the real Plan from src/plan/ is
 * assignable to it) and leniently: layer options are checked at run time where a wrong value would do harm.
 */

/** A normalised layer spec (`{ type, ...options }`), see the contracts' LayerSpec. */
export interface LayerSpecLike {
  type: string;
  name?: string | null;
  units?: number;
  activation?: string;
  use_bias?: boolean;
  filters?: number;
  kernel?: number | readonly number[];
  strides?: number | readonly number[] | null;
  padding?: string;
  pool?: number | readonly number[];
  rate?: number;
  momentum?: number;
  epsilon?: number;
}

export interface ModelPlan {
  seed: number;
  loss: string;
  model: {
    input?: readonly number[] | null;
    layers?: readonly LayerSpecLike[] | null;
    from?: string | null;
    /** finetune: keep layers[:cut] of the loaded model (python slice; default -1 = drop the last layer) */
    cut?: number | null;
    head?: readonly LayerSpecLike[] | null;
    /** split points (layer indices or names) of the parameter groups; [] = one group */
    groups?: readonly (number | string)[] | null;
    train_bn?: boolean;
  };
}

/** What the model builders need to know about the data. */
export interface DataShape {
  inputShape: readonly number[];
  task: 'classification' | 'regression';
  nClasses: number;
  targetDim: number;
}
