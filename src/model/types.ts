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
    /** finetune: keep layers[:cut] of the loaded model (python slice; default -1 = drop the last layer), or cut after the layer of that name */
    cut?: number | string | null;
    head?: readonly LayerSpecLike[] | null;
    /** split points (layer indices or names) of the parameter groups; [] = one group */
    groups?: readonly (number | string)[] | null;
    train_bn?: boolean;
    /** BatchNorm layers of frozen groups run in inference mode (fastai's BnFreeze) */
    bn_freeze?: boolean;
    /** every BatchNorm layer runs in inference mode in every stage (Keras's fine-tuning advice) */
    bn_inference?: boolean;
    /** with from: the momentum the loaded BatchNormalization layers get (keras-style); null keeps the saved one */
    bn_momentum?: number | null;
    /** with from: fresh seeded weights instead of the saved ones */
    reinit?: boolean;
  };
}

/** What the model builders need to know about the data. */
export interface DataShape {
  inputShape: readonly number[];
  task: 'classification' | 'regression';
  nClasses: number;
  targetDim: number;
}
