/**
 * The documents fastlr writes to disk or stdout, declared once: zod schemas (their types are the contract), the
 * builders the commands fill them with, and the readers that take them back (range-checked: a hand-edited file is an
 * error naming the file and the field, exit 2). plan.json, find.json, report.json, metrics.csv and schedule.csv.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { optimizerPath, type BackendInfo, type KernelMode, type OptimizerPath } from '../backend/index.js';
import type { Plan } from '../plan/index.js';
import type { LrSpec } from '../schedule/index.js';
import type { RangeTestResult } from '../phases/find.js';
import type { StageResult } from '../phases/stage.js';
import type { GateResult } from '../phases/gates.js';
import type { RepeatSummary } from '../phases/repeats.js';
import { METHODS, type Method } from '../suggest/index.js';
import { versions } from '../version.js';
import { ExitCode, FastlrError } from '../errors.js';

// ------------------------------------------------------------------------------------------------ pieces
const num = z.number().nullable(); // NaN and ±Infinity are written as null
const positive = z.number().positive().finite();
export const lrSpecSchema = z.union([positive, z.array(positive).min(1), z.object({ lo: positive.nullable().optional(), hi: positive })]);

export const epochRowSchema = z.object({
  epoch: z.int().min(0),
  train_loss: num,
  valid_loss: num,
  metrics: z.record(z.string(), num),
  seconds: num,
});
export type EpochRowDoc = z.infer<typeof epochRowSchema>;

export const gateRowSchema = z.object({ name: z.string(), expect: z.string(), actual: num, pass: z.boolean() });
export const stopSchema = z.object({ reason: z.string(), iteration: z.int().min(0) });

/** Where a fit's learning rate came from: the config, or a range test (`lr: auto`). */
export const lrSourceSchema = z.object({
  method: z.enum(['config', 'valley', 'slide', 'steep', 'minimum']),
  value: lrSpecSchema,
  find_json: z.string().optional(),
});
export type LrSource = { method: z.infer<typeof lrSourceSchema>['method']; value: LrSpec; find_json?: string };

// ------------------------------------------------------------------------------------------------ header
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
  /** fastlr's SIMD programs used fused multiply-adds (relaxed SIMD FMA; FASTLR_FMA=0 turns it off) */
  fma: boolean;
  seed: number;
  config: string;
  config_hash: string;
}

/** The one header builder: a field every document records (versions, backend, …) is added here. */
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

/** `device`, `backend_warnings`, `kernels`, `optimizer_path` and `fma` of a run, for its JSON documents and plan.json. */
export function kernelRecord(plan: Plan, backend: BackendInfo): KernelRecord {
  return {
    device: backend.device,
    backend_warnings: backend.warnings,
    kernels: backend.kernelMode,
    optimizer_path: optimizerPath(plan.optimizer.type, backend.kernels),
    fma: backend.fma,
  };
}
export type KernelRecord = Pick<DocHeader, 'device' | 'backend_warnings' | 'kernels' | 'optimizer_path' | 'fma'>;

// ------------------------------------------------------------------------------------------------ plan.json
/** What plan.json adds to the resolved plan. */
export interface PlanDocExtra {
  backend_used: string;
  /** threads the kernels ran on */
  threads_used: number;
  config_hash: string;
  /** the config file the run was started with (as given), so `report` on a run with only plan.json can say */
  config?: string;
  argv: string[];
  git_commit: string | null;
  /** fit: where the LR came from and what it resolved to */
  lr_source?: LrSource;
  lr_resolved?: LrSpec;
  /** finetune: the pretrained model folder the run started from */
  model_from_resolved?: string | null;
}

export function planDoc(
  plan: Plan,
  extra: PlanDocExtra & Partial<KernelRecord>,
): Plan & PlanDocExtra & Partial<KernelRecord> & { versions: ReturnType<typeof versions> } {
  // versions as every JSON document records them: a run stopped before its first result still says what ran it
  return { ...plan, ...extra, versions: versions() };
}

