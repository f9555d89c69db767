/**
 * GitHub Actions outputs (only when `GITHUB_ACTIONS=true`):
 * - config errors as `::error file=…,line=…,col=…::` workflow commands, so they show on the config file's line;
 * - missed `expect:` gates as `::error title=fastlr gate::…` lines;
 * - a Markdown summary of a find / fit / finetune run appended to the file named by `$GITHUB_STEP_SUMMARY`.
 *
 * Everything here is pure except `appendStepSummary`. The runner reads workflow commands from stdout and from
 * stderr alike, so callers print the annotation lines on stderr (stdout stays one JSON document under `--json`).
 * Each line must start at the beginning of a line.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, FastlrError, type ConfigIssue } from '../errors.js';
import { fmtLr, fmtNum } from './chart.js';

type Env = Readonly<Record<string, string | undefined>>;

/** True inside a GitHub Actions job (the runner sets GITHUB_ACTIONS=true). */
export function inGitHubActions(env: Env = process.env): boolean {
  return env.GITHUB_ACTIONS === 'true';
}

/** Escape a workflow command's message (GitHub's rules: `%`, CR, LF). */
export function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** Escape a workflow command's property value (as data, plus `:` and `,`). */
export function escapeProperty(s: string): string {
  return escapeData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** `::error k=v,k=v::message` with every part escaped; properties with undefined values are left out. */
export function workflowCommand(
  command: 'error' | 'warning' | 'notice',
  props: Record<string, string | number | undefined>,
  message: string,
): string {
  const list = Object.entries(props)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${escapeProperty(String(v))}`)
    .join(',');
  return `::${command}${list ? ` ${list}` : ''}::${escapeData(message)}`;
}

export interface AnnotationContext {
  /** default: process.env (GITHUB_WORKSPACE) */
  env?: Env;
  /** base for relative issue paths and the workspace fallback; default process.cwd() */
  cwd?: string;
}

/**
 * The file path as GitHub wants it: relative to GITHUB_WORKSPACE (or to `cwd` when the variable is unset) with
 * forward slashes, when the file lies inside it; the path as given otherwise (GitHub then lists the error without
 * pinning it to a line of the diff).
 */
export function annotationPath(file: string, ctx: AnnotationContext = {}): string {
  const cwd = ctx.cwd ?? process.cwd();
  const env = ctx.env ?? process.env;
  const root = path.resolve(cwd, env.GITHUB_WORKSPACE || cwd);
  const abs = path.resolve(cwd, file);
  const rel = path.relative(root, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return file;
  return rel.split(path.sep).join('/');
}

/**
 * True when an issue's `file` names where an override came from (`--set fit.lr=x`, `--seed 7`,
 * `FASTLR_SEED=x`, as src/plan/overrides.ts records them) rather than a file.
 */
export function isOverrideOrigin(file: string): boolean {
  return file.startsWith('--') || /^FASTLR_[A-Z0-9_]*=/.test(file);
}

/**
 * One `::error` per config issue. An issue with line 0 (a file-level problem) carries no line/col; one from an
 * override names the flag or variable in the message and carries no file.
 */
export function configErrorAnnotations(issues: readonly ConfigIssue[], ctx: AnnotationContext = {}): string[] {
  return issues.map((i) => {
    const located = i.line > 0;
    const override = isOverrideOrigin(i.file);
    const text = i.path ? `${i.path}: ${i.message}` : i.message;
    return workflowCommand(
      'error',
      {
        file: i.file && !override ? annotationPath(i.file, ctx) : undefined,
        line: located && !override ? i.line : undefined,
        col: located && !override && i.col > 0 ? i.col : undefined,
        title: 'fastlr config',
      },
      override ? `${i.file}: ${text}` : text,
    );
  });
}

export interface GateLike {
  name: string;
  expect: string;
  actual: number | null;
  pass: boolean;
}

function gateActual(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'no value' : String(Number(v.toPrecision(6)));
}

/** One `::error title=fastlr gate::…` per failed gate (passed gates give nothing). */
export function gateAnnotations(gates: readonly GateLike[]): string[] {
  return gates
    .filter((g) => !g.pass)
    .map((g) =>
      workflowCommand('error', { title: 'fastlr gate' }, `expect ${g.name} ${g.expect.trim()} missed: got ${gateActual(g.actual)}`),
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Markdown summaries. The doc types are structural subsets of the documents `find`, `fit` and `finetune` print with
// --json (src/commands/*.ts), widened to accept them as read back from report.json (NaN written as null).

type Num = number | null;
type LrSpecLike = number | readonly number[] | { lo?: number | null; hi: number };

export interface FindSummaryDoc {
  name: string;
  backend: string;
  seed?: number;
  num_it: number;
  unfrozen?: boolean;
  lrs?: readonly number[];
  stop: { reason: string; iteration: number };
  suggestions: Readonly<Record<string, { lr: Num; loss: Num } | { error: string }>>;
  /** the configured method */
  suggest: string;
  suggested: Num;
  seconds: Num;
  run_dir?: string;
  /** `find --repeats N`: every repeat (only counted here) and the per-method spread */
  repeats?: readonly unknown[];
  summary?: {
    methods: Readonly<Record<string, { median: Num; min: Num; max: Num; spread_decades: Num; answered: number }>>;
    agreement: { within: number; ratio: Num; agree: boolean };
  };
}

export interface EpochRow {
  epoch: number;
  train_loss: Num;
  valid_loss: Num;
  metrics: Readonly<Record<string, Num>>;
  seconds: Num;
}

export interface TrainSummaryDoc {
  command: string;
  /** finetune: 'frozen' | 'unfrozen' */
  stage?: string;
  name: string;
  backend: string;
  seed?: number;
  plan?: { epochs?: number; lr_max?: readonly number[]; groups?: number };
  lr_source?: { method: string; value: LrSpecLike; find_json?: string };
  frozen_stage?: { epochs: readonly EpochRow[]; final: Readonly<Record<string, Num>> };
  epochs: readonly EpochRow[];
  final: Readonly<Record<string, Num>>;
  best?: { monitor: string; value: Num; epoch: number } | null;
  gates: readonly GateLike[];
  stop: { reason: string; iteration: number };
  exit_code?: number;
  run_dir?: string;
  seconds: Num;
}

/** Text safe inside a Markdown table cell (also inside a code span there, as GFM reads `\|` first). */
export function mdCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\r?\n|\r/g, ' ');
}

/** Plain text in prose, a heading or a table cell: Markdown punctuation backslash-escaped, one line. */
export function mdText(s: string): string {
  const one = s.replace(/\r?\n|\r/g, ' ').replace(/[\\`*[\]<>|#~]/g, '\\$&');
  // an underscore inside a word (valid_loss) never starts emphasis in GFM: leave it readable
  return one.replace(/_/g, (u, i: number) => (/[A-Za-z0-9]/.test(one[i - 1] ?? '') && /[A-Za-z0-9]/.test(one[i + 1] ?? '') ? u : '\\_'));
}

/** An inline code span outside tables (a path, a backend name), backticks inside handled. */
export function mdCode(s: string): string {
  const one = s.replace(/\r?\n|\r/g, ' ');
  if (!one.includes('`')) return `\`${one}\``;
  return `\`\` ${one} \`\``;
}

function num(v: Num | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : fmtNum(v);
}

function lr(v: Num | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : fmtLr(v);
}

function secs(v: Num | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${v < 10 ? v.toFixed(2) : v.toFixed(1)} s`;
}

function lrSpec(v: LrSpecLike): string {
  if (typeof v === 'number') return lr(v);
  if (Array.isArray(v)) return (v as readonly number[]).map((x) => lr(x)).join(', ');
  const r = v as { lo?: number | null; hi: number };
  return r.lo ? `${lr(r.lo)} … ${lr(r.hi)}` : `up to ${lr(r.hi)}`;
}

function table(header: string[], rows: string[][], align: ('l' | 'r')[]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `|${align.map((a) => (a === 'r' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

function findStopText(doc: FindSummaryDoc): string {
  const it = doc.stop.iteration;
  switch (doc.stop.reason) {
    case 'num_it':
    case 'completed':
      return `ran all ${doc.num_it} iterations`;
    case 'diverged':
      return `stopped at iteration ${it} of ${doc.num_it}: the loss diverged`;
    case 'non_finite':
      return `stopped at iteration ${it} of ${doc.num_it}: the loss became NaN/infinite`;
    case 'interrupted':
      return `interrupted at iteration ${it} of ${doc.num_it}`;
    default:
      return `stopped (${doc.stop.reason}) at iteration ${it} of ${doc.num_it}`;
  }
}

/** `find --repeats N`: per method the median, min–max, spread in decades, answered; then the agreement line. */
function spreadMarkdown(sum: NonNullable<FindSummaryDoc['summary']>, n: number, chosen: string): string[] {
  const rows = Object.entries(sum.methods).map(([m, s]) => [
    m === chosen ? `**${mdText(m)}**` : mdText(m),
    lr(s.median),
    s.min === null || s.max === null ? '—' : `${lr(s.min)} – ${lr(s.max)}`,
    s.spread_decades === null || !Number.isFinite(s.spread_decades) ? '—' : `${s.spread_decades.toFixed(2)}`,
    `${s.answered}/${n}`,
  ]);
  const a = sum.agreement;
  const agree =
    a.ratio === null || !Number.isFinite(a.ratio)
      ? 'Agreement: fewer than two methods answered.'
      : `Agreement: the methods' medians span ${a.ratio.toFixed(1)}× — ${a.agree ? '✅ within' : '⚠️ not within'} \`find.agree_within\` = ${a.within}×.`;
  return [`#### Spread over ${n} repeats`, '', ...table(['method', 'median lr', 'min – max', 'decades', 'answered'], rows, ['l', 'r', 'r', 'r', 'r']), '', agree];
}

/** `find` (or the range test of `fit --lr auto`): the suggestions with the configured method marked. */
export function findSummaryMarkdown(doc: FindSummaryDoc): string {
  const ok = doc.suggested !== null && Number.isFinite(doc.suggested) && doc.stop.reason !== 'interrupted';
  const out: string[] = [];
  out.push(`### ${ok ? '✅' : '❌'} fastlr find · ${mdText(doc.name)}${doc.unfrozen ? ' (unfrozen)' : ''}`, '');
  out.push(
    ok
      ? `Suggested learning rate (**${mdText(doc.suggest)}**): **${lr(doc.suggested)}**`
      : `No **${mdText(doc.suggest)}** suggestion.`,
    '',
  );
  const rows = Object.entries(doc.suggestions).map(([m, s]) => {
    const chosen = m === doc.suggest;
    const name = chosen ? `**${mdText(m)}** ◀ configured` : mdText(m);
    if ('error' in s) return [name, '—', '—', `no suggestion: ${mdText(s.error)}`];
    return [name, chosen ? `**${lr(s.lr)}**` : lr(s.lr), num(s.loss), ''];
  });
  out.push(...table(['method', 'lr', 'loss', 'note'], rows, ['l', 'r', 'r', 'l']), '');
  if (doc.summary) out.push(...spreadMarkdown(doc.summary, doc.repeats?.length ?? 0, doc.suggest), '');
  const facts = [findStopText(doc), `backend ${mdCode(doc.backend)}`, secs(doc.seconds)];
  if (doc.seed !== undefined) facts.push(`seed ${doc.seed}`);
  out.push(facts.join(' · '));
  if (doc.run_dir) out.push('', `Run folder: ${mdCode(doc.run_dir)}`);
  return out.join('\n') + '\n';
}

function trainStopText(doc: TrainSummaryDoc): string {
  const done = doc.epochs.length;
  switch (doc.stop.reason) {
    case 'completed':
      return `completed ${done} epoch${done === 1 ? '' : 's'}`;
    case 'non_finite':
      return `diverged: the loss became NaN/infinite at step ${doc.stop.iteration}`;
    case 'diverged':
      return `diverged at step ${doc.stop.iteration}`;
    case 'interrupted':
      return `interrupted after ${done} epoch${done === 1 ? '' : 's'} (step ${doc.stop.iteration})`;
    default:
      return `stopped (${doc.stop.reason}) at step ${doc.stop.iteration}`;
  }
}

function lrSourceText(src: NonNullable<TrainSummaryDoc['lr_source']>): string {
  const v = `**${lrSpec(src.value)}**`;
  if (src.method === 'config') return `Learning rate ${v} from the config (\`fit.lr\`)`;
  return `Learning rate ${v}: the **${mdText(src.method)}** suggestion of the LR range test (\`lr: auto\`)`;
}

/** Metric columns in first-seen order over the epochs. */
function metricNames(epochs: readonly EpochRow[]): string[] {
  const names: string[] = [];
  for (const e of epochs) for (const k of Object.keys(e.metrics)) if (!names.includes(k)) names.push(k);
  return names;
}

const MAX_EPOCH_ROWS = 100;

function epochTable(epochs: readonly EpochRow[]): string[] {
  const metrics = metricNames(epochs);
  const shown = epochs.length > MAX_EPOCH_ROWS ? epochs.slice(epochs.length - MAX_EPOCH_ROWS) : epochs;
  const rows = shown.map((e) => [String(e.epoch), num(e.train_loss), num(e.valid_loss), ...metrics.map((m) => num(e.metrics[m])), secs(e.seconds)]);
  const out = table(['epoch', 'train_loss', 'valid_loss', ...metrics.map(mdText), 'time'], rows, ['r', 'r', 'r', ...metrics.map(() => 'r' as const), 'r']);
  if (shown.length < epochs.length) out.push('', `(the last ${MAX_EPOCH_ROWS} of ${epochs.length} epochs; all are in metrics.csv)`);
  return out;
}

/** Final values without the bare-metric duplicates of `valid_<metric>` (gateValues lists both). */
function finalRows(final: Readonly<Record<string, Num>>): string[][] {
  return Object.entries(final)
    .filter(([k, v]) => !(`valid_${k}` in final && final[`valid_${k}`] === v))
    .map(([k, v]) => [mdText(k), num(v)]);
}

/** `fit` / `finetune`: outcome, LR source, per-epoch table, final metrics, gates with ✅/❌. */
export function fitSummaryMarkdown(doc: TrainSummaryDoc): string {
  const failed = doc.gates.filter((g) => !g.pass);
  const ok = doc.exit_code !== undefined ? doc.exit_code === ExitCode.ok : doc.stop.reason === 'completed' && failed.length === 0;
  const what = doc.stage ? `${doc.command} (${doc.stage} stage)` : doc.command;
  const out: string[] = [];
  out.push(`### ${ok ? '✅' : '❌'} fastlr ${mdText(what)} · ${mdText(doc.name)}`, '');
  const facts = [trainStopText(doc), `backend ${mdCode(doc.backend)}`, secs(doc.seconds)];
  if (doc.seed !== undefined) facts.push(`seed ${doc.seed}`);
  if (doc.exit_code !== undefined) facts.push(`exit code ${doc.exit_code}`);
  out.push(facts.join(' · '), '');
  if (doc.lr_source) out.push(lrSourceText(doc.lr_source), '');
  if (failed.length) {
    out.push(`**Quality gates missed:** ${failed.map((g) => mdCode(`${g.name} ${g.expect.trim()}`)).join(', ')}`, '');
  }
  if (doc.frozen_stage) {
    const fe = doc.frozen_stage.epochs.length;
    const fv = finalRows(doc.frozen_stage.final).map(([k, v]) => `${k} ${v}`).join(', ');
    out.push(`Ran the frozen stage first (${fe} epoch${fe === 1 ? '' : 's'}${fv ? `; ${fv}` : ''}).`, '');
  }
  if (doc.epochs.length) {
    out.push('#### Epochs', '', ...epochTable(doc.epochs), '');
  }
  const fin = finalRows(doc.final);
  if (fin.length) {
    out.push('#### Final metrics', '', ...table(['metric', 'value'], fin, ['l', 'r']), '');
    if (doc.best && doc.best.value !== null) {
      out.push(`Best ${mdText(doc.best.monitor)}: ${num(doc.best.value)} (epoch ${doc.best.epoch})`, '');
    }
  }
  if (doc.gates.length) {
    const rows = doc.gates.map((g) => [mdText(g.name), `\`${mdCell(g.expect.trim())}\``, gateActual(g.actual), g.pass ? '✅' : '❌']);
    out.push('#### Gates', '', ...table(['gate', 'expect', 'actual', ''], rows, ['l', 'l', 'r', 'l']), '');
  }
  if (doc.run_dir) out.push(`Run folder: ${mdCode(doc.run_dir)}`, '');
  return out.join('\n').replace(/\n+$/, '') + '\n';
}

/**
 * Append `markdown` to the file named by GITHUB_STEP_SUMMARY. Does nothing when the variable is unset or empty.
 * A file that cannot be written rejects with a FastlrError (exit 1): callers that do not want a summary failure to
 * change a run's outcome catch it and print a warning.
 */
export async function appendStepSummary(markdown: string, env: Env = process.env): Promise<void> {
  const file = env.GITHUB_STEP_SUMMARY;
  if (!file) return;
  const text = markdown.endsWith('\n') ? markdown : `${markdown}\n`;
  try {
    await appendFile(file, `${text}\n`, 'utf8');
  } catch (e) {
    throw new FastlrError(`cannot append to GITHUB_STEP_SUMMARY (${file}): ${(e as Error).message}`, ExitCode.unexpected);
  }
}
