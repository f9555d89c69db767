import { describe, expect, it } from 'vitest';
import {
  combinedCos,
  combineScheds,
  fineTuneSchedule,
  fitPositions,
  oneCycleAt,
  oneCycleSchedule,
  rangeTestIterations,
  rangeTestLr,
  rangeTestStop,
  RangeTestStopRule,
  schedCos,
  schedExp,
  schedLin,
  schedNo,
  SmoothLoss,
  fmaF32,
  lerpF32,
  type LrSpec,
  type Step,
} from '../src/schedule/index.js';
import { FastlrError } from '../src/errors.js';
import { loadVectors, relErr } from './maths-vectors.js';

// ---------------------------------------------------------------------------------------------- vectors
interface VecStep {
  train_iter: number;
  epoch: number;
  batch: number;
  pct_train: number;
  lr: number[];
  mom: number[];
}
interface OneCycleFile {
  cases: {
    name: string;
    n_epoch: number;
    n_iter_per_epoch: number;
    n_groups: number;
    args: {
      lr_max?: number | { type: 'slice'; start: number | null; stop: number };
      div?: number;
      div_final?: number;
      pct_start?: number;
      moms?: [number, number, number];
    };
    effective_defaults: { learner_lr: number };
    lr_max_per_group: number[];
    steps: VecStep[];
  }[];
  fine_tune_cases: {
    name: string;
    epochs: number;
    n_iter_per_epoch: number;
    n_groups: number;
    args: Record<string, never>;
    effective_defaults: { base_lr: number; freeze_epochs: number; lr_mult: number; pct_start: number; div: number };
    phases: { phase: string; steps: VecStep[] }[];
  }[];
}
interface LrFindRunFile {
  runs: {
    args: { start_lr: number; end_lr: number; num_it: number; stop_div: boolean };
    n_iterations_run: number;
    stop_reason: string;
    recorded_lrs: number[];
    recorded_smooth_losses: number[];
    per_iteration: { it: number; lr: number; raw_loss: number }[];
  }[];
}
interface FitRunsFile {
  runs: {
    name: string;
    per_iteration: { it: number; lr: number[]; mom: number; raw_loss: number; smooth_loss: number }[];
    epoch_values: number[][];
  }[];
}

const OC = loadVectors<OneCycleFile>('one_cycle_schedules.json');
const RUN = loadVectors<LrFindRunFile>('lr_find_run.json');
const FIT = loadVectors<FitRunsFile>('fit_runs.json');

/** Largest relative error of lr and mom over all steps; positions and counters must be identical. */
function compareSteps(got: Step[], want: VecStep[]): { lr: number; mom: number } {
  expect(got).toHaveLength(want.length);
  let lr = 0;
  let mom = 0;
  want.forEach((w, k) => {
    const g = got[k]!;
    expect(g.pos).toBe(w.pct_train);
    expect(g.epoch).toBe(w.epoch);
    expect(g.batch).toBe(w.batch);
    expect(g.iter).toBe(w.train_iter);
    expect(g.lr).toHaveLength(w.lr.length);
    w.lr.forEach((v, j) => (lr = Math.max(lr, relErr(g.lr[j]!, v))));
    w.mom.forEach((v) => (mom = Math.max(mom, relErr(g.mom, v))));
  });
  return { lr, mom };
}

// float64 phase positions would be off by up to ~4e-6 here; fastai's float32 split is reproduced to ~1 ulp
const SCHED_TOL = 1e-12;

describe('one-cycle schedule vs fastai fit_one_cycle (one_cycle_schedules.json)', () => {
  for (const c of OC.cases) {
    it(c.name, () => {
      const a = c.args;
      const lrMax: LrSpec =
        a.lr_max === undefined
          ? c.effective_defaults.learner_lr
          : typeof a.lr_max === 'number'
            ? a.lr_max
            : a.lr_max.start === null
              ? { hi: a.lr_max.stop }
              : { lo: a.lr_max.start, hi: a.lr_max.stop };
      const steps = oneCycleSchedule({
        epochs: c.n_epoch,
        itersPerEpoch: c.n_iter_per_epoch,
        nGroups: c.n_groups,
        lrMax,
        div: a.div,
        divFinal: a.div_final,
        pctStart: a.pct_start,
        moms: a.moms,
      });
      const e = compareSteps(steps, c.steps);
      expect(e.lr).toBeLessThanOrEqual(SCHED_TOL);
      expect(e.mom).toBeLessThanOrEqual(SCHED_TOL);
    });
  }
});