/** The parts of plan.json a later command (`--resume`, `--unfreeze`) relies on; checked when read back. */
const planDocReadSchema = z.looseObject({
  lr_source: lrSourceSchema.optional(),
  lr_resolved: lrSpecSchema.optional(),
  model_from_resolved: z.string().nullable().optional(),
});
export type PlanDocRead = { lr_source?: LrSource; lr_resolved?: LrSpec; model_from_resolved?: string | null };

/** Read a run's plan.json: missing, corrupt or out of range (a negative lr, …) is a FastlrError naming the file and field (exit 2). */
export async function readPlanDoc(file: string, why = '--resume'): Promise<PlanDocRead> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new FastlrError(`${why}: cannot read ${file}: ${(e as Error).message}`, ExitCode.usage);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FastlrError(`${why}: ${file} is not valid JSON (${(e as Error).message}); re-run without --resume`, ExitCode.usage);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new FastlrError(`${why}: ${file} is not a fastlr plan`, ExitCode.usage);
  const r = planDocReadSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const field = i.path.map(String).join('.') || '(root)';
    throw new FastlrError(`${why}: ${file}: ${field}: ${describeIssue(i)}`, ExitCode.usage);
  }
  return r.data as PlanDocRead;
}

function describeIssue(i: z.core.$ZodIssue): string {
  if (i.code === 'invalid_union') return 'expected a positive learning rate (a number, a list, or { lo, hi })';
  return i.message;
}

// ------------------------------------------------------------------------------------------------ find.json
export type SuggestionDoc = { lr: number; loss: number } | { error: string };

/** The `find` document: what `--json` prints and find.json holds. Field names are a contract. */
export interface FindDoc extends DocHeader {
  command: 'find';
  num_it: number;
  start_lr: number;
  end_lr: number;
  unfrozen: boolean;
  lrs: number[];
  losses: number[];
  raw_losses: number[];
  stop: RangeTestResult['stop'];
  suggestions: Record<string, SuggestionDoc>;
  suggest: string;
  suggested: number | null;
  seconds: number;
  run_dir: string;
  files: Record<string, string>;
  argv?: string[];
  /** the exit code of the command: 0 a suggestion, 3 none possible, 130 interrupted */
  exit_code?: number;
}

export function suggestionDocs(res: Pick<RangeTestResult, 'suggestions'>): Record<string, SuggestionDoc> {
  const out: Record<string, SuggestionDoc> = {};
  for (const [m, s] of Object.entries(res.suggestions)) out[m] = 'lr' in s ? { lr: s.lr, loss: s.loss } : { error: s.error };
  return out;
}

export function findDoc(res: RangeTestResult, ctx: { header: DocHeader; plan: Plan; runDir: string; unfrozen: boolean }): FindDoc {
  return {
    command: 'find',
    ...ctx.header,
    num_it: ctx.plan.find.num_it,
    start_lr: ctx.plan.find.start_lr,
    end_lr: ctx.plan.find.end_lr,
    unfrozen: ctx.unfrozen,
    lrs: res.lrs,
    losses: res.losses,
    raw_losses: res.raw_losses,
    stop: res.stop,
    suggestions: suggestionDocs(res),
    suggest: res.method,
    suggested: res.suggested,
    seconds: res.seconds,
    run_dir: ctx.runDir,
    files: { find_json: 'find.json', find_svg: 'find.svg', plan_json: 'plan.json', report_html: 'report.html' },
  };
}

// ------------------------------------------------------------------------------------------------ report.json
/** A training stage's report.json (`fit`, or one finetune stage): what `--json` prints. Field names are a contract. */
export interface StageDoc extends DocHeader {
  command: 'fit' | 'finetune';
  epochs: StageResult['epochs'];
  final: Record<string, number>;
  best: StageResult['best'];
  gates: GateResult[];
  stop: StageResult['stop'];
  exit_code: number;
  run_dir: string;
  files: Record<string, string>;
  seconds: number;
  [extra: string]: unknown;
}

