import path from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { openSession, type Session } from '../phases/session.js';
import { rangeTest, type RangeTestResult } from '../phases/find.js';
import type { Plan } from '../plan/index.js';
import { RunFolder } from '../report/run-folder.js';
import { findSvg, renderFind, renderRepeats, repeatsSvg, stopText } from '../report/find-text.js';
import { repeatedRangeTest, summarizeRepeats, type RepeatSummary } from '../phases/repeats.js';
import { METHODS } from '../schedule/index.js';
import type { Reporter } from '../report/reporter.js';
import type { BackendInfo } from '../backend/index.js';
import type { versions } from '../version.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { findSummaryMarkdown } from '../report/github.js';
import { docHeader, announceBackend, announceSkipped, interruptible, planFor, printJson, reporterFor } from './common.js';
import type { FindOptions } from './types.js';
import type { StopSignal } from '../engine/events.js';

/** The `find` document: what `--json` prints and find.json holds. Field names are a contract. */
export interface FindDoc {
  command: 'find';
  name: string;
  versions: ReturnType<typeof versions>;
  backend: string;
  backend_skipped: BackendInfo['skipped'];
  threads: number;
  seed: number;
  config: string;
  config_hash: string;
  num_it: number;
  start_lr: number;
  end_lr: number;
  unfrozen: boolean;
  lrs: number[];
  losses: number[];
  raw_losses: number[];
  stop: RangeTestResult['stop'];
  suggestions: Record<string, { lr: number; loss: number } | { error: string }>;
  suggest: string;
  suggested: number | null;
  seconds: number;
  run_dir: string;
  files: Record<string, string>;
  argv?: string[];
  /** the exit code of the command: 0 a suggestion, 3 none possible, 130 interrupted */
  exit_code?: number;
}

/** Run the range test on an open session and describe it (shared by `find` and `fit --lr auto`). */
export async function findOnSession(
  s: Session,
  plan: Plan,
  r: Reporter,
  signal: StopSignal,
): Promise<RangeTestResult> {
  return rangeTest(
    s.learner,
    plan.find,
    { signal, onEvent: (e) => r.event(e) },
  );
}

export function findDoc(
  res: RangeTestResult,
  ctx: { plan: Plan; hash: string; config: string; backend: BackendInfo; runDir: string; unfrozen: boolean },
): FindDoc {
  const suggestions: FindDoc['suggestions'] = {};
  for (const [m, s] of Object.entries(res.suggestions)) {
    suggestions[m] = 'lr' in s ? { lr: s.lr, loss: s.loss } : { error: s.error };
  }
  return {
    command: 'find',
    ...docHeader(ctx.plan, ctx.config, ctx.hash, ctx.backend),
    num_it: ctx.plan.find.num_it,
    start_lr: ctx.plan.find.start_lr,
    end_lr: ctx.plan.find.end_lr,
    unfrozen: ctx.unfrozen,
    lrs: res.lrs,
    losses: res.losses,
    raw_losses: res.raw_losses,
    stop: res.stop,
    suggestions,
    suggest: res.method,
    suggested: res.suggested,
    seconds: res.seconds,
    run_dir: ctx.runDir,
    files: { find_json: 'find.json', find_svg: 'find.svg', plan_json: 'plan.json', report_html: 'report.html' },
  };
}

/** The exit code a range test earns: 0 with a suggestion, 3 when none was possible, 130 when interrupted. */
export function findExitCode(res: RangeTestResult): number {
  if (res.stop.reason === 'interrupted') return ExitCode.interrupted;
  return res.suggested === null ? ExitCode.diverged : ExitCode.ok;
}

export function noSuggestionHelp(res: RangeTestResult): string {
  const why = res.suggestions[res.method];
  const reason = 'error' in why ? why.error : '';
  const early =
    res.stop.reason === 'diverged' || res.stop.reason === 'non_finite'
      ? `training ${res.stop.reason === 'diverged' ? 'diverged' : 'produced a non-finite loss'} after ${res.stop.iteration} iterations, before a ${res.method} suggestion was possible`
      : `no ${res.method} suggestion`;
  return `${early}${reason ? ` (${reason})` : ''}. Try a smaller find.start_lr or find.end_lr, more find.num_it, or check the inputs' scaling; another method may still have answered (see the table).`;
}

/** Nearest point of a curve to `lr` (log distance): the loss shown next to a median suggestion. */
function lossNear(curve: { lrs: number[]; losses: number[] }, lr: number): number {
  let best = NaN;
  let dist = Infinity;
  curve.lrs.forEach((x, i) => {
    const d = Math.abs(Math.log(x) - Math.log(lr));
    if (d < dist) {
      dist = d;
      best = curve.losses[i]!;
    }
  });
  return best;
}

