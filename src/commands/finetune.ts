import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { openSession, type Session } from '../phases/setup.js';
import { loadCheckpoint } from '../phases/checkpoint.js';
import type { Plan } from '../plan/index.js';
import { fineTuneLrs, spreadLr } from '../schedule/index.js';
import { RunFolder } from '../report/run-folder.js';
import type { Reporter } from '../report/reporter.js';
import type { StopSignal } from '../engine/events.js';
import { metricsFor } from '../engine/loss.js';
import { versions } from '../version.js';
import { announceBackend, interruptible, planFor, printJson, reporterFor } from './common.js';
import { gateLines, stageOutcome } from './fit.js';
import { MODEL_DIR, assertKnownGates, gateResults, runStage, trainingCharts, type StageResult } from './train-stage.js';
import type { FinetuneOptions } from './types.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { fitSummaryMarkdown } from '../report/github.js';

export const FROZEN = 'frozen';
export const UNFROZEN = 'unfrozen';

interface StageCtx {
  plan: Plan;
  hash: string;
  run: RunFolder;
  r: Reporter;
  signal: StopSignal;
  metrics: string[];
  force: boolean;
  resumeFrom?: string;
}

/** fastai fine_tune stage 1: freeze, one-cycle on `slice(base_lr)` with pct_start 0.99 for freeze_epochs. */
async function frozenStage(session: Session, c: StageCtx): Promise<StageResult> {
  const learner = session.learner;
  if (learner.groups.length === 1) {
    c.r.warn('warning: the model has one parameter group, so freezing changes nothing (set model.groups or model.head)');
  }
  learner.freeze();
  const lrs = fineTuneLrs({ baseLr: c.plan.finetune.base_lr, lrMult: c.plan.finetune.lr_mult, lr: c.plan.finetune.lr });
  return runStage({
    phase: 'finetune-frozen',
    prefix: FROZEN,
    session,
    oneCycle: {
      epochs: c.plan.finetune.freeze_epochs,
      lrMax: spreadLr(lrs.frozen, learner.groups.length),
      div: c.plan.fit.div,
      divFinal: c.plan.fit.div_final,
      pctStart: 0.99,
      moms: c.plan.fit.moms,
    },
    run: c.run,
    planHash: c.hash,
    reporter: c.r,
    signal: c.signal,
    metrics: c.metrics,
    monitor: c.plan.fit.monitor,
    resumeFrom: c.resumeFrom,
    force: c.force,
  });
}

/** fastai fine_tune stage 2: unfreeze, one-cycle over every group with discriminative LRs (base_lr/2 spread). */
async function unfrozenStage(session: Session, c: StageCtx): Promise<StageResult> {
  const learner = session.learner;
  learner.unfreeze();
  const lrs = fineTuneLrs({ baseLr: c.plan.finetune.base_lr, lrMult: c.plan.finetune.lr_mult, lr: c.plan.finetune.lr });
  return runStage({
    phase: 'finetune-unfrozen',
    prefix: UNFROZEN,
    session,
    oneCycle: {
      epochs: c.plan.finetune.epochs,
      lrMax: spreadLr(lrs.unfrozen, learner.groups.length),
      div: c.plan.finetune.div,
      divFinal: c.plan.fit.div_final,
      pctStart: c.plan.finetune.pct_start,
      moms: c.plan.fit.moms,
    },
    run: c.run,
    planHash: c.hash,
    reporter: c.r,
    signal: c.signal,
    metrics: c.metrics,
    monitor: c.plan.fit.monitor,
    resumeFrom: c.resumeFrom,
    force: c.force,
  });
}

/** The newest finetune run under `root` whose stage `which` satisfies `test`. */
async function latestFinetuneRun(root: string, test: (dir: string) => boolean): Promise<string | null> {
  const dir = resolve(root);
  if (!existsSync(dir)) return null;
  const names = (await readdir(dir)).filter((n) => n.startsWith('finetune-')).sort().reverse();
  return names.map((n) => join(dir, n)).find(test) ?? null;
}

const hasModel = (stage: string) => (d: string) => existsSync(join(d, stage, MODEL_DIR, 'model.json'));
const hasCkpt = (stage: string) => (d: string) => existsSync(join(d, stage, 'ckpt', 'last', 'state.json'));

/**
 * `finetune` (stage 1, body frozen) or `finetune --unfreeze` (stage 2 from the saved stage 1, running
 * stage 1 first when no saved stage exists).
 */
