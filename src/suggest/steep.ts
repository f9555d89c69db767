import type { Suggestion } from './types.js';
import { nearestIndex, toF32, torchArgmin } from './numeric.js';
import { checkPair } from './check.js';
import { f32 } from '../schedule/float32.js';

/**
 * fastai's `steep`: slopes `(loss[k+1] − loss[k]) / (ln lr[k+1] − ln lr[k])` in float32 (rounded after every
 * operation, as torch computes them), suggest lrs[k] at the first most negative slope (a NaN slope wins, as in
 * torch's argmin). Needs n ≥ 2.
 */
export function steep(lrsIn: ArrayLike<number>, lossesIn: ArrayLike<number>): Suggestion {
  const bad = checkPair('steep', lrsIn, lossesIn, 2);
  if (bad) return bad;
  const lrs = toF32(lrsIn);
  const losses = toF32(lossesIn);
  const logs = lrs.map((v) => f32(Math.log(v)));
  const slopes: number[] = [];
  for (let k = 0; k + 1 < losses.length; k++) {
    slopes.push(f32(f32(losses[k + 1]! - losses[k]!) / f32(logs[k + 1]! - logs[k]!)));
  }
  const k = torchArgmin(slopes);
  const lr = lrs[k]!;
  const at = nearestIndex(lrs, lr);
  return { lr, loss: losses[at]!, index: at, point: [lr, losses[at]!] };
}
