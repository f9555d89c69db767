/**
 * fastai's fine_tune on the stage runner: freeze → the frozen stage → unfreeze → the unfrozen stage (the stages are
 * declared by schedule/stages.ts). One process running both stages keeps one random stream, as one fine_tune call
 * does; a stage 2 started later continues the stream where stage 1 stopped (`carryRng`). Used by the CLI's
 * `finetune` (with a run folder) and the library's `learn.fineTune` (without).
 */
import type { Learner } from '../engine/learner.js';
import type { RngState } from '../engine/rng.js';
import type { StageId, StagePlan } from '../schedule/index.js';
import { runStage, type StageOptions, type StageRecording, type StageResult } from './stage.js';

export interface FineTuneRun extends Omit<StageOptions, 'stage' | 'record' | 'learner'> {
  /** the declared stages (frozen, when freeze_epochs > 0, and unfrozen) */
  stages: StagePlan[];
  /** which of them to run now, in order */
  run: StageId[];
  /** stage 2 started in a new process from stage 1's saved model: the RNG state stage 1 ended with */
  carryRng?: RngState;
  /** the run folder and, per stage, where to resume it from */
  record?: Omit<StageRecording, 'prefix' | 'resumeFrom'> & { resume?: { stage: StageId; from: string } };
  /** after each stage (documents); the next stage runs only when this one completed */
  afterStage?: (res: StageResult, last: boolean) => Promise<void> | void;
}

/** The stages of `which` that `stages` declares (a frozen stage of 0 epochs is not declared, so not run). */
export function stagesToRun(stages: readonly StagePlan[], which: readonly StageId[]): StagePlan[] {
  return which.map((id) => stages.find((s) => s.id === id)).filter((s): s is StagePlan => s !== undefined);
}

export async function fineTune(learner: Learner, o: FineTuneRun): Promise<StageResult[]> {
  const pending = stagesToRun(o.stages, o.run);
  const results: StageResult[] = [];
  for (const [k, stage] of pending.entries()) {
    if (k === 0 && stage.id === 'unfrozen' && o.carryRng) learner.rng.restore(o.carryRng);
    const { stages: _s, run: _r, carryRng: _c, record, afterStage, ...loop } = o;
    const res = await runStage({
      ...loop,
      learner,
      stage,
      ...(record
        ? {
            record: {
              run: record.run,
              planHash: record.planHash,
              force: record.force,
              prefix: stage.id,
              ...(record.resume?.stage === stage.id ? { resumeFrom: record.resume.from } : {}),
            },
          }
        : {}),
    });
    results.push(res);
    const last = k === pending.length - 1;
    await afterStage?.(res, last);
    if (res.stop.reason !== 'completed') break;
  }
  return results;
}
