import { describe, expect, it } from 'vitest';
import {
  METHODS,
  isSuggested,
  minimum,
  slide,
  steep,
  suggest,
  trimForSuggestions,
  valley,
  type Method,
  type Suggestion,
} from '../src/suggest/index.js';
import { rangeTestLr } from '../src/schedule/index.js';
import { loadVectors, num, relErr } from './maths-vectors.js';

type V = number | string;
interface Outcome {
  suggestion: number | null;
  point: [V, V] | null;
  error: string | null;
}
interface SuggestionsFile {
  cases: {
    name: string;
    num_it: number;
    recorded_lrs: V[];
    recorded_losses: V[];
    sliced_lrs_float32: V[];
    sliced_losses_float32: V[];
    via_lr_find: Record<Method, Outcome>;
    direct_on_full_arrays: Record<Method, Outcome>;
  }[];
}
interface LrFindRunFile {
  runs: {
    args: { num_it: number };
    recorded_lrs: number[];
    recorded_smooth_losses: number[];
    suggestions: Record<Method, number>;
    suggestion_points: Record<Method, [number, number]>;
  }[];
}

const S = loadVectors<SuggestionsFile>('lr_find_suggestions.json');
const RUN = loadVectors<LrFindRunFile>('lr_find_run.json');
const FN: Record<Method, (lrs: number[], losses: number[]) => Suggestion> = { valley, slide, steep, minimum };

/** fastai's slide plots np.interp over numpy's float32 log10 (SIMD, not correctly rounded): ≤ ~5e-8 apart. */
const POINT_TOL = 1e-6;
const seen = { maxPointRel: 0 };

function expectOutcome(got: Suggestion, want: Outcome, where: string): void {
  if (want.error !== null) {
    expect(isSuggested(got), `${where}: fastai fails (${want.error}), expected { error }`).toBe(false);
    if (!isSuggested(got)) expect(got.error.length).toBeGreaterThan(10);
    return;
  }
  expect(isSuggested(got), `${where}: ${JSON.stringify(got)}`).toBe(true);
  if (!isSuggested(got)) return;
  expect(got.lr).toBe(want.suggestion);
  expect(got.point[0]).toBe(num(want.point![0]));
  const e = relErr(got.point[1], num(want.point![1]));
  seen.maxPointRel = Math.max(seen.maxPointRel, e);
  expect(e, `${where}: plotted loss ${got.point[1]} vs ${want.point![1]}`).toBeLessThanOrEqual(POINT_TOL);
  expect(got.loss).toBe(got.point[1]);
}

describe('lr_find_suggestions.json', () => {
  it('holds 13 cases, some where fastai crashes', () => {
    expect(S.cases.length).toBe(13);
    expect(S.cases.some((c) => METHODS.some((m) => c.via_lr_find[m].error))).toBe(true);
  });

  for (const c of S.cases) {
    describe(c.name, () => {
      const lrs = c.recorded_lrs.map(num);
      const losses = c.recorded_losses.map(num);

      it('trimming gives exactly the float32 arrays fastai handed to the methods', () => {
        const t = trimForSuggestions(lrs, losses, c.num_it);
        expect(t.lrs).toEqual(c.sliced_lrs_float32.map(num));
        expect(t.losses).toEqual(c.sliced_losses_float32.map(num));
      });

      it('suggest() = lr_find: suggestion, plotted point, errors', () => {
        const got = suggest(lrs, losses, { numIt: c.num_it });
        expect(Object.keys(got).sort()).toEqual([...METHODS].sort());
        for (const m of METHODS) {
          expectOutcome(got[m], c.via_lr_find[m], `${c.name} ${m}`);
          const g = got[m];
          if (isSuggested(g)) {
            // index points into the recorded arrays
            expect(Math.fround(lrs[g.index]!)).toBe(g.point[0]);
            if (m !== 'slide') expect(Math.fround(losses[g.index]!)).toBe(g.loss);
          }
        }
      });

      it('each method on the full arrays (no slicing) = fastai direct call', () => {
        for (const m of METHODS) expectOutcome(FN[m](lrs, losses), c.direct_on_full_arrays[m], `${c.name} direct ${m}`);
      });
    });
  }

  it('max relative error of the plotted losses stays far below 1e-6', () => {
    expect(seen.maxPointRel).toBeLessThan(1e-7);
  });
});

