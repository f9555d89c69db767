import { loadPlan, type Plan } from '../plan/index.js';
import { StopSignal } from '../engine/events.js';
import { createReporter, isInteractive, wantsColor, type Reporter } from '../report/reporter.js';
import { optimizerPath, type BackendInfo, type KernelMode, type OptimizerPath } from '../backend/index.js';
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
  if (r.kind === 'quiet') {
    // --quiet: only the result (the backend is in every JSON document), except what changes the result's meaning
    for (const w of b.warnings) r.warn(`warning: ${w}`);
    return;
  }
  const skipped = b.skipped.map((s) => `  skipped ${s.name}: ${s.reason}`);
  const stock = b.kernelMode === 'stock' ? ['  kernels: stock (FASTLR_KERNELS=stock: no fastlr kernel overrides, optimizer on tfjs ops)'] : [];
  r.warn([`backend: ${b.name}`, ...b.warnings.map((w) => `  warning: ${w}`), ...stock, ...skipped].join('\n'));
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
  /** where the backend computed: 'gpu' only when tfjs-node-gpu reported a GPU device in use */
  device: BackendInfo['device'];
  /** what the user had to be told about the backend (e.g. tensorflow-gpu loaded but running on CPU) */
  backend_warnings: string[];
  /** fastlr's kernel overrides, or tfjs's stock kernels only (FASTLR_KERNELS=stock, or a backend fastlr leaves alone) */
  kernels: KernelMode;
  /** the optimizer's update: one fused FastlrAdamStep kernel per parameter, or tfjs ops */
  optimizer_path: OptimizerPath;
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
    ...kernelRecord(plan, backend),
    seed: plan.seed,
    config,
    config_hash: hash,
  };
}

/** `device`, `backend_warnings`, `kernels` and `optimizer_path` of a run, for its JSON documents and plan.json. */
export function kernelRecord(
  plan: Plan,
  backend: BackendInfo,
): Pick<DocHeader, 'device' | 'backend_warnings' | 'kernels' | 'optimizer_path'> {
  return {
    device: backend.device,
    backend_warnings: backend.warnings,
    kernels: backend.kernelMode,
    optimizer_path: optimizerPath(plan.optimizer.type, backend.kernels),
  };
}
