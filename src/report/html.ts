/**
 * report.html: one self-contained page per run folder — inline CSS and SVG, no JavaScript, no external
 * resource (a Content-Security-Policy of `default-src 'none'` enforces it), so it opens from a CI artifact
 * offline. It shows whatever the folder holds and never fails because a file is missing.
 */
import { execFileSync } from 'node:child_process';
import YAML from 'yaml';
import { fmtLr, fmtNum, rangeTestYMax } from './chart.js';
import { plottedCurve, stopText } from './find-text.js';
import { RunFolder } from './run-folder.js';
import { esc, lineChartSvg, type SvgChart, type SvgMark, type SvgSeries } from './svg.js';
import { readRunFolder, type FindData, type JsonObject, type RunData, type StageData } from './report-data.js';
import { METHOD_ORDER, checkedGates, gateText, runStatus } from './report-summary.js';
import { FASTLR_VERSION } from '../version.js';

/** Longest series drawn in one chart; longer ones are thinned to evenly spaced points (first and last kept). */
export const MAX_CHART_POINTS = 1000;

export const METHOD_COLORS: Record<string, string> = { valley: '#d62728', slide: '#2ca02c', steep: '#9467bd', minimum: '#ff7f0e' };

/** Indices of at most `max` evenly spaced points of `n`, always with the first and the last. */
export function thinIndices(n: number, max = MAX_CHART_POINTS): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < max; k++) out.push(Math.round((k * (n - 1)) / (max - 1)));
  return out;
}

function pick<T>(a: T[], idx: number[]): T[] {
  return idx.map((i) => a[i]!);
}

/** Element-wise median (curves must share their x: a range test's lr at step i does not depend on the run). */
export function medianCurve(curves: { x: number[]; y: number[] }[]): { x: number[]; y: number[] } | null {
  if (curves.length === 0) return null;
  const n = Math.min(...curves.map((c) => c.x.length));
  const ref = curves[0]!.x;
  for (const c of curves) {
    for (let i = 0; i < n; i++) if (Math.abs(c.x[i]! - ref[i]!) > 1e-6 * Math.abs(ref[i]!)) return null;
  }
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = curves.map((c) => c.y[i]!).filter(Number.isFinite).sort((a, b) => a - b);
    const m = v.length >> 1;
    y.push(v.length === 0 ? NaN : v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2);
  }
  return { x: ref.slice(0, n), y };
}

// ---- html pieces ----------------------------------------------------------------------------

const CSS = `
:root{--fg:#1b1b1b;--muted:#666;--line:#ddd;--ok:#1a7f37;--warn:#9a6700;--fail:#cf222e;--bg2:#f6f8fa}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0 auto;max-width:1340px;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:18px;margin:28px 0 8px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:15px;margin:18px 0 6px}
nav a{margin-right:14px}a{color:#0969da}
.status{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.status.ok{background:var(--ok)}.status.warn{background:var(--warn)}.status.fail{background:var(--fail)}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--fail);font-weight:600}.muted{color:var(--muted)}
table{border-collapse:collapse;margin:6px 0 12px}th,td{border:1px solid var(--line);padding:3px 9px;text-align:right;font-variant-numeric:tabular-nums}
th{background:var(--bg2)}td.l,th.l{text-align:left}tr.chosen td{font-weight:600;background:#fff8c5}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure.chart{margin:0;border:1px solid var(--line);border-radius:6px;padding:4px;background:#fff;flex:0 1 652px}
figure.chart svg{max-width:100%;height:auto;display:block}
figcaption{font-size:12px;color:var(--muted);padding:2px 6px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 14px;margin:6px 0}dt{color:var(--muted)}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
pre{background:var(--bg2);border:1px solid var(--line);border-radius:6px;padding:10px;overflow:auto;font-size:12.5px}
footer{margin-top:36px;color:var(--muted);font-size:12px}
@media print{nav{display:none}figure.chart{break-inside:avoid}}
`;

