import { FastlrError } from '../errors.js';

/**
 * A learning rate as a user writes it (semantics §2):
 * - a number: the same for every parameter group;
 * - a list: one per group (a list of one number is used for every group, as fastai does);
 * - `{ lo, hi }` (fastai's `slice(lo, hi)`): geometric from lo (first group) to hi (last group);
 * - `{ hi }` (fastai's `slice(hi)`, also `lo: 0`): hi for the last group, hi/10 for every other one.
 */
export type LrSpec = number | number[] | { lo?: number | null; hi: number };

/**
 * fastcore's `even_mults(start, stop, n)`: `start·step^i` for i in 0..n−1 with `step = (stop/start)^(1/(n−1))`;
 * n = 1 gives `[stop]`. Same double arithmetic and order as fastcore, so the values match to the last bit
 * (up to the platform's `pow`).
 */
export function evenMults(start: number, stop: number, n: number): number[] {
  if (n === 1) return [stop];
  const step = Math.pow(stop / start, 1 / (n - 1));
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(start * Math.pow(step, i));
  return out;
}

function checkGroups(nGroups: number): void {
  if (!Number.isInteger(nGroups) || nGroups < 1) {
    throw new FastlrError(`the number of parameter groups must be a positive integer, got ${nGroups}`);
  }
}

/** Human form of a spec for error messages. */
export function formatLrSpec(spec: LrSpec): string {
  if (typeof spec === 'number') return String(spec);
  if (Array.isArray(spec)) return `[${spec.join(', ')}]`;
  return spec.lo ? `{ lo: ${spec.lo}, hi: ${spec.hi} }` : `{ hi: ${spec.hi} }`;
}

/**
 * The learning rate of each of `nGroups` parameter groups for `spec`, exactly as fastai's
 * `Optimizer.set_hyper('lr', …)` spreads it. Throws a `FastlrError` (exit code 2) when a list's length is neither
 * 1 nor `nGroups`, or when `nGroups` is not a positive integer.
 */
export function spreadLr(spec: LrSpec, nGroups: number): number[] {
  checkGroups(nGroups);
  if (typeof spec === 'number') return new Array<number>(nGroups).fill(spec);
  if (Array.isArray(spec)) {
    if (spec.length === 1) return new Array<number>(nGroups).fill(spec[0]!);
    if (spec.length !== nGroups) {
      throw new FastlrError(
        `learning rate list ${formatLrSpec(spec)} has ${spec.length} values but the model has ${nGroups} ` +
          `parameter group${nGroups === 1 ? '' : 's'}: give one value per group, a single number, ` +
          `or a range { lo, hi }`,
      );
    }
    return spec.slice();
  }
  // fastai tests `if slice.start:` — 0, null and a missing lo all mean "hi only"
  if (spec.lo) return evenMults(spec.lo, spec.hi, nGroups);
  const out = new Array<number>(nGroups).fill(spec.hi / 10);
  out[nGroups - 1] = spec.hi;
  return out;
}
