import { writeReportHtml } from '../report/html.js';
import { summarizeRun, summaryLines } from '../report/report-summary.js';
import { wantsColor } from '../report/reporter.js';
import { jsonReplacer } from '../report/run-folder.js';

/**
 * `fastlr report <run-dir>`: rebuild the folder's report.html and summarise the run (command, backend,
 * suggestions or final metrics, gates). `--json`: the summary as one JSON document on stdout, the human
 * lines on stderr. Exit 0 once the report is written, whatever the run's own outcome was (the summary's
 * `stages[].exit_code` keeps that); a missing folder or one that is not a run folder is a FastlrError (exit 2).
 */
export async function runReport(dir: string, o: { json: boolean; quiet: boolean; color: boolean }): Promise<number> {
  const { path, data } = await writeReportHtml(dir);
  const summary = summarizeRun(data, path);
  const human = o.json ? process.stderr : process.stdout;
  if (!o.quiet) human.write(summaryLines(summary, wantsColor(o.color, human)).join('\n') + '\n');
  else if (!o.json) human.write(path + '\n');
  if (o.json) process.stdout.write(JSON.stringify(summary, jsonReplacer, 2) + '\n');
  return 0;
}