function figure(id: string, caption: string, chart: SvgChart): string {
  return `<figure class="chart" id="${esc(id)}" data-chart="${esc(id)}">\n${lineChartSvg(chart)}\n<figcaption>${caption}</figcaption></figure>`;
}

function num(v: number | null | undefined, f: (x: number) => string = fmtNum): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '<span class="muted">—</span>' : esc(f(v));
}

function table(head: string[], rows: string[][], opts: { leftCols?: number; rowClass?: (i: number) => string } = {}): string {
  const l = opts.leftCols ?? 1;
  const th = head.map((h, i) => `<th${i < l ? ' class="l"' : ''}>${esc(h)}</th>`).join('');
  const trs = rows.map((r, ri) => {
    const cls = opts.rowClass?.(ri);
    return `<tr${cls ? ` class="${cls}"` : ''}>${r.map((c, i) => `<td${i < l ? ' class="l"' : ''}>${c}</td>`).join('')}</tr>`;
  });
  return `<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${trs.join('\n')}\n</tbody></table>`;
}

// ---- sections -------------------------------------------------------------------------------

/** The x where a suggestion is marked on the curve (fastai's plotted point; `minimum` marks the minimum, lr/10 is suggested). */
function markX(method: string, s: { lr: number; point?: [number, number] }): [number, number | null] {
  if (s.point) return [s.point[0], s.point[1]];
  return [method === 'minimum' ? s.lr * 10 : s.lr, null];
}

export function findChart(f: FindData, title = 'LR range test'): SvgChart {
  const series: SvgSeries[] = [];
  let main: { x: number[]; y: number[] };
  if (f.repeats.length > 0) {
    const curves = f.repeats.map((r) => plottedCurve(r));
    curves.forEach((c, i) => series.push({ name: `repeat ${i + 1}`, x: c.x, y: c.y, color: '#1f77b4', width: 1, opacity: 0.35 }));
    main = medianCurve(curves) ?? plottedCurve(f);
    series.push({ name: 'median', x: main.x, y: main.y, color: '#1f77b4', width: 2.6 });
  } else {
    main = plottedCurve(f);
    series.push({ name: 'smoothed loss', x: main.x, y: main.y, width: 2 });
  }
  const marks: SvgMark[] = [];
  for (const m of METHOD_ORDER) {
    const s = f.suggestions[m];
    if (!s || !('lr' in s)) continue;
    const [x, y] = markX(m, s);
    marks.push({ x, y: y ?? s.loss, label: `${m} ${fmtLr(s.lr)}`, color: METHOD_COLORS[m] });
  }
  return {
    title,
    xLabel: 'learning rate (log scale)',
    yLabel: 'smoothed loss',
    logX: true,
    series,
    marks,
    yMax: rangeTestYMax(main.y),
  };
}

const STOP_REASONS = ['num_it', 'completed', 'diverged', 'non_finite', 'interrupted'];

