import type { Suggestion } from './types.js';
import { toF32 } from './numeric.js';
import { checkPair } from './check.js';

/**
 * fastai's `valley`, literally: the O(n²) longest strictly decreasing subsequence of the losses, with fastai's
 * bookkeeping (`max_start = max_end − lds[max_end]` taken when `max_end` moves, one before the run's first index),
 * then `idx = max_start + ⌊sections⌋ + ⌊sections/2⌋` with `sections = (max_end − max_start)/3`. A negative idx
 * wraps to the end as Python indexing does. Inputs are taken as float32.
 */
export function valley(lrsIn: ArrayLike<number>, lossesIn: ArrayLike<number>): Suggestion {
  const bad = checkPair('valley', lrsIn, lossesIn, 1);
  if (bad) return bad;
  const lrs = toF32(lrsIn);
  const losses = toF32(lossesIn);
  const n = losses.length;
  let maxStart = 0;
  let maxEnd = 0;
  const lds = new Array<number>(n).fill(1);
  for (let i = 1; i < n; i++) {
    for (let j = 0; j < i; j++) {
      if (losses[i]! < losses[j]! && lds[i]! < lds[j]! + 1) lds[i] = lds[j]! + 1;
      if (lds[maxEnd]! < lds[i]!) {
        maxEnd = i;
        maxStart = maxEnd - lds[maxEnd]!;
      }
    }
  }
  const sections = (maxEnd - maxStart) / 3;
  let idx = maxStart + Math.trunc(sections) + Math.trunc(sections / 2);
  if (idx < 0) idx += n;
  const lr = lrs[idx]!;
  return { lr, loss: losses[idx]!, index: idx, point: [lr, losses[idx]!] };
}
