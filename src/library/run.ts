/**
 * The library's calls on the CLI's phase functions: the range test (phases/find.ts), one one-cycle stage and fastai's
 * fine_tune. What is the library's own: Keras-style callbacks and logs, AbortSignal, and result objects in
 * camelCase where the CLI writes JSON documents.
 */
import type { EpochSummary, Learner } from '../engine/learner.js';
import { StopSignal, type BatchEvent, type EventSink, type StopReason } from '../engine/events.js';
import { rangeTest } from '../phases/find.js';
import { fineTune } from '../phases/finetune.js';
import { gateValues } from '../phases/gates.js';
import { divergedMessage } from '../phases/outcome.js';
import type { StageResult } from '../phases/stage.js';
import { ExitCode, FastlrError } from '../errors.js';
import type { Reporter } from '../report/reporter.js';
import { fineTuneStages, fitStage, type StagePlan } from '../schedule/index.js';
import type { Method, Suggestion } from '../suggest/index.js';
import type { FitCallbacks } from './create-learner.js';
import type { FineTuneSettings, FitSettings, LrFindSettings } from './options.js';

/** the value that decides a stage's best epoch: the config's default fit.monitor */
const MONITOR = 'valid_loss';

export interface RunHooks {
  onEvent?: EventSink;
  /** a warning for the user (an event; printed only when verbose) */
  note: (message: string) => void;
  reporter: Reporter | null;
}

export interface LrFindResult {
  /** learning rate of each batch */
  lrs: number[];
  /** fastai's smoothed loss after each batch */
  losses: number[];
  /** the raw batch losses */
  rawLosses: number[];
  /** why the test ended (num_it, diverged, non_finite, interrupted) and after how many batches */
  stop: { reason: StopReason; iteration: number };
  /** every suggestion: { lr, loss } or { error } when it cannot answer on this curve */
  suggestions: Record<Method, Suggestion>;
  /** the `suggest` method's lr, or null when it could not answer */
  suggested: number | null;
  method: Method;
  seconds: number;
}

export interface FitResult {
  /** one row per epoch: epoch, train_loss (smoothed), valid_loss, metrics, seconds */
  epochs: EpochSummary[];
  /** the last epoch's values: train_loss, valid_loss, valid_<metric> and <metric> */
  final: Record<string, number>;
  /** completed, or interrupted (the signal was aborted); a NaN/infinite loss throws the CLI's FastlrError (exit code 3) */
  stop: { reason: StopReason; iteration: number };
  /** per-batch lr of each group and momentum, as the one-cycle schedule set them */
  schedule: { lr: number[]; mom: number }[];
  /** tfjs-style History: the epoch numbers and each epoch log key's values */
  epoch: number[];
  history: Record<string, number[]>;
  seconds: number;
}

export interface FineTuneResult {
  /** the frozen stage (null with freezeEpochs 0) */
  frozen: FitResult | null;
  /** the unfrozen stage (null when the frozen stage did not complete) */
  unfrozen: FitResult | null;
}

interface TrainHooks extends RunHooks {
  signal?: AbortSignal | undefined;
  callbacks?: FitCallbacks | FitCallbacks[] | undefined;
  metrics: string[];
}

/** An AbortSignal as the engine's stop flag (checked after every batch). Aborted before the start: FastlrError. */
function stopFlag(what: string, signal: AbortSignal | undefined): { stop: StopSignal; release: () => void } {
  const stop = new StopSignal();
  if (signal === undefined) return { stop, release: () => undefined };
  if (typeof signal !== 'object' || signal === null || typeof signal.addEventListener !== 'function') {
    throw new FastlrError(`${what}: signal must be an AbortSignal`);
  }
  if (signal.aborted) throw new FastlrError(`${what}: the signal was aborted before training started`, ExitCode.interrupted);
  const onAbort = (): void => stop.request('interrupted');
  signal.addEventListener('abort', onAbort, { once: true });
  return { stop, release: () => signal.removeEventListener('abort', onAbort) };
}

const CALLBACK_KEYS = ['onTrainBegin', 'onTrainEnd', 'onBatchEnd', 'onEpochEnd'] as const;

function callbackList(what: string, cbs: FitCallbacks | FitCallbacks[] | undefined): FitCallbacks[] {
  if (cbs === undefined) return [];
  const list = Array.isArray(cbs) ? cbs : [cbs];
  for (const c of list) {
    if (typeof c !== 'object' || c === null) throw new FastlrError(`${what}: callbacks must be objects with onBatchEnd / onEpochEnd functions`);
    for (const [k, v] of Object.entries(c)) {
      if (!(CALLBACK_KEYS as readonly string[]).includes(k)) {
        if (typeof v === 'function') {
          throw new FastlrError(`${what}: callbacks.${k} is not supported (supported: ${CALLBACK_KEYS.join(', ')})`);
        }
        continue;
      }
      if (v !== undefined && typeof v !== 'function') throw new FastlrError(`${what}: callbacks.${k} must be a function`);
    }
  }
  return list;
}

function batchLogs(e: BatchEvent): Record<string, number> {
  const logs: Record<string, number> = { loss: e.loss, smooth_loss: e.smooth, lr: e.lr[e.lr.length - 1] ?? NaN, mom: e.mom, iter: e.iter, epoch: e.epoch };
  if (e.lr.length > 1) e.lr.forEach((v, g) => (logs[`lr_${g}`] = v));
  return logs;
}

