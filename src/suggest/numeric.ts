import { f32 } from '../schedule/float32.js';

/** A float32 copy (as doubles) of `xs`, as `torch.tensor(list)` makes it. */
export function toF32(xs: ArrayLike<number>): number[] {
  const out = new Array<number>(xs.length);
  for (let i = 0; i < xs.length; i++) out[i] = f32(xs[i]!);
  return out;
}

/**
 * `torch.argmin` of a 1-d CPU tensor: the first index of the minimum, where NaN counts as smaller than
 * everything (the first NaN wins). −1 for an empty array (torch raises).
 */
export function torchArgmin(xs: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i]!;
    if (Number.isNaN(v)) return i;
    if (best < 0 || v < xs[best]!) best = i;
  }
  return best;
}

/**
 * Python's `min(range(len(lrs)), key=lambda i: abs(lrs[i] - lr))` on a float32 tensor: the first index whose
 * float32 distance to `lr` is smallest.
 */
export function nearestIndex(lrs: readonly number[], lr: number): number {
  let best = 0;
  let bestD = Math.abs(f32(lrs[0]! - lr));
  for (let i = 1; i < lrs.length; i++) {
    const d = Math.abs(f32(lrs[i]! - lr));
    if (d < bestD) {
      best = i;
      bestD = d;
    }
  }
  return best;
}

/**
 * `np.gradient` of a float32 array with unit spacing (edge_order 1), in float32: one-sided differences at the
 * ends, `(f[k+1] − f[k−1]) / 2` inside. Needs at least 2 values.
 */
export function npGradientF32(f: readonly number[]): number[] {
  const n = f.length;
  const out = new Array<number>(n);
  for (let k = 1; k < n - 1; k++) out[k] = f32(f32(f[k + 1]! - f[k - 1]!) / 2);
  out[0] = f32(f[1]! - f[0]!);
  out[n - 1] = f32(f[n - 1]! - f[n - 2]!);
  return out;
}

/** `np.interp(x, xp, fp)` (numpy 1.24, double arithmetic) for increasing `xp`. */
export function npInterp(x: number, xp: readonly number[], fp: readonly number[]): number {
  const n = xp.length;
  if (n === 1) return fp[0]!;
  if (Number.isNaN(x)) return x;
  if (x > xp[n - 1]!) return fp[n - 1]!;
  if (x < xp[0]!) return fp[0]!;
  // largest j with xp[j] <= x
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (xp[mid]! <= x) lo = mid;
    else hi = mid - 1;
  }
  const j = lo;
  if (j === n - 1) return fp[j]!;
  if (xp[j] === x) return fp[j]!;
  const slope = (fp[j + 1]! - fp[j]!) / (xp[j + 1]! - xp[j]!);
  let r = slope * (x - xp[j]!) + fp[j]!;
  if (Number.isNaN(r)) {
    r = slope * (x - xp[j + 1]!) + fp[j + 1]!;
    if (Number.isNaN(r) && fp[j] === fp[j + 1]) r = fp[j]!;
  }
  return r;
}