describe('fine_tune schedule vs fastai (one_cycle_schedules.json)', () => {
  for (const c of OC.fine_tune_cases) {
    it(c.name, () => {
      const d = c.effective_defaults;
      const r = fineTuneSchedule({
        epochs: c.epochs,
        itersPerEpoch: c.n_iter_per_epoch,
        nGroups: c.n_groups,
        baseLr: d.base_lr,
        freezeEpochs: d.freeze_epochs,
        lrMult: d.lr_mult,
        pctStart: d.pct_start,
        div: d.div,
      });
      const frozen = compareSteps(r.frozen, c.phases[0]!.steps);
      const unfrozen = compareSteps(r.unfrozen, c.phases[1]!.steps);
      expect(Math.max(frozen.lr, frozen.mom, unfrozen.lr, unfrozen.mom)).toBeLessThanOrEqual(SCHED_TOL);
      // and the same with every default left out
      const byDefault = fineTuneSchedule({ epochs: c.epochs, itersPerEpoch: c.n_iter_per_epoch, nGroups: c.n_groups });
      expect(byDefault).toEqual(r);
    });
  }
});

describe('fit_runs.json: the schedule and smoothed loss of a real fit_one_cycle(3, 1e-2)', () => {
  const run = FIT.runs[0]!;
  it('lr and mom of every batch (3 epochs × 10 batches)', () => {
    const steps = oneCycleSchedule({ epochs: 3, itersPerEpoch: 10, nGroups: 1, lrMax: 1e-2 });
    expect(steps).toHaveLength(run.per_iteration.length);
    let maxRel = 0;
    run.per_iteration.forEach((p, k) => {
      maxRel = Math.max(maxRel, relErr(steps[k]!.lr[0]!, p.lr[0]!), relErr(steps[k]!.mom, p.mom));
    });
    expect(maxRel).toBeLessThanOrEqual(SCHED_TOL);
  });
  it('SmoothLoss reproduces every smooth_loss bit for bit, and train_loss per epoch', () => {
    const s = new SmoothLoss();
    run.per_iteration.forEach((p, k) => {
      expect(s.add(p.raw_loss)).toBe(p.smooth_loss);
      if ((k + 1) % 10 === 0) expect(s.value).toBe(run.epoch_values[(k + 1) / 10 - 1]![0]);
    });
  });
});

// ---------------------------------------------------------------------------------------------- schedules
describe('annealing functions', () => {
  it('cos/exp/lin/no at the ends and the middle', () => {
    expect(schedCos(1, 3, 0)).toBe(1);
    expect(schedCos(1, 3, 1)).toBe(3);
    expect(schedCos(0, 2, 0.5)).toBeCloseTo(1, 15);
    expect(schedExp(1, 100, 0.5)).toBeCloseTo(10, 13);
    expect(schedExp(2, 8, 0)).toBe(2);
    expect(schedLin(0, 2, 0.25)).toBe(0.5);
    expect(schedNo(5, 1, 0.7)).toBe(5);
  });

  it("fastai's own combined_cos and combine_scheds checks", () => {
    const f = combinedCos(0.25, 0.5, 1, 0);
    [0.5, 0.67275, 1, 0.75, 0].forEach((v, i) => expect(f([0, 0.1, 0.25, 0.5, 1][i]!)).toBeCloseTo(v, 4));
    const g = combineScheds(
      [0.3, 0.2, 0.5],
      [(p) => schedLin(0, 1, p), (p) => schedNo(1, 1, p), (p) => schedCos(1, 0, p)],
    );
    [0, 0.5, 1, 1, 1, 0.65451, 0].forEach((v, i) =>
      expect(g([0, 0.15, 0.3, 0.4, 0.5, 0.7, 1][i]!)).toBeCloseTo(v, 4),
    );
  });

  it('rejects bad phase fractions', () => {
    expect(() => combineScheds([0.5, -0.5], [(p) => p, (p) => p])).toThrow(FastlrError);
    expect(() => combineScheds([1], [(p) => p, (p) => p])).toThrow(FastlrError);
    expect(() => oneCycleAt(0.5, [1], { pctStart: 1.5 })).toThrow(FastlrError);
  });
});