/** fastlr's names (train_loss, valid_loss, accuracy, valid_accuracy) and tfjs's (loss, val_loss, val_accuracy). */
function epochLogs(s: EpochSummary): Record<string, number> {
  const logs: Record<string, number> = { ...gateValues(s), loss: s.train_loss, val_loss: s.valid_loss };
  for (const [k, v] of Object.entries(s.metrics)) logs[`val_${k}`] = v;
  return logs;
}

/** lrFind: the CLI's range test (phases/find.ts), which restores weights, optimizer state and RNG afterwards. */
export async function runFindPhase(learner: Learner, s: LrFindSettings, h: Pick<RunHooks, 'onEvent'> & { signal?: AbortSignal | undefined }): Promise<LrFindResult> {
  const { stop, release } = stopFlag('lrFind', h.signal);
  try {
    const r = await rangeTest(
      learner,
      { start_lr: s.startLr, end_lr: s.endLr, num_it: s.numIt, stop_div: s.stopDiv, suggest: s.suggest },
      { signal: stop, ...(h.onEvent ? { onEvent: h.onEvent } : {}) },
    );
    return { lrs: r.lrs, losses: r.losses, rawLosses: r.raw_losses, stop: r.stop, suggestions: r.suggestions, suggested: r.suggested, method: r.method, seconds: r.seconds };
  } finally {
    release();
  }
}

/** A finished stage as the library returns it; a non-finite loss is the CLI's exit-3 error. */
function fitResult(st: StagePlan, r: StageResult, history: Record<string, number[]>): FitResult {
  if (r.stop.reason === 'non_finite') throw new FastlrError(divergedMessage(r), ExitCode.diverged);
  const ran = st.steps.slice(0, r.stop.iteration);
  return {
    epochs: r.epochs,
    final: r.final,
    stop: r.stop,
    schedule: ran.map((x) => ({ lr: x.lr.slice(), mom: x.mom })),
    epoch: r.epochs.map((e) => e.epoch),
    history,
    seconds: r.seconds,
  };
}

/** The CLI's stage runner (phases/stage.ts) without a run folder, with the user's callbacks and signal around it. */
async function trainStages(learner: Learner, stages: StagePlan[], h: TrainHooks, what: string): Promise<Map<StagePlan['id'], FitResult>> {
  const cbs = callbackList(what, h.callbacks);
  const { stop, release } = stopFlag(what, h.signal);
  const out = new Map<StagePlan['id'], FitResult>();
  let history: Record<string, number[]> = {};
  try {
    for (const c of cbs) await c.onTrainBegin?.({});
    const results = await fineTune(learner, {
      stages,
      run: stages.map((st) => st.id),
      metrics: h.metrics,
      monitor: MONITOR,
      signal: stop,
      ...(h.onEvent ? { onEvent: h.onEvent } : {}),
      afterBatch: async (e) => {
        for (const c of cbs) await c.onBatchEnd?.(e.batch, batchLogs(e));
      },
      afterEpoch: async (summary) => {
        const logs = epochLogs(summary);
        for (const [k, v] of Object.entries(logs)) (history[k] ??= []).push(v);
        for (const c of cbs) await c.onEpochEnd?.(summary.epoch, logs);
      },
      afterStage: (res) => {
        out.set(res.stage, fitResult(stages.find((st) => st.id === res.stage)!, res, history));
        history = {};
      },
    });
    const last = results[results.length - 1]?.epochs.at(-1);
    for (const c of cbs) await c.onTrainEnd?.(last ? epochLogs(last) : {});
    return out;
  } finally {
    release();
  }
}

/** fitOneCycle: the CLI's `fit` stage (schedule/stages.ts fitStage). */
export async function runFitPhase(learner: Learner, s: FitSettings, h: TrainHooks): Promise<FitResult> {
  const stage = fitStage({ epochs: s.epochs, lr: s.lrMax, div: s.div, div_final: s.divFinal, pct_start: s.pctStart, moms: s.moms }, s.lrMax, learner.groups.length, learner.batchesPerEpoch);
  const r = await trainStages(learner, [stage], h, 'fitOneCycle');
  return r.get('fit')!;
}

/** fineTune: fastai's recipe as the CLI declares it (schedule/stages.ts fineTuneStages), both stages in one call. */
export async function runFineTune(learner: Learner, s: FineTuneSettings, h: TrainHooks): Promise<FineTuneResult> {
  if (learner.groups.length === 1 && s.freezeEpochs > 0) h.note('the model has one parameter group, so freezing changes nothing (give createLearner groups)');
  const stages = fineTuneStages(
    {
      epochs: s.epochs,
      freezeEpochs: s.freezeEpochs,
      baseLr: s.baseLr,
      lrMult: s.lrMult,
      pctStart: s.pctStart,
      div: s.div,
      divFinal: s.divFinal,
      moms: s.moms,
      ...(s.lr !== undefined ? { lr: s.lr } : {}),
    },
    learner.groups.length,
    learner.batchesPerEpoch,
  );
  const r = await trainStages(learner, stages, h, 'fineTune');
  return { frozen: r.get('frozen') ?? null, unfrozen: r.get('unfrozen') ?? null };
}
