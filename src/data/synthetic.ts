/**
 * Seeded synthetic data for tests and demos (same seed → bit-identical data).
 * - classification: `classes` gaussian blobs in `features` dimensions; centres uniform in [-2, 2]^features, each
 *   sample = its class centre + noise·N(0, 1) per feature; labels cycle 0, 1, …, classes-1 (balanced).
 * - regression: x ~ N(0, 1)^features, y = x·w + b + noise·N(0, 1) with w, b ~ N(0, 1).
 * Split by valid_pct with fastai's RandomSplitter semantics.
 */
import { FastlrError } from '../errors.js';
import { normalSampler, seededRng } from './rng.js';
import { splitRows } from './split.js';
import type { Dataset, SyntheticOptions } from './types.js';

function positiveInt(v: number, key: string): number {
  if (!Number.isInteger(v) || v < 1) throw new FastlrError(`data.synthetic.${key} must be a positive integer, got ${v}`);
  return v;
}

export function makeSynthetic(opts: SyntheticOptions, seed: number, validPct: number): Dataset {
  const n = positiveInt(opts.n, 'n');
  const nf = positiveInt(opts.features, 'features');
  if (!(opts.noise >= 0)) throw new FastlrError(`data.synthetic.noise must be >= 0, got ${opts.noise}`);
  const rng = seededRng(seed, `synthetic-${opts.task}`);
  const normal = normalSampler(rng);
  const x = new Float32Array(n * nf);
  const y = new Float32Array(n);

  if (opts.task === 'classification') {
    const k = positiveInt(opts.classes, 'classes');
    if (k < 2) throw new FastlrError('data.synthetic.classes must be at least 2 for classification');
    const centres = new Float64Array(k * nf);
    for (let i = 0; i < centres.length; i++) centres[i] = rng() * 4 - 2;
    for (let r = 0; r < n; r++) {
      const c = r % k;
      for (let j = 0; j < nf; j++) x[r * nf + j] = centres[c * nf + j]! + opts.noise * normal();
      y[r] = c;
    }
    const { train, valid } = splitRows(x, y, n, nf, 1, validPct, seed);
    return {
      train,
      valid,
      inputShape: [nf],
      task: 'classification',
      nClasses: k,
      targetDim: 1,
      classNames: Array.from({ length: k }, (_, i) => String(i)),
      source: 'synthetic:classification',
    };
  }

  if (opts.task !== 'regression') {
    throw new FastlrError(`data.synthetic.task must be classification or regression, got ${String(opts.task)}`);
  }
  const w = new Float64Array(nf);
  for (let j = 0; j < nf; j++) w[j] = normal();
  const b = normal();
  for (let r = 0; r < n; r++) {
    let s = b;
    for (let j = 0; j < nf; j++) {
      const v = Math.fround(normal());
      x[r * nf + j] = v;
      s += v * w[j]!;
    }
    y[r] = s + opts.noise * normal();
  }
  const { train, valid } = splitRows(x, y, n, nf, 1, validPct, seed);
  return {
    train,
    valid,
    inputShape: [nf],
    task: 'regression',
    nClasses: 0,
    targetDim: 1,
    classNames: [],
    source: 'synthetic:regression',
  };
}
