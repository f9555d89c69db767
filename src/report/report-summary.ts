/** What a run came to, in a few lines (`fastlr report`) or one JSON document (`fastlr report --json`). */
import { fmtLr, fmtNum } from './chart.js';
import type { GateRow, RunData, SpreadRow, StageData, SuggestionData } from './report-data.js';

export type StatusKind = 'ok' | 'warn' | 'fail';

export interface RunStatus {
  kind: StatusKind;
  text: string;
}

export const METHOD_ORDER = ['valley', 'slide', 'steep', 'minimum'];

/** The stage whose result is the run's result: the last one written. */
export function lastStage(d: RunData): StageData | null {
  return d.stages[d.stages.length - 1] ?? null;
}

/** The gates that were checked, from the last stage that checked any. */
export function checkedGates(d: RunData): GateRow[] | null {
  for (let i = d.stages.length - 1; i >= 0; i--) {
    const g = d.stages[i]!.gates;
    if (g && g.length) return g;
  }
  return null;
}

export function gateText(g: GateRow): string {
  return `${g.pass ? 'pass' : 'FAIL'}  ${g.name} ${g.expect}  (got ${g.actual === null ? 'nothing' : Number(g.actual.toPrecision(6))})`;
}

export function runStatus(d: RunData): RunStatus {
  const st = lastStage(d);
  if (st) {
    const where = st.dir ? `${st.name} stage ` : '';
    if (!st.doc) return { kind: 'warn', text: `${where}incomplete: no report.json (the run ended before writing its result)` };
    const reason = st.stop?.reason ?? 'unknown';
    if (reason === 'interrupted') return { kind: 'warn', text: `${where}interrupted after ${st.epochs.length} epoch(s); resume with --resume` };
    if (reason === 'non_finite' || reason === 'diverged') return { kind: 'fail', text: `${where}diverged: the loss became NaN or infinite` };
    const failed = (st.gates ?? []).filter((g) => !g.pass);
    if (failed.length) return { kind: 'fail', text: `quality gates missed: ${failed.map((g) => `${g.name} ${g.expect}`).join('; ')}` };
    if (reason === 'completed') {
      const n = (st.gates ?? []).length;
      return { kind: 'ok', text: `${where}completed ${st.epochs.length} epoch(s)${n ? `; ${n} gate(s) passed` : ''}` };
    }
    return { kind: 'warn', text: `${where}stopped: ${reason}` };
  }
  const f = d.find;
  if (f) {
    if (f.stop?.reason === 'interrupted') return { kind: 'warn', text: `range test interrupted after ${f.stop.iteration} iterations` };
    if (f.suggested !== null && Number.isFinite(f.suggested)) {
      return { kind: 'ok', text: `suggested lr (${f.suggest ?? '?'}): ${fmtLr(f.suggested)}` };
    }
    return { kind: 'fail', text: `no ${f.suggest ?? ''} suggestion`.replace('  ', ' ') };
  }
  return { kind: 'warn', text: 'nothing recorded yet (plan.json only)' };
}

export interface RunSummary {
  run_dir: string;
  command: string;
  name: string | null;
  status: RunStatus;
  backend: string | null;
  seed: number | null;
  versions: { fastlr: string | null; tfjs: string | null; node: string | null };
  argv: string[] | null;
  config: string | null;
  config_hash: string | null;
  git_commit: string | null;
  find: {
    suggest: string | null;
    suggested: number | null;
    suggestions: Record<string, SuggestionData>;
    stop: { reason: string; iteration: number } | null;
    points: number;
    repeats: number;
    /** find --repeats: per method median, min, max, spread in decades; and the methods' agreement */
    spread: SpreadRow[];
    agreement: { within: number; ratio: number | null; agree: boolean } | null;
  } | null;
  lr_source: unknown;
  stages: {
    name: string;
    dir: string;
    epochs: number;
    stop: { reason: string; iteration: number } | null;
    final: Record<string, number>;
    exit_code: number | null;
    model: boolean;
  }[];
  expect: Record<string, string>;
  gates: GateRow[] | null;
  report_html: string;
  problems: string[];
}

