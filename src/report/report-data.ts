/**
 * Read a run folder back into one typed, tolerant description (for report.html and `fastlr report`).
 * Every file is optional and may be damaged: what cannot be read becomes a line in `problems`, never a throw
 * (only "this is not a run folder at all" throws, from `assertRunFolder`).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { ExitCode, FastlrError } from '../errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export type SuggestionData = { lr: number; loss: number; point?: [number, number] } | { error: string };

export interface FindCurve {
  lrs: number[];
  losses: number[];
}

export interface FindData {
  lrs: number[];
  losses: number[];
  stop: { reason: string; iteration: number } | null;
  suggestions: Record<string, SuggestionData>;
  /** the configured method (find.suggest) */
  suggest: string | null;
  suggested: number | null;
  numIt: number | null;
  startLr: number | null;
  endLr: number | null;
  unfrozen: boolean | null;
  seconds: number | null;
  /** several range tests of one `find --repeats N` */
  repeats: FindCurve[];
  /** `find --repeats N`: each method's median, min, max and spread over the repeats */
  spread: SpreadRow[];
  /** `find --repeats N`: do the methods' medians lie within `within`x of each other */
  agreement: { within: number; ratio: number | null; agree: boolean } | null;
}

export interface SpreadRow {
  method: string;
  median: number | null;
  min: number | null;
  max: number | null;
  spread_decades: number | null;
  answered: number;
}

export interface EpochRow {
  epoch: number;
  train_loss: number;
  valid_loss: number;
  metrics: Record<string, number>;
  seconds: number;
}

export interface ScheduleTable {
  iter: number[];
  /** one array per parameter group: lr_0 … lr_{G-1} */
  lr: number[][];
  mom: number[];
  loss: number[];
  smooth: number[];
}

export interface GateRow {
  name: string;
  expect: string;
  actual: number | null;
  pass: boolean;
}

/** One training stage: the fit itself, or finetune's frozen / unfrozen stage. */
export interface StageData {
  /** 'fit', 'frozen', 'unfrozen' */
  name: string;
  /** subfolder of the run ('' for fit) */
  dir: string;
  /** the stage's report.json, when written */
  doc: JsonObject | null;
  epochs: EpochRow[];
  epochsFrom: 'report.json' | 'metrics.csv' | null;
  schedule: ScheduleTable | null;
  /** gates as checked at the end of the stage; null when they were not checked */
  gates: GateRow[] | null;
  stop: { reason: string; iteration: number } | null;
  final: Record<string, number>;
  exitCode: number | null;
  seconds: number | null;
  hasModel: boolean;
}

export interface Provenance {
  name: string | null;
  fastlr: string | null;
  tfjs: string | null;
  node: string | null;
  backend: string | null;
  backendSkipped: { name: string; reason: string }[];
  seed: number | null;
  argv: string[] | null;
  config: string | null;
  configHash: string | null;
  gitCommit: string | null;
  /** where the commit came from: recorded by the run, or HEAD of the cwd when report.html was first written */
  gitCommitSource: 'run' | 'report' | null;
  gitCommitWhen: string | null;
}

export interface RunData {
  dir: string;
  /** find | fit | finetune | unknown */
  command: string;
  plan: JsonObject | null;
  find: FindData | null;
  lrSource: JsonObject | null;
  stages: StageData[];
  expect: Record<string, string>;
  provenance: Provenance;
  /** files of the run folder, relative, that the report links to */
  files: string[];
  problems: string[];
}

export const RUN_FILES = ['plan.json', 'find.json', 'find.svg', 'report.json', 'metrics.csv', 'schedule.csv'];
export const STAGE_DIRS = ['frozen', 'unfrozen'];

// ---- small guards over parsed JSON ----------------------------------------------------------

