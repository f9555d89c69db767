/** fastai's RandomSplitter and row gathering. */
import { seededRng } from './rng.js';
import type { Split } from './types.js';

export interface SplitIndices {
  /** sorted ascending, so file order is kept within each split */
  train: Int32Array;
  valid: Int32Array;
}

/**
 * fastai's `RandomSplitter(valid_pct, seed)`: permute 0..n-1 with a seeded RNG, the first ⌊valid_pct·n⌋ are the
 * validation rows, the rest training. The permutation is Fisher–Yates over seedrandom (not torch.randperm, so the
 * rows chosen differ from fastai's; the sizes are the same). Each split is returned sorted, so `shuffle: false`
 * reproduces file order. The RNG is private to the split (keyed by `seed`), independent of the training RNG.
 */
export function randomSplit(n: number, validPct: number, seed: number): SplitIndices {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const rng = seededRng(seed, 'valid-split');
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  const cut = Math.floor(validPct * n);
  const valid = perm.slice(0, cut).sort();
  const train = perm.slice(cut).sort();
  return { train, valid };
}

/** Copy the rows `idx` of (x, y) into a new Split. */
export function takeRows(
  x: Float32Array,
  y: Float32Array,
  idx: Int32Array,
  rowSize: number,
  targetDim: number,
): Split {
  const n = idx.length;
  const ox = new Float32Array(n * rowSize);
  const oy = new Float32Array(n * targetDim);
  for (let i = 0; i < n; i++) {
    const r = idx[i]!;
    ox.set(x.subarray(r * rowSize, (r + 1) * rowSize), i * rowSize);
    oy.set(y.subarray(r * targetDim, (r + 1) * targetDim), i * targetDim);
  }
  return { x: ox, y: oy, n };
}

/** Split (x, y) with `randomSplit`. */
export function splitRows(
  x: Float32Array,
  y: Float32Array,
  n: number,
  rowSize: number,
  targetDim: number,
  validPct: number,
  seed: number,
): { train: Split; valid: Split } {
  const { train, valid } = randomSplit(n, validPct, seed);
  return {
    train: takeRows(x, y, train, rowSize, targetDim),
    valid: takeRows(x, y, valid, rowSize, targetDim),
  };
}