export async function runFinetune(o: FinetuneOptions): Promise<number> {
  const { plan, hash } = await planFor(o);
  if (!plan.model.from) {
    throw new FastlrError(`${o.config}: finetune needs model.from (a saved tfjs model folder, e.g. the model/ of a fit run)`, ExitCode.usage);
  }
  const metrics = metricsFor(plan.loss, plan.metrics);
  assertKnownGates(plan.expect, metrics);
  const r = reporterFor(o, metrics);
  const { signal, release } = interruptible();
  let session: Session | null = null;
  try {
    const stage = o.unfreeze ? UNFROZEN : FROZEN;
    let run: RunFolder;
    let resumeFrom: string | undefined;
    let ranFrozen: StageResult | null = null;
    if (o.resume) {
      const dir = await latestFinetuneRun(plan.output, (d) => hasCkpt(stage)(d) && !hasModel(stage)(d));
      if (!dir) throw new FastlrError(`--resume: no unfinished finetune ${stage} stage with ckpt/last under ${plan.output}`, ExitCode.usage);
      run = RunFolder.at(dir);
      resumeFrom = run.path(stage, 'ckpt', 'last');
    } else if (o.unfreeze) {
      const dir = await latestFinetuneRun(plan.output, hasModel(FROZEN));
      run = dir ? RunFolder.at(dir) : await RunFolder.create(plan.output, 'finetune');
    } else {
      run = await RunFolder.create(plan.output, 'finetune');
    }

    const frozenModel = run.path(FROZEN, MODEL_DIR);
    const needFrozen = !o.unfreeze || !existsSync(join(frozenModel, 'model.json'));
    // stage 2 starts from the saved stage-1 model; stage 1 builds model.from + head afresh
    session = await openSession(plan, o.unfreeze && !needFrozen ? { modelDir: frozenModel } : {});
    announceBackend(session.backend, r);
    if (!existsSync(run.path('plan.json'))) {
      await run.writeJson('plan.json', { ...plan, backend_used: session.backend.name, config_hash: hash, argv: o.argv, git_commit: gitHead() });
    }
    const ctx: StageCtx = { plan, hash, run, r, signal, metrics, force: o.force };
    let result: StageResult;
    if (!o.unfreeze) {
      result = await frozenStage(session, { ...ctx, resumeFrom });
    } else {
      if (needFrozen && !resumeFrom) {
        r.info(`no saved frozen stage under ${plan.output}: running it first`);
        ranFrozen = await frozenStage(session, ctx);
        if (ranFrozen.stop.reason !== 'completed') {
          const out = stageOutcome(ranFrozen, [], `fastlr finetune ${o.config}`);
          await finishRun({ runDir: run.dir, reporter: r });
          r.warn(`fastlr finetune: ${out.message}`);
          return out.code;
        }
      } else if (!resumeFrom) {
        // continue the random stream where stage 1 left it, as one fine_tune call would
        const ck = await loadCheckpoint(run.path(FROZEN, 'ckpt', 'last'));
        session.learner.rng.restore(ck.meta.position.epochRng);
        r.info(`continuing from the saved frozen stage ${frozenModel}`);
      }
      result = await unfrozenStage(session, { ...ctx, resumeFrom });
    }
    const gates = result.stop.reason === 'completed' ? gateResults(plan.expect, result.final) : [];
    const outcome = stageOutcome(result, gates, `fastlr finetune ${o.config}${o.unfreeze ? ' --unfreeze' : ''}`);
    const doc = {
      command: 'finetune' as const,
      stage,
      name: plan.name,
      versions: versions(),
      backend: session.backend.name,
      backend_skipped: session.backend.skipped,
      seed: plan.seed,
      config: o.config,
      config_hash: hash,
      groups: session.learner.groups.map((g) => g.layers),
      frozen_stage: ranFrozen ? { epochs: ranFrozen.epochs, final: ranFrozen.final } : undefined,
      epochs: result.epochs,
      final: result.final,
      best: result.best,
      gates,
      stop: result.stop,
      exit_code: outcome.code,
      run_dir: run.dir,
      files: { ...result.files, plan_json: 'plan.json', report_json: `${stage}/report.json`, report_html: 'report.html' },
      seconds: result.seconds,
    };
    await run.writeJson(`${stage}/report.json`, doc);
    await finishRun({ runDir: run.dir, reporter: r, markdown: () => fitSummaryMarkdown(doc), gates });
    if (result.stop.reason === 'completed') {
      r.info(trainingCharts(result.epochs, [], r.color));
      for (const line of gateLines(gates)) r.info(line);
      r.info(`model saved to ${run.path(stage, MODEL_DIR)}`);
      if (!o.unfreeze) r.info(`next: fastlr finetune ${o.config} --unfreeze`);
    }
    r.info(`run folder ${run.dir}`);
    if (o.json) printJson(doc);
    if (outcome.message) r.warn(`fastlr finetune: ${outcome.message}`);
    return outcome.code;
  } finally {
    release();
    r.close();
    session?.dispose();
  }
}
