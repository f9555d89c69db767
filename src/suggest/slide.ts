import type { Suggestion } from './types.js';
import { npGradientF32, npInterp, toF32 } from './numeric.js';
import { checkPair } from './check.js';
import { f32 } from '../schedule/float32.js';

export interface SlideOptions {
  /** distance between the compared gradients (fastai's lr_diff, 15) */
  lrDiff?: number;
  /** gradient difference that counts as "still sliding" (fastai's thresh, 0.005) */
  thresh?: number;
  /** multiplier applied to the result (fastai's adjust_value, 1) */
  adjustValue?: number;
}

/**
 * fastai's `slide` (interval slide rule): `g = np.gradient(losses)` in float32; starting with r = n−1 and
 * l = r − lrDiff, while l ≥ 0 and |g[r] − g[l]| > thresh take lrs[l] and move both left. Needs n ≥ lrDiff + 1
 * (16). The plotted loss is `np.interp(log10(lr), log10(lrs) in float32, losses)`.
 */
export function slide(lrsIn: ArrayLike<number>, lossesIn: ArrayLike<number>, o: SlideOptions = {}): Suggestion {
  const lrDiff = o.lrDiff ?? 15;
  const thresh = o.thresh ?? 0.005;
  const adjust = o.adjustValue ?? 1;
  const bad = checkPair('slide', lrsIn, lossesIn, Math.max(2, lrDiff + 1));
  if (bad) return bad;
  const lrs = toF32(lrsIn);
  const losses = toF32(lossesIn);
  const n = losses.length;
  const g = npGradientF32(losses);
  let r = n - 1;
  let l = r - lrDiff;
  let pick = l;
  while (l >= 0 && Math.abs(f32(g[r]! - g[l]!)) > thresh) {
    pick = l;
    r--;
    l--;
  }
  const lr = lrs[pick]! * adjust;
  const xp = lrs.map((v) => f32(Math.log10(v)));
  const loss = npInterp(Math.log10(lr), xp, losses);
  return { lr, loss, index: pick, point: [lr, loss] };
}
