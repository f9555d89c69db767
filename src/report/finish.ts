/**
 * The end of every find / fit / finetune run: report.html into the run folder and, inside GitHub Actions,
 * `::error::` lines for missed gates and a Markdown summary appended to `$GITHUB_STEP_SUMMARY`.
 * Never changes a run's outcome: a report that cannot be written becomes a warning.
 */
import { tryWriteReportHtml } from './html.js';
import { appendStepSummary, gateAnnotations, inGitHubActions, type GateLike } from './github.js';
import type { Reporter } from './reporter.js';
import { RunFolder } from './run-folder.js';

type Env = Readonly<Record<string, string | undefined>>;

export interface FinishOptions {
  runDir: string;
  reporter: Reporter;
  /** the run's Markdown summary (findSummaryMarkdown / fitSummaryMarkdown); none: no step summary */
  markdown?: () => string;
  /** the gates checked at the end of the run (none for find) */
  gates?: readonly GateLike[];
  env?: Env;
  /** where workflow commands go: stderr, so stdout stays one JSON document under --json */
  annotate?: (line: string) => void;
}

export async function finishRun(o: FinishOptions): Promise<{ reportHtml: string | null }> {
  const env = o.env ?? process.env;
  const res = await tryWriteReportHtml(o.runDir);
  if ('error' in res) o.reporter.warn(`warning: ${res.error}`);
  else o.reporter.info(`report ${res.path}`);
  if (inGitHubActions(env)) {
    const annotate = o.annotate ?? ((line: string) => void process.stderr.write(`${line}\n`));
    for (const line of gateAnnotations(o.gates ?? [])) annotate(line);
    try {
      if (o.markdown) await appendStepSummary(o.markdown(), env);
    } catch (e) {
      o.reporter.warn(`warning: ${(e as Error).message}`);
    }
  }
  await RunFolder.at(o.runDir).tidy();
  return { reportHtml: 'error' in res ? null : res.path };
}
