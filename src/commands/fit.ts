import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { openSession, type Session } from '../phases/session.js';
import type { Plan } from '../plan/index.js';
import { spreadLr, type LrSpec } from '../schedule/index.js';
import { RunFolder } from '../report/run-folder.js';
import { findSvg, renderFind } from '../report/find-text.js';
import type { Reporter } from '../report/reporter.js';
import type { StopSignal } from '../engine/events.js';
import { docHeader, announceBackend, announceSkipped, interruptible, planFor, printJson, reporterFor } from './common.js';
import { findDoc, findOnSession, noSuggestionHelp } from './find.js';
import { finalSummary, assertKnownGates, gateResults, resumableRun, runStage, trainingCharts, type StageResult } from './train-stage.js';
import type { GateResult } from '../phases/gates.js';
import type { FitOptions } from './types.js';
import { metricsFor } from '../engine/loss.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { fitSummaryMarkdown } from '../report/github.js';

/** Where the fit's learning rate came from: the config, or a range test (`lr: auto`). */
export interface LrSource {
  method: 'config' | 'valley' | 'slide' | 'steep' | 'minimum';
  value: LrSpec;
  find_json?: string;
}

/** Resolve `lr: auto` by running the range test (isolated: the fit then trains as if it never ran). */
export async function resolveLr(
  spec: LrSpec | 'auto',
  ctx: { session: Session; plan: Plan; hash: string; config: string; run: RunFolder; r: Reporter; signal: StopSignal },
): Promise<{ lr: LrSpec; source: LrSource }> {
  if (spec !== 'auto') return { lr: spec, source: { method: 'config', value: spec } };
  ctx.r.info('lr: auto, running the LR range test first');
  const res = await findOnSession(ctx.session, ctx.plan, ctx.r, ctx.signal);
  const doc = findDoc(res, {
    plan: ctx.plan,
    hash: ctx.hash,
    config: ctx.config,
    backend: ctx.session.backend,
    runDir: ctx.run.dir,
    unfrozen: ctx.session.learner.frozenGroups === 0,
  });
  await ctx.run.writeJson('find.json', doc);
  await ctx.run.writeText('find.svg', findSvg(res, `LR range test: ${ctx.plan.name}`));
  ctx.r.info(renderFind(res, { color: ctx.r.color, numIt: ctx.plan.find.num_it }));
  if (res.stop.reason === 'interrupted') throw new FastlrError('interrupted during the range test; nothing was trained', ExitCode.interrupted);
  if (res.suggested === null) throw new FastlrError(`lr: auto found no learning rate: ${noSuggestionHelp(res)}`, ExitCode.diverged);
  ctx.r.info(`lr: auto -> ${res.method} suggestion ${res.suggested.toExponential(2)}`);
  return { lr: res.suggested, source: { method: res.method, value: res.suggested, find_json: ctx.run.path('find.json') } };
}

export function gateLines(gates: GateResult[]): string[] {
  return gates.map((g) => `${g.pass ? 'pass' : 'FAIL'}  ${g.name} ${g.expect}  (got ${g.actual === null ? 'nothing' : Number(g.actual.toPrecision(6))})`);
}

/** Exit code and message for the end of a training command. */
export function stageOutcome(res: StageResult, gates: GateResult[], how: string): { code: number; message: string } {
  if (res.stop.reason === 'interrupted') {
    return { code: ExitCode.interrupted, message: `interrupted; saved ckpt/last. Continue with: ${how} --resume` };
  }
  if (res.stop.reason === 'non_finite') {
    const d = res.divergence;
    return {
      code: ExitCode.diverged,
      message: `training diverged: the loss became NaN/infinite at step ${d?.iteration ?? '?'} (lr ${d ? d.lr.map((v) => v.toExponential(2)).join(', ') : '?'}). Try a lower lr (fastlr find shows the usable range).`,
    };
  }
  const failed = gates.filter((g) => !g.pass);
  if (failed.length) return { code: ExitCode.gateFailed, message: `quality gates missed: ${failed.map((g) => `${g.name} ${g.expect} (got ${g.actual ?? 'nothing'})`).join('; ')}` };
  return { code: ExitCode.ok, message: '' };
}