/** The report.json of a stage: header, then the command's own fields (`plan`, `lr_source`, `stage`, …), then the result. */
export function stageDoc(
  command: StageDoc['command'],
  header: DocHeader,
  fields: Record<string, unknown>,
  res: StageResult,
  o: { gates: GateResult[]; exitCode: number; runDir: string; files: Record<string, string> },
): StageDoc {
  return {
    command,
    ...header,
    ...fields,
    epochs: res.epochs,
    final: res.final,
    best: res.best,
    gates: o.gates,
    stop: res.stop,
    exit_code: o.exitCode,
    run_dir: o.runDir,
    files: { ...res.files, ...o.files },
    seconds: res.seconds,
  };
}

// ------------------------------------------------------------------------------------------------ CSV tables
/** schedule.csv's columns: one row per training batch. */
export function scheduleCsvHeader(nGroups: number): string[] {
  return ['iter', 'epoch', 'batch', ...Array.from({ length: nGroups }, (_, g) => `lr_${g}`), 'mom', 'loss', 'smooth_loss'];
}

const csvCell = (v: string | number): string => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v);

/** metrics.csv: one row per epoch (non-finite values as empty cells). */
export function epochRowsCsv(
  rows: readonly { epoch: number; train_loss: number; valid_loss: number; metrics: Record<string, number>; seconds: number }[],
  metrics: readonly string[],
): string {
  const table: (string | number)[][] = [
    ['epoch', 'train_loss', 'valid_loss', ...metrics, 'seconds'],
    ...rows.map((e) => [e.epoch, e.train_loss, e.valid_loss, ...metrics.map((m) => e.metrics[m] ?? NaN), Number(e.seconds.toFixed(3))]),
  ];
  return table.map((r) => r.map(csvCell).join(',')).join('\n') + '\n';
}

// ------------------------------------------------------------------------------------------------ find --repeats
/** Nearest point of a curve to `lr` (log distance): the loss shown next to a median suggestion. */
function lossNear(curve: { lrs: number[]; losses: number[] }, lr: number): number {
  let best = NaN;
  let dist = Infinity;
  curve.lrs.forEach((x, i) => {
    const d = Math.abs(Math.log(x) - Math.log(lr));
    if (d < dist) {
      dist = d;
      best = curve.losses[i]!;
    }
  });
  return best;
}

export interface RepeatsFindDoc extends FindDoc {
  repeats: { seed: number; lrs: number[]; losses: number[]; raw_losses: number[]; stop: RangeTestResult['stop']; suggestions: Record<string, SuggestionDoc>; suggested: number | null }[];
  summary: RepeatSummary;
}

/** `find --repeats N`'s document: the first repeat's header, the median curve, each method's median, every repeat. */
export function repeatsFindDoc(
  runs: (RangeTestResult & { seed: number })[],
  summary: RepeatSummary,
  method: Method,
  ctx: Parameters<typeof findDoc>[1],
): RepeatsFindDoc {
  const doc = findDoc(runs[0]!, ctx);
  const suggestions: FindDoc['suggestions'] = {};
  for (const m of METHODS) {
    const s = summary.methods[m];
    // as a single find reports it: the loss at the marked point (minimum suggests lr/10 of the minimum it marks)
    const at = s.median === null ? null : m === 'minimum' ? s.median * 10 : s.median;
    suggestions[m] = s.median === null || at === null ? { error: `no repeat produced a ${m} suggestion` } : { lr: s.median, loss: lossNear(summary.median_curve, at) };
  }
  return {
    ...doc,
    lrs: summary.median_curve.lrs,
    losses: summary.median_curve.losses,
    suggestions,
    suggested: summary.methods[method].median,
    seconds: runs.reduce((a, x) => a + x.seconds, 0),
    repeats: runs.map((x) => ({ seed: x.seed, lrs: x.lrs, losses: x.losses, raw_losses: x.raw_losses, stop: x.stop, suggestions: suggestionDocs(x), suggested: x.suggested })),
    summary,
  };
}