describe('oneCycleSchedule', () => {
  it('starts at lr/div with mom 0.95, peaks at lr_max, never reaches lr/div_final', () => {
    const s = oneCycleSchedule({ epochs: 2, itersPerEpoch: 40, lrMax: [1e-3, 1e-2], nGroups: 2 });
    expect(s).toHaveLength(80);
    expect(s[0]!.lr).toEqual([1e-3 / 25, 1e-2 / 25]);
    expect(s[0]!.mom).toBe(0.95);
    expect(s[20]!.lr[1]).toBeCloseTo(1e-2, 15); // pos 0.25 exactly
    expect(s[20]!.mom).toBeCloseTo(0.85, 15);
    const last = s[79]!;
    expect(last.lr[1]!).toBeGreaterThan(1e-2 / 1e5);
    expect(last.lr[1]!).toBeLessThan(1e-5);
    expect(last.pos).toBeCloseTo(79 / 80, 12);
    expect(s.map((x) => x.iter)).toEqual([...Array(80).keys()]);
  });

  it('one group from a range or hi-only range spec', () => {
    const a = oneCycleSchedule({ epochs: 1, itersPerEpoch: 5, lrMax: { lo: 1e-5, hi: 1e-3 }, nGroups: 1 });
    const b = oneCycleSchedule({ epochs: 1, itersPerEpoch: 5, lrMax: 1e-3, nGroups: 1 });
    expect(a).toEqual(b);
  });

  it('resume: startEpoch continues the same cycle at pos = startEpoch/epochs', () => {
    const full = oneCycleSchedule({ epochs: 5, itersPerEpoch: 7, lrMax: 3e-3, nGroups: 2, pctStart: 0.3 });
    const tail = oneCycleSchedule({ epochs: 5, itersPerEpoch: 7, lrMax: 3e-3, nGroups: 2, pctStart: 0.3, startEpoch: 2 });
    expect(tail).toEqual(full.slice(14));
    expect(tail[0]!.pos).toBe(2 / 5);
    expect(tail[0]!.iter).toBe(14);
    expect(oneCycleSchedule({ epochs: 3, itersPerEpoch: 4, lrMax: 1e-3, nGroups: 1, startEpoch: 3 })).toEqual([]);
    expect(() => oneCycleSchedule({ epochs: 3, itersPerEpoch: 4, lrMax: 1e-3, nGroups: 1, startEpoch: 4 })).toThrow(
      FastlrError,
    );
  });

  it('oneCycleAt agrees with the schedule', () => {
    const s = oneCycleSchedule({ epochs: 1, itersPerEpoch: 33, lrMax: [1e-4, 1e-3], nGroups: 2, moms: [0.9, 0.8, 0.99] });
    for (const st of s) expect(oneCycleAt(st.pos, [1e-4, 1e-3], { moms: [0.9, 0.8, 0.99] })).toEqual({ lr: st.lr, mom: st.mom });
  });

  it('pct_start 0 and 1 are legal (all cool-down / all warm-up)', () => {
    const down = oneCycleSchedule({ epochs: 1, itersPerEpoch: 4, lrMax: 1, nGroups: 1, pctStart: 0 });
    expect(down[0]!.lr[0]).toBe(1);
    const up = oneCycleSchedule({ epochs: 1, itersPerEpoch: 4, lrMax: 1, nGroups: 1, pctStart: 1 });
    expect(up[0]!.lr[0]).toBe(1 / 25);
    for (let k = 1; k < 4; k++) expect(up[k]!.lr[0]!).toBeGreaterThan(up[k - 1]!.lr[0]!);
  });

  it('zero batches per epoch gives an empty schedule; bad counts throw', () => {
    expect(oneCycleSchedule({ epochs: 2, itersPerEpoch: 0, lrMax: 1e-3, nGroups: 1 })).toEqual([]);
    expect(() => fitPositions(0, 3)).toThrow(FastlrError);
    expect(() => fitPositions(1.5, 3)).toThrow(FastlrError);
    expect(() => oneCycleSchedule({ epochs: 1, itersPerEpoch: 3, lrMax: [1, 2, 3], nGroups: 2 })).toThrow(FastlrError);
  });

  it('fitPositions accumulates like fastai (reset to epoch/epochs at each epoch)', () => {
    const p = fitPositions(2, 50);
    expect(p[99]!.pos).toBe(0.9900000000000004); // fastai's pct_train of the last batch
    expect(p[50]!.pos).toBe(0.5);
  });
});

