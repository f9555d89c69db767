import { loadPlan, type Plan } from '../plan/index.js';
import { StopSignal } from '../engine/events.js';
import { createReporter, isInteractive, wantsColor, type Reporter } from '../report/reporter.js';
import type { BackendInfo } from '../backend/index.js';
import type { Dataset } from '../data/index.js';
import { jsonReplacer } from '../report/run-folder.js';
import type { CommonOptions } from './types.js';
import { versions } from '../version.js';

export interface Loaded {
  plan: Plan;
  hash: string;
}

/** The resolved plan of a command: config file < env (FASTLR_*) < flags (--set, --backend, --seed, --out). */
export async function planFor(o: CommonOptions, extraSet: string[] = []): Promise<Loaded> {
  const { plan, hash } = await loadPlan(o.config, {
    set: [...o.set, ...extraSet],
    env: process.env,
    overrides: { backend: o.backend, seed: o.seed, out: o.out, threads: o.threads },
  });
  return { plan, hash };
}

export function reporterFor(o: CommonOptions, metrics: string[] = []): Reporter {
  const stream = o.json ? process.stderr : process.stdout;
  return createReporter({
    json: o.json,
    quiet: o.quiet,
    color: wantsColor(o.color, stream),
    interactive: isInteractive(stream),
    metrics,
  });
}

/** `backend: wasm  (skipped tensorflow-gpu: …; tensorflow: …)` — always on stderr. */
export function announceBackend(b: BackendInfo, r: Reporter): void {
  if (r.kind === 'quiet') return; // --quiet: only the result (the backend is in every JSON document)
  const skipped = b.skipped.map((s) => `  skipped ${s.name}: ${s.reason}`);
  r.warn([`backend: ${b.name}`, ...skipped].join('\n'));
}

/** SIGINT/SIGTERM ask the running loop to stop after the current batch; a second one exits at once. */
export function interruptible(): { signal: StopSignal; release: () => void } {
  const signal = new StopSignal();
  let count = 0;
  const onSig = (): void => {
    count++;
    if (count > 1) process.exit(130);
    process.stderr.write('\ninterrupt: finishing the current batch (press Ctrl-C again to abort at once)\n');
    signal.request('interrupted');
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  return {
    signal,
    release: () => {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    },
  };
}

export function printJson(doc: unknown): void {
  process.stdout.write(JSON.stringify(doc, jsonReplacer, 2) + '\n');
}

/** Unreadable inputs the data loader skipped (images): a count and the first few by name, as a warning. */
export function announceSkipped(data: Dataset, r: Reporter): void {
  const skipped = data.skipped ?? [];
  if (skipped.length === 0) return;
  const shown = skipped.slice(0, 5).map((s) => `  ${s.path}: ${s.reason}`);
  const more = skipped.length > shown.length ? [`  … and ${skipped.length - shown.length} more`] : [];
  r.warn([`skipped ${skipped.length} unreadable image${skipped.length === 1 ? '' : 's'} (left out of the data):`, ...shown, ...more].join('\n'));
}

/** `{ count, files }` of the skipped inputs, for report.json / --json (files capped at 100). */
export function skippedSummary(data: Dataset): { count: number; files: { path: string; reason: string }[] } {
  const skipped = data.skipped ?? [];
  return { count: skipped.length, files: skipped.slice(0, 100) };
}

/** The fields every command's JSON document starts with (after `command`): who ran what, where, with which seed. */
export interface DocHeader {
  name: string;
  versions: ReturnType<typeof versions>;
  backend: BackendInfo['name'];
  backend_skipped: BackendInfo['skipped'];
  /** threads the kernels ran on (plan `threads`, auto resolved to the cores available) */
  threads: number;
  seed: number;
  config: string;
  config_hash: string;
}

export function docHeader(plan: Plan, config: string, hash: string, backend: BackendInfo): DocHeader {
  return {
    name: plan.name,
    versions: versions(),
    backend: backend.name,
    backend_skipped: backend.skipped,
    threads: backend.threads,
    seed: plan.seed,
    config,
    config_hash: hash,
  };
}
