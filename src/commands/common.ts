import { ConfigError } from '../errors.js';
import { modelKeyIssues } from '../model/key-error.js';
import { readConfigText, resolvePlanLocated, type Plan } from '../plan/index.js';
import type { LocatedPlan } from '../plan/load.js';
import { validatePlan } from '../plan/validate.js';
import { StopSignal } from '../engine/events.js';
import { createReporter, isInteractive, wantsColor, type Reporter } from '../report/reporter.js';
import type { BackendInfo } from '../backend/index.js';
import type { Dataset } from '../data/index.js';
import { jsonReplacer } from '../report/run-folder.js';
import type { CommonOptions } from './types.js';
import { writesSettled } from '../report/in-flight.js';

export interface Loaded {
  plan: Plan;
  hash: string;
  /** place problems at the config key (or flag) responsible, as `check` does */
  place: LocatedPlan['place'];
}

/**
 * The resolved plan of a training command (config file < env (FASTLR_*) < flags: --set, --backend, --seed, --out),
 * validated as `check` validates it before anything is loaded: the output folder (created and probed with a test
 * write), the data (an empty validation set, fewer samples than a batch, …), layers and size limits. A problem is a
 * ConfigError at the key responsible (exit 2) and no run folder is made.
 */
export async function planFor(o: CommonOptions, extraSet: string[] = []): Promise<Loaded> {
  const text = await readConfigText(o.config);
  const located = resolvePlanLocated(text, o.config, {
    set: [...o.set, ...extraSet],
    env: process.env,
    overrides: { backend: o.backend, seed: o.seed, out: o.out, threads: o.threads },
  });
  await validatePlan(located, { cwd: process.cwd(), writeProbe: true, inspectModel: false });
  return { plan: located.plan, hash: located.hash, place: (issues) => located.place(issues) };
}

/**
 * Run `open` (the session: the model loaded, cut, given its head and split) with the errors of model.cut,
 * model.groups and model.head names placed at their line:col as `check` places them, every one of them (exit 2).
 */
export async function placeModelErrors<T>(
  loaded: Pick<Loaded, 'place'>,
  open: () => Promise<T>,
  /** before the error is thrown (finetune removes the run folder it has just made for this run) */
  cleanup: () => Promise<void> = async () => {},
): Promise<T> {
  try {
    return await open();
  } catch (e) {
    const issues = modelKeyIssues(e);
    if (!issues) throw e;
    await cleanup();
    throw new ConfigError(loaded.place(issues));
  }
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
  if (r.kind === 'quiet') {
    // --quiet: only the result (the backend is in every JSON document), except what changes the result's meaning
    for (const w of b.warnings) r.warn(`warning: ${w}`);
    return;
  }
  const skipped = b.skipped.map((s) => `  skipped ${s.name}: ${s.reason}`);
  const stock = b.kernelMode === 'stock' ? ['  kernels: stock (FASTLR_KERNELS=stock: no fastlr kernel overrides, optimizer on tfjs ops)'] : [];
  r.warn([`backend: ${b.name}`, ...b.warnings.map((w) => `  warning: ${w}`), ...stock, ...skipped].join('\n'));
}

/**
 * SIGINT/SIGTERM ask the running loop to stop after the current batch (the loop yields to the event loop between
 * batches, so this runs within one batch); the acknowledgement goes through the reporter so a progress bar does not
 * draw over it. A second signal exits at once, after the run-folder write in flight (a checkpoint at the batch)
 * lands: every file fastlr writes is replaced atomically, so ckpt/last is the finished epoch's or the newer one,
 * whole. A third exits without waiting.
 */
export function interruptible(r?: Reporter): { signal: StopSignal; release: () => void } {
  const signal = new StopSignal();
  let count = 0;
  const say = (text: string): void => (r ? r.warn(text) : void process.stderr.write(`${text}\n`));
  const onSig = (): void => {
    count++;
    if (count > 1) {
      if (count > 2) process.exit(130);
      r?.close();
      process.stderr.write('\ninterrupt again: exiting now (once the file being written, if any, is whole)\n');
      void writesSettled().then(() => process.exit(130));
      return;
    }
    say('\ninterrupt: finishing the current batch (press Ctrl-C again to abort at once)');
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

/**
 * The command line that continues an interrupted run: as typed, so --set/--out/--backend/… stay (the plan must hash
 * the same), without the output-only --json/--quiet, and `--resume <run-dir>` naming this run.
 */
export function resumeCommand(argv: readonly string[], runDir: string): string {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--resume') {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) i++; // its run-dir value
      continue;
    }
    if (a.startsWith('--resume=') || a === '--json' || a === '--quiet') continue;
    args.push(a);
  }
  return ['fastlr', ...args, '--resume', runDir].map(shellQuote).join(' ');
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function printJson(doc: unknown): void {
  process.stdout.write(JSON.stringify(doc, jsonReplacer, 2) + '\n');
}

/** The data's warnings (a preprocessing that differs from the checkpoint's), then unreadable inputs the loader skipped (images): a count and the first few by name. */
export function announceSkipped(data: Dataset, r: Reporter): void {
  for (const w of data.warnings ?? []) r.warn(`warning: ${w}`);
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

export { docHeader, type DocHeader } from '../report/documents.js';