function findSection(d: RunData): string {
  const f = d.find!;
  const out: string[] = ['<section id="find">', '<h2>LR range test</h2>'];
  const pts = plottedCurve(f).x.length;
  if (f.lrs.length >= 2) {
    const cap =
      f.repeats.length > 0
        ? `${f.repeats.length} range tests (thin) and their element-wise median (bold); suggestions from find.json.`
        : `smoothed loss of ${f.lrs.length} recorded steps, the last 5 left out as fastai plots it (${pts} points).`;
    out.push(`<div class="charts">${figure('chart-find', esc(cap), findChart(f, `LR range test${f.unfrozen ? ' (unfrozen)' : ''}`))}</div>`);
  } else {
    out.push('<p class="muted">too few recorded steps to draw the curve.</p>');
  }
  const rows = METHOD_ORDER.filter((m) => f.suggestions[m]).map((m) => {
    const s = f.suggestions[m]!;
    const name = `<span style="color:${METHOD_COLORS[m]}">●</span> ${esc(m)}${m === f.suggest ? ' (chosen: find.suggest)' : ''}`;
    return 'lr' in s ? [name, num(s.lr, fmtLr), num(s.loss)] : [name, `<span class="muted">no suggestion: ${esc(s.error)}</span>`, ''];
  });
  const extra = Object.keys(f.suggestions).filter((m) => !METHOD_ORDER.includes(m));
  for (const m of extra) {
    const s = f.suggestions[m]!;
    rows.push('lr' in s ? [esc(m), num(s.lr, fmtLr), num(s.loss)] : [esc(m), esc(s.error), '']);
  }
  const chosenRow = METHOD_ORDER.filter((m) => f.suggestions[m]).indexOf(f.suggest ?? '');
  if (rows.length) out.push(table(['method', 'suggested lr', 'loss at the mark'], rows, { rowClass: (i) => (i === chosenRow ? 'chosen' : '') }));
  if (f.spread.length) out.push(spreadTable(f));
  const facts: string[] = [];
  if (f.stop) {
    facts.push(
      STOP_REASONS.includes(f.stop.reason)
        ? stopText({ stop: f.stop as Parameters<typeof stopText>[0]['stop'] }, f.numIt ?? f.lrs.length)
        : `stopped: ${f.stop.reason} after ${f.stop.iteration} iterations`,
    );
  }
  if (f.startLr !== null && f.endLr !== null) facts.push(`lr from ${fmtLr(f.startLr)} to ${fmtLr(f.endLr)} over ${f.numIt ?? '?'} iterations`);
  if (f.seconds !== null) facts.push(`${f.seconds.toFixed(2)} s`);
  if (facts.length) out.push(`<p>${esc(facts.join('; '))}.</p>`);
  if (d.lrSource && d.command !== 'find') out.push(lrSourceLine(d.lrSource));
  out.push('</section>');
  return out.join('\n');
}

/** `find --repeats N`: per method the median, min–max and spread in decades, and the methods' agreement. */
function spreadTable(f: FindData): string {
  const n = f.repeats.length;
  const order = [...METHOD_ORDER.filter((m) => f.spread.some((r) => r.method === m)), ...f.spread.map((r) => r.method).filter((m) => !METHOD_ORDER.includes(m))];
  const rows = order.map((m) => {
    const r = f.spread.find((x) => x.method === m)!;
    const name = `${esc(m)}${m === f.suggest ? ' (chosen)' : ''}`;
    return r.median === null
      ? [name, '<span class="muted">no repeat answered</span>', '', '', `0/${n}`]
      : [name, num(r.median, fmtLr), `${num(r.min, fmtLr)} – ${num(r.max, fmtLr)}`, num(r.spread_decades, (v) => `${v.toFixed(2)} dec`), `${r.answered}/${n}`];
  });
  const a = f.agreement;
  const agree = !a
    ? ''
    : a.ratio === null
      ? '<p id="agreement" class="muted">Agreement: fewer than two methods answered.</p>'
      : `<p id="agreement">Agreement: the methods' medians span <b>${esc(a.ratio.toFixed(1))}×</b>, <span class="${a.agree ? 'pass' : 'fail'}">${a.agree ? 'within' : 'NOT within'}</span> <code>find.agree_within</code> = ${esc(String(a.within))}×.</p>`;
  return `<h3>Spread over ${n} repeats</h3>\n${table(['method', 'median lr', 'min – max', 'spread (log10 max/min)', 'answered'], rows, { rowClass: (i) => (order[i] === f.suggest ? 'chosen' : '') })}\n${agree}`;
}

function lrSourceLine(src: JsonObject): string {
  const v = src.value;
  const val = typeof v === 'number' ? fmtLr(v) : JSON.stringify(v);
  return src.method === 'config'
    ? `<p>The fit used the configured learning rate <b>${esc(val)}</b>.</p>`
    : `<p>The fit used the <b>${esc(String(src.method))}</b> suggestion <b>${esc(val)}</b> (<code>fit.lr: auto</code>).</p>`;
}

