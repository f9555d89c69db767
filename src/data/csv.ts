/**
 * CSV tables: one header row, a `target` column, numeric feature columns (all other columns, or `features`).
 * Classification: labels → class ids as fastai's CategoryMap (all-numeric labels sorted numerically, otherwise
 * sorted as strings). Regression (loss mse): targets are floats. Values are stored as float32 exactly as given.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { FastlrError } from '../errors.js';
import { splitRows } from './split.js';
import type { CsvOptions, Dataset, Task } from './types.js';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A strict decimal parse: a finite number, or null (no '', 'abc', '0x1f', 'NaN', '1,5'). */
export function parseNumber(s: string): number | null {
  const t = s.trim();
  if (!NUMBER.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

interface Table {
  file: string;
  header: string[];
  rows: string[][];
  /** 1-based line number of each row in the file */
  lines: number[];
}

/** Read and tokenise one CSV file; column-count errors name file:line. */
export async function readCsvTable(file: string): Promise<Table> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FastlrError(
      code === 'ENOENT' ? `csv file not found: ${file}` : `cannot read csv file ${file}: ${(e as Error).message}`,
    );
  }
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      bom: true,
      info: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (e) {
    throw new FastlrError(`${file}: ${(e as Error).message}`);
  }
  if (records.length === 0) throw new FastlrError(`${file}: the file is empty (a header row is needed)`);
  const header = records[0]!.record.map((h) => h.trim());
  const seen = new Set<string>();
  for (const h of header) {
    if (h === '') throw new FastlrError(`${file}:${records[0]!.info.lines}: empty column name in the header`);
    if (seen.has(h)) throw new FastlrError(`${file}:${records[0]!.info.lines}: column "${h}" appears twice`);
    seen.add(h);
  }
  const rows: string[][] = [];
  const lines: number[] = [];
  for (let i = 1; i < records.length; i++) {
    const { record, info } = records[i]!;
    if (record.length !== header.length) {
      throw new FastlrError(
        `${file}:${info.lines}: expected ${header.length} columns (as the header), found ${record.length}`,
      );
    }
    rows.push(record);
    lines.push(info.lines);
  }
  if (rows.length === 0) throw new FastlrError(`${file}: no data rows after the header`);
  return { file, header, rows, lines };
}

interface Columns {
  target: number;
  features: number[];
  featureNames: string[];
}

function resolveColumns(t: Table, opts: CsvOptions): Columns {
  const index = new Map(t.header.map((h, i) => [h, i] as const));
  const target = index.get(opts.target);
  if (target === undefined) {
    throw new FastlrError(
      `${t.file}: target column "${opts.target}" not found; columns: ${t.header.join(', ')}`,
    );
  }
  const featureNames = opts.features ? [...opts.features] : t.header.filter((_, i) => i !== target);
  const features = featureNames.map((name) => {
    const i = index.get(name);
    if (i === undefined) {
      throw new FastlrError(`${t.file}: feature column "${name}" not found; columns: ${t.header.join(', ')}`);
    }
    if (i === target) throw new FastlrError(`${t.file}: column "${name}" is both the target and a feature`);
    return i;
  });
  if (features.length === 0) throw new FastlrError(`${t.file}: no feature columns (only the target)`);
  return { target, features, featureNames };
}

function readFeatures(t: Table, cols: Columns): Float32Array {
  const nf = cols.features.length;
  const x = new Float32Array(t.rows.length * nf);
  t.rows.forEach((row, r) => {
    cols.features.forEach((c, j) => {
      const v = parseNumber(row[c]!);
      if (v === null) {
        const shown = row[c]!.trim() === '' ? 'an empty value' : `"${row[c]}"`;
        throw new FastlrError(
          `${t.file}:${t.lines[r]}: column "${t.header[c]}" has ${shown}, a number is needed`,
        );
      }
      x[r * nf + j] = v;
    });
  });
  return x;
}

function readRegressionTargets(t: Table, cols: Columns): Float32Array {
  const y = new Float32Array(t.rows.length);
  t.rows.forEach((row, r) => {
    const v = parseNumber(row[cols.target]!);
    if (v === null) {
      throw new FastlrError(
        `${t.file}:${t.lines[r]}: target "${t.header[cols.target]}" has "${row[cols.target]}", a number is needed (loss mse)`,
      );
    }
    y[r] = v;
  });
  return y;
}

