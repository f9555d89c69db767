import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as asciichart from 'asciichart';
import type { Session } from '../phases/session.js';
import { fitOneCycle, type OneCycleConfig } from '../phases/fit.js';
import { applyCheckpoint, loadCheckpoint, saveCheckpoint } from '../phases/checkpoint.js';
import { checkGates, gateValues, unknownGates, type GateResult } from '../phases/gates.js';
import type { EpochSummary, LoopPosition } from '../engine/learner.js';
import type { StopSignal, StopReason } from '../engine/events.js';
import { saveModelDir } from '../model/index.js';
import { RunFolder, recoverDir } from '../report/run-folder.js';
import type { Reporter } from '../report/reporter.js';
import { epochChart, fmtLr } from '../report/chart.js';
import { ExitCode, FastlrError } from '../errors.js';

export interface StageOptions {
  /** 'fit', 'finetune-frozen', 'finetune-unfrozen' */
  phase: string;
  session: Session;
  oneCycle: OneCycleConfig;
  run: RunFolder;
  planHash: string;
  reporter: Reporter;
  signal: StopSignal;
  /** names of the metrics the learner computes */
  metrics: string[];
  monitor: string;
  /** continue from this checkpoint folder (ckpt/last) */
  resumeFrom?: string;
  force: boolean;
  /** subfolder of the run for this stage's files ('' for fit) */
  prefix?: string;
  extra?: Record<string, unknown>;
}

export interface StageResult {
  stop: { reason: StopReason; iteration: number };
  epochs: EpochSummary[];
  final: Record<string, number>;
  best: { monitor: string; value: number; epoch: number } | null;
  seconds: number;
  files: Record<string, string>;
  /** a non-finite loss: at which training step and LR */
  divergence?: { iteration: number; lr: number[] };
}

export const MODEL_DIR = 'model';

function csv(rows: (string | number)[][]): string {
  return rows.map((r) => r.map((v) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v)).join(',')).join('\n') + '\n';
}

/** Lower is better for losses and error rates, higher for everything else. */
export function lowerIsBetter(monitor: string): boolean {
  return /loss|error|mae|rmse/.test(monitor);
}

/**
 * One one-cycle training stage with everything a run needs around it: per-epoch metrics.csv and
 * schedule.csv, ckpt/last (every epoch, and on interrupt) and ckpt/best (by the monitored value),
 * resume from ckpt/last at the same schedule position, the final model folder.
 */
export async function runStage(o: StageOptions): Promise<StageResult> {
  const { session, run, reporter: r } = o;
  const learner = session.learner;
  const p = (name: string): string => (o.prefix ? `${o.prefix}/${name}` : name);
  const nGroups = learner.groups.length;
  const header = ['iter', 'epoch', 'batch', ...Array.from({ length: nGroups }, (_, g) => `lr_${g}`), 'mom', 'loss', 'smooth_loss'];
  const scheduleRows: (string | number)[][] = [];
  let history: EpochSummary[] = [];
  let resume: LoopPosition | undefined;
  let best: StageResult['best'] = null;

  if (o.resumeFrom) {
    const ck = await loadCheckpoint(o.resumeFrom);
    if (ck.meta.plan_hash !== o.planHash && !o.force) {
      throw new FastlrError(
        `the checkpoint ${o.resumeFrom} was made with a different plan (hash ${ck.meta.plan_hash.slice(0, 12)}, now ${o.planHash.slice(0, 12)}): the config or its overrides changed. Re-run without --resume, or add --force to continue anyway.`,
        ExitCode.usage,
      );
    }
    if (ck.meta.phase !== o.phase) throw new FastlrError(`${o.resumeFrom} is a ${ck.meta.phase} checkpoint, not ${o.phase}`, ExitCode.usage);
    // a checkpoint at the very end (killed before the final model was written): the loop runs no batch and the
    // stage is finished below (model, tables), as the uninterrupted run would have
    applyCheckpoint(learner, ck, { epochs: o.oneCycle.epochs });
    resume = ck.meta.position;
    history = ck.meta.history;
    best = (ck.meta.extra.best as StageResult['best']) ?? null;
    const schedPath = run.path(p('schedule.csv'));
    if (existsSync(schedPath)) {
      const all = (await readFile(schedPath, 'utf8')).trim().split('\n');
      if (all[0] !== header.join(',')) {
        throw new FastlrError(`--resume: ${schedPath} does not start with the header ${header.join(',')} (a different model, or a damaged file)`, ExitCode.usage);
      }
      const upto = resume.epoch * learner.batchesPerEpoch + resume.batch;
      for (const [i, line] of all.slice(1, 1 + upto).entries()) {
        const cells = line.split(',');
        if (cells.length !== header.length || cells.some((c) => c !== '' && !Number.isFinite(Number(c)))) {
          throw new FastlrError(`--resume: ${schedPath} line ${i + 2} is damaged (${header.length} numbers expected)`, ExitCode.usage);
        }
        scheduleRows.push(cells);
      }
    }
    r.info(announceResume(o.resumeFrom, resume, learner.batchesPerEpoch));
  }

  let lastLr: number[] = [];
  let lastIter = 0;
  const writeTables = async (): Promise<void> => {
    const mnames = o.metrics;
    await run.writeText(
      p('metrics.csv'),
      csv([
        ['epoch', 'train_loss', 'valid_loss', ...mnames, 'seconds'],
        ...history.map((e) => [e.epoch, e.train_loss, e.valid_loss, ...mnames.map((m) => e.metrics[m] ?? NaN), Number(e.seconds.toFixed(3))]),
      ]),
    );
    await run.writeText(p('schedule.csv'), csv([header, ...scheduleRows]));
  };
  const checkpoint = async (name: string, position: LoopPosition): Promise<void> => {
    await saveCheckpoint(run.path(p(`ckpt/${name}`)), learner, {
      phase: o.phase,
      plan_hash: o.planHash,
      position,
      history,
      extra: { ...(o.extra ?? {}), best },
    }, run.scratch);
  };

  const res = await fitOneCycle(learner, o.oneCycle, {
    phase: o.phase,
    signal: o.signal,
    resume,
    onEvent: (e) => {
      if (e.type === 'batch') {
        scheduleRows.push([e.iter, e.epoch, e.batch, ...e.lr, e.mom, e.loss, e.smooth]);
        lastLr = e.lr;
        lastIter = e.iter;
      }
      r.event(e);
    },
    afterEpoch: async (_epoch, summary, next) => {
      history.push(summary);
      await writeTables();
      const v = gateValues(summary)[o.monitor];
      if (v !== undefined && Number.isFinite(v) && (best === null || (lowerIsBetter(o.monitor) ? v < best.value : v > best.value))) {
        best = { monitor: o.monitor, value: v, epoch: summary.epoch };
        await checkpoint('best', next);
      }
      await checkpoint('last', next);
    },
  });

  if (res.stop.reason === 'interrupted') {
    await writeTables();
    await checkpoint('last', res.position);
  }
  const files: Record<string, string> = {
    metrics_csv: p('metrics.csv'),
    schedule_csv: p('schedule.csv'),
    ckpt_last: p('ckpt/last'),
  };
  if (best) files.ckpt_best = p('ckpt/best');
  if (res.stop.reason === 'completed') {
    await writeTables();
    await run.replaceDir(p(MODEL_DIR), (tmp) => saveModelDir(learner.model, tmp));
    files.model = p(MODEL_DIR);
  }
  const lastEpoch = history[history.length - 1];
  const final = lastEpoch ? gateValues(lastEpoch) : {};
  const out: StageResult = { stop: res.stop, epochs: history, final, best, seconds: res.seconds, files };
  if (res.stop.reason === 'non_finite') out.divergence = { iteration: lastIter, lr: lastLr };
  return out;
}

