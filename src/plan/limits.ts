/**
 * Sizes fastlr refuses before it starts, so an absurd config (a typo'd `epochs: 1e9`, `units: 100000000000`) is a
 * config error (exit 2) placed at its key, never an out-of-memory crash. Pure: `check` and the training commands
 * use the same rules.
 */
import type { RawIssue } from './issues.js';
import type { Plan } from './schema.js';
import type { LayerShape } from './shapes.js';

export type RawIssueLike = RawIssue;

/** Training steps (batches) of one phase: the range test, the fit, each finetune stage. */
export const MAX_STEPS_PER_PHASE = 1_000_000;
/** Trainable parameters of a model built from `layers` (400 MB as float32, ×4 with gradients and Adam's state). */
export const MAX_PARAMS = 100_000_000;

const n = (v: number): string => v.toLocaleString('en-US');

/** One issue per phase whose steps exceed MAX_STEPS_PER_PHASE, at the key that sets its length. */
export function stepLimitIssues(plan: Pick<Plan, 'find' | 'fit' | 'finetune'>, itersPerEpoch: number): RawIssue[] {
  const issues: RawIssue[] = [];
  if (plan.find.num_it > MAX_STEPS_PER_PHASE) {
    issues.push({ path: ['find', 'num_it'], message: `${n(plan.find.num_it)} iterations: fastlr runs at most ${n(MAX_STEPS_PER_PHASE)} steps per phase` });
  }
  const phases: [PropertyKey[], number, string][] = [
    [['fit', 'epochs'], plan.fit.epochs, 'the fit'],
    [['finetune', 'freeze_epochs'], plan.finetune.freeze_epochs, "finetune's frozen stage"],
    [['finetune', 'epochs'], plan.finetune.epochs, "finetune's unfrozen stage"],
  ];
  for (const [path, epochs, what] of phases) {
    const steps = epochs * itersPerEpoch;
    if (steps > MAX_STEPS_PER_PHASE) {
      issues.push({
        path,
        message: `${n(epochs)} epochs × ${n(itersPerEpoch)} batches = ${n(steps)} training steps for ${what}: fastlr runs at most ${n(MAX_STEPS_PER_PHASE)} steps per phase`,
      });
    }
  }
  return issues;
}

/** An issue at the largest layer when the model has more than MAX_PARAMS parameters. */
export function paramLimitIssue(shapes: readonly LayerShape[]): RawIssue | undefined {
  const total = shapes.reduce((a, s) => a + s.params, 0);
  if (total <= MAX_PARAMS) return undefined;
  const big = shapes.reduce((a, s) => (s.params > a.params ? s : a), shapes[0]!);
  return {
    path: big.path,
    message: `the model has ${n(total)} parameters (${n(big.params)} in ${big.name}): fastlr trains at most ${n(MAX_PARAMS)}`,
  };
}

/** Values in one sample (an image of 4096×4096×1, a 16M-long feature vector). */
export const MAX_SAMPLE_VALUES = 16_777_216;
/** Values in the whole dataset held in memory (float32: 2 GB). */
export const MAX_DATA_VALUES = 536_870_912;

/** Issues for data that could not be held in memory, found before any of it is read. */
export function dataLimitIssues(plan: Pick<Plan, 'data' | 'model'>): RawIssue[] {
  const issues: RawIssue[] = [];
  const d = plan.data;
  if (d.source === 'images' && d.images) {
    const [h, w] = d.images.size;
    const values = h * w * d.images.channels;
    if (values > MAX_SAMPLE_VALUES) {
      issues.push({ path: ['data', 'images', 'size'], message: `${n(h)}×${n(w)}×${d.images.channels} = ${n(values)} values per image: fastlr holds at most ${n(MAX_SAMPLE_VALUES)} per sample` });
    }
  }
  if (d.source === 'synthetic') {
    const values = d.synthetic.n * d.synthetic.features;
    if (values > MAX_DATA_VALUES) {
      issues.push({ path: ['data', 'synthetic', 'n'], message: `${n(d.synthetic.n)} samples × ${n(d.synthetic.features)} features = ${n(values)} values: fastlr holds at most ${n(MAX_DATA_VALUES)}` });
    }
  }
  const input = plan.model.input;
  if (input) {
    const values = input.reduce((a, b) => a * b, 1);
    if (values > MAX_SAMPLE_VALUES) issues.push({ path: ['model', 'input'], message: `${n(values)} values per sample: fastlr holds at most ${n(MAX_SAMPLE_VALUES)}` });
  }
  return issues;
}