export function isObj(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}
/** JSON writes NaN/Infinity as null: read them back as NaN. */
function nums(v: unknown): number[] {
  return Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? x : NaN)) : [];
}
function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}
function strs(v: unknown): string[] | null {
  return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : null;
}
function numRecord(v: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (isObj(v)) for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'number' ? x : NaN;
  return out;
}
function stopOf(v: unknown): { reason: string; iteration: number } | null {
  if (!isObj(v) || typeof v.reason !== 'string') return null;
  return { reason: v.reason, iteration: num(v.iteration) ?? NaN };
}
/** The first string/number value of `key` among the docs, in order of trust. */
function first<T>(docs: (JsonObject | null)[], pick: (d: JsonObject) => T | null): T | null {
  for (const d of docs) {
    if (!d) continue;
    const v = pick(d);
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

// ---- files ----------------------------------------------------------------------------------

function readJson(dir: string, rel: string, problems: string[]): JsonObject | null {
  const p = join(dir, rel);
  if (!existsSync(p)) return null;
  try {
    const v = JSON.parse(readFileSync(p, 'utf8')) as unknown;
    if (!isObj(v)) {
      problems.push(`${rel}: not a JSON object`);
      return null;
    }
    return v;
  } catch (e) {
    problems.push(`${rel}: unreadable (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

function readCsv(dir: string, rel: string, problems: string[]): Record<string, string>[] | null {
  const p = join(dir, rel);
  if (!existsSync(p)) return null;
  try {
    // a repeated column name (a metrics.csv from before metrics were deduplicated) keeps its first column
    const columns = (header: string[]): (string | false)[] => header.map((h, i) => (header.indexOf(h) === i ? h : false));
    return parseCsv(readFileSync(p, 'utf8'), { columns, skip_empty_lines: true, relax_column_count: true }) as Record<
      string,
      string
    >[];
  } catch (e) {
    problems.push(`${rel}: unreadable (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

/** An empty CSV cell is a non-finite value (that is how the run wrote it). */
function cell(v: string | undefined): number {
  return v === undefined || v.trim() === '' ? NaN : Number(v);
}

export function parseMetricsRows(rows: Record<string, string>[]): EpochRow[] {
  return rows.map((r) => {
    const metrics: Record<string, number> = {};
    for (const [k, v] of Object.entries(r)) {
      if (!['epoch', 'train_loss', 'valid_loss', 'seconds'].includes(k)) metrics[k] = cell(v);
    }
    return { epoch: cell(r.epoch), train_loss: cell(r.train_loss), valid_loss: cell(r.valid_loss), metrics, seconds: cell(r.seconds) };
  });
}

export function parseScheduleRows(rows: Record<string, string>[]): ScheduleTable | null {
  if (rows.length === 0) return null;
  const groups = Object.keys(rows[0]!)
    .map((k) => /^lr_(\d+)$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
  return {
    iter: rows.map((r, i) => (r.iter === undefined ? i : cell(r.iter))),
    lr: groups.map((g) => rows.map((r) => cell(r[`lr_${g}`]))),
    mom: rows.map((r) => cell(r.mom)),
    loss: rows.map((r) => cell(r.loss)),
    smooth: rows.map((r) => cell(r.smooth_loss)),
  };
}

function epochsOf(doc: JsonObject | null): EpochRow[] | null {
  if (!doc || !Array.isArray(doc.epochs)) return null;
  return doc.epochs.filter(isObj).map((e) => ({
    epoch: num(e.epoch) ?? NaN,
    train_loss: num(e.train_loss) ?? NaN,
    valid_loss: num(e.valid_loss) ?? NaN,
    metrics: numRecord(e.metrics),
    seconds: num(e.seconds) ?? NaN,
  }));
}

function gatesOf(doc: JsonObject | null): GateRow[] | null {
  if (!doc || !Array.isArray(doc.gates)) return null;
  return doc.gates.filter(isObj).map((g) => ({
    name: str(g.name) ?? '?',
    expect: str(g.expect) ?? '?',
    actual: num(g.actual),
    pass: g.pass === true,
  }));
}

function findOf(doc: JsonObject): FindData {
  const suggestions: Record<string, SuggestionData> = {};
  if (isObj(doc.suggestions)) {
    for (const [m, s] of Object.entries(doc.suggestions)) {
      if (!isObj(s)) continue;
      if (typeof s.lr === 'number') {
        const pt = nums(s.point);
        suggestions[m] = { lr: s.lr, loss: num(s.loss) ?? NaN, ...(pt.length === 2 ? { point: [pt[0]!, pt[1]!] as [number, number] } : {}) };
      } else {
        suggestions[m] = { error: str(s.error) ?? 'no suggestion' };
      }
    }
  }
  const repeats = Array.isArray(doc.repeats)
    ? doc.repeats.filter(isObj).map((r) => ({ lrs: nums(r.lrs), losses: nums(r.losses) }))
    : [];
  const summary = isObj(doc.summary) ? doc.summary : null;
  const spread: SpreadRow[] =
    summary && isObj(summary.methods)
      ? Object.entries(summary.methods)
          .filter((e): e is [string, JsonObject] => isObj(e[1]))
          .map(([method, m]) => ({ method, median: num(m.median), min: num(m.min), max: num(m.max), spread_decades: num(m.spread_decades), answered: num(m.answered) ?? 0 }))
      : [];
  const ag = summary && isObj(summary.agreement) ? summary.agreement : null;
  const agreement = ag && typeof ag.within === 'number' ? { within: ag.within, ratio: num(ag.ratio), agree: ag.agree === true } : null;
  return {
    spread,
    agreement,
    lrs: nums(doc.lrs),
    losses: nums(doc.losses),
    stop: stopOf(doc.stop),
    suggestions,
    suggest: str(doc.suggest),
    suggested: num(doc.suggested),
    numIt: num(doc.num_it),
    startLr: num(doc.start_lr),
    endLr: num(doc.end_lr),
    unfrozen: typeof doc.unfrozen === 'boolean' ? doc.unfrozen : null,
    seconds: num(doc.seconds),
    repeats,
  };
}

function stageOf(root: string, name: string, dir: string, problems: string[]): StageData | null {
  const rel = (f: string): string => (dir ? `${dir}/${f}` : f);
  const doc = readJson(root, rel('report.json'), problems);
  const fromDoc = epochsOf(doc);
  const csvRows = readCsv(root, rel('metrics.csv'), problems);
  const schedRows = readCsv(root, rel('schedule.csv'), problems);
  if (!doc && !csvRows && !schedRows) return null;
  const epochs = fromDoc ?? (csvRows ? parseMetricsRows(csvRows) : []);
  return {
    name,
    dir,
    doc,
    epochs,
    epochsFrom: fromDoc ? 'report.json' : csvRows ? 'metrics.csv' : null,
    schedule: schedRows ? parseScheduleRows(schedRows) : null,
    gates: gatesOf(doc),
    stop: doc ? stopOf(doc.stop) : null,
    final: doc ? numRecord(doc.final) : {},
    exitCode: doc ? num(doc.exit_code) : null,
    seconds: doc ? num(doc.seconds) : null,
    hasModel: existsSync(join(root, rel('model'), 'model.json')),
  };
}

// ---- the run folder -------------------------------------------------------------------------

/** True when `dir` holds at least one file a fastlr command writes. */
export function looksLikeRunFolder(dir: string): boolean {
  return (
    RUN_FILES.some((f) => existsSync(join(dir, f))) ||
    STAGE_DIRS.some((s) => ['report.json', 'metrics.csv', 'schedule.csv'].some((f) => existsSync(join(dir, s, f))))
  );
}

/** Throw a FastlrError (exit 2) naming the path unless `dir` is an existing run folder. */
export function assertRunFolder(dir: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new FastlrError(`${dir}: no such folder`, ExitCode.usage);
  if (!statSync(abs).isDirectory()) throw new FastlrError(`${dir}: not a folder (give a run folder, e.g. runs/<name>/fit-<timestamp>)`, ExitCode.usage);
  if (!looksLikeRunFolder(abs)) {
    const runs = readdirSync(abs)
      .filter((n) => /^(find|fit|finetune)-\d{8}-\d{6}/.test(n) && looksLikeRunFolder(join(abs, n)))
      .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const hint = runs.length ? `; it holds ${runs.length} run folder(s), the newest is ${join(dir, runs[runs.length - 1]!)}` : '';
    throw new FastlrError(
      `${dir}: not a fastlr run folder (none of ${RUN_FILES.filter((f) => f.endsWith('.json') || f.endsWith('.csv')).join(', ')})${hint}`,
      ExitCode.usage,
    );
  }
  return abs;
}

/** Git commit recorded inside an earlier report.html (kept across rebuilds). */
function previousGit(dir: string): { commit: string; when: string | null } | null {
  const p = join(dir, 'report.html');
  if (!existsSync(p)) return null;
  try {
    const html = readFileSync(p, 'utf8').slice(0, 4096);
    const c = /<meta name="fastlr-git-commit" content="([0-9a-f]{7,64})"/.exec(html);
    const w = /<meta name="fastlr-git-when" content="([^"]*)"/.exec(html);
    return c ? { commit: c[1]!, when: w ? w[1]! : null } : null;
  } catch {
    return null;
  }
}

export interface ReadOptions {
  /** HEAD of the current git checkout, when the run did not record one (null: none) */
  gitHead?: () => string | null;
}

export function readRunFolder(dir: string, o: ReadOptions = {}): RunData {
  const abs = assertRunFolder(dir);
  const problems: string[] = [];
  const plan = readJson(abs, 'plan.json', problems);
  const findDoc = readJson(abs, 'find.json', problems);
  const stages: StageData[] = [];
  const rootStage = stageOf(abs, 'fit', '', problems);
  for (const s of STAGE_DIRS) {
    const st = stageOf(abs, s, s, problems);
    if (st) stages.push(st);
  }
  const docs = [rootStage?.doc ?? null, ...stages.map((s) => s.doc).reverse(), findDoc, plan];
  const folder = basename(abs);
  const command =
    first(docs, (d) => str(d.command)) ?? /^(find|fit|finetune)-/.exec(folder)?.[1] ?? (stages.length ? 'finetune' : 'unknown');
  if (rootStage) stages.unshift(rootStage);

  const ver = (k: string) => (d: JsonObject): string | null => (isObj(d.versions) ? str(d.versions[k]) : null);
  const recordedGit = first(docs, (d) => str(d.git_commit) ?? (isObj(d.provenance) ? str(d.provenance.git_commit) : null));
  let gitCommit: string | null = recordedGit;
  let gitCommitSource: Provenance['gitCommitSource'] = recordedGit ? 'run' : null;
  let gitCommitWhen: string | null = null;
  if (!gitCommit) {
    const prev = previousGit(abs);
    if (prev) {
      gitCommit = prev.commit;
      gitCommitWhen = prev.when;
      gitCommitSource = 'report';
    } else {
      const head = o.gitHead?.() ?? null;
      if (head) {
        gitCommit = head;
        gitCommitWhen = new Date().toISOString();
        gitCommitSource = 'report';
      }
    }
  }
  const skipped = first(docs, (d) => (Array.isArray(d.backend_skipped) ? d.backend_skipped : null)) ?? [];
  const provenance: Provenance = {
    name: first(docs, (d) => str(d.name)),
    fastlr: first(docs, ver('fastlr')),
    tfjs: first(docs, ver('tfjs')),
    node: first(docs, ver('node')),
    // plan.json's `backend` is the one asked for ('auto'); `backend_used` the one that ran
    backend: first(docs, (d) => (d === plan ? str(d.backend_used) : str(d.backend))),
    backendSkipped: skipped.filter(isObj).map((s) => ({ name: str(s.name) ?? '?', reason: str(s.reason) ?? '' })),
    seed: first(docs, (d) => num(d.seed)),
    argv: first(docs, (d) => strs(d.argv)),
    config: first(docs, (d) => str(d.config)),
    configHash: first(docs, (d) => str(d.config_hash)),
    gitCommit,
    gitCommitSource,
    gitCommitWhen,
  };
  const expect: Record<string, string> = {};
  if (plan && isObj(plan.expect)) for (const [k, v] of Object.entries(plan.expect)) if (typeof v === 'string') expect[k] = v;
  const lrSource = first([rootStage?.doc ?? null, plan], (d) => (isObj(d.lr_source) ? d.lr_source : null));

  const files: string[] = [];
  for (const f of [...RUN_FILES, 'model/model.json']) if (existsSync(join(abs, f))) files.push(f);
  for (const s of STAGE_DIRS) {
    for (const f of ['report.json', 'metrics.csv', 'schedule.csv', 'model/model.json']) if (existsSync(join(abs, s, f))) files.push(`${s}/${f}`);
  }
  return { dir: abs, command, plan, find: findDoc ? findOf(findDoc) : null, lrSource, stages, expect, provenance, files, problems };
}
