/**
 * The library's options, validated by the config schema's own pieces (src/plan/schema.ts): the same keys' types,
 * ranges and defaults as the YAML, under camelCase names (`batchSize` is `data.batch_size`). A bad option is a
 * FastlrError worded as the CLI words the config issue (src/plan/issues.ts), naming the option.
 */
import { z } from 'zod';
import { Document, LineCounter } from 'yaml';
import { configSchema, lrSpecSchema, type Plan } from '../plan/schema.js';
import { zodToConfigIssues } from '../plan/issues.js';
import { Locator } from '../plan/locate.js';
import { isIntegerAt, knownKeysAt } from '../plan/schema-walk.js';
import { defaultMetrics } from '../plan/cross-checks.js';
import { FastlrError } from '../errors.js';

const cfg = configSchema.shape;
const inner = <T extends z.ZodType>(s: z.ZodPrefault<T>): T => s.unwrap() as T;
const data = inner(cfg.data).shape;
const model = inner(cfg.model).shape;
const find = inner(cfg.find).shape;
const fit = inner(cfg.fit).shape;
const finetune = inner(cfg.finetune).shape;

/** createLearner's settings (besides model, train and valid): the config keys they stand for in comments. */
export const learnerOptionsSchema = z.strictObject({
  loss: cfg.loss,
  metrics: cfg.metrics,
  optimizer: cfg.optimizer,
  batchSize: data.batch_size, // data.batch_size
  shuffle: data.shuffle, // data.shuffle
  dropLast: data.drop_last, // data.drop_last
  seed: cfg.seed,
  groups: model.groups, // model.groups
  trainBn: model.train_bn, // model.train_bn
  bnFreeze: model.bn_freeze, // model.bn_freeze
  bnInference: model.bn_inference, // model.bn_inference
  backend: cfg.backend,
  threads: cfg.threads,
});

const findSection = z.strictObject({
  startLr: find.start_lr,
  endLr: find.end_lr,
  numIt: find.num_it,
  stopDiv: find.stop_div,
  suggest: find.suggest,
});
/** lrFind's options (the config's `find`). */
export const lrFindOptionsSchema = findSection.refine((f) => f.startLr < f.endLr, { error: 'startLr must be smaller than endLr', path: ['startLr'] });

/** fitOneCycle's arguments (the config's `fit`): epochs, lrMax (fit.lr) and the one-cycle options. */
export const fitOptionsSchema = z.strictObject({
  epochs: fit.epochs,
  lrMax: lrSpecSchema,
  div: fit.div,
  divFinal: fit.div_final,
  pctStart: fit.pct_start,
  moms: fit.moms,
});

/** fineTune's arguments (the config's `finetune`; divFinal and moms as `fit`'s, which fastai passes to both stages). */
export const fineTuneOptionsSchema = z.strictObject({
  epochs: finetune.epochs,
  baseLr: finetune.base_lr,
  freezeEpochs: finetune.freeze_epochs,
  lrMult: finetune.lr_mult,
  lr: finetune.lr,
  pctStart: finetune.pct_start,
  div: finetune.div,
  divFinal: fit.div_final,
  moms: fit.moms,
});

export type LearnerSettings = z.infer<typeof learnerOptionsSchema>;
export type LrFindSettings = z.infer<typeof lrFindOptionsSchema>;
export type FitSettings = z.infer<typeof fitOptionsSchema>;
export type FineTuneSettings = z.infer<typeof fineTuneOptionsSchema>;

/**
 * Parse `value` with `schema`; on failure a FastlrError listing every problem as the CLI words it, each prefixed
 * with `where` and the option's path (`createLearner: optimizer.wd: must be ≥ 0, got -1`).
 */
export function parseOptions<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  const ctx = {
    file: where,
    locator: new Locator(new Document({}), new LineCounter()),
    overrides: [],
    knownKeys: (p: readonly PropertyKey[]) => knownKeysAt(schema, p as (string | number)[], value),
    expectsInteger: (p: readonly PropertyKey[]) => isIntegerAt(schema, p as (string | number)[], value),
  };
  const lines = zodToConfigIssues(r.error.issues, ctx).map((i) => `${where}: ${i.path ? `${i.path}: ` : ''}${i.message}`);
  throw new FastlrError(lines.join('\n'));
}

/** The metrics in effect: as given, or the config's default for the loss. */
export function metricsOf(s: LearnerSettings): Plan['metrics'] {
  return s.metrics ?? defaultMetrics(s.loss);
}

/** Options objects are plain objects (undefined: all defaults). */
export function plainObject(v: unknown, where: string): Record<string, unknown> {
  if (v === undefined) return {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FastlrError(`${where}: options must be an object, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
  return v as Record<string, unknown>;
}