export function summarizeRun(d: RunData, reportHtml: string): RunSummary {
  const p = d.provenance;
  return {
    run_dir: d.dir,
    command: d.command,
    name: p.name,
    status: runStatus(d),
    backend: p.backend,
    seed: p.seed,
    versions: { fastlr: p.fastlr, tfjs: p.tfjs, node: p.node },
    argv: p.argv,
    config: p.config,
    config_hash: p.configHash,
    git_commit: p.gitCommit,
    find: d.find
      ? {
          suggest: d.find.suggest,
          suggested: d.find.suggested,
          suggestions: d.find.suggestions,
          stop: d.find.stop,
          points: d.find.lrs.length,
          repeats: d.find.repeats.length,
          spread: d.find.spread,
          agreement: d.find.agreement,
        }
      : null,
    lr_source: d.lrSource,
    stages: d.stages.map((s) => ({
      name: s.name,
      dir: s.dir,
      epochs: s.epochs.length,
      stop: s.stop,
      final: Object.keys(s.final).length ? s.final : finalFromEpochs(s),
      exit_code: s.exitCode,
      model: s.hasModel,
    })),
    expect: d.expect,
    gates: checkedGates(d),
    report_html: reportHtml,
    problems: d.problems,
  };
}

/** Last epoch's values when the stage wrote no report.json (an interrupted or killed run). */
function finalFromEpochs(s: StageData): Record<string, number> {
  const e = s.epochs[s.epochs.length - 1];
  if (!e) return {};
  const out: Record<string, number> = { train_loss: e.train_loss, valid_loss: e.valid_loss };
  for (const [k, v] of Object.entries(e.metrics)) out[`valid_${k}`] = v;
  return out;
}

const ANSI: Record<StatusKind, string> = { ok: '\u001b[32m', warn: '\u001b[33m', fail: '\u001b[31m' };

/** The human summary, one fact per line. */
export function summaryLines(s: RunSummary, color: boolean): string[] {
  const paint = (k: StatusKind, t: string): string => (color ? `${ANSI[k]}${t}\u001b[0m` : t);
  const lines: string[] = [];
  lines.push(`run       ${s.run_dir}`);
  lines.push(`command   ${s.command}${s.name ? ` (${s.name})` : ''}: ${paint(s.status.kind, s.status.text)}`);
  const v = s.versions;
  lines.push(
    `backend   ${s.backend ?? 'unknown'}; seed ${s.seed ?? '?'}; fastlr ${v.fastlr ?? '?'}, tfjs ${v.tfjs ?? '?'}, node ${v.node ?? '?'}`,
  );
  if (s.argv) lines.push(`argv      ${s.argv.join(' ')}`);
  if (s.config_hash || s.git_commit) {
    lines.push(`config    ${s.config ?? ''}${s.config_hash ? ` hash ${s.config_hash.slice(0, 12)}` : ''}${s.git_commit ? `; git ${s.git_commit.slice(0, 12)}` : ''}`);
  }
  if (s.find) {
    const parts = METHOD_ORDER.filter((m) => s.find!.suggestions[m]).map((m) => {
      const x = s.find!.suggestions[m]!;
      const mark = m === s.find!.suggest ? '*' : '';
      return 'lr' in x ? `${m}${mark} ${fmtLr(x.lr)}` : `${m}${mark} none`;
    });
    lines.push(`find      ${parts.join(', ') || 'no suggestions'}${s.find.stop ? `  (stop: ${s.find.stop.reason} at ${s.find.stop.iteration})` : ''}`);
    if (s.find.spread.length) {
      const n = s.find.repeats;
      const spread = s.find.spread.map((r) => (r.median === null || r.min === null || r.max === null ? `${r.method} none` : `${r.method} ${fmtLr(r.min)}..${fmtLr(r.max)} (${(r.spread_decades ?? 0).toFixed(2)} dec, ${r.answered}/${n})`));
      lines.push(`spread    ${n} repeats, medians above: ${spread.join(', ')}`);
      const a = s.find.agreement;
      if (a) lines.push(`agree     ${a.ratio === null ? 'fewer than two methods answered' : `the methods' medians span ${a.ratio.toFixed(1)}x: ${a.agree ? 'within' : 'NOT within'} ${a.within}x (find.agree_within)`}`);
    }
  }
  for (const st of s.stages) {
    const fin = Object.entries(st.final)
      .filter(([k]) => k.startsWith('valid_') || !(`valid_${k}` in st.final)) // metrics appear as both m and valid_m
      .map(([k, val]) => `${k} ${fmtNum(val)}`)
      .join(', ');
    lines.push(`${st.name.padEnd(9)} ${st.epochs} epoch(s), ${st.stop?.reason ?? 'no result'}${fin ? `: ${fin}` : ''}`);
  }
  if (s.gates) {
    for (const g of s.gates) lines.push(`gate      ${paint(g.pass ? 'ok' : 'fail', gateText(g))}`);
  } else if (Object.keys(s.expect).length) {
    lines.push(`gates     not checked (${Object.entries(s.expect).map(([k, e]) => `${k} ${e}`).join('; ')})`);
  }
  for (const p of s.problems) lines.push(`problem   ${p}`);
  lines.push(`report    ${s.report_html}`);
  return lines;
}
