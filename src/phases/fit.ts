import type { Learner, LoopOptions, LoopResult } from '../engine/learner.js';
import { oneCycleSchedule, type Step } from '../schedule/index.js';

export interface OneCycleConfig {
  epochs: number;
  /** peak LR of each parameter group */
  lrMax: number[];
  div: number;
  divFinal: number;
  pctStart: number;
  moms: [number, number, number];
}

export interface FitPhaseResult extends LoopResult {
  schedule: Step[];
}

/** The per-batch one-cycle schedule of a fit on this learner (pure maths, also used by `check`). */
export function fitSchedule(learner: Learner, c: OneCycleConfig): Step[] {
  return oneCycleSchedule({
    epochs: c.epochs,
    itersPerEpoch: learner.batchesPerEpoch,
    lrMax: c.lrMax,
    nGroups: learner.groups.length,
    div: c.div,
    divFinal: c.divFinal,
    pctStart: c.pctStart,
    moms: c.moms,
  });
}

/**
 * fastai's fit_one_cycle on the shared engine: the schedule is a function of the training batch
 * counter; validation runs after each epoch and never advances it. `loop.resume` continues mid-run
 * at the same schedule position.
 */
export async function fitOneCycle(
  learner: Learner,
  c: OneCycleConfig,
  loop: Pick<LoopOptions, 'signal' | 'onEvent' | 'afterEpoch' | 'resume'> & { phase?: string },
): Promise<FitPhaseResult> {
  const schedule = fitSchedule(learner, c);
  const res = await learner.run({
    phase: loop.phase ?? 'fit',
    epochs: c.epochs,
    validate: true,
    hypers: (i) => {
      const s = schedule[Math.min(i, schedule.length - 1)]!;
      return { lr: s.lr, mom: s.mom };
    },
    signal: loop.signal,
    onEvent: loop.onEvent,
    afterEpoch: loop.afterEpoch,
    resume: loop.resume,
  });
  return { ...res, schedule };
}
