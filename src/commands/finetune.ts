/**
 * `fastlr finetune` (stage 1, body frozen) or `finetune --unfreeze` (stage 2 from the saved stage 1 of the newest
 * finetune run, running stage 1 first when there is none; `--force` always starts a new run with stage 1):
 * options → plan → where to start → session → fineTune → each stage's report.json → reporters.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { openSession, type Session } from '../phases/session.js';
import { loadCheckpoint } from '../phases/checkpoint.js';
import { fineTune } from '../phases/finetune.js';
import { stageOutcome } from '../phases/outcome.js';
import { assertKnownGates, checkGates } from '../phases/gates.js';
import type { StageResult } from '../phases/stage.js';
import type { RngState } from '../engine/rng.js';
import type { Plan } from '../plan/index.js';
import { finetuneStagesOf, type StageId } from '../schedule/index.js';
import { metricsFor } from '../engine/loss.js';
import { RunFolder } from '../report/run-folder.js';
import { MODEL_DIR, latestRun, namedRun, stageHasModel, stageUnfinished } from '../report/run-index.js';
import { docHeader, kernelRecord, planDoc, readPlanDoc, stageDoc } from '../report/documents.js';
import { gateLines, trainingCharts } from '../report/training-text.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { fitSummaryMarkdown } from '../report/github.js';
import { announceBackend, announceSkipped, interruptible, placeModelErrors, planFor, printJson, reporterFor, resumeCommand, skippedSummary } from './common.js';
import type { FinetuneOptions } from './types.js';

const FROZEN = 'frozen';
const UNFROZEN = 'unfrozen';

/** Where a finetune command starts: its run folder, which stage to resume (if any), the saved frozen model. */
interface Start {
  run: RunFolder;
  resume: { stage: StageId; from: string } | null;
  /** the completed frozen stage's model folder in `run`, when stage 2 continues from it */
  frozenModel: string | null;
}

async function locate(o: FinetuneOptions, plan: Plan): Promise<Start> {
  const root = plan.output;
  if (o.resume !== false) {
    // stage 1 resumes its own stage; --unfreeze resumes whichever stage is unfinished (stage 2 then follows stage 1)
    const resumable = (d: string): boolean => stageUnfinished(FROZEN)(d) || (o.unfreeze && stageUnfinished(UNFROZEN)(d));
    const dir = typeof o.resume === 'string' ? [namedRun(o.resume, 'finetune')].find(resumable) ?? null : await latestRun(root, 'finetune', resumable);
    if (!dir) {
      const what = o.unfreeze ? 'frozen or unfrozen stage' : 'frozen stage';
      const where = typeof o.resume === 'string' ? `in ${resolve(o.resume)}` : `under ${resolve(root)}`;
      throw new FastlrError(`--resume: no unfinished finetune ${what} (ckpt/last without model/) ${where}`, ExitCode.usage);
    }
    const run = RunFolder.at(dir);
    const stage = stageUnfinished(FROZEN)(dir) ? FROZEN : UNFROZEN;
    const frozenModel = stageHasModel(FROZEN)(dir) ? run.path(FROZEN, MODEL_DIR) : null;
    return { run, resume: { stage, from: run.path(stage, 'ckpt', 'last') }, frozenModel };
  }
  if (o.unfreeze && !o.force) {
    const dir = await latestRun(root, 'finetune', stageHasModel(FROZEN));
    if (dir) return { run: RunFolder.at(dir), resume: null, frozenModel: join(dir, FROZEN, MODEL_DIR) };
  }
  return { run: await RunFolder.create(root, 'finetune'), resume: null, frozenModel: null };
}

