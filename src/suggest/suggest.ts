import type { Method, Suggestion } from './types.js';
import { METHODS } from './types.js';
import { toF32 } from './numeric.js';
import { valley } from './valley.js';
import { slide } from './slide.js';
import { steep } from './steep.js';
import { minimum } from './minimum.js';

/** Points fastai's lr_find leaves out at the end of the recorded curve (and its plot too). */
export const SKIP_END = 5;

/** Fewest points each method can answer from (fewer makes fastai crash). */
export const MIN_POINTS: Record<Method, number> = { valley: 1, slide: 16, steep: 2, minimum: 1 };

const RUN: Record<Method, (lrs: number[], losses: number[]) => Suggestion> = { valley, slide, steep, minimum };

/** The recorded curve as lr_find hands it to the suggestion methods. */
export interface TrimmedCurve {
  /** float32 lrs / losses after slicing `[⌊numIt/10⌋ : −5]` and cutting at the first non-finite loss */
  lrs: number[];
  losses: number[];
  /** recorded index of lrs[0] */
  offset: number;
  /** points recorded */
  recorded: number;
  /** points skipped at the start (⌊numIt/10⌋, as Python slices it) */
  skipStart: number;
  /** recorded index of the first non-finite loss inside the slice, or null */
  cutAt: number | null;
}

/** Python's `len(a[start:-5])` bounds for a length-`n` array. */
function pySliceBounds(n: number, start: number): [number, number] {
  const s = start < 0 ? Math.max(0, n + start) : Math.min(start, n);
  const e = Math.max(0, n - SKIP_END);
  return [s, Math.max(s, e)];
}

/**
 * lr_find's preparation: `lrs[num_it//10 : -5]`, `losses[num_it//10 : -5]` (num_it as requested, not the ≥ 6 the
 * test ran), both to float32, cut at the first non-finite loss (fastai cuts at NaN only).
 */
export function trimForSuggestions(
  recordedLrs: ArrayLike<number>,
  recordedLosses: ArrayLike<number>,
  numIt: number,
): TrimmedCurve {
  const n = Math.min(recordedLrs.length, recordedLosses.length);
  const skipStart = Math.floor(numIt / 10);
  const [s, e] = pySliceBounds(n, skipStart);
  const lrs = toF32(Array.prototype.slice.call(recordedLrs, s, e) as number[]);
  const losses = toF32(Array.prototype.slice.call(recordedLosses, s, e) as number[]);
  let cutAt: number | null = null;
  const bad = losses.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) {
    cutAt = s + bad;
    lrs.length = bad;
    losses.length = bad;
  }
  return { lrs, losses, offset: s, recorded: n, skipStart, cutAt };
}

function tooFew(m: Method, t: TrimmedCurve, numIt: number): string {
  const have = t.losses.length;
  const parts = [`the range test recorded ${t.recorded} point${t.recorded === 1 ? '' : 's'}`];
  parts.push(`suggestions skip the first ${t.skipStart} (num_it/10) and the last ${SKIP_END}`);
  if (t.cutAt !== null) parts.push(`and stop before the first non-finite loss (point ${t.cutAt})`);
  const why = parts.join(', ');
  const hint =
    t.recorded < numIt
      ? `; the test stopped early (after ${t.recorded} of ${numIt} iterations): try a lower end_lr or start_lr`
      : '; run more iterations (num_it)';
  const head =
    have === 0
      ? `no points left to suggest from`
      : `${m} needs at least ${MIN_POINTS[m]} points, only ${have} left`;
  return `${head}: ${why}${hint}`;
}

export interface SuggestOptions<M extends Method> {
  /** num_it as configured (before the range test forced it to ≥ 6): the slicing uses it, as fastai does */
  numIt: number;
  methods?: readonly M[];
}

/**
 * fastai's lr_find suggestions on a recorded range test: trim as {@link trimForSuggestions}, then each method.
 * Every method answers `{ lr, loss, index, point }` (index into the recorded arrays) or `{ error }` with a reason a
 * person can act on, wherever fastai would crash. Never throws.
 */
export function suggest<M extends Method = Method>(
  recordedLrs: ArrayLike<number>,
  recordedLosses: ArrayLike<number>,
  o: SuggestOptions<M>,
): Record<M, Suggestion> {
  const methods = (o.methods ?? METHODS) as readonly M[];
  const out = {} as Record<M, Suggestion>;
  if (!Number.isFinite(o.numIt)) {
    for (const m of methods) out[m] = { error: `num_it must be a number, got ${o.numIt}` };
    return out;
  }
  if (recordedLrs.length !== recordedLosses.length) {
    for (const m of methods) {
      out[m] = { error: `recorded ${recordedLrs.length} learning rates but ${recordedLosses.length} losses` };
    }
    return out;
  }
  const t = trimForSuggestions(recordedLrs, recordedLosses, o.numIt);
  for (const m of methods) {
    if (t.losses.length < MIN_POINTS[m]) {
      out[m] = { error: tooFew(m, t, o.numIt) };
      continue;
    }
    let r: Suggestion;
    try {
      r = RUN[m](t.lrs, t.losses);
    } catch (e) {
      r = { error: `${m} failed: ${e instanceof Error ? e.message : String(e)}` };
    }
    if ('lr' in r) {
      if (!Number.isFinite(r.lr) || r.lr <= 0) {
        out[m] = { error: `${m} found no usable learning rate (got ${r.lr})` };
      } else {
        out[m] = { ...r, index: r.index + t.offset };
      }
    } else {
      out[m] = r;
    }
  }
  return out;
}
