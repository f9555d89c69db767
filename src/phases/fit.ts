import type { Learner, LoopOptions, LoopResult } from '../engine/learner.js';
import { oneCycleSchedule, type OneCycleConfig, type Step } from '../schedule/index.js';

export type { OneCycleConfig } from '../schedule/index.js';

export interface FitPhaseResult extends LoopResult {
  schedule: Step[];
}

export type FitLoopOptions = Pick<LoopOptions, 'signal' | 'onEvent' | 'afterEpoch' | 'afterBatch' | 'resume'> & { phase?: string };

/** The per-batch one-cycle schedule of a fit on this learner (pure maths). */
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
 * Train on a declared schedule (one step per training batch): the LR/momentum of batch `iter` is `steps[iter]`;
 * validation runs after each epoch and never advances it. `loop.resume` continues mid-run at the same position.
 */
export async function runSchedule(learner: Learner, steps: readonly Step[], epochs: number, loop: FitLoopOptions): Promise<LoopResult> {
  return learner.run({
    phase: loop.phase ?? 'fit',
    epochs,
    validate: true,
    hypers: (i) => {
      const s = steps[Math.min(i, steps.length - 1)]!;
      return { lr: s.lr, mom: s.mom };
    },
    signal: loop.signal,
    onEvent: loop.onEvent,
    afterEpoch: loop.afterEpoch,
    afterBatch: loop.afterBatch,
    resume: loop.resume,
  });
}

/** fastai's fit_one_cycle on the shared engine (the schedule is a function of the training batch counter). */
export async function fitOneCycle(learner: Learner, c: OneCycleConfig, loop: FitLoopOptions): Promise<FitPhaseResult> {
  const schedule = fitSchedule(learner, c);
  const res = await runSchedule(learner, schedule, c.epochs, loop);
  return { ...res, schedule };
}
