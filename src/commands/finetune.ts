import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { openSession, type Session } from '../phases/session.js';
import { loadCheckpoint } from '../phases/checkpoint.js';
import type { Plan } from '../plan/index.js';
import { fineTuneLrs, spreadLr, type LrSpec } from '../schedule/index.js';
import { RunFolder, recoverDir } from '../report/run-folder.js';
import type { Reporter } from '../report/reporter.js';
import type { StopSignal } from '../engine/events.js';
import { metricsFor } from '../engine/loss.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { fitSummaryMarkdown } from '../report/github.js';
import { docHeader, announceBackend, announceSkipped, interruptible, planFor, printJson, reporterFor, skippedSummary } from './common.js';
import { gateLines, stageOutcome } from './fit.js';
import { MODEL_DIR, assertKnownGates, gateResults, runStage, trainingCharts, type StageResult } from './train-stage.js';
import type { FinetuneOptions } from './types.js';

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

/** One fine_tune stage on the shared stage runner: what differs between the stages is in `s`. */
function runFinetuneStage(
  session: Session,
  c: StageCtx,
  s: { phase: string; prefix: string; epochs: number; lr: LrSpec; div: number; pctStart: number },
): Promise<StageResult> {
  return runStage({
    phase: s.phase,
    prefix: s.prefix,
    session,
    oneCycle: {
      epochs: s.epochs,
      lrMax: spreadLr(s.lr, session.learner.groups.length),
      div: s.div,
      divFinal: c.plan.fit.div_final,
      pctStart: s.pctStart,
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

const stageLrs = (c: StageCtx): ReturnType<typeof fineTuneLrs> =>
  fineTuneLrs({ baseLr: c.plan.finetune.base_lr, lrMult: c.plan.finetune.lr_mult, lr: c.plan.finetune.lr });

/** fastai fine_tune stage 1: freeze, one-cycle on `slice(base_lr)` with pct_start 0.99 for freeze_epochs. */
async function frozenStage(session: Session, c: StageCtx): Promise<StageResult> {
  if (session.learner.groups.length === 1) {
    c.r.warn('warning: the model has one parameter group, so freezing changes nothing (set model.groups or model.head)');
  }
  session.learner.freeze();
  const ft = c.plan.finetune;
  return runFinetuneStage(session, c, { phase: 'finetune-frozen', prefix: FROZEN, epochs: ft.freeze_epochs, lr: stageLrs(c).frozen, div: c.plan.fit.div, pctStart: 0.99 });
}

/** fastai fine_tune stage 2: unfreeze, one-cycle over every group with discriminative LRs (base_lr/2 spread). */
async function unfrozenStage(session: Session, c: StageCtx): Promise<StageResult> {
  session.learner.unfreeze();
  const ft = c.plan.finetune;
  return runFinetuneStage(session, c, { phase: 'finetune-unfrozen', prefix: UNFROZEN, epochs: ft.epochs, lr: stageLrs(c).unfrozen, div: ft.div, pctStart: ft.pct_start });
}

/** The newest finetune run folder under `root` that satisfies `test`. */
async function latestFinetuneRun(root: string, test: (dir: string) => boolean): Promise<string | null> {
  const dir = resolve(root);
  if (!existsSync(dir)) return null;
  const names = (await readdir(dir)).filter((n) => n.startsWith('finetune-')).sort().reverse();
  return names.map((n) => join(dir, n)).find(test) ?? null;
}

// recoverDir: a folder caught between the two renames of its swap (a kill) is put back from `.<name>.old` first
const hasModel = (stage: string) => (d: string) => recoverDir(join(d, stage, MODEL_DIR)) && existsSync(join(d, stage, MODEL_DIR, 'model.json'));
const hasCkpt = (stage: string) => (d: string) => recoverDir(join(d, stage, 'ckpt', 'last')) && existsSync(join(d, stage, 'ckpt', 'last', 'state.json'));
/** a stage that saved a checkpoint but not its final model: interrupted (or killed) */
const unfinished = (stage: string) => (d: string) => hasCkpt(stage)(d) && !hasModel(stage)(d);

/** The newest run folder's saved frozen stage model (finetune-<stamp>/frozen/model), for `find --unfreeze`. */
export async function latestFrozenStage(root: string): Promise<string | null> {
  const dir = await latestFinetuneRun(root, hasModel(FROZEN));
  return dir ? join(dir, FROZEN, MODEL_DIR) : null;
}

/** Where a finetune command starts: its run folder, which stage to resume (if any), the saved frozen model. */
interface Start {
  run: RunFolder;
  resume: { stage: typeof FROZEN | typeof UNFROZEN; from: string } | null;
  /** the completed frozen stage's model folder in `run`, when stage 2 continues from it */
  frozenModel: string | null;
}

async function locate(o: FinetuneOptions, plan: Plan): Promise<Start> {
  const root = plan.output;
  if (o.resume) {
    // stage 1 resumes its own stage; --unfreeze resumes whichever stage is unfinished (stage 2 then follows stage 1)
    const dir = await latestFinetuneRun(root, (d) => unfinished(FROZEN)(d) || (o.unfreeze && unfinished(UNFROZEN)(d)));
    if (!dir) {
      const what = o.unfreeze ? 'frozen or unfrozen stage' : 'frozen stage';
      throw new FastlrError(`--resume: no unfinished finetune ${what} (ckpt/last without model/) under ${resolve(root)}`, ExitCode.usage);
    }
    const run = RunFolder.at(dir);
    const stage = unfinished(FROZEN)(dir) ? FROZEN : UNFROZEN;
    const frozenModel = hasModel(FROZEN)(dir) ? run.path(FROZEN, MODEL_DIR) : null;
    return { run, resume: { stage, from: run.path(stage, 'ckpt', 'last') }, frozenModel };
  }
  if (o.unfreeze && !o.force) {
    const dir = await latestFinetuneRun(root, hasModel(FROZEN));
    if (dir) return { run: RunFolder.at(dir), resume: null, frozenModel: join(dir, FROZEN, MODEL_DIR) };
  }
  return { run: await RunFolder.create(root, 'finetune'), resume: null, frozenModel: null };
}

/**
 * `finetune` (stage 1, body frozen) or `finetune --unfreeze` (stage 2 from the saved stage 1 of the newest finetune
 * run, running stage 1 first when there is none; `--force` always starts a new run with stage 1).
 */
export async function runFinetune(o: FinetuneOptions): Promise<number> {
  const { plan, hash } = await planFor(o);
  if (!plan.model.from) {
    throw new FastlrError(`${o.config}: finetune needs model.from (a saved tfjs model folder, a fit run folder, or a run base folder such as runs/<name>)`, ExitCode.usage);
  }
  const ft = plan.finetune;
  if (!o.unfreeze && ft.freeze_epochs === 0) {
    throw new FastlrError(
      `finetune.freeze_epochs is 0, so the frozen stage has nothing to train; run \`fastlr finetune ${o.config} --unfreeze\` (it starts from model.from)`,
      ExitCode.usage,
    );
  }
  const metrics = metricsFor(plan.loss, plan.metrics);
  assertKnownGates(plan.expect, metrics);
  const r = reporterFor(o, metrics);
  const { signal, release } = interruptible();
  let session: Session | null = null;
  try {
    const { run, resume, frozenModel } = await locate(o, plan);
    const frozenDone = frozenModel !== null;
    const runFrozen = resume?.stage === FROZEN || (!resume && !frozenDone && (!o.unfreeze || ft.freeze_epochs > 0));
    // stage 2 starts from the saved stage-1 model; stage 1 builds model.from + head afresh
    session = await openSession(plan, o.unfreeze && frozenDone && !runFrozen ? { modelDir: frozenModel } : {});
    announceBackend(session.backend, r);
    announceSkipped(session.data, r);
    // the pretrained model this run started from: recorded by the run's first command (stage 2 loads stage 1's model)
    let modelFrom = session.modelFrom ?? null;
    if (!existsSync(run.path('plan.json'))) {
      await run.writeJson('plan.json', { ...plan, backend_used: session.backend.name, threads_used: session.backend.threads, config_hash: hash, model_from_resolved: modelFrom, argv: o.argv, git_commit: gitHead() });
    } else {
      const saved = JSON.parse(await readFile(run.path('plan.json'), 'utf8')) as { model_from_resolved?: unknown };
      if (typeof saved.model_from_resolved === 'string') modelFrom = saved.model_from_resolved;
    }
    const ctx: StageCtx = { plan, hash, run, r, signal, metrics, force: o.force };
    const how = `fastlr finetune ${o.config}${o.unfreeze ? ' --unfreeze' : ''}`;
    const common = {
      command: 'finetune' as const,
      ...docHeader(plan, o.config, hash, session.backend),
      model_from: modelFrom,
      groups: session.learner.groups.map((g) => g.layers),
      skipped_images: skippedSummary(session.data),
      run_dir: run.dir,
    };
    const finish = async (stage: string, result: StageResult, extra: Record<string, unknown>, last: boolean): Promise<number> => {
      const gates = last && result.stop.reason === 'completed' ? gateResults(plan.expect, result.final) : [];
      const outcome = stageOutcome(result, gates, how);
      const doc = {
        ...common,
        stage,
        ...extra,
        epochs: result.epochs,
        final: result.final,
        best: result.best,
        gates,
        stop: result.stop,
        exit_code: outcome.code,
        files: { ...result.files, plan_json: 'plan.json', report_json: `${stage}/report.json`, report_html: 'report.html' },
        seconds: result.seconds,
      };
      await run.writeJson(`${stage}/report.json`, doc);
      await finishRun({ runDir: run.dir, reporter: r, markdown: () => fitSummaryMarkdown(doc), gates });
      if (result.stop.reason === 'completed') {
        r.info(trainingCharts(result.epochs, [], r.color));
        r.info(`${stage} stage: model saved to ${run.path(stage, MODEL_DIR)}`);
      }
      if (!last && outcome.code === ExitCode.ok) return outcome.code;
      for (const line of gateLines(gates)) r.info(line);
      if (result.stop.reason === 'completed' && !o.unfreeze) r.info(`next: fastlr finetune ${o.config} --unfreeze`);
      r.info(`run folder ${run.dir}`);
      if (o.json) printJson(doc);
      if (outcome.message) r.warn(`fastlr finetune: ${outcome.message}`);
      else r.result(`done (${stage} stage): ${Object.entries(result.final).slice(0, 4).map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`).join(', ')}`);
      return outcome.code;
    };

    let ranFrozen: StageResult | null = null;
    if (runFrozen) {
      if (o.unfreeze && !resume) r.info(`no saved frozen stage under ${resolve(plan.output)}: running it first`);
      ranFrozen = await frozenStage(session, { ...ctx, resumeFrom: resume?.stage === FROZEN ? resume.from : undefined });
      const code = await finish(FROZEN, ranFrozen, {}, !o.unfreeze);
      if (!o.unfreeze || code !== ExitCode.ok) return code;
    } else if (o.unfreeze && frozenDone && !resume) {
      // continue the random stream where stage 1 left it, as one fine_tune call would
      const ck = await loadCheckpoint(run.path(FROZEN, 'ckpt', 'last'));
      session.learner.rng.restore(ck.meta.position.epochRng);
      if (ck.meta.plan_hash !== hash) {
        r.info(`note: the config changed since the frozen stage of ${run.dir} was trained (plan ${ck.meta.plan_hash.slice(0, 12)}, now ${hash.slice(0, 12)}); continuing from its saved model (--force starts over with stage 1)`);
      }
      if (existsSync(run.path(UNFROZEN))) {
        r.info(`replacing the unfrozen stage of ${run.dir}`);
        await rm(run.path(UNFROZEN), { recursive: true, force: true });
      }
      r.info(`continuing from the saved frozen stage ${frozenModel}`);
    } else if (o.unfreeze && !frozenDone && !resume) {
      r.info('finetune.freeze_epochs is 0: no frozen stage, every group trains from model.from');
    }
    const result = await unfrozenStage(session, { ...ctx, resumeFrom: resume?.stage === UNFROZEN ? resume.from : undefined });
    const frozenInfo = ranFrozen ? { frozen_stage: { epochs: ranFrozen.epochs, final: ranFrozen.final } } : {};
    return await finish(UNFROZEN, result, { frozen_model: frozenModel ?? (ranFrozen ? run.path(FROZEN, MODEL_DIR) : null), ...frozenInfo }, true);
  } finally {
    release();
    r.close();
    session?.dispose();
  }
}