export async function runFinetune(o: FinetuneOptions): Promise<number> {
  const loaded = await planFor(o);
  const { plan, hash } = loaded;
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
  const { signal, release } = interruptible(r);
  let session: Session | null = null;
  try {
    const { run, resume, frozenModel } = await locate(o, plan);
    const frozenDone = frozenModel !== null;
    const runFrozen = resume?.stage === FROZEN || (!resume && !frozenDone && (!o.unfreeze || ft.freeze_epochs > 0));
    // stage 2 starts from the saved stage-1 model; stage 1 builds model.from + head afresh
    // a wrong cut/groups/head name: exit 2 at its line:col, and the run folder made just now goes again (as check, nothing is left)
    const fresh = resume === null && !frozenDone;
    session = await placeModelErrors(
      loaded,
      () => openSession(plan, o.unfreeze && frozenDone && !runFrozen ? { modelDir: frozenModel } : {}),
      async () => (fresh ? rm(run.dir, { recursive: true, force: true }) : undefined),
    );
    const learner = session.learner;
    announceBackend(session.backend, r);
    announceSkipped(session.data, r);
    // the pretrained model this run started from: recorded by the run's first command (stage 2 loads stage 1's model)
    let modelFrom = session.modelFrom ?? null;
    if (!existsSync(run.path('plan.json'))) {
      await run.writeJson('plan.json', planDoc(plan, { backend_used: session.backend.name, threads_used: session.backend.threads, ...kernelRecord(plan, session.backend), config: o.config, config_hash: hash, model_from_resolved: modelFrom, argv: o.argv, git_commit: gitHead() }));
    } else {
      const saved = await readPlanDoc(run.path('plan.json'), 'finetune');
      if (typeof saved.model_from_resolved === 'string') modelFrom = saved.model_from_resolved;
    }
    const header = docHeader(plan, o.config, hash, session.backend);
    const common = { model_from: modelFrom, groups: learner.groups.map((g) => g.layers), skipped_images: skippedSummary(session.data) };

    const which: StageId[] = [];
    let carryRng: RngState | undefined;
    if (runFrozen) {
      if (o.unfreeze && !resume) r.info(`no saved frozen stage under ${resolve(plan.output)}: running it first`);
      if (learner.groups.length === 1) r.warn('warning: the model has one parameter group, so freezing changes nothing (set model.groups or model.head)');
      which.push('frozen');
    } else if (o.unfreeze && frozenDone && !resume) {
      // continue the random stream where stage 1 left it, as one fine_tune call would
      const ck = await loadCheckpoint(run.path(FROZEN, 'ckpt', 'last'));
      carryRng = ck.meta.position.epochRng;
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
    if (o.unfreeze) which.push('unfrozen');

    let code: number = ExitCode.ok;
    let ranFrozen: StageResult | null = null;
    const finish = async (result: StageResult, last: boolean): Promise<void> => {
      const stage = result.stage;
      if (stage === 'frozen') ranFrozen = result;
      const gates = last && result.stop.reason === 'completed' ? checkGates(plan.expect, result.final) : [];
      const outcome = stageOutcome(result, gates, resumeCommand(o.argv, run.dir));
      code = outcome.code;
      const extra =
        stage === 'unfrozen'
          ? {
              frozen_model: frozenModel ?? (ranFrozen ? run.path(FROZEN, MODEL_DIR) : null),
              ...(ranFrozen ? { frozen_stage: { epochs: ranFrozen.epochs, final: ranFrozen.final } } : {}),
            }
          : {};
      const doc = stageDoc('finetune', header, { ...common, run_dir: run.dir, stage, ...extra }, result, {
        gates,
        exitCode: outcome.code,
        runDir: run.dir,
        files: { plan_json: 'plan.json', report_json: `${stage}/report.json`, report_html: 'report.html' },
      });
      await run.writeJson(`${stage}/report.json`, doc);
      await finishRun({ runDir: run.dir, reporter: r, markdown: () => fitSummaryMarkdown(doc), gates });
      if (result.stop.reason === 'completed') {
        r.info(trainingCharts(result.epochs, [], r.color));
        r.info(`${stage} stage: model saved to ${run.path(stage, MODEL_DIR)}`);
      }
      if (!last && outcome.code === ExitCode.ok) return;
      for (const line of gateLines(gates)) r.info(line);
      if (result.stop.reason === 'completed' && !o.unfreeze) r.info(`next: fastlr finetune ${o.config} --unfreeze`);
      r.info(`run folder ${run.dir}`);
      if (o.json) printJson(doc);
      if (outcome.message) r.warn(`fastlr finetune: ${outcome.message}`);
      else r.result(`done (${stage} stage): ${Object.entries(result.final).slice(0, 4).map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`).join(', ')}`);
    };
    await fineTune(learner, {
      stages: finetuneStagesOf(plan, learner.groups.length, learner.batchesPerEpoch),
      run: which,
      ...(carryRng ? { carryRng } : {}),
      metrics,
      monitor: plan.fit.monitor,
      signal,
      onEvent: (e) => r.event(e),
      record: { run, planHash: hash, force: o.force, ...(resume ? { resume } : {}) },
      afterStage: finish,
    });
    return code;
  } finally {
    release();
    r.close();
    session?.dispose();
  }
}
