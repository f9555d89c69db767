/** `fastlr fit`: options → plan → session → lr (config, or `auto`: a range test) → the fit stage → report.json → reporters. */
import { basename } from 'node:path';
import { openSession } from '../phases/session.js';
import { resolveLr } from '../phases/auto-lr.js';
import { runStage } from '../phases/stage.js';
import { stageOutcome } from '../phases/outcome.js';
import { assertKnownGates, checkGates } from '../phases/gates.js';
import { fitStage, spreadLr, type LrSpec } from '../schedule/index.js';
import { metricsFor } from '../engine/loss.js';
import { RunFolder } from '../report/run-folder.js';
import { resumableRun } from '../report/run-index.js';
import { docHeader, findDoc, kernelRecord, planDoc, readPlanDoc, stageDoc, type LrSource } from '../report/documents.js';
import { findSvg, renderFind } from '../report/find-text.js';
import { finalSummary, gateLines, trainingCharts } from '../report/training-text.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { fitSummaryMarkdown } from '../report/github.js';
import { announceBackend, announceSkipped, interruptible, placeModelErrors, planFor, printJson, reporterFor, resumeCommand } from './common.js';
import type { FitOptions } from './types.js';

export async function runFit(o: FitOptions): Promise<number> {
  const extra: string[] = [];
  if (o.lr !== undefined) extra.push(`fit.lr=${o.lr}`);
  if (o.epochs !== undefined) extra.push(`fit.epochs=${o.epochs}`);
  const loaded = await planFor(o, extra);
  const { plan, hash } = loaded;
  const metrics = metricsFor(plan.loss, plan.metrics);
  assertKnownGates(plan.expect, metrics);
  const r = reporterFor(o, metrics);
  const session = await placeModelErrors(loaded, () => openSession(plan));
  const { signal, release } = interruptible(r);
  try {
    announceBackend(session.backend, r);
    announceSkipped(session.data, r);
    const learner = session.learner;
    const header = docHeader(plan, o.config, hash, session.backend);
    const resuming = o.resume !== false;
    const run = resuming ? RunFolder.at(await resumableRun(plan.output, 'fit', typeof o.resume === 'string' ? o.resume : undefined)) : await RunFolder.create(plan.output, 'fit');
    let lr: LrSpec;
    let source: LrSource;
    if (resuming) {
      const saved = await readPlanDoc(run.path('plan.json'));
      lr = saved.lr_resolved ?? (plan.fit.lr === 'auto' ? NaN : plan.fit.lr);
      source = saved.lr_source ?? { method: 'config', value: lr };
    } else {
      if (plan.fit.lr === 'auto') r.info('lr: auto, running the LR range test first');
      const got = await resolveLr(learner, plan.fit.lr, plan.find, { signal, onEvent: (e) => r.event(e) });
      if (got.find) {
        await run.writeJson('find.json', findDoc(got.find, { header, plan, runDir: run.dir, unfrozen: learner.frozenGroups === 0 }));
        await run.writeText('find.svg', findSvg(got.find, `LR range test: ${plan.name}`));
        r.info(renderFind(got.find, { color: r.color, numIt: plan.find.num_it }));
      }
      if (got.error) throw got.error;
      lr = got.lr;
      source = got.find ? { ...got.source, find_json: run.path('find.json') } : got.source;
      if (got.find) r.info(`lr: auto -> ${got.find.method} suggestion ${got.find.suggested!.toExponential(2)}`);
      await run.writeJson('plan.json', planDoc(plan, { backend_used: session.backend.name, threads_used: session.backend.threads, ...kernelRecord(plan, session.backend), config: o.config, config_hash: hash, lr_source: source, lr_resolved: lr, argv: o.argv, git_commit: gitHead() }));
    }
    const stage = fitStage(plan.fit, lr, learner.groups.length, learner.batchesPerEpoch);
    const res = await runStage({
      learner,
      stage,
      metrics,
      monitor: plan.fit.monitor,
      signal,
      onEvent: (e) => r.event(e),
      record: { run, planHash: hash, prefix: '', ...(resuming ? { resumeFrom: run.path('ckpt/last') } : {}), force: o.force },
    });
    const gates = res.stop.reason === 'completed' ? checkGates(plan.expect, res.final) : [];
    const outcome = stageOutcome(res, gates, resumeCommand(o.argv, run.dir));
    const lrMax = spreadLr(lr, learner.groups.length);
    const doc = stageDoc(
      'fit',
      header,
      {
        plan: { epochs: plan.fit.epochs, lr_max: lrMax, groups: learner.groups.length, batch_size: plan.data.batch_size, batches_per_epoch: learner.batchesPerEpoch, train_items: session.data.train.n, valid_items: session.data.valid.n },
        lr_source: source,
      },
      res,
      { gates, exitCode: outcome.code, runDir: run.dir, files: { plan_json: 'plan.json', report_json: 'report.json', report_html: 'report.html' } },
    );
    await run.writeJson('report.json', doc);
    await finishRun({ runDir: run.dir, reporter: r, markdown: () => fitSummaryMarkdown(doc), gates });
    if (res.stop.reason === 'completed') {
      r.info(trainingCharts(res.epochs, stage.steps.map((s) => s.lr), r.color));
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
