/** `lr: auto`: the learning rate of a fit from a range test run first (isolated: the fit trains as if it never ran). */
import type { Learner } from '../engine/learner.js';
import type { EventSink, StopSignal } from '../engine/events.js';
import type { LrSpec } from '../schedule/index.js';
import type { LrSource } from '../report/documents.js';
import { ExitCode, FastlrError } from '../errors.js';
import { rangeTest, type RangeTestConfig, type RangeTestResult } from './find.js';
import { noSuggestionHelp } from './outcome.js';

export type ResolvedLr =
  | { lr: LrSpec; source: LrSource; find: null; error: null }
  /** the range test ran: its result (for find.json), and the error when it gave no LR to train with */
  | { lr: LrSpec; source: LrSource; find: RangeTestResult; error: null }
  | { lr: null; source: null; find: RangeTestResult; error: FastlrError };

export async function resolveLr(
  learner: Learner,
  spec: LrSpec | 'auto',
  find: RangeTestConfig,
  opts: { signal?: StopSignal; onEvent?: EventSink } = {},
): Promise<ResolvedLr> {
  if (spec !== 'auto') return { lr: spec, source: { method: 'config', value: spec }, find: null, error: null };
  const res = await rangeTest(learner, find, opts);
  if (res.stop.reason === 'interrupted') {
    return { lr: null, source: null, find: res, error: new FastlrError('interrupted during the range test; nothing was trained', ExitCode.interrupted) };
  }
  if (res.suggested === null) {
    return { lr: null, source: null, find: res, error: new FastlrError(`lr: auto found no learning rate: ${noSuggestionHelp(res)}`, ExitCode.diverged) };
  }
  return { lr: res.suggested, source: { method: res.method, value: res.suggested }, find: res, error: null };
}