describe('lr_find_run.json: suggestions of the real runs', () => {
  for (const [k, run] of RUN.runs.entries()) {
    it(`run ${k}`, () => {
      const got = suggest(run.recorded_lrs, run.recorded_smooth_losses, { numIt: run.args.num_it });
      for (const m of METHODS) {
        const g = got[m];
        expect(isSuggested(g)).toBe(true);
        if (!isSuggested(g)) continue;
        expect(g.lr).toBe(run.suggestions[m]);
        expect(g.point[0]).toBe(run.suggestion_points[m][0]);
        expect(relErr(g.point[1], run.suggestion_points[m][1])).toBeLessThanOrEqual(POINT_TOL);
      }
    });
  }
});

// ---------------------------------------------------------------------------------------------- edge cases
function curve(n: number, f: (i: number, lr: number) => number, numIt = 100): { lrs: number[]; losses: number[] } {
  const lrs = Array.from({ length: n }, (_, i) => rangeTestLr(i, 1e-7, 10, numIt));
  return { lrs, losses: lrs.map((lr, i) => f(i, lr)) };
}
const bowl = (_i: number, lr: number): number => 2 - 1.5 / (1 + Math.exp(-2 * (Math.log10(lr) + 3))) + 0.02 * Math.exp(3 * (Math.log10(lr) + 1));

describe('suggest never throws and says why', () => {
  it('empty recorded arrays: every method explains there is nothing left', () => {
    const r = suggest([], [], { numIt: 100 });
    for (const m of METHODS) {
      const s = r[m];
      expect(isSuggested(s)).toBe(false);
      if (!isSuggested(s)) expect(s.error).toMatch(/no points left/);
    }
    for (const m of METHODS) expect(isSuggested(FN[m]([], []))).toBe(false);
  });

  it('all-NaN losses: cut at the first non-finite loss leaves nothing', () => {
    const { lrs } = curve(100, () => 0);
    const r = suggest(lrs, lrs.map(() => NaN), { numIt: 100 });
    for (const m of METHODS) {
      const s = r[m];
      expect(isSuggested(s)).toBe(false);
      if (!isSuggested(s)) expect(s.error).toMatch(/non-finite/);
    }
  });

  it('Infinity is cut like NaN (fastai only cuts NaN)', () => {
    const { lrs, losses } = curve(100, bowl);
    losses[60] = Infinity;
    const t = trimForSuggestions(lrs, losses, 100);
    expect(t.cutAt).toBe(60);
    expect(t.losses).toHaveLength(50);
    const r = suggest(lrs, losses, { numIt: 100 });
    for (const m of METHODS) {
      const s = r[m];
      if (isSuggested(s)) expect(s.index).toBeLessThan(60);
    }
  });

  it('curves of length 0..20 under several num_it: answers exactly where fastai can, errors elsewhere', () => {
    for (let n = 0; n <= 20; n++) {
      for (const numIt of [n, 6, 10, 20, 100]) {
        const { lrs, losses } = curve(n, bowl, Math.max(6, numIt));
        const kept = Math.max(0, n - 5 - Math.min(Math.floor(numIt / 10), n));
        const r = suggest(lrs, losses, { numIt });
        const need: Record<Method, number> = { valley: 1, slide: 16, steep: 2, minimum: 1 };
        for (const m of METHODS) {
          const s = r[m];
          expect(isSuggested(s), `n=${n} num_it=${numIt} ${m}: ${JSON.stringify(s)}`).toBe(kept >= need[m]);
          if (isSuggested(s)) {
            expect(Number.isFinite(s.lr) && s.lr > 0).toBe(true);
            expect(s.index).toBeGreaterThanOrEqual(Math.floor(numIt / 10));
            expect(s.index).toBeLessThan(n - 5);
          } else {
            expect(s.error).toMatch(kept === 0 ? /no points left/ : new RegExp(`${m} needs at least ${need[m]} points, only ${kept} left`));
          }
        }
      }
    }
  });

  it('an early stop says so in the reason', () => {
    const { lrs, losses } = curve(12, bowl);
    const s = suggest(lrs, losses, { numIt: 100 }).slide;
    expect(isSuggested(s)).toBe(false);
    if (!isSuggested(s)) expect(s.error).toMatch(/stopped early \(after 12 of 100 iterations\)/);
  });

  it('mismatched lengths and a non-numeric num_it give errors, not exceptions', () => {
    const r = suggest([1, 2, 3], [1, 2], { numIt: 100 });
    for (const m of METHODS) expect(isSuggested(r[m])).toBe(false);
    const q = suggest([1, 2, 3], [1, 2, 3], { numIt: NaN });
    for (const m of METHODS) expect(isSuggested(q[m])).toBe(false);
    expect(isSuggested(valley([1, 2], [1]))).toBe(false);
  });

  it('methods: only those asked for', () => {
    const { lrs, losses } = curve(100, bowl);
    const r = suggest(lrs, losses, { numIt: 100, methods: ['steep'] });
    expect(Object.keys(r)).toEqual(['steep']);
  });
});