function stageCharts(s: StageData): string[] {
  const figs: string[] = [];
  const id = (k: string): string => `chart-${s.name}-${k}`;
  const ep = s.epochs;
  if (ep.length) {
    const x = ep.map((e) => e.epoch);
    figs.push(
      figure(id('loss'), `train and valid loss per epoch (${ep.length} epochs)`, {
        title: 'loss per epoch',
        xLabel: 'epoch',
        yLabel: 'loss',
        xIntegers: true,
        series: [
          { name: 'train_loss', x, y: ep.map((e) => e.train_loss), dots: true },
          { name: 'valid_loss', x, y: ep.map((e) => e.valid_loss), dots: true },
        ],
      }),
    );
    const names = [...new Set(ep.flatMap((e) => Object.keys(e.metrics)))];
    for (const m of names) {
      figs.push(
        figure(id(`metric-${m}`), `valid ${esc(m)} per epoch`, {
          title: `valid ${m}`,
          xLabel: 'epoch',
          yLabel: m,
          xIntegers: true,
          series: [{ name: m, x, y: ep.map((e) => e.metrics[m] ?? NaN), dots: true, color: '#2ca02c' }],
        }),
      );
    }
  }
  const sc = s.schedule;
  if (sc && sc.iter.length) {
    const idx = thinIndices(sc.iter.length);
    const x = pick(sc.iter, idx);
    const thinned = idx.length < sc.iter.length ? `; ${idx.length} of ${sc.iter.length} steps drawn` : '';
    if (sc.lr.length) {
      figs.push(
        figure(id('lr'), `learning rate of each parameter group per step (${sc.lr.length} group${sc.lr.length > 1 ? 's' : ''}${thinned})`, {
          title: 'learning rate schedule',
          xLabel: 'training step',
          yLabel: 'learning rate',
          xIntegers: true,
          series: sc.lr.map((g, i) => ({ name: `group ${i}`, x, y: pick(g, idx) })),
        }),
      );
    }
    figs.push(
      figure(id('mom'), `momentum (Adam β1 / SGD momentum) per step${thinned}`, {
        title: 'momentum schedule',
        xLabel: 'training step',
        yLabel: 'momentum',
        xIntegers: true,
        series: [{ name: 'mom', x, y: pick(sc.mom, idx), color: '#9467bd' }],
      }),
    );
    figs.push(
      figure(id('batch-loss'), `training loss per step: raw (thin) and smoothed (bold)${thinned}`, {
        title: 'training loss per step',
        xLabel: 'training step',
        yLabel: 'loss',
        xIntegers: true,
        series: [
          { name: 'loss', x, y: pick(sc.loss, idx), color: '#1f77b4', width: 1, opacity: 0.45 },
          { name: 'smooth_loss', x, y: pick(sc.smooth, idx), color: '#1f77b4', width: 2 },
        ],
      }),
    );
  }
  return figs;
}

const STAGE_TITLES: Record<string, string> = {
  fit: 'one-cycle fit',
  frozen: 'finetune, stage 1: body frozen',
  unfrozen: 'finetune, stage 2: unfrozen, discriminative learning rates',
};

function stageSection(s: StageData): string {
  const out: string[] = [`<h3 id="stage-${esc(s.name)}">${esc(STAGE_TITLES[s.name] ?? s.name)}${s.dir ? ` <span class="muted">(${esc(s.dir)}/)</span>` : ''}</h3>`];
  const facts: string[] = [];
  if (s.stop) facts.push(`stop: ${s.stop.reason}`);
  if (!s.doc) facts.push('no report.json: values from metrics.csv / schedule.csv');
  if (s.seconds !== null) facts.push(`${s.seconds.toFixed(1)} s`);
  if (s.exitCode !== null) facts.push(`exit code ${s.exitCode}`);
  facts.push(s.hasModel ? 'model saved' : 'no model saved');
  const best = s.doc && typeof s.doc.best === 'object' && s.doc.best !== null && !Array.isArray(s.doc.best) ? s.doc.best : null;
  if (best && typeof best.value === 'number') facts.push(`best ${String(best.monitor)} ${fmtNum(best.value)} at epoch ${String(best.epoch)}`);
  out.push(`<p>${esc(facts.join('; '))}.</p>`);
  if (s.epochs.length) {
    const names = [...new Set(s.epochs.flatMap((e) => Object.keys(e.metrics)))];
    out.push(
      table(
        ['epoch', 'train_loss', 'valid_loss', ...names, 'seconds'],
        s.epochs.map((e) => [num(e.epoch, String), num(e.train_loss), num(e.valid_loss), ...names.map((m) => num(e.metrics[m])), num(e.seconds, (v) => v.toFixed(2))]),
        { leftCols: 0 },
      ),
    );
  } else {
    out.push('<p class="muted">no epoch finished.</p>');
  }
  const figs = stageCharts(s);
  if (figs.length) out.push(`<div class="charts">\n${figs.join('\n')}\n</div>`);
  return out.join('\n');
}