/**
 * The run `--resume` continues: the newest `command` run under `root`. It must have `ckpt/last` (put back first
 * when a kill caught it mid-swap) and no final model yet; otherwise a FastlrError (exit 2) says why.
 */
export async function resumableRun(root: string, command: string): Promise<string> {
  const dir = resolve(root);
  const names = existsSync(dir) ? (await readdir(dir)).filter((n) => n.startsWith(`${command}-`)).sort() : [];
  const newest = names.length ? join(dir, names[names.length - 1]!) : null;
  if (!newest) throw new FastlrError(`--resume: no ${command} run under ${dir}`, ExitCode.usage);
  if (existsSync(join(newest, MODEL_DIR, 'model.json'))) {
    throw new FastlrError(`nothing to resume: the newest ${command} run ${newest} finished. Run without --resume to train again.`, ExitCode.usage);
  }
  recoverDir(join(newest, 'ckpt', 'last'));
  if (!existsSync(join(newest, 'ckpt', 'last', 'state.json'))) {
    throw new FastlrError(`--resume: the newest ${command} run ${newest} has no checkpoint yet (it stopped in its first epoch); run without --resume`, ExitCode.usage);
  }
  return newest;
}

/** Check gate names before training so a typo fails in a second, not after the run. */
export function assertKnownGates(expect: Record<string, string>, metrics: string[]): void {
  const known = ['train_loss', 'valid_loss', ...metrics.flatMap((m) => [m, `valid_${m}`])];
  const bad = unknownGates(expect, known);
  if (bad.length) {
    throw new FastlrError(`expect: unknown gate ${bad.map((b) => `'${b}'`).join(', ')}; this run reports ${known.join(', ')}`, ExitCode.usage);
  }
}

export function gateResults(expect: Record<string, string>, final: Record<string, number>): GateResult[] {
  return checkGates(expect, final);
}

/** Charts at the end of a fit: train/valid loss per epoch and the LR schedule. */
export function trainingCharts(epochs: EpochSummary[], lrs: number[][], color: boolean): string {
  const out: string[] = [];
  if (epochs.length >= 2) {
    const train = epochs.map((e) => e.train_loss);
    const valid = epochs.map((e) => e.valid_loss);
    if (color) {
      out.push('loss per epoch (blue: train, green: valid)');
      out.push(epochChart([train, valid], { colors: [asciichart.blue, asciichart.green] }));
    } else {
      // without colours two lines on one chart cannot be told apart: one chart each
      out.push('train loss per epoch', epochChart([train], { height: 5 }));
      out.push('valid loss per epoch', epochChart([valid], { height: 5 }));
    }
  }
  if (lrs.length >= 2) {
    const last = lrs.map((l) => l[l.length - 1] ?? NaN);
    const width = 60;
    const step = Math.max(1, Math.ceil(last.length / width));
    const sampled = last.filter((_, i) => i % step === 0);
    out.push(`learning rate over the fit (last group; ${last.length} steps)`);
    out.push(asciichart.plot(sampled, { height: 6, format: (v: number) => fmtLr(v).padStart(9) }));
  }
  return out.join('\n');
}

function announceResume(dir: string, at: LoopPosition, bpe: number): string {
  return `resuming from ${dir}: epoch ${at.epoch}, batch ${at.batch}/${bpe} (schedule position kept)`;
}

/** `train_loss 0.019, valid_loss 0.13, accuracy 0.963`: the final values once each (metrics are validation values). */
export function finalSummary(final: Record<string, number>): string {
  return Object.entries(final)
    .filter(([k]) => !(k.startsWith('valid_') && k !== 'valid_loss'))
    .map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`)
    .join(', ');
}