/** The run's plan.json as --resume needs it; missing or corrupt: FastlrError naming the file (exit 2). */
async function readSavedPlan(file: string): Promise<{ lr_source?: LrSource; lr_resolved?: LrSpec }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new FastlrError(`--resume: cannot read ${file}: ${(e as Error).message}`, ExitCode.usage);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FastlrError(`--resume: ${file} is not valid JSON (${(e as Error).message}); re-run without --resume`, ExitCode.usage);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new FastlrError(`--resume: ${file} is not a fastlr plan`, ExitCode.usage);
  return doc as { lr_source?: LrSource; lr_resolved?: LrSpec };
}

export async function runFit(o: FitOptions): Promise<number> {
  const extra: string[] = [];
  if (o.lr !== undefined) extra.push(`fit.lr=${o.lr}`);
  if (o.epochs !== undefined) extra.push(`fit.epochs=${o.epochs}`);
  const { plan, hash } = await planFor(o, extra);
  const metrics = metricsFor(plan.loss, plan.metrics);
  assertKnownGates(plan.expect, metrics);
  const r = reporterFor(o, metrics);
  const session = await openSession(plan);
  const { signal, release } = interruptible();
  try {
    announceBackend(session.backend, r);
    announceSkipped(session.data, r);
    let run: RunFolder;
    let resumeFrom: string | undefined;
    if (o.resume) {
      run = RunFolder.at(await resumableRun(plan.output, 'fit'));
      resumeFrom = run.path('ckpt/last');
    } else {
      run = await RunFolder.create(plan.output, 'fit');
    }
    let lr: LrSpec;
    let source: LrSource;
    if (resumeFrom) {
      const saved = await readSavedPlan(run.path('plan.json'));
      lr = saved.lr_resolved ?? (plan.fit.lr === 'auto' ? NaN : plan.fit.lr);
      source = saved.lr_source ?? { method: 'config', value: lr };
    } else {
      ({ lr, source } = await resolveLr(plan.fit.lr, { session, plan, hash, config: o.config, run, r, signal }));
      await run.writeJson('plan.json', { ...plan, backend_used: session.backend.name, threads_used: session.backend.threads, config_hash: hash, lr_source: source, lr_resolved: lr, argv: o.argv, git_commit: gitHead() });
    }
    const lrMax = spreadLr(lr, session.learner.groups.length);
    const res = await runStage({
      phase: 'fit',
      session,
      oneCycle: {
        epochs: plan.fit.epochs,
        lrMax,
        div: plan.fit.div,
        divFinal: plan.fit.div_final,
        pctStart: plan.fit.pct_start,
        moms: plan.fit.moms,
      },
      run,
      planHash: hash,
      reporter: r,
      signal,
      metrics,
      monitor: plan.fit.monitor,
      resumeFrom,
      force: o.force,
    });
    const gates = res.stop.reason === 'completed' ? gateResults(plan.expect, res.final) : [];
    const outcome = stageOutcome(res, gates, `fastlr fit ${o.config}`);
    const doc = {
      command: 'fit' as const,
      ...docHeader(plan, o.config, hash, session.backend),
      plan: { epochs: plan.fit.epochs, lr_max: lrMax, groups: session.learner.groups.length, batch_size: plan.data.batch_size, batches_per_epoch: session.learner.batchesPerEpoch, train_items: session.data.train.n, valid_items: session.data.valid.n },
      lr_source: source,
      epochs: res.epochs,
      final: res.final,
      best: res.best,
      gates,
      stop: res.stop,
      exit_code: outcome.code,
      run_dir: run.dir,
      files: { ...res.files, plan_json: 'plan.json', report_json: 'report.json', report_html: 'report.html' },
      seconds: res.seconds,
    };
    await run.writeJson('report.json', doc);
    await finishRun({ runDir: run.dir, reporter: r, markdown: () => fitSummaryMarkdown(doc), gates });
    if (res.stop.reason === 'completed') {
      const lrs = (await import('node:fs/promises').then((fs) => fs.readFile(run.path('schedule.csv'), 'utf8')))
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',').slice(3, 3 + lrMax.length).map(Number));
      r.info(trainingCharts(res.epochs, lrs, r.color));
      for (const line of gateLines(gates)) r.info(line);
    }
    r.info(`run folder ${run.dir}`);
    if (o.json) printJson(doc);
    if (outcome.message) r.warn(`fastlr fit: ${outcome.message}`);
    else r.result(`done: ${finalSummary(res.final)} (${basename(run.dir)})`);
    return outcome.code;
  } finally {
    release();
    r.close();
    session.dispose();
  }
}
