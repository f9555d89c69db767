/**
 * The stage runner: one declared one-cycle stage (schedule/stages.ts) on the shared engine, with what a run folder
 * needs around it when there is one (the CLI): per-epoch metrics.csv and schedule.csv, ckpt/last (every epoch, and
 * at the batch on interrupt) and ckpt/best (by the monitored value), resume from ckpt/last at the same schedule
 * position, the final model folder. The library runs the same function without a run folder.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { Learner, EpochSummary, LoopPosition, LoopOptions } from '../engine/learner.js';
import type { EventSink, StopReason, StopSignal } from '../engine/events.js';
import { STAGE_PHASE, type StagePlan } from '../schedule/index.js';
import { saveModelDir } from '../model/index.js';
import type { RunFolder } from '../report/run-folder.js';
import { epochRowsCsv, scheduleCsvHeader } from '../report/documents.js';
import { inFlight } from '../report/in-flight.js';
import { ExitCode, FastlrError } from '../errors.js';
import { applyCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { gateValues } from './gates.js';
import { runSchedule } from './fit.js';

export const MODEL_DIR = 'model';

/** The files of a stage in a run folder (the CLI); the library runs stages without one. */
export interface StageRecording {
  run: RunFolder;
  planHash: string;
  /** subfolder of the run for this stage's files ('' for fit) */
  prefix: string;
  /** continue from this checkpoint folder (ckpt/last) */
  resumeFrom?: string;
  /** resume despite a changed plan hash */
  force: boolean;
}

export interface StageOptions {
  learner: Learner;
  stage: StagePlan;
  /** names of the metrics the learner computes */
  metrics: string[];
  monitor: string;
  signal?: StopSignal;
  onEvent?: EventSink;
  afterBatch?: LoopOptions['afterBatch'];
  /** awaited after each epoch (after the checkpoints), e.g. the library's onEpochEnd */
  afterEpoch?: (summary: EpochSummary) => Promise<void> | void;
  record?: StageRecording;
}

export interface StageResult {
  stage: StagePlan['id'];
  stop: { reason: StopReason; iteration: number };
  epochs: EpochSummary[];
  /** the last epoch's values by gate name (train_loss, valid_loss, valid_<metric>, <metric>) */
  final: Record<string, number>;
  best: { monitor: string; value: number; epoch: number } | null;
  seconds: number;
  /** run-folder files, relative to the run (empty without a run folder) */
  files: Record<string, string>;
  /** a non-finite loss: at which training step and LR */
  divergence?: { iteration: number; lr: number[] };
}

/** Lower is better for losses and error rates, higher for everything else. */
export function lowerIsBetter(monitor: string): boolean {
  return /loss|error|mae|rmse/.test(monitor);
}

type Row = (string | number)[];

/** The schedule.csv rows of a resumed stage up to the checkpoint (validated: a damaged file is exit 2). */
async function readScheduleRows(file: string, header: string[], upto: number): Promise<Row[]> {
  if (!existsSync(file)) return [];
  const all = (await readFile(file, 'utf8')).trim().split('\n');
  if (all[0] !== header.join(',')) {
    throw new FastlrError(`--resume: ${file} does not start with the header ${header.join(',')} (a different model, or a damaged file)`, ExitCode.usage);
  }
  const rows: Row[] = [];
  for (const [i, line] of all.slice(1, 1 + upto).entries()) {
    const cells = line.split(',');
    if (cells.length !== header.length || cells.some((c) => c !== '' && !Number.isFinite(Number(c)))) {
      throw new FastlrError(`--resume: ${file} line ${i + 2} is damaged (${header.length} numbers expected)`, ExitCode.usage);
    }
    rows.push(cells);
  }
  return rows;
}