describe('method semantics on hand-made curves', () => {
  const lrs = Array.from({ length: 30 }, (_, i) => 10 ** (-6 + i / 5));

  it('strictly decreasing: valley takes start + ⌊L/3⌋ + ⌊L/6⌋ with start = −1; minimum takes the last lr / 10', () => {
    const losses = lrs.map((_, i) => 3 - i * 0.05);
    const v = valley(lrs, losses);
    // L = 30, end = 29, start = -1: sections = 10 → idx = -1 + 10 + 5
    expect(isSuggested(v) && v.index).toBe(14);
    const m = minimum(lrs, losses);
    expect(isSuggested(m) && m.index).toBe(29);
    expect(isSuggested(m) && m.lr).toBe(Math.fround(lrs[29]!) / 10);
  });

  it('strictly increasing: valley and minimum fall back to the first point, slide to its window start', () => {
    const losses = lrs.map((_, i) => 1 + i * 0.01);
    // (steep compares nearly equal float32 slopes here: rounding decides, as in fastai's monotonic_* vectors)
    for (const f of [valley, minimum]) {
      const s = f(lrs, losses);
      expect(isSuggested(s) && s.index).toBe(0);
    }
    const s = slide(lrs, losses);
    expect(isSuggested(s) && s.index).toBe(30 - 16); // constant gradient: the loop never moves
  });

  it("valley keeps fastai's wrap-around: a 2-point valley at the start gives idx −1 → the last lr", () => {
    const losses = [2, 1, 3, 4, 5, 6];
    const v = valley(lrs.slice(0, 6), losses);
    expect(isSuggested(v) && v.index).toBe(5);
  });

  it('steep: the left end of the first steepest segment, in float32', () => {
    const losses = lrs.map((_, i) => (i === 10 ? 0.5 : i < 10 ? 2 : 0.4));
    const s = steep(lrs, losses);
    expect(isSuggested(s) && s.index).toBe(9);
    // two equally steep drops: the first wins
    const two = lrs.map((_, i) => (i < 5 ? 3 : i < 20 ? 2 : 1));
    const t = steep(lrs, two);
    expect(isSuggested(t) && t.index).toBe(4);
  });

  it('slide: moves left while the gradients 15 apart differ by more than 0.005', () => {
    // flat then a steep drop in the last 10 points: the gradient at r differs from l's until r leaves the drop
    const losses = lrs.map((_, i) => (i < 20 ? 2 : 2 - (i - 19) * 0.1));
    const s = slide(lrs, losses);
    expect(isSuggested(s)).toBe(true);
    if (isSuggested(s)) {
      // r runs 29…; |g[r] - g[r-15]| > 0.005 while g[r] is in the drop (r ≥ 19): last l taken is 19 − 15 = 4
      expect(s.index).toBe(4);
      expect(s.lr).toBe(Math.fround(lrs[4]!));
    }
    expect(isSuggested(slide(lrs.slice(0, 15), losses.slice(0, 15)))).toBe(false);
    expect(isSuggested(slide(lrs.slice(0, 16), losses.slice(0, 16)))).toBe(true);
  });

  it('minimum: NaN counts as the minimum in a direct call (torch argmin), as fastai', () => {
    const losses = lrs.map((_, i) => (i === 7 ? NaN : 1));
    const m = minimum(lrs, losses);
    expect(isSuggested(m) && m.index).toBe(7);
  });
});
