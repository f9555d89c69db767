import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { loadDataset, type DataPlan } from '../src/data/index.js';
import { categoryMap, parseNumber } from '../src/data/csv.js';

const FIX = path.resolve(__dirname, 'fixtures/data');

function plan(csv: NonNullable<DataPlan['data']['csv']>, loss = 'cross_entropy', validPct = 0.2): DataPlan {
  return { seed: 42, loss, data: { source: 'csv', valid_pct: validPct, csv } };
}

/** Rows (features + target) of both splits, as [features..., y] tuples sorted for comparison. */
function rows(x: Float32Array, y: Float32Array, n: number): number[][] {
  const f = x.length / Math.max(n, 1);
  return Array.from({ length: n }, (_, i) => [...x.subarray(i * f, (i + 1) * f), y[i]!]);
}

describe('csv', () => {
  it('string labels: sorted class names, numeric features as float32 exactly as given, split by valid_pct', async () => {
    const ds = await loadDataset(plan({ path: 'flowers.csv', target: 'species' }), { cwd: FIX });
    expect(ds.classNames).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(ds.nClasses).toBe(3);
    expect(ds.inputShape).toEqual([2]);
    expect(ds.train.n).toBe(8);
    expect(ds.valid.n).toBe(2);
    expect(ds.source).toBe(`csv:${path.join(FIX, 'flowers.csv')}`);
    const all = [...rows(ds.train.x, ds.train.y, ds.train.n), ...rows(ds.valid.x, ds.valid.y, ds.valid.n)];
    const expected = [
      [5.1, 3.5, 0], [4.9, 3.0, 0], [7.0, 3.2, 1], [6.4, 3.2, 1], [6.3, 3.3, 2],
      [5.8, 2.7, 2], [5.0, 3.6, 0], [5.5, 2.3, 1], [6.5, 3.0, 2], [0.1, -0.25, 0],
    ].map((r) => r.map(Math.fround));
    const key = (r: number[]) => r.join(',');
    expect(all.map(key).sort()).toEqual(expected.map(key).sort());
    // file order kept inside each split (shuffle: false reproduces it)
    const order = (s: number[][]) => s.map((r) => expected.findIndex((e) => key(e) === key(r)));
    const t = order(rows(ds.train.x, ds.train.y, ds.train.n));
    expect([...t].sort((a, b) => a - b)).toEqual(t);
  });

  it('features list selects and orders columns', async () => {
    const ds = await loadDataset(
      plan({ path: 'flowers.csv', target: 'species', features: ['sepal_width'] }, 'cross_entropy', 0),
      { cwd: FIX },
    );
    expect(ds.inputShape).toEqual([1]);
    expect([...ds.train.x]).toEqual([3.5, 3.0, 3.2, 3.2, 3.3, 2.7, 3.6, 2.3, 3.0, -0.25].map(Math.fround));
    expect(ds.valid.n).toBe(0);
  });

  it('integer labels sort numerically (as fastai CategoryMap)', async () => {
    const ds = await loadDataset(plan({ path: 'int-labels.csv', target: 'label' }, 'cross_entropy', 0), { cwd: FIX });
    expect(ds.classNames).toEqual(['1', '2', '10']);
    expect([...ds.train.y]).toEqual([2, 1, 2, 1, 0]);
    expect(categoryMap(['b', 'B', 'a', '10', '9']).classNames).toEqual(['10', '9', 'B', 'a', 'b']);
    expect(categoryMap(['1.0', '1', '-2']).classNames).toEqual(['-2', '1']);
  });

  it('regression when loss is mse: float targets', async () => {
    const ds = await loadDataset(plan({ path: 'regression.csv', target: 'y' }, 'mse', 0), { cwd: FIX });
    expect(ds.task).toBe('regression');
    expect(ds.nClasses).toBe(0);
    expect(ds.targetDim).toBe(1);
    expect([...ds.train.y]).toEqual([3.5, -1.25, 1e-3, 7, 0.1].map(Math.fround));
    expect([...ds.train.x]).toEqual([1, 2, 2, 0, 0.5, 0.5, 3, 1, 4, 4].map(Math.fround));
  });

  it('train + valid files: class map from the training file', async () => {
    const ds = await loadDataset(plan({ train: 'pair-train.csv', valid: 'pair-valid.csv', target: 'label' }), { cwd: FIX });
    expect(ds.train.n).toBe(4);
    expect(ds.valid.n).toBe(2);
    expect(ds.classNames).toEqual(['cat', 'dog']);
    expect([...ds.valid.y]).toEqual([1, 0]);
    expect([...ds.valid.x]).toEqual([1.5, 2.5, 3.5, 4.5]);
    await expect(
      loadDataset(plan({ train: 'pair-train.csv', valid: 'pair-valid-unseen.csv', target: 'label' }), { cwd: FIX }),
    ).rejects.toThrow(`${path.join(FIX, 'pair-valid-unseen.csv')}:3: label "bird" does not appear`);
  });

  it('a row with the wrong column count names file:line', async () => {
    const err = await loadDataset(plan({ path: 'bad-columns.csv', target: 'label' }), { cwd: FIX }).catch((e) => e);
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as FastlrError).exitCode).toBe(2);
    expect((err as Error).message).toContain(`${path.join(FIX, 'bad-columns.csv')}:4:`);
    expect((err as Error).message).toMatch(/expected 3 columns.*found 2/);
  });

  it('a non-numeric feature names file:line and the column', async () => {
    const err = await loadDataset(plan({ path: 'bad-value.csv', target: 'label' }), { cwd: FIX }).catch((e) => e);
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as Error).message).toContain(`${path.join(FIX, 'bad-value.csv')}:4: column "b" has "six"`);
    // a non-numeric regression target too
    await expect(loadDataset(plan({ path: 'flowers.csv', target: 'species' }, 'mse'), { cwd: FIX })).rejects.toThrow(
      /flowers\.csv:2: target "species" has "setosa"/,
    );
  });

  it('line numbers count blank lines and multi-line quoted fields', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-csv-'));
    writeFileSync(path.join(dir, 't.csv'), 'a,note,y\n1,"two\nlines",x\n\n2,ok,y\n3,,x\n');
    const err = await loadDataset(plan({ path: 't.csv', target: 'y', features: ['a', 'note'] }), { cwd: dir }).catch(
      (e) => e,
    );
    expect((err as Error).message).toContain(`${path.join(dir, 't.csv')}:3: column "note" has "two`);
    const err2 = await loadDataset(plan({ path: 't.csv', target: 'y', features: ['a'] }), { cwd: dir }).then(
      (ds) => ds,
    );
    expect(err2.train.n + err2.valid.n).toBe(3);
    writeFileSync(path.join(dir, 'u.csv'), 'a,y\n1,x\n\n,y\n');
    await expect(loadDataset(plan({ path: 'u.csv', target: 'y' }), { cwd: dir })).rejects.toThrow(
      `${path.join(dir, 'u.csv')}:4: column "a" has an empty value`,
    );
  });

  it('missing file, missing target column, bad config', async () => {
    const err = await loadDataset(plan({ path: 'nope.csv', target: 'y' }), { cwd: FIX }).catch((e) => e);
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as Error).message).toContain(path.join(FIX, 'nope.csv'));
    await expect(loadDataset(plan({ path: 'flowers.csv', target: 'kind' }), { cwd: FIX })).rejects.toThrow(
      /target column "kind" not found; columns: sepal_length, sepal_width, species/,
    );
    await expect(
      loadDataset(plan({ path: 'flowers.csv', target: 'species', features: ['petal'] }), { cwd: FIX }),
    ).rejects.toThrow(/feature column "petal" not found/);
    await expect(loadDataset(plan({ target: 'y' }), { cwd: FIX })).rejects.toThrow(/either `path`/);
    await expect(loadDataset(plan({ train: 'pair-train.csv', target: 'label' }), { cwd: FIX })).rejects.toThrow(
      /both `train` and `valid`/,
    );
  });

  it('parseNumber is strict', () => {
    expect(parseNumber(' 1.5 ')).toBe(1.5);
    expect(parseNumber('-2.5e-1')).toBe(-0.25);
    expect(parseNumber('.5')).toBe(0.5);
    for (const bad of ['', 'abc', '0x10', 'NaN', 'Infinity', '1,5', '1e999']) expect(parseNumber(bad)).toBeNull();
  });
});