function gatesSection(d: RunData): string {
  const out: string[] = ['<section id="gates">', '<h2>Quality gates (<code>expect:</code>)</h2>'];
  const gates = checkedGates(d);
  if (gates) {
    out.push(
      table(
        ['gate', 'expect', 'actual', 'result'],
        gates.map((g) => [esc(g.name), esc(g.expect), num(g.actual, (v) => String(Number(v.toPrecision(6)))), g.pass ? '<span class="pass">pass</span>' : '<span class="fail">FAIL</span>']),
        { leftCols: 2 },
      ),
    );
    out.push(`<pre>${esc(gates.map(gateText).join('\n'))}</pre>`);
  } else if (Object.keys(d.expect).length) {
    const why = d.stages.length ? 'the training did not complete' : 'gates are checked after fit and finetune';
    out.push(`<p>Not checked: ${esc(why)}.</p>`);
    out.push(table(['gate', 'expect', 'result'], Object.entries(d.expect).map(([k, v]) => [esc(k), esc(v), '<span class="muted">not checked</span>']), { leftCols: 2 }));
  } else {
    out.push('<p class="muted">The config sets no <code>expect:</code> gates.</p>');
  }
  out.push('</section>');
  return out.join('\n');
}

function provenanceSection(d: RunData): string {
  const p = d.provenance;
  const rows: [string, string][] = [];
  const add = (k: string, v: string | number | null | undefined): void => {
    if (v !== null && v !== undefined && v !== '') rows.push([k, String(v)]);
  };
  add('fastlr', p.fastlr);
  add('tfjs', p.tfjs);
  add('node', p.node);
  add('backend', p.backend);
  for (const s of p.backendSkipped) add(`skipped ${s.name}`, s.reason);
  add('seed', p.seed);
  add('command line', p.argv ? p.argv.map(shellQuote).join(' ') : null);
  add('config file', p.config);
  add('config hash', p.configHash);
  if (p.gitCommit) {
    add('git commit', p.gitCommitSource === 'run' ? p.gitCommit : `${p.gitCommit} (HEAD of the working directory when this report was first written${p.gitCommitWhen ? `, ${p.gitCommitWhen}` : ''}; the run did not record one)`);
  }
  add('run folder', d.dir);
  const dl = rows.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join('\n');
  return `<section id="provenance">\n<h2>Provenance</h2>\n<dl>\n${dl}\n</dl>\n</section>`;
}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

const PLAN_EXTRAS = ['backend_used', 'threads_used', 'config_hash', 'lr_source', 'lr_resolved', 'argv', 'git_commit'];

function configSection(d: RunData): string {
  if (!d.plan) return '<section id="config">\n<h2>Resolved config</h2>\n<p class="muted">plan.json is missing.</p>\n</section>';
  const plan = Object.fromEntries(Object.entries(d.plan).filter(([k]) => !PLAN_EXTRAS.includes(k)));
  const yaml = YAML.stringify(plan, { lineWidth: 0 });
  return `<section id="config">\n<h2>Resolved config</h2>\n<p class="muted">Every default filled in (plan.json).</p>\n<pre>${esc(yaml)}</pre>\n</section>`;
}

