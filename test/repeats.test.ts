/** find --repeats: the pure summary (log medians, spread, agreement, median curve) and the isolation of the repeats. */
import { describe, expect, it } from 'vitest';
import type { Session } from '../src/phases/session.js';
import { sessionsFor, syntheticMlpYaml, weightsOf } from './helpers/sessions.js';
import { rangeTest } from '../src/phases/find.js';
import { logMedian, repeatedRangeTest, repeatSeed, summarizeRepeats } from '../src/phases/repeats.js';

type Sug = { lr: number; loss: number; index: number; point: [number, number] } | { error: string };
const ok = (lr: number): Sug => ({ lr, loss: 1, index: 0, point: [lr, 1] });
const none: Sug = { error: 'no' };
const run = (s: Record<'valley' | 'slide' | 'steep' | 'minimum', Sug>, losses: number[]) => ({
  lrs: losses.map((_, i) => 10 ** (i - 3)),
  losses,
  suggestions: s,
});

describe('summarizeRepeats (pure)', () => {
  it('log median: the middle value, or the geometric mean of the middle two; non-positive values ignored', () => {
    expect(logMedian([3, 1, 2])).toBe(2);
    expect(logMedian([1e-3, 1e-1])).toBeCloseTo(1e-2, 15);
    expect(logMedian([0, -1, 4])).toBe(4);
    expect(logMedian([])).toBeNull();
  });

  it('per method: median, min, max, decades, answered; agreement against `within`; pointwise median curve', () => {
    const runs = [
      run({ valley: ok(1e-3), slide: ok(2e-3), steep: ok(1e-2), minimum: none }, [3, 2, 1]),
      run({ valley: ok(4e-3), slide: ok(2e-3), steep: none, minimum: none }, [5, 4]),
      run({ valley: ok(2e-3), slide: ok(8e-3), steep: none, minimum: none }, [1, 0, NaN]),
    ];
    const s = summarizeRepeats(runs, 3);
    expect(s.methods.valley).toEqual({ median: 2e-3, min: 1e-3, max: 4e-3, spread_decades: Math.log10(4), answered: 3 });
    expect(s.methods.slide.median).toBe(2e-3);
    expect(s.methods.steep).toEqual({ median: 1e-2, min: 1e-2, max: 1e-2, spread_decades: 0, answered: 1 });
    expect(s.methods.minimum).toEqual({ median: null, min: null, max: null, spread_decades: null, answered: 0 });
    // medians 2e-3, 2e-3, 1e-2: ratio 5 > 3
    expect(s.agreement.ratio).toBeCloseTo(5, 12);
    expect(s.agreement.agree).toBe(false);
    expect(summarizeRepeats(runs, 5).agreement.agree).toBe(true);
    // step 0: median(3, 5, 1) = 3; step 1: median(2, 4, 0) = 2; step 2: one finite value, fewer than half of 3 runs: the curve ends
    expect(s.median_curve.losses).toEqual([3, 2]);
    expect(s.median_curve.lrs).toEqual([1e-3, 1e-2]);
  });

  it('fewer than two methods answering gives no ratio and no agreement', () => {
    const s = summarizeRepeats([run({ valley: ok(1e-3), slide: none, steep: none, minimum: none }, [1])], 3);
    expect(s.agreement).toEqual({ within: 3, ratio: null, agree: false });
  });
});

const YAML = syntheticMlpYaml({ seed: 7, n: 240, tail: `find: { num_it: 30 }` });

describe('repeatedRangeTest (isolation)', () => {
  const openYaml = sessionsFor('repeats-test.yaml');
  const open = (): Promise<Session> => openYaml(YAML);

  it('repeat 0 is the single find; the others use their own data-order seeds; weights and RNG are restored', async () => {
    const a = await open();
    const single = await rangeTest(a.learner, a.plan.find);
    const b = await open();
    const before = weightsOf(b);
    const rngBefore = JSON.stringify(b.learner.rng.state());
    const { runs, seeds } = await repeatedRangeTest(b.learner, b.plan.find, 3);
    expect(seeds).toEqual([0, 1, 2].map((k) => repeatSeed(7, k)));
    expect(runs[0]!.losses).toEqual(single.losses);
    expect(runs[1]!.losses).not.toEqual(runs[0]!.losses);
    expect(runs[2]!.losses).not.toEqual(runs[1]!.losses);
    expect(runs.every((r) => r.lrs.length === r.losses.length)).toBe(true);
    expect(weightsOf(b)).toEqual(before);
    expect(JSON.stringify(b.learner.rng.state())).toBe(rngBefore);
  }, 60_000);
});
