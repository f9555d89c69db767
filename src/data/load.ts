/** `loadDataset(plan)`: dispatch on data.source. */
import { FastlrError } from '../errors.js';
import { loadCsv } from './csv.js';
import { loadImages } from './images.js';
import { MNIST_SIDE, selectMnist } from './mnist.js';
import { splitRows } from './split.js';
import { makeSynthetic } from './synthetic.js';
import type { DataPlan, Dataset } from './types.js';

export interface LoadDatasetOptions {
  /** base for relative paths (csv files, images folder); default process.cwd() */
  cwd?: string;
  /** images: called after each decoded file (see decodeProgress) */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Load the plan's dataset. The validation split is seeded by plan.seed through its own RNG, independent of the
 * training RNG. Regression only for loss mse (csv targets read as floats; synthetic task regression).
 * Throws FastlrError (exit 2) for missing files, bad rows (file:line), empty folders, mismatched task and loss.
 */
export async function loadDataset(plan: DataPlan, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  const cwd = opts.cwd ?? process.cwd();
  const { data } = plan;
  const validPct = data.valid_pct;
  if (!(validPct >= 0 && validPct < 1)) {
    throw new FastlrError(`data.valid_pct must be in [0, 1), got ${validPct}`);
  }
  const regression = plan.loss === 'mse';
  let ds: Dataset;
  switch (data.source) {
    case 'mnist': {
      const sel = await selectMnist(data.mnist ?? {});
      const { train, valid } = splitRows(sel.x, sel.y, sel.n, MNIST_SIDE * MNIST_SIDE, 1, validPct, plan.seed);
      ds = {
        train,
        valid,
        inputShape: [MNIST_SIDE, MNIST_SIDE, 1],
        task: 'classification',
        nClasses: sel.classNames.length,
        targetDim: 1,
        classNames: sel.classNames,
        source: 'mnist',
      };
      break;
    }
    case 'csv': {
      if (!data.csv) throw new FastlrError('data.source is csv but data.csv is missing');
      ds = await loadCsv({
        csv: data.csv,
        task: regression ? 'regression' : 'classification',
        validPct,
        seed: plan.seed,
        cwd,
      });
      break;
    }
    case 'images': {
      if (!data.images) throw new FastlrError('data.source is images but data.images is missing');
      ds = await loadImages({ images: data.images, validPct, seed: plan.seed, cwd, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
      break;
    }
    case 'synthetic': {
      if (!data.synthetic) throw new FastlrError('data.source is synthetic but data.synthetic is missing');
      ds = makeSynthetic(data.synthetic, plan.seed, validPct);
      break;
    }
    default:
      throw new FastlrError(`data.source must be mnist, csv, images or synthetic, got ${String(data.source)}`);
  }
  if (regression && ds.task !== 'regression') {
    throw new FastlrError(`loss mse needs regression targets, but data.source ${data.source} is a classification dataset`);
  }
  if (!regression && ds.task === 'regression') {
    throw new FastlrError(`data.synthetic.task regression needs loss: mse (got ${plan.loss})`);
  }
  if (ds.task === 'classification' && ds.nClasses < 2) {
    throw new FastlrError(`${ds.source}: only one class (${ds.classNames.join(', ')}); classification needs at least 2`);
  }
  return ds;
}
