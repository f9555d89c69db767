import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { loadDataset, randomSplit, type DataPlan, type Dataset } from '../src/data/index.js';
import { loadMnistAll } from '../src/data/mnist.js';

const MNIST_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];

function plan(data: Partial<DataPlan['data']>, extra: Partial<Omit<DataPlan, 'data'>> = {}): DataPlan {
  return {
    seed: 42,
    loss: 'cross_entropy',
    ...extra,
    data: {
      source: 'mnist',
      valid_pct: 0.2,
      mnist: { digits: null, limit: null },
      synthetic: { task: 'classification', n: 200, features: 4, classes: 3, noise: 0.5 },
      ...data,
    },
  };
}

function same(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Least squares y ≈ [x, 1]·w via normal equations (Gaussian elimination). */
function leastSquares(x: Float32Array, y: Float32Array, n: number, f: number): number[] {
  const k = f + 1;
  const a = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let r = 0; r < n; r++) {
    const row = [...Array.from(x.subarray(r * f, (r + 1) * f)), 1];
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) a[i]![j]! += row[i]! * row[j]!;
      a[i]![k]! += row[i]! * y[r]!;
    }
  }
  for (let c = 0; c < k; c++) {
    const p = a[c]![c]!;
    for (let j = c; j <= k; j++) a[c]![j]! /= p;
    for (let i = 0; i < k; i++) {
      if (i === c) continue;
      const m = a[i]![c]!;
      for (let j = c; j <= k; j++) a[i]![j]! -= m * a[c]![j]!;
    }
  }
  return a.map((r) => r[k]!);
}

function labelCounts(ds: Dataset, k: number): number[] {
  const c = new Array<number>(k).fill(0);
  for (const s of [ds.train, ds.valid]) for (const v of s.y) c[v]!++;
  return c;
}

describe('randomSplit (fastai RandomSplitter semantics)', () => {
  it('takes floor(valid_pct·n) rows for validation, partitions 0..n-1, sorted, seeded', () => {
    const a = randomSplit(103, 0.2, 7);
    expect(a.valid.length).toBe(20);
    expect(a.train.length).toBe(83);
    const all = [...a.train, ...a.valid].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 103 }, (_, i) => i));
    for (const s of [a.train, a.valid]) for (let i = 1; i < s.length; i++) expect(s[i]!).toBeGreaterThan(s[i - 1]!);
    expect(randomSplit(103, 0.2, 7)).toEqual(a);
    expect([...randomSplit(103, 0.2, 8).valid]).not.toEqual([...a.valid]);
    // Python int(0.29 * 100) == 28
    expect(randomSplit(100, 0.29, 1).valid.length).toBe(28);
    expect(randomSplit(10, 0, 1).valid.length).toBe(0);
  });
});