function filesSection(d: RunData): string {
  const items = d.files.map((f) => `<li><a href="${esc(encodeURI(f))}">${esc(f)}</a></li>`).join('\n');
  const problems = d.problems.length ? `<h3>Problems reading the folder</h3>\n<ul>\n${d.problems.map((p) => `<li class="fail">${esc(p)}</li>`).join('\n')}\n</ul>` : '';
  return `<section id="files">\n<h2>Files</h2>\n<ul>\n${items}\n</ul>\n${problems}\n</section>`;
}

// ---- the page -------------------------------------------------------------------------------

export interface RenderOptions {
  /** the time written in the footer (ISO); default now */
  generatedAt?: string;
}

export function renderReportHtml(d: RunData, o: RenderOptions = {}): string {
  const status = runStatus(d);
  const name = d.provenance.name ?? '';
  const title = `fastlr ${d.command}${name ? `: ${name}` : ''}`;
  const sections: string[] = [];
  const nav: [string, string][] = [];
  if (d.find) {
    sections.push(findSection(d));
    nav.push(['find', 'LR range test']);
  }
  if (d.stages.length) {
    sections.push(['<section id="training">', '<h2>Training</h2>', ...(d.lrSource && !d.find ? [lrSourceLine(d.lrSource)] : []), ...d.stages.map(stageSection), '</section>'].join('\n'));
    nav.push(['training', 'Training']);
  }
  sections.push(gatesSection(d));
  nav.push(['gates', 'Gates']);
  sections.push(provenanceSection(d));
  nav.push(['provenance', 'Provenance']);
  sections.push(configSection(d));
  nav.push(['config', 'Config']);
  sections.push(filesSection(d));
  nav.push(['files', 'Files']);
  const git = d.provenance.gitCommit
    ? `\n<meta name="fastlr-git-commit" content="${esc(d.provenance.gitCommit)}">` +
      (d.provenance.gitCommitSource === 'report' && d.provenance.gitCommitWhen ? `\n<meta name="fastlr-git-when" content="${esc(d.provenance.gitCommitWhen)}">` : '')
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="fastlr ${esc(FASTLR_VERSION)}">${git}
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>${esc(title)}</h1>
<p><span class="status ${status.kind}" id="status">${esc(status.text)}</span> <span class="muted">${esc(d.dir)}</span></p>
<nav>${nav.map(([id, t]) => `<a href="#${id}">${esc(t)}</a>`).join('')}</nav>
</header>
<main>
${sections.join('\n')}
</main>
<footer>Written by fastlr ${esc(FASTLR_VERSION)} at ${esc(o.generatedAt ?? new Date().toISOString())}. Rebuild with <code>fastlr report ${esc(shellQuote(d.dir))}</code>.</footer>
</body>
</html>
`;
}

/** HEAD of the git checkout at `cwd`, or null (not a repository, no git, any failure). Read-only. */
export function gitHead(cwd: string = process.cwd()): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000, encoding: 'utf8' }).trim();
    return /^[0-9a-f]{7,64}$/.test(out) ? out : null;
  } catch {
    return null;
  }
}

export interface WriteReportOptions extends RenderOptions {
  /** how to find the git commit when the run recorded none: default `git rev-parse HEAD` in the cwd; false: never */
  gitHead?: (() => string | null) | false;
}

/**
 * Read the run folder, render report.html and write it atomically into the folder.
 * Throws FastlrError (exit 2) when `runDir` is not a run folder; damaged files only become notes.
 */
export async function writeReportHtml(runDir: string, o: WriteReportOptions = {}): Promise<{ path: string; data: RunData }> {
  const head = o.gitHead === false ? undefined : (o.gitHead ?? (() => gitHead()));
  const data = readRunFolder(runDir, { gitHead: head });
  const html = renderReportHtml(data, o);
  const path = await RunFolder.at(data.dir).writeText('report.html', html);
  return { path, data };
}

/** For the end of find/fit/finetune: write report.html, and return an error message instead of throwing. */
export async function tryWriteReportHtml(runDir: string, o: WriteReportOptions = {}): Promise<{ path: string } | { error: string }> {
  try {
    return { path: (await writeReportHtml(runDir, o)).path };
  } catch (e) {
    return { error: `report.html not written: ${(e as Error).message}` };
  }
}