describe('fineTuneSchedule', () => {
  it('frozen stage: slice(base_lr), pct 0.99, div 25; unfrozen: slice(base_lr/2/lr_mult, base_lr/2), div 5', () => {
    const r = fineTuneSchedule({ epochs: 2, itersPerEpoch: 10, nGroups: 3, baseLr: 1e-2, lrMult: 10 });
    expect(r.frozen).toHaveLength(10);
    expect(r.unfrozen).toHaveLength(20);
    expect(r.frozen[0]!.lr).toEqual([1e-3 / 25, 1e-3 / 25, 1e-2 / 25]);
    const u0 = r.unfrozen[0]!.lr;
    expect(u0[0]).toBeCloseTo(5e-4 / 5, 18);
    expect(u0[2]).toBeCloseTo(5e-3 / 5, 18);
  });
  it('freezeEpochs 0 skips the frozen stage; lr overrides the unfrozen spec', () => {
    const r = fineTuneSchedule({ epochs: 1, freezeEpochs: 0, itersPerEpoch: 4, nGroups: 2, lr: { lo: 1e-6, hi: 1e-4 } });
    expect(r.frozen).toEqual([]);
    expect(r.unfrozen[0]!.lr).toEqual([1e-6 / 5, 1e-4 / 5]);
  });
});

// ---------------------------------------------------------------------------------------------- range test
describe('range test vs lr_find_run.json', () => {
  for (const [k, run] of RUN.runs.entries()) {
    describe(`run ${k} (stop_div ${run.args.stop_div})`, () => {
      it('rangeTestLr: every recorded lr within 1e-15 relative', () => {
        let maxRel = 0;
        run.recorded_lrs.forEach((lr, i) => {
          maxRel = Math.max(maxRel, relErr(rangeTestLr(i, run.args.start_lr, run.args.end_lr, run.args.num_it), lr));
        });
        expect(maxRel).toBeLessThanOrEqual(1e-15);
      });

      it('SmoothLoss reproduces every recorded smoothed loss bit for bit', () => {
        const s = new SmoothLoss();
        run.per_iteration.forEach((p, i) => expect(s.add(p.raw_loss)).toBe(run.recorded_smooth_losses[i]));
        expect(s.count).toBe(run.per_iteration.length);
      });

      it('the stop rule stops at the same batch, for the same reason', () => {
        const rule = new RangeTestStopRule(run.args.num_it, run.args.stop_div);
        let stoppedAt = -1;
        let reason: string | null = null;
        for (const [i, sm] of run.recorded_smooth_losses.entries()) {
          reason = rule.after(i, sm);
          if (reason) {
            stoppedAt = i;
            break;
          }
        }
        expect(stoppedAt).toBe(run.n_iterations_run - 1);
        expect(reason).toBe(run.stop_reason.startsWith('divergence') ? 'diverged' : 'num_it');
      });
    });
  }
});