describe('mnist', () => {
  it('loads all 10,000 digits with the right labels and pixels in [0, 1]', async () => {
    const all = await loadMnistAll();
    expect(all.n).toBe(10000);
    expect(all.x.length).toBe(10000 * 784);
    const counts = new Array<number>(10).fill(0);
    for (const l of all.labels) counts[l]!++;
    expect(counts).toEqual(MNIST_COUNTS);
    let min = Infinity;
    let max = -Infinity;
    for (const v of all.x) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // pixels are bytes / 255
    for (let i = 0; i < 5000; i++) {
      const v = all.x[i * 97]!;
      expect(v).toBe(Math.fround(Math.round(v * 255) / 255));
    }
    // each image keeps its own label: the package's digit files vs our rows
    const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src', 'digits');
    const key = (a: ArrayLike<number>) => Array.from(a, (v) => Math.round(v * 255)).join(',');
    const labelOf = new Map<string, Set<number>>();
    for (let k = 0; k < all.n; k++) {
      const s = key(all.x.subarray(k * 784, (k + 1) * 784));
      labelOf.set(s, (labelOf.get(s) ?? new Set()).add(all.labels[k]!));
    }
    for (let d = 0; d < 10; d++) {
      const raw = (JSON.parse(readFileSync(path.join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data;
      for (const i of [0, 17, MNIST_COUNTS[d]! - 1]) {
        expect(labelOf.get(key(raw.slice(i * 784, (i + 1) * 784)))).toEqual(new Set([d]));
      }
    }
    // canonical order mixes the digits (not 1,001 zeros first)
    expect(new Set(all.labels.subarray(0, 50)).size).toBeGreaterThan(5);
  });

  it('loadDataset: 8,000 / 2,000 split, 10 classes, shape [28, 28, 1], deterministic per seed', async () => {
    const ds = await loadDataset(plan({}));
    expect(ds.train.n).toBe(8000);
    expect(ds.valid.n).toBe(2000);
    expect(ds.inputShape).toEqual([28, 28, 1]);
    expect(ds.nClasses).toBe(10);
    expect(ds.classNames).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(ds.task).toBe('classification');
    expect(labelCounts(ds, 10)).toEqual(MNIST_COUNTS);
    const again = await loadDataset(plan({}));
    expect(same(again.valid.y, ds.valid.y)).toBe(true);
    expect(same(again.valid.x, ds.valid.x)).toBe(true);
    expect(same(again.train.x, ds.train.x)).toBe(true);
    const other = await loadDataset(plan({}, { seed: 1 }));
    expect(same(other.valid.x, ds.valid.x)).toBe(false);
    expect(labelCounts(other, 10)).toEqual(MNIST_COUNTS);
  });

  it('digits filter maps the kept digits to classes 0..k-1 in sorted order; limit takes the first rows', async () => {
    const ds = await loadDataset(plan({ mnist: { digits: [9, 5, 7, 6, 8], limit: null } }));
    expect(ds.classNames).toEqual(['5', '6', '7', '8', '9']);
    expect(ds.nClasses).toBe(5);
    expect(ds.train.n + ds.valid.n).toBe(863 + 1014 + 1070 + 944 + 978);
    expect(labelCounts(ds, 5)).toEqual([863, 1014, 1070, 944, 978]);

    const lim = await loadDataset(plan({ mnist: { digits: [0, 1], limit: 100 } }));
    expect(lim.train.n + lim.valid.n).toBe(100);
    expect(lim.valid.n).toBe(20);
    const c = labelCounts(lim, 2);
    expect(c[0]! + c[1]!).toBe(100);
    expect(Math.min(...c)).toBeGreaterThan(20);
    // the same rows whatever the seed (only the split changes)
    const lim2 = await loadDataset(plan({ mnist: { digits: [0, 1], limit: 100 } }, { seed: 3 }));
    expect(labelCounts(lim2, 2)).toEqual(c);
  });

  it('rejects bad digits and mse', async () => {
    await expect(loadDataset(plan({ mnist: { digits: [3, 12], limit: null } }))).rejects.toThrow(/not a digit/);
    await expect(loadDataset(plan({ mnist: { digits: [3], limit: null } }))).rejects.toThrow(/at least 2/);
    await expect(loadDataset(plan({}, { loss: 'mse' }))).rejects.toBeInstanceOf(FastlrError);
  });
});

describe('synthetic', () => {
  it('classification: seeded blobs, balanced labels, deterministic per seed', async () => {
    const p = plan({ source: 'synthetic' });
    const a = await loadDataset(p);
    const b = await loadDataset(p);
    expect(a.train.n).toBe(160);
    expect(a.valid.n).toBe(40);
    expect(a.inputShape).toEqual([4]);
    expect(a.nClasses).toBe(3);
    expect(same(a.train.x, b.train.x)).toBe(true);
    expect(same(a.valid.y, b.valid.y)).toBe(true);
    expect(labelCounts(a, 3)).toEqual([67, 67, 66]);
    const c = await loadDataset(plan({ source: 'synthetic' }, { seed: 43 }));
    expect(same(c.train.x, a.train.x)).toBe(false);
    // blobs: a sample is nearer its own class mean than the others, mostly
    const means = [0, 1, 2].map((k) => {
      const m = new Float64Array(4);
      let n = 0;
      for (let i = 0; i < a.train.n; i++) {
        if (a.train.y[i] !== k) continue;
        n++;
        for (let j = 0; j < 4; j++) m[j]! += a.train.x[i * 4 + j]!;
      }
      return m.map((v) => v / n);
    });
    let right = 0;
    for (let i = 0; i < a.valid.n; i++) {
      const d = means.map((m) => m.reduce((s, v, j) => s + (a.valid.x[i * 4 + j]! - v) ** 2, 0));
      if (d.indexOf(Math.min(...d)) === a.valid.y[i]) right++;
    }
    expect(right / a.valid.n).toBeGreaterThan(0.8);
  });

  it('regression: linear targets with noise, needs loss mse', async () => {
    const p = plan(
      { source: 'synthetic', synthetic: { task: 'regression', n: 100, features: 3, classes: 0, noise: 0 } },
      { loss: 'mse' },
    );
    const a = await loadDataset(p);
    expect(a.task).toBe('regression');
    expect(a.targetDim).toBe(1);
    expect(a.nClasses).toBe(0);
    expect(same((await loadDataset(p)).train.y, a.train.y)).toBe(true);
    expect(a.train.x.length).toBe(80 * 3);
    // noise 0: y is exactly linear in x; a fit on the training rows predicts the validation rows
    const w = leastSquares(a.train.x, a.train.y, a.train.n, 3);
    expect(Math.max(...w.slice(0, 3).map(Math.abs))).toBeGreaterThan(0.05);
    for (let r = 0; r < a.valid.n; r++) {
      const pred = w[3]! + [0, 1, 2].reduce((s, j) => s + w[j]! * a.valid.x[r * 3 + j]!, 0);
      expect(Math.abs(pred - a.valid.y[r]!)).toBeLessThan(1e-4 * (1 + Math.abs(a.valid.y[r]!)));
    }
    // with noise the same fit leaves residuals of about the noise level
    const noisy = await loadDataset({ ...p, data: { ...p.data, synthetic: { task: 'regression', n: 400, features: 3, classes: 0, noise: 0.5 } } });
    const wn = leastSquares(noisy.train.x, noisy.train.y, noisy.train.n, 3);
    let ss = 0;
    for (let r = 0; r < noisy.train.n; r++) {
      const pred = wn[3]! + [0, 1, 2].reduce((s, j) => s + wn[j]! * noisy.train.x[r * 3 + j]!, 0);
      ss += (pred - noisy.train.y[r]!) ** 2;
    }
    expect(Math.sqrt(ss / noisy.train.n)).toBeGreaterThan(0.4);
    expect(Math.sqrt(ss / noisy.train.n)).toBeLessThan(0.6);
    await expect(loadDataset({ ...p, loss: 'cross_entropy' })).rejects.toThrow(/loss: mse/);
  });
});
