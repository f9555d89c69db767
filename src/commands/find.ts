/** `fastlr find`: options → plan → session → range test (once or --repeats) → find.json → reporters. */
import path from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { openSession } from '../phases/session.js';
import { rangeTest } from '../phases/find.js';
import { repeatedRangeTest, summarizeRepeats } from '../phases/repeats.js';
import { findExitCode, noSuggestionHelp } from '../phases/outcome.js';
import { RunFolder } from '../report/run-folder.js';
import { latestFrozenStage } from '../report/run-index.js';
import { docHeader, findDoc, kernelRecord, planDoc, repeatsFindDoc, type FindDoc } from '../report/documents.js';
import { findSvg, renderFind, renderRepeats, repeatsSvg, stopText } from '../report/find-text.js';
import { finishRun } from '../report/finish.js';
import { gitHead } from '../report/html.js';
import { findSummaryMarkdown } from '../report/github.js';
import { announceBackend, announceSkipped, interruptible, placeModelErrors, planFor, printJson, reporterFor } from './common.js';
import type { FindOptions } from './types.js';

export type { FindDoc } from '../report/documents.js';

export async function runFind(o: FindOptions): Promise<number> {
  const loaded = await planFor(o);
  const { plan, hash } = loaded;
  const repeats = o.repeats ?? plan.find.repeats;
  if (!Number.isInteger(repeats) || repeats < 1) throw new FastlrError(`--repeats must be a whole number >= 1, got ${repeats}`, ExitCode.usage);
  const r = reporterFor(o);
  // --unfreeze: the model after finetune's frozen stage (as fastai users run lr_find between the stages)
  let stageModel: string | undefined;
  if (o.unfreeze) {
    stageModel = (await latestFrozenStage(plan.output)) ?? undefined;
    if (stageModel === undefined) {
      throw new FastlrError(
        `find --unfreeze: no saved frozen finetune stage (finetune-*/frozen/model) under ${path.resolve(plan.output)}; run \`fastlr finetune ${o.config}\` first`,
        ExitCode.usage,
      );
    }
  }
  const session = await placeModelErrors(loaded, () => openSession(plan, stageModel !== undefined ? { modelDir: stageModel } : {}));
  const { signal, release } = interruptible(r);
  try {
    announceBackend(session.backend, r);
    announceSkipped(session.data, r);
    const learner = session.learner;
    if (o.unfreeze) {
      learner.unfreeze();
      r.info(`range test on the unfrozen model of the saved frozen stage ${stageModel}`);
    } else if (plan.model.from && plan.model.head && learner.groups.length > 1) {
      // a new head on a loaded body: test the LR of finetune's first stage, which trains the head alone
      learner.freeze();
      r.info('range test with the body frozen (finetune stage 1); use --unfreeze after `fastlr finetune` for stage 2');
    }
    const run = await RunFolder.create(plan.output, 'find');
    await run.writeJson('plan.json', planDoc(plan, { backend_used: session.backend.name, threads_used: session.backend.threads, ...kernelRecord(plan, session.backend), config: o.config, config_hash: hash, argv: o.argv, git_commit: gitHead() }));
    const ctx = { header: docHeader(plan, o.config, hash, session.backend), plan, runDir: run.dir, unfrozen: o.unfreeze };
    const loop = { signal, onEvent: (e: Parameters<typeof r.event>[0]) => r.event(e) };
    let doc: FindDoc;
    let code: number;
    let help = `no repeat produced a ${plan.find.suggest} suggestion`;
    if (repeats > 1) {
      const { runs } = await repeatedRangeTest(learner, plan.find, repeats, {
        ...loop,
        onRepeat: (k, res) => r.info(`repeat ${k + 1}/${repeats}: ${stopText(res, plan.find.num_it)}, ${plan.find.suggest} ${res.suggested === null ? 'none' : res.suggested.toExponential(2)}`),
      });
      const summary = summarizeRepeats(runs, plan.find.agree_within);
      doc = repeatsFindDoc(runs, summary, plan.find.suggest, ctx);
      await run.writeText('find.svg', repeatsSvg(runs, summary, `LR range test x${repeats}: ${plan.name}`));
      r.info(renderRepeats(runs, summary, { color: r.color, method: plan.find.suggest }));
      const interrupted = runs.some((x) => x.stop.reason === 'interrupted');
      code = interrupted ? ExitCode.interrupted : doc.suggested === null ? ExitCode.diverged : ExitCode.ok;
    } else {
      const res = await rangeTest(learner, plan.find, loop);
      doc = findDoc(res, ctx);
      code = findExitCode(res);
      help = noSuggestionHelp(res);
      await run.writeText('find.svg', findSvg(res, `LR range test: ${plan.name}`));
      r.info(renderFind(res, { color: r.color, numIt: plan.find.num_it }));
    }
    doc.argv = o.argv;
    doc.exit_code = code;
    await run.writeJson('find.json', doc);
    await finishRun({ runDir: run.dir, reporter: r, markdown: () => findSummaryMarkdown(doc) });
    r.info(`backend ${session.backend.name}; run folder ${run.dir}`);
    if (o.json) printJson(doc);
    if (code === ExitCode.interrupted) r.warn('fastlr find: interrupted; the model was restored and nothing was trained');
    else if (code === ExitCode.diverged) r.warn(`fastlr find: ${help}`);
    else r.result(`suggested lr (${plan.find.suggest}${repeats > 1 ? `, median of ${repeats}` : ''}): ${doc.suggested!.toExponential(2)}`);
    return code;
  } finally {
    release();
    r.close();
    session.dispose();
  }
}