/** `find --repeats N`: every repeat, the per-method spread, the agreement flag, the median curve. */
async function runRepeats(
  session: Session,
  plan: Plan,
  n: number,
  r: Reporter,
  signal: StopSignal,
  base: Omit<Parameters<typeof findDoc>[1], 'unfrozen'> & { unfrozen: boolean },
  run: RunFolder,
): Promise<{ doc: FindDoc & { repeats: unknown[]; summary: RepeatSummary }; code: number }> {
  const { runs } = await repeatedRangeTest(session.learner, plan.find, n, {
    signal,
    onEvent: (e) => r.event(e),
    onRepeat: (k, res) => r.info(`repeat ${k + 1}/${n}: ${stopText(res, plan.find.num_it)}, ${plan.find.suggest} ${res.suggested === null ? 'none' : res.suggested.toExponential(2)}`),
  });
  const summary = summarizeRepeats(runs, plan.find.agree_within);
  const first = runs[0]!;
  const doc = findDoc(first, base);
  const suggestions: FindDoc['suggestions'] = {};
  for (const m of METHODS) {
    const s = summary.methods[m];
    // as a single find reports it: the loss at the marked point (minimum suggests lr/10 of the minimum it marks)
    const at = s.median === null ? null : m === 'minimum' ? s.median * 10 : s.median;
    suggestions[m] = s.median === null || at === null ? { error: `no repeat produced a ${m} suggestion` } : { lr: s.median, loss: lossNear(summary.median_curve, at) };
  }
  const suggested = summary.methods[plan.find.suggest].median;
  const full = {
    ...doc,
    lrs: summary.median_curve.lrs,
    losses: summary.median_curve.losses,
    suggestions,
    suggested,
    seconds: runs.reduce((a, x) => a + x.seconds, 0),
    repeats: runs.map((x) => ({ seed: x.seed, lrs: x.lrs, losses: x.losses, raw_losses: x.raw_losses, stop: x.stop, suggestions: findDoc(x, base).suggestions, suggested: x.suggested })),
    summary,
  };
  await run.writeText('find.svg', repeatsSvg(runs, summary, `LR range test x${n}: ${plan.name}`));
  r.info(renderRepeats(runs, summary, { color: r.color, method: plan.find.suggest }));
  const interrupted = runs.some((x) => x.stop.reason === 'interrupted');
  return { doc: full, code: interrupted ? ExitCode.interrupted : suggested === null ? ExitCode.diverged : ExitCode.ok };
}

export async function runFind(o: FindOptions): Promise<number> {
  const { plan, hash } = await planFor(o);
  const repeats = o.repeats ?? plan.find.repeats;
  if (!Number.isInteger(repeats) || repeats < 1) throw new FastlrError(`--repeats must be a whole number >= 1, got ${repeats}`, ExitCode.usage);
  const r = reporterFor(o);
  // --unfreeze: the model after finetune's frozen stage (as fastai users run lr_find between the stages)
  let stageModel: string | undefined;
  if (o.unfreeze) {
    const { latestFrozenStage } = await import('./finetune.js');
    stageModel = (await latestFrozenStage(plan.output)) ?? undefined;
    if (stageModel === undefined) {
      throw new FastlrError(
        `find --unfreeze: no saved frozen finetune stage (finetune-*/frozen/model) under ${path.resolve(plan.output)}; run \`fastlr finetune ${o.config}\` first`,
        ExitCode.usage,
      );
    }
  }
  const session = await openSession(plan, stageModel !== undefined ? { modelDir: stageModel } : {});
  const { signal, release } = interruptible();
  try {
    announceBackend(session.backend, r);
    announceSkipped(session.data, r);
    if (o.unfreeze) {
      session.learner.unfreeze();
      r.info(`range test on the unfrozen model of the saved frozen stage ${stageModel}`);
    } else if (plan.model.from && plan.model.head && session.learner.groups.length > 1) {
      // a new head on a loaded body: test the LR of finetune's first stage, which trains the head alone
      session.learner.freeze();
      r.info('range test with the body frozen (finetune stage 1); use --unfreeze after `fastlr finetune` for stage 2');
    }
    const run = await RunFolder.create(plan.output, 'find');
    await run.writeJson('plan.json', { ...plan, backend_used: session.backend.name, threads_used: session.backend.threads, config_hash: hash, argv: o.argv, git_commit: gitHead() });
    const base = { plan, hash, config: o.config, backend: session.backend, runDir: run.dir, unfrozen: o.unfreeze };
    let doc: FindDoc;
    let code: number;
    let res: RangeTestResult | null = null;
    if (repeats > 1) {
      ({ doc, code } = await runRepeats(session, plan, repeats, r, signal, base, run));
    } else {
      res = await findOnSession(session, plan, r, signal);
      doc = findDoc(res, base);
      code = findExitCode(res);
      await run.writeText('find.svg', findSvg(res, `LR range test: ${plan.name}`));
      r.info(renderFind(res, { color: r.color, numIt: plan.find.num_it }));
    }
    doc.argv = o.argv;
    doc.exit_code = code;
    await run.writeJson('find.json', doc);
    const final = doc;
    await finishRun({ runDir: run.dir, reporter: r, markdown: () => findSummaryMarkdown(final) });
    r.info(`backend ${session.backend.name}; run folder ${run.dir}`);
    if (o.json) printJson(doc);
    if (code === ExitCode.diverged) r.warn(`fastlr find: ${res ? noSuggestionHelp(res) : `no repeat produced a ${plan.find.suggest} suggestion`}`);
    else if (code === ExitCode.ok) r.result(`suggested lr (${plan.find.suggest}${repeats > 1 ? `, median of ${repeats}` : ''}): ${doc.suggested!.toExponential(2)}`);
    return code;
  } finally {
    release();
    r.close();
    session.dispose();
  }
}