/** Run one stage: freeze as declared, then its steps, recording to the run folder when there is one. */
export async function runStage(o: StageOptions): Promise<StageResult> {
  const { learner, stage, record: rec } = o;
  const phase = STAGE_PHASE[stage.id];
  if (stage.freeze === 'freeze') learner.freeze();
  else if (stage.freeze === 'unfreeze') learner.unfreeze();
  const p = (name: string): string => (rec?.prefix ? `${rec.prefix}/${name}` : name);
  const header = scheduleCsvHeader(learner.groups.length);
  let scheduleRows: Row[] = [];
  let history: EpochSummary[] = [];
  let resume: LoopPosition | undefined;
  let best: StageResult['best'] = null;

  if (rec?.resumeFrom) {
    const ck = await loadCheckpoint(rec.resumeFrom);
    if (ck.meta.plan_hash !== rec.planHash && !rec.force) {
      throw new FastlrError(
        `the checkpoint ${rec.resumeFrom} was made with a different plan (hash ${ck.meta.plan_hash.slice(0, 12)}, now ${rec.planHash.slice(0, 12)}): the config or its overrides changed. Re-run without --resume, or add --force to continue anyway.`,
        ExitCode.usage,
      );
    }
    if (ck.meta.phase !== phase) throw new FastlrError(`${rec.resumeFrom} is a ${ck.meta.phase} checkpoint, not ${phase}`, ExitCode.usage);
    // a checkpoint at the very end (killed before the final model was written): the loop runs no batch and the
    // stage is finished below (model, tables), as the uninterrupted run would have
    applyCheckpoint(learner, ck, { epochs: stage.oneCycle.epochs });
    resume = ck.meta.position;
    history = ck.meta.history;
    best = (ck.meta.extra.best as StageResult['best']) ?? null;
    scheduleRows = await readScheduleRows(rec.run.path(p('schedule.csv')), header, resume.epoch * learner.batchesPerEpoch + resume.batch);
    o.onEvent?.({
      type: 'note',
      level: 'info',
      message: `resuming from ${rec.resumeFrom}: epoch ${resume.epoch}, batch ${resume.batch}/${learner.batchesPerEpoch} (schedule position kept)`,
    });
  }

  let lastLr: number[] = [];
  let lastIter = 0;
  const writeTables = async (): Promise<void> => {
    if (!rec) return;
    const { run } = rec;
    await inFlight(async () => {
      await run.writeText(p('metrics.csv'), epochRowsCsv(history, o.metrics));
      await run.writeText(p('schedule.csv'), [header, ...scheduleRows].map((r) => r.map(cell).join(',')).join('\n') + '\n');
    });
  };
  const checkpoint = async (name: string, position: LoopPosition): Promise<void> => {
    if (!rec) return;
    const { run, planHash } = rec;
    await inFlight(() => saveCheckpoint(run.path(p(`ckpt/${name}`)), learner, { phase, plan_hash: planHash, position, history, extra: { best } }, run.scratch));
  };

  const res = await runSchedule(learner, stage.steps, stage.oneCycle.epochs, {
    phase,
    signal: o.signal,
    resume,
    afterBatch: o.afterBatch,
    onEvent: (e) => {
      if (e.type === 'batch') {
        if (rec) scheduleRows.push([e.iter, e.epoch, e.batch, ...e.lr, e.mom, e.loss, e.smooth]);
        lastLr = e.lr;
        lastIter = e.iter;
      }
      o.onEvent?.(e);
    },
    afterEpoch: async (_epoch, summary, next) => {
      history.push(summary);
      // one in-flight write for the epoch's tables and checkpoints: a second Ctrl-C waits for all of them
      await inFlight(async () => {
        await writeTables();
        const v = gateValues(summary)[o.monitor];
        if (v !== undefined && Number.isFinite(v) && (best === null || (lowerIsBetter(o.monitor) ? v < best.value : v > best.value))) {
          best = { monitor: o.monitor, value: v, epoch: summary.epoch };
          await checkpoint('best', next);
        }
        await checkpoint('last', next);
      });
      await o.afterEpoch?.(summary);
    },
  });

  if (res.stop.reason === 'interrupted') {
    // at the batch: the resume continues from the next one
    await inFlight(async () => {
      await writeTables();
      await checkpoint('last', res.position);
    });
  }
  const files: Record<string, string> = {};
  if (rec) {
    Object.assign(files, { metrics_csv: p('metrics.csv'), schedule_csv: p('schedule.csv'), ckpt_last: p('ckpt/last') });
    if (best) files.ckpt_best = p('ckpt/best');
    if (res.stop.reason === 'completed') {
      await writeTables();
      const { run } = rec;
      await inFlight(() => run.replaceDir(p(MODEL_DIR), (tmp) => saveModelDir(learner.model, tmp)));
      files.model = p(MODEL_DIR);
    }
  }
  const lastEpoch = history[history.length - 1];
  const final = lastEpoch ? gateValues(lastEpoch) : {};
  const out: StageResult = { stage: stage.id, stop: res.stop, epochs: history, final, best, seconds: res.seconds, files };
  if (res.stop.reason === 'non_finite') out.divergence = { iteration: lastIter, lr: lastLr };
  return out;
}

function cell(v: string | number): string {
  return typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
}