describe('range test rules', () => {
  it('fastai forces at least 6 iterations', () => {
    expect(rangeTestIterations(3)).toBe(6);
    expect(rangeTestIterations(100)).toBe(100);
    expect(new RangeTestStopRule(2).numIt).toBe(6);
  });

  it('lr starts at start_lr and never reaches end_lr', () => {
    expect(rangeTestLr(0, 1e-7, 10, 100)).toBe(1e-7);
    expect(rangeTestLr(99, 1e-7, 10, 100)).toBeLessThan(10);
    expect(rangeTestLr(50, 1e-6, 1, 100)).toBeCloseTo(1e-3, 15);
  });

  it('rangeTestStop: divergence, num_it, non-finite, and the best it keeps', () => {
    const base = { iteration: 3, numIt: 100, stopDiv: true };
    expect(rangeTestStop({ ...base, smoothed: 2, best: Infinity })).toEqual({ stop: null, best: 2 });
    expect(rangeTestStop({ ...base, smoothed: 4, best: 1 })).toEqual({ stop: null, best: 1 }); // not > 4×
    expect(rangeTestStop({ ...base, smoothed: 4.000001, best: 1 })).toEqual({ stop: 'diverged', best: 1 });
    expect(rangeTestStop({ ...base, smoothed: 5, best: 1, stopDiv: false })).toEqual({ stop: null, best: 1 });
    expect(rangeTestStop({ ...base, smoothed: 0.5, best: 1, iteration: 99 })).toEqual({ stop: 'num_it', best: 0.5 });
    expect(rangeTestStop({ ...base, smoothed: 9, best: 1, iteration: 99 }).stop).toBe('diverged');
    expect(rangeTestStop({ ...base, smoothed: NaN, best: 1 }).stop).toBe('non_finite');
    expect(rangeTestStop({ ...base, smoothed: Infinity, best: 1, stopDiv: false }).stop).toBe('non_finite');
    // passing a best that already includes this batch gives the same answer
    expect(rangeTestStop({ ...base, smoothed: 0.7, best: 0.7 })).toEqual({ stop: null, best: 0.7 });
  });
});

describe('SmoothLoss', () => {
  it('debiases: a constant loss stays constant (to float32 drift); value is NaN before any loss', () => {
    const s = new SmoothLoss();
    expect(Number.isNaN(s.value)).toBe(true);
    // fastai's first value is not the loss itself: (1 − f32(0.98)) ≠ f32(1 − 0.98)
    expect(s.add(1.5)).toBe(Math.fround(Math.fround(1.5 * Math.fround(1 - Math.fround(0.98))) / Math.fround(1 - 0.98)));
    for (let k = 0; k < 50; k++) expect(relErr(s.add(1.5), 1.5)).toBeLessThan(1e-5);
  });

  it('state() / from() continue bit for bit', () => {
    const losses = RUN.runs[0]!.per_iteration.map((p) => p.raw_loss);
    const a = new SmoothLoss();
    losses.slice(0, 40).forEach((l) => a.add(l));
    const b = SmoothLoss.from(JSON.parse(JSON.stringify(a.state())) as ReturnType<SmoothLoss['state']>);
    expect(b.count).toBe(40);
    expect(b.value).toBe(a.value);
    for (const l of losses.slice(40)) expect(b.add(l)).toBe(a.add(l));
  });

  it('never reset between epochs: values depend on every earlier loss', () => {
    const s = new SmoothLoss();
    s.add(10);
    expect(s.add(1)).not.toBe(1);
  });
});

describe('float32 helpers', () => {
  it('fmaF32 rounds once where a double sum would round twice', () => {
    const a = 1 + 2 ** -23;
    const b = 1 - 2 ** -23; // a·b = 1 − 2⁻⁴⁶ exactly
    const c = 2 ** 24 + 2;
    expect(Math.fround(a * b + c)).toBe(2 ** 24 + 4); // double rounding: wrong
    expect(fmaF32(a, b, c)).toBe(2 ** 24 + 2); // correct
    expect(fmaF32(-a, b, -c)).toBe(-(2 ** 24 + 2));
    expect(fmaF32(2, 3, 1)).toBe(7);
  });
  it('lerpF32 uses both of torch’s branches', () => {
    expect(lerpF32(0, 10, 0.98)).toBe(Math.fround(10 - 10 * Math.fround(1 - Math.fround(0.98))));
    expect(lerpF32(0, 10, 0.25)).toBe(2.5);
  });
});
