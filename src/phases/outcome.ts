/** How a phase ended, as an exit code and the message the CLI prints (the library throws the same text). */
import { ExitCode } from '../errors.js';
import type { RangeTestResult } from './find.js';
import type { StageResult } from './stage.js';
import type { GateResult } from './gates.js';

/** The exit code a range test earns: 0 with a suggestion, 3 when none was possible, 130 when interrupted. */
export function findExitCode(res: Pick<RangeTestResult, 'stop' | 'suggested'>): number {
  if (res.stop.reason === 'interrupted') return ExitCode.interrupted;
  return res.suggested === null ? ExitCode.diverged : ExitCode.ok;
}

/** Why the configured method gave no learning rate, and what to try. */
export function noSuggestionHelp(res: Pick<RangeTestResult, 'suggestions' | 'method' | 'stop'>): string {
  const why = res.suggestions[res.method];
  const reason = 'error' in why ? why.error : '';
  const early =
    res.stop.reason === 'diverged' || res.stop.reason === 'non_finite'
      ? `training ${res.stop.reason === 'diverged' ? 'diverged' : 'produced a non-finite loss'} after ${res.stop.iteration} iterations, before a ${res.method} suggestion was possible`
      : `no ${res.method} suggestion`;
  return `${early}${reason ? ` (${reason})` : ''}. Try a smaller find.start_lr or find.end_lr, more find.num_it, or check the inputs' scaling; another method may still have answered (see the table).`;
}

/** The message of a stage that produced a non-finite loss. */
export function divergedMessage(res: Pick<StageResult, 'divergence'>): string {
  const d = res.divergence;
  return `training diverged: the loss became NaN/infinite at step ${d?.iteration ?? '?'} (lr ${d ? d.lr.map((v) => v.toExponential(2)).join(', ') : '?'}). Try a lower lr (fastlr find shows the usable range).`;
}

/** Exit code and message for the end of a training stage; `resumeWith` is the command that continues it. */
export function stageOutcome(res: StageResult, gates: GateResult[], resumeWith: string): { code: number; message: string } {
  if (res.stop.reason === 'interrupted') {
    return { code: ExitCode.interrupted, message: `interrupted; saved ckpt/last. Continue with: ${resumeWith}` };
  }
  if (res.stop.reason === 'non_finite') return { code: ExitCode.diverged, message: divergedMessage(res) };
  const failed = gates.filter((g) => !g.pass);
  if (failed.length) return { code: ExitCode.gateFailed, message: `quality gates missed: ${failed.map((g) => `${g.name} ${g.expect} (got ${g.actual ?? 'nothing'})`).join('; ')}` };
  return { code: ExitCode.ok, message: '' };
}