/** fastai CategoryMap order: numeric labels numerically, otherwise as strings (code-unit order). */
export function categoryMap(labels: readonly string[]): { classNames: string[]; ids: Map<string, number> } {
  const distinct = [...new Set(labels.map((l) => l.trim()))];
  const numeric = distinct.every((l) => parseNumber(l) !== null);
  let classNames: string[];
  const ids = new Map<string, number>();
  if (numeric) {
    // '1' and '1.0' are the same class
    const byValue = new Map<number, string>();
    for (const l of distinct) {
      const v = parseNumber(l)!;
      if (!byValue.has(v)) byValue.set(v, String(v));
    }
    const values = [...byValue.keys()].sort((a, b) => a - b);
    classNames = values.map((v) => byValue.get(v)!);
    const idOfValue = new Map(values.map((v, i) => [v, i] as const));
    for (const l of distinct) ids.set(l, idOfValue.get(parseNumber(l)!)!);
  } else {
    classNames = distinct.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    classNames.forEach((c, i) => ids.set(c, i));
  }
  return { classNames, ids };
}

function labelIds(t: Table, cols: Columns, ids: Map<string, number>, mapFile: string): Float32Array {
  const y = new Float32Array(t.rows.length);
  t.rows.forEach((row, r) => {
    const label = row[cols.target]!.trim();
    const id = ids.get(label);
    if (id === undefined) {
      throw new FastlrError(`${t.file}:${t.lines[r]}: label "${label}" does not appear in ${mapFile}`);
    }
    y[r] = id;
  });
  return y;
}

export interface CsvLoadOptions {
  csv: CsvOptions;
  task: Task;
  validPct: number;
  seed: number;
  cwd: string;
}

/**
 * Load a CSV dataset. `path` → one table split with fastai's RandomSplitter (class map from the whole file);
 * `train` + `valid` → two tables with the same columns (class map from the training file, as fastai; a label that
 * only appears in the validation file is an error naming its line).
 */
export async function loadCsv(o: CsvLoadOptions): Promise<Dataset> {
  const { csv } = o;
  const hasPath = !!csv.path;
  const hasPair = !!csv.train || !!csv.valid;
  if (hasPath === hasPair) {
    throw new FastlrError('data.csv needs either `path` (split by valid_pct) or both `train` and `valid`');
  }
  if (hasPair && (!csv.train || !csv.valid)) {
    throw new FastlrError('data.csv needs both `train` and `valid` when one of them is given');
  }
  const abs = (p: string) => path.resolve(o.cwd, p);

  if (hasPath) {
    const t = await readCsvTable(abs(csv.path!));
    const cols = resolveColumns(t, csv);
    const x = readFeatures(t, cols);
    const nf = cols.features.length;
    let y: Float32Array;
    let classNames: string[] = [];
    if (o.task === 'regression') {
      y = readRegressionTargets(t, cols);
    } else {
      const map = categoryMap(t.rows.map((r) => r[cols.target]!));
      classNames = map.classNames;
      y = labelIds(t, cols, map.ids, t.file);
    }
    const { train, valid } = splitRows(x, y, t.rows.length, nf, 1, o.validPct, o.seed);
    return finish(train, valid, nf, o.task, classNames, `csv:${t.file}`);
  }

  const tt = await readCsvTable(abs(csv.train!));
  const tv = await readCsvTable(abs(csv.valid!));
  const ct = resolveColumns(tt, csv);
  const cv = resolveColumns(tv, { ...csv, features: ct.featureNames });
  const xt = readFeatures(tt, ct);
  const xv = readFeatures(tv, cv);
  let yt: Float32Array;
  let yv: Float32Array;
  let classNames: string[] = [];
  if (o.task === 'regression') {
    yt = readRegressionTargets(tt, ct);
    yv = readRegressionTargets(tv, cv);
  } else {
    const map = categoryMap(tt.rows.map((r) => r[ct.target]!));
    classNames = map.classNames;
    yt = labelIds(tt, ct, map.ids, tt.file);
    yv = labelIds(tv, cv, map.ids, `the training file ${tt.file}`);
  }
  return finish(
    { x: xt, y: yt, n: tt.rows.length },
    { x: xv, y: yv, n: tv.rows.length },
    ct.features.length,
    o.task,
    classNames,
    `csv:${tt.file},${tv.file}`,
  );
}

function finish(
  train: Dataset['train'],
  valid: Dataset['valid'],
  nf: number,
  task: Task,
  classNames: string[],
  source: string,
): Dataset {
  return {
    train,
    valid,
    inputShape: [nf],
    task,
    nClasses: task === 'classification' ? classNames.length : 0,
    targetDim: 1,
    classNames,
    source,
  };
}
