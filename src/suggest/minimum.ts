import type { Suggestion } from './types.js';
import { nearestIndex, toF32, torchArgmin } from './numeric.js';
import { checkPair } from './check.js';

/**
 * fastai's `minimum`: the lr at the first minimum loss (a NaN counts as the minimum, as in torch's argmin),
 * divided by 10. The plotted point is the minimum itself.
 */
export function minimum(lrsIn: ArrayLike<number>, lossesIn: ArrayLike<number>): Suggestion {
  const bad = checkPair('minimum', lrsIn, lossesIn, 1);
  if (bad) return bad;
  const lrs = toF32(lrsIn);
  const losses = toF32(lossesIn);
  const lrMin = lrs[torchArgmin(losses)]!;
  const at = nearestIndex(lrs, lrMin);
  return { lr: lrMin / 10, loss: losses[at]!, index: at, point: [lrMin, losses[at]!] };
}
