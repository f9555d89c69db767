import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { parse, type DefaultTreeAdapterMap } from 'parse5';
import { rangeTestLr, suggest } from '../src/schedule/index.js';
import { FastlrError } from '../src/errors.js';
import { MAX_CHART_POINTS, medianCurve, thinIndices, writeReportHtml } from '../src/report/html.js';
import { lineChartSvg } from '../src/report/svg.js';
import { readRunFolder } from '../src/report/report-data.js';
import { runReport } from '../src/commands/report.js';
import { CHROMIUM, CHROMIUM_SKIP, HARNESS, chromium, consoleLines, type BrowserView } from './helpers/chromium.js';

// ---------------------------------------------------------------------------------------------
// Synthetic run folders, with the shapes the lead's commands write (src/commands/{find,fit,finetune}.ts,
// train-stage.ts: plan.json, find.json, report.json, metrics.csv, schedule.csv).

const ROOT = mkdtempSync(join(tmpdir(), 'fastlr-report-'));
afterAll(() => rmSync(ROOT, { recursive: true, force: true }));
let folderCount = 0;
function newRunDir(name: string): string {
  const d = join(ROOT, `r${folderCount++}`, `${name}-20261125-181502-123`);
  mkdirSync(d, { recursive: true });
  return d;
}
const VERSIONS = { fastlr: '0.1.0', tfjs: '4.22.0', node: '20.20.2' };
const json = (dir: string, rel: string, doc: unknown): void => {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2));
};
const csv = (dir: string, rel: string, rows: (string | number)[][]): void => {
  mkdirSync(join(dir, rel, '..'), { recursive: true });
  writeFileSync(join(dir, rel), rows.map((r) => r.map((v) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v)).join(',')).join('\n') + '\n');
};

function planDoc(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'demo',
    seed: 7,
    backend: 'auto',
    data: { source: 'synthetic', valid_pct: 0.2, batch_size: 32, shuffle: true, drop_last: true, mnist: { digits: null, limit: null }, synthetic: { task: 'classification', n: 640, features: 4, classes: 3, noise: 0.1 } },
    model: { input: [4], layers: [{ type: 'dense', units: 8, activation: 'relu', use_bias: true }, { type: 'dense', units: 3, activation: 'linear', use_bias: true }], cut: -1, groups: [1], train_bn: true },
    loss: 'cross_entropy',
    metrics: ['accuracy'],
    optimizer: { type: 'adam', wd: 0.01, beta2: 0.99, eps: 1e-5, mom: 0.9 },
    find: { start_lr: 1e-7, end_lr: 10, num_it: 100, stop_div: true, suggest: 'valley', repeats: 1, agree_within: 3 },
    fit: { epochs: 3, lr: 'auto', div: 25, div_final: 1e5, pct_start: 0.25, moms: [0.95, 0.85, 0.95], monitor: 'valid_loss' },
    finetune: { freeze_epochs: 1, epochs: 1, base_lr: 2e-3, lr_mult: 100, pct_start: 0.3, div: 5 },
    expect: { valid_accuracy: '>= 0.9', valid_loss: '<= 0.5' },
    output: 'runs/demo',
    backend_used: 'cpu',
    config_hash: 'f00dfeedcafe0123456789abcdef',
    ...extra,
  };
}

/** A U-shaped range-test curve over `n` steps (lrs as the range test records them). */
function curve(n: number, numIt = 100, bump = 0): { lrs: number[]; losses: number[] } {
  const lrs = Array.from({ length: n }, (_, i) => rangeTestLr(i, 1e-7, 10, numIt));
  const losses = lrs.map((lr) => {
    const l = Math.log10(lr);
    return 2.3 - 1.5 / (1 + Math.exp(-(l + 4) * 2)) + Math.max(0, l + 1.5) ** 2 * 0.8 + bump;
  });
  return { lrs, losses };
}

function findDocOf(n = 100, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const { lrs, losses } = curve(n);
  const sug = suggest(lrs, losses, { numIt: 100, methods: ['valley', 'slide', 'steep', 'minimum'] });
  const suggestions: Record<string, unknown> = {};
  for (const [m, s] of Object.entries(sug)) suggestions[m] = 'lr' in s ? { lr: s.lr, loss: s.loss } : { error: s.error };
  const v = sug.valley;
  return {
    command: 'find',
    name: 'demo',
    versions: VERSIONS,
    backend: 'cpu',
    backend_skipped: [{ name: 'tensorflow', reason: 'not installed' }],
    seed: 7,
    config: 'configs/demo.yaml',
    config_hash: 'f00dfeedcafe0123456789abcdef',
    num_it: 100,
    start_lr: 1e-7,
    end_lr: 10,
    unfrozen: false,
    lrs,
    losses,
    raw_losses: losses.map((l) => l + 0.01),
    stop: { reason: n < 100 ? 'diverged' : 'num_it', iteration: n },
    suggestions,
    suggest: 'valley',
    suggested: 'lr' in v ? v.lr : null,
    seconds: 1.25,
    run_dir: '/somewhere',
    files: { find_json: 'find.json', find_svg: 'find.svg', plan_json: 'plan.json' },
    argv: ['fastlr', 'find', 'configs/demo.yaml', '--seed', '7', '--set', 'fit.lr=auto'],
    ...extra,
  };
}

interface Epoch {
  epoch: number;
  train_loss: number;
  valid_loss: number;
  metrics: Record<string, number>;
  seconds: number;
}
function epochsOf(n: number): Epoch[] {
  return Array.from({ length: n }, (_, e) => ({ epoch: e, train_loss: 1 / (e + 1), valid_loss: 1.1 / (e + 1), metrics: { accuracy: 0.7 + 0.1 * e }, seconds: 2.5 }));
}

/** metrics.csv and schedule.csv of one stage, as runStage writes them. */
function stageFiles(dir: string, prefix: string, epochs: Epoch[], groups: number, batches: number): void {
  const p = (f: string): string => (prefix ? `${prefix}/${f}` : f);
  csv(dir, p('metrics.csv'), [
    ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'seconds'],
    ...epochs.map((e) => [e.epoch, e.train_loss, e.valid_loss, e.metrics.accuracy ?? NaN, e.seconds]),
  ]);
  const rows: (string | number)[][] = [['iter', 'epoch', 'batch', ...Array.from({ length: groups }, (_, g) => `lr_${g}`), 'mom', 'loss', 'smooth_loss']];
  const total = epochs.length * batches;
  for (let i = 0; i < total; i++) {
    const pos = i / total;
    const lr = 1e-3 * Math.sin(Math.PI * pos) + 1e-5;
    rows.push([i, Math.floor(i / batches), i % batches, ...Array.from({ length: groups }, (_, g) => lr / 10 ** (groups - 1 - g)), 0.95 - 0.1 * Math.sin(Math.PI * pos), 2 - pos, 2.05 - pos]);
  }
  csv(dir, p('schedule.csv'), rows);
}

function fitReportDoc(epochs: Epoch[], gates: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const last = epochs[epochs.length - 1]!;
  return {
    command: 'fit',
    name: 'demo',
    versions: VERSIONS,
    backend: 'cpu',
    backend_skipped: [],
    seed: 7,
    config: 'configs/demo.yaml',
    config_hash: 'f00dfeedcafe0123456789abcdef',
    plan: { epochs: epochs.length, lr_max: [1e-4, 1e-3], groups: 2, batch_size: 32, batches_per_epoch: 20, train_items: 512, valid_items: 128 },
    lr_source: { method: 'valley', value: 1.1e-3, find_json: '/x/find.json' },
    epochs,
    final: { train_loss: last.train_loss, valid_loss: last.valid_loss, accuracy: 0.9, valid_accuracy: 0.9 },
    best: { monitor: 'valid_loss', value: last.valid_loss, epoch: last.epoch },
    gates,
    stop: { reason: 'completed', iteration: epochs.length * 20 },
    exit_code: 0,
    run_dir: '/x',
    files: {},
    seconds: 7.5,
    ...extra,
  };
}

const GATES_OK = [
  { name: 'valid_accuracy', expect: '>= 0.9', actual: 0.9, pass: true },
  { name: 'valid_loss', expect: '<= 0.5', actual: 0.3667, pass: true },
];

/** find-only run */
function findRun(n = 100, extra: Record<string, unknown> = {}): string {
  const d = newRunDir('find');
  json(d, 'plan.json', planDoc());
  json(d, 'find.json', findDocOf(n, extra));
  writeFileSync(join(d, 'find.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
  return d;
}

/** fit with lr: auto (so find.json too), 3 epochs of 20 batches, 2 parameter groups */
function fitRun(gates = GATES_OK, o: { groups?: number; batches?: number } = {}): string {
  const d = newRunDir('fit');
  const ep = epochsOf(3);
  json(d, 'plan.json', planDoc({ lr_source: { method: 'valley', value: 1.1e-3 }, lr_resolved: 1.1e-3 }));
  json(d, 'find.json', findDocOf(100));
  stageFiles(d, '', ep, o.groups ?? 2, o.batches ?? 20);
  json(d, 'report.json', fitReportDoc(ep, gates));
  mkdirSync(join(d, 'model'));
  writeFileSync(join(d, 'model', 'model.json'), '{}');
  return d;
}

/** finetune --unfreeze that ran its frozen stage in the same command (frozen/ has no report.json) */
function finetuneRun(): string {
  const d = newRunDir('finetune');
  json(d, 'plan.json', planDoc());
  stageFiles(d, 'frozen', epochsOf(1), 2, 10);
  const ep = epochsOf(2);
  stageFiles(d, 'unfrozen', ep, 2, 10);
  json(d, 'unfrozen/report.json', {
    ...fitReportDoc(ep, [{ name: 'valid_accuracy', expect: '>= 0.9', actual: 0.8, pass: false }], { exit_code: 4 }),
    command: 'finetune',
    stage: 'unfrozen',
    groups: [[0], [1]],
    frozen_stage: { epochs: epochsOf(1), final: {} },
    lr_source: undefined,
  });
  return d;
}

// ---------------------------------------------------------------------------------------------
// A small spec-compliant DOM view over parse5 (the same tree a browser builds).

type Node = DefaultTreeAdapterMap['node'];
type Element = DefaultTreeAdapterMap['element'];
const isEl = (n: Node): n is Element => 'tagName' in n;
function all(n: Node, pred: (e: Element) => boolean, out: Element[] = []): Element[] {
  if (isEl(n) && pred(n)) out.push(n);
  const kids = 'childNodes' in n ? n.childNodes : [];
  for (const k of kids) all(k, pred, out);
  if (isEl(n) && n.tagName === 'template') all((n as DefaultTreeAdapterMap['template']).content, pred, out);
  return out;
}
const attr = (e: Element, name: string): string | undefined => e.attrs.find((a) => a.name === name)?.value;
const hasClass = (e: Element, c: string): boolean => (attr(e, 'class') ?? '').split(/\s+/).includes(c);
function text(n: Node): string {
  if (n.nodeName === '#text') return (n as DefaultTreeAdapterMap['textNode']).value;
  return 'childNodes' in n ? n.childNodes.map(text).join('') : '';
}
const byId = (root: Node, id: string): Element | undefined => all(root, (e) => attr(e, 'id') === id)[0];
/** points actually drawn by a path: its M/L commands */
const pathPoints = (p: Element): number => (attr(p, 'd')?.match(/[ML]/g) ?? []).length;

interface Page {
  doc: Node;
  html: string;
  errors: string[];
  charts: Map<string, { paths: Element[]; fig: Element }>;
}
function load(dir: string): Page {
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  const errors: string[] = [];
  const doc = parse(html, { onParseError: (e) => errors.push(`${e.code} at ${e.startLine}:${e.startCol}`) });
  const charts = new Map<string, { paths: Element[]; fig: Element }>();
  for (const fig of all(doc, (e) => e.tagName === 'figure' && hasClass(e, 'chart'))) {
    charts.set(attr(fig, 'id')!, { fig, paths: all(fig, (e) => e.tagName === 'path' && hasClass(e, 'series')) });
  }
  return { doc, html, errors, charts };
}
function sections(p: Page): string[] {
  return all(p.doc, (e) => e.tagName === 'section').map((s) => attr(s, 'id')!);
}
/** data-points of each series path of a chart, checked against the points its `d` really draws */
function seriesPoints(p: Page, id: string): number[] {
  const c = p.charts.get(id);
  if (!c) throw new Error(`no chart ${id}; have ${[...p.charts.keys()].join(', ')}`);
  return c.paths.map((path) => {
    const declared = Number(attr(path, 'data-points'));
    expect(pathPoints(path)).toBe(declared);
    return declared;
  });
}

function assertSelfContained(p: Page): void {
  expect(p.errors).toEqual([]);
  expect(all(p.doc, (e) => e.tagName === 'script')).toHaveLength(0);
  expect(all(p.doc, (e) => ['link', 'img', 'iframe', 'object', 'embed'].includes(e.tagName))).toHaveLength(0);
  for (const e of all(p.doc, () => true)) {
    for (const a of e.attrs) {
      if (a.name === 'src') throw new Error(`external resource: <${e.tagName} src=${a.value}>`);
      if (a.name.startsWith('on')) throw new Error(`event handler ${a.name} on <${e.tagName}>`);
      if (a.name === 'href' && /^(https?:|\/\/|javascript:)/.test(a.value)) throw new Error(`href ${a.value}`);
    }
  }
  const csp = all(p.doc, (e) => e.tagName === 'meta' && attr(e, 'http-equiv') === 'Content-Security-Policy')[0];
  expect(csp && attr(csp, 'content')).toMatch(/default-src 'none'/);
  expect(p.html).not.toMatch(/url\(|@import/);
}

const noGit = { gitHead: false as const };

// ---------------------------------------------------------------------------------------------

describe('report.html of a find run', () => {
  it('draws the curve (last 5 steps left out, as fastai), marks every suggestion and lists them', async () => {
    const dir = findRun(100);
    const { path } = await writeReportHtml(dir, noGit);
    expect(path).toBe(join(dir, 'report.html'));
    const p = load(dir);
    assertSelfContained(p);
    expect(sections(p)).toEqual(['find', 'gates', 'provenance', 'config', 'files']);
    expect(seriesPoints(p, 'chart-find')).toEqual([95]);
    const marks = all(p.charts.get('chart-find')!.fig, (e) => e.tagName === 'g' && hasClass(e, 'mark')).map(text);
    const sug = (findDocOf(100).suggestions as Record<string, { lr?: number }>);
    const answered = Object.values(sug).filter((s) => s.lr !== undefined).length;
    expect(answered).toBeGreaterThanOrEqual(3);
    expect(marks).toHaveLength(answered);
    expect(marks.some((m) => m.startsWith('valley '))).toBe(true);
    // suggestions table: the chosen one highlighted
    const find = byId(p.doc, 'find')!;
    const rows = all(find, (e) => e.tagName === 'tr' && !all(e, (c) => c.tagName === 'th').length);
    expect(rows).toHaveLength(4);
    const chosen = rows.filter((r) => hasClass(r, 'chosen'));
    expect(chosen).toHaveLength(1);
    expect(text(chosen[0]!)).toContain('valley');
    expect(text(find)).toContain('ran all 100 iterations');
    expect(text(byId(p.doc, 'status')!)).toMatch(/^suggested lr \(valley\): \d\.\d\de-\d+$/);
    // no training, gates not checked for a find
    expect(text(byId(p.doc, 'gates')!)).toContain('Not checked: gates are checked after fit and finetune');
  });

  it('records provenance: versions, backend, skipped backends, seed, command line, config hash', async () => {
    const dir = findRun(100);
    await writeReportHtml(dir, noGit);
    const prov = byId(load(dir).doc, 'provenance')!;
    const dts = all(prov, (e) => e.tagName === 'dt').map(text);
    const dds = all(prov, (e) => e.tagName === 'dd').map(text);
    const facts = Object.fromEntries(dts.map((k, i) => [k, dds[i]]));
    expect(facts).toMatchObject({
      fastlr: '0.1.0',
      tfjs: '4.22.0',
      node: '20.20.2',
      backend: 'cpu',
      'skipped tensorflow': 'not installed',
      seed: '7',
      'command line': 'fastlr find configs/demo.yaml --seed 7 --set fit.lr=auto',
      'config file': 'configs/demo.yaml',
      'config hash': 'f00dfeedcafe0123456789abcdef',
    });
    expect(facts['git commit']).toBeUndefined();
  });

  it('shows the resolved config as YAML, without the run-only keys', async () => {
    const dir = findRun(100);
    await writeReportHtml(dir, noGit);
    const cfg = text(byId(load(dir).doc, 'config')!);
    expect(cfg).toContain('num_it: 100');
    expect(cfg).toContain('valid_accuracy: ">= 0.9"');
    expect(cfg).not.toContain('backend_used');
    expect(cfg).not.toContain('config_hash');
  });

  it('a diverged test with too few points still renders', async () => {
    const dir = findRun(12, { suggested: null, suggestions: { valley: { error: 'too few points' }, slide: { error: 'x' }, steep: { error: 'y' }, minimum: { lr: 1e-6, loss: 1.9 } } });
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    assertSelfContained(p);
    expect(seriesPoints(p, 'chart-find')).toEqual([7]);
    expect(text(byId(p.doc, 'find')!)).toContain('no suggestion: too few points');
    expect(text(byId(p.doc, 'find')!)).toContain('diverged');
    expect(attr(byId(p.doc, 'status')!, 'class')).toBe('status fail');
  });

  it('draws every repeat thin and their element-wise median bold', async () => {
    const reps = [0, 0.2, -0.1].map((b, i) => curve(100 - i * 10, 100, b));
    const dir = findRun(100, { repeats: reps });
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    const paths = p.charts.get('chart-find')!.paths;
    expect(paths.map((x) => attr(x, 'data-name'))).toEqual(['repeat 1', 'repeat 2', 'repeat 3', 'median']);
    // each repeat loses its last 5 steps; the median spans the shortest
    expect(seriesPoints(p, 'chart-find')).toEqual([95, 85, 75, 75]);
    expect(Number(attr(paths[3]!, 'stroke-width'))).toBeGreaterThan(Number(attr(paths[0]!, 'stroke-width')));
  });
});

describe('report.html of a fit run', () => {
  it('has the range test, one table row and one chart point per epoch, and the per-step schedule of each group', async () => {
    const dir = fitRun();
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    assertSelfContained(p);
    expect(sections(p)).toEqual(['find', 'training', 'gates', 'provenance', 'config', 'files']);
    expect(seriesPoints(p, 'chart-fit-loss')).toEqual([3, 3]);
    expect(all(p.charts.get('chart-fit-loss')!.fig, (e) => e.tagName === 'circle')).toHaveLength(6);
    expect(seriesPoints(p, 'chart-fit-metric-accuracy')).toEqual([3]);
    expect(seriesPoints(p, 'chart-fit-lr')).toEqual([60, 60]);
    expect(p.charts.get('chart-fit-lr')!.paths.map((x) => attr(x, 'data-name'))).toEqual(['group 0', 'group 1']);
    expect(seriesPoints(p, 'chart-fit-mom')).toEqual([60]);
    expect(seriesPoints(p, 'chart-fit-batch-loss')).toEqual([60, 60]);
    const training = byId(p.doc, 'training')!;
    const bodyRows = all(training, (e) => e.tagName === 'tbody').flatMap((b) => all(b, (e) => e.tagName === 'tr'));
    expect(bodyRows).toHaveLength(3);
    expect(all(bodyRows[2]!, (e) => e.tagName === 'td').map(text)).toEqual(['2', '0.3333', '0.3667', '0.9', '2.50']);
    expect(text(training)).toContain('best valid_loss 0.3667 at epoch 2');
    expect(text(byId(p.doc, 'find')!)).toContain('The fit used the valley suggestion 1.10e-3');
    expect(text(byId(p.doc, 'status')!)).toBe('completed 3 epoch(s); 2 gate(s) passed');
    const gates = byId(p.doc, 'gates')!;
    const cells = all(all(gates, (e) => e.tagName === 'tbody')[0]!, (e) => e.tagName === 'td').map(text);
    expect(cells).toEqual(['valid_accuracy', '>= 0.9', '0.9', 'pass', 'valid_loss', '<= 0.5', '0.3667', 'pass']);
    const files = all(byId(p.doc, 'files')!, (e) => e.tagName === 'a').map((a) => attr(a, 'href'));
    expect(files).toEqual(['plan.json', 'find.json', 'report.json', 'metrics.csv', 'schedule.csv', 'model/model.json']);
  });

  it('a failed gate makes the status fail and shows FAIL', async () => {
    const dir = fitRun([{ name: 'valid_accuracy', expect: '>= 0.99', actual: 0.9, pass: false }]);
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    expect(attr(byId(p.doc, 'status')!, 'class')).toBe('status fail');
    expect(text(byId(p.doc, 'status')!)).toContain('valid_accuracy >= 0.99');
    expect(text(byId(p.doc, 'gates')!)).toContain('FAIL  valid_accuracy >= 0.99  (got 0.9)');
  });

  it('thins a long schedule to MAX_CHART_POINTS evenly spaced steps, keeping the first and the last', async () => {
    const dir = fitRun(GATES_OK, { groups: 1, batches: 1000 });
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    expect(seriesPoints(p, 'chart-fit-lr')).toEqual([MAX_CHART_POINTS]);
    expect(seriesPoints(p, 'chart-fit-mom')).toEqual([MAX_CHART_POINTS]);
    expect(text(p.charts.get('chart-fit-lr')!.fig)).toContain(`${MAX_CHART_POINTS} of 3000 steps drawn`);
  });

  it('an interrupted or killed fit (no report.json) reads the epochs from metrics.csv', async () => {
    const dir = newRunDir('fit');
    json(dir, 'plan.json', planDoc());
    stageFiles(dir, '', epochsOf(1), 1, 7);
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    assertSelfContained(p);
    expect(attr(byId(p.doc, 'status')!, 'class')).toBe('status warn');
    expect(text(byId(p.doc, 'status')!)).toContain('no report.json');
    expect(seriesPoints(p, 'chart-fit-loss')).toEqual([1, 1]);
    expect(seriesPoints(p, 'chart-fit-lr')).toEqual([7]);
    expect(text(byId(p.doc, 'gates')!)).toContain('Not checked: the training did not complete');
    expect(text(byId(p.doc, 'training')!)).toContain('no model saved');
  });

  it('a damaged file is listed as a problem, the rest still renders', async () => {
    const dir = fitRun();
    writeFileSync(join(dir, 'report.json'), '{"command": "fit", "epo');
    writeFileSync(join(dir, 'schedule.csv'), 'iter,epoch,batch,lr_0,mom,loss,smooth_loss\n0,0,0,1e-3,0.9,2,2\n1,0,1,"unterminated\n');
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    assertSelfContained(p);
    const problems = all(byId(p.doc, 'files')!, (e) => e.tagName === 'li' && hasClass(e, 'fail')).map(text);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^report\.json: unreadable/);
    expect(problems[1]).toMatch(/^schedule\.csv: unreadable/);
    expect(seriesPoints(p, 'chart-fit-loss')).toEqual([3, 3]); // from metrics.csv
    expect(p.charts.has('chart-find')).toBe(true);
  });

  it('plan.json alone: nothing recorded yet', async () => {
    const dir = newRunDir('fit');
    json(dir, 'plan.json', planDoc());
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    assertSelfContained(p);
    expect(p.charts.size).toBe(0);
    expect(text(byId(p.doc, 'status')!)).toContain('nothing recorded yet');
  });
});

describe('report.html of a finetune run', () => {
  it('shows both stages; the frozen one from its CSVs; the gates of the last stage', async () => {
    const dir = finetuneRun();
    await writeReportHtml(dir, noGit);
    const p = load(dir);
    assertSelfContained(p);
    expect(sections(p)).toEqual(['training', 'gates', 'provenance', 'config', 'files']);
    expect(seriesPoints(p, 'chart-frozen-loss')).toEqual([1, 1]);
    expect(seriesPoints(p, 'chart-frozen-lr')).toEqual([10, 10]);
    expect(seriesPoints(p, 'chart-unfrozen-loss')).toEqual([2, 2]);
    expect(seriesPoints(p, 'chart-unfrozen-lr')).toEqual([20, 20]);
    expect(seriesPoints(p, 'chart-unfrozen-mom')).toEqual([20]);
    const h3 = all(byId(p.doc, 'training')!, (e) => e.tagName === 'h3').map(text);
    expect(h3).toEqual(['finetune, stage 1: body frozen (frozen/)', 'finetune, stage 2: unfrozen, discriminative learning rates (unfrozen/)']);
    expect(text(byId(p.doc, 'gates')!)).toContain('FAIL  valid_accuracy >= 0.9  (got 0.8)');
    expect(text(byId(p.doc, 'status')!)).toContain('quality gates missed');
    const d = readRunFolder(dir);
    expect(d.command).toBe('finetune');
    expect(d.stages.map((s) => [s.name, s.epochsFrom])).toEqual([
      ['frozen', 'metrics.csv'],
      ['unfrozen', 'report.json'],
    ]);
  });
});

describe('report.html: git commit, atomic write', () => {
  it('takes HEAD when the run recorded no commit, and keeps that one across rebuilds', async () => {
    const dir = findRun(100);
    await writeReportHtml(dir, { gitHead: () => 'a'.repeat(40) });
    let p = load(dir);
    const meta = all(p.doc, (e) => e.tagName === 'meta' && attr(e, 'name') === 'fastlr-git-commit')[0]!;
    expect(attr(meta, 'content')).toBe('a'.repeat(40));
    expect(text(byId(p.doc, 'provenance')!)).toContain(`${'a'.repeat(40)} (HEAD of the working directory when this report was first written`);
    await writeReportHtml(dir, { gitHead: () => 'b'.repeat(40) });
    p = load(dir);
    expect(text(byId(p.doc, 'provenance')!)).toContain('a'.repeat(40));
    expect(p.html).not.toContain('b'.repeat(40));
  });

  it('a commit the run recorded wins, shown plainly', async () => {
    const dir = findRun(100, { git_commit: 'c'.repeat(40) });
    await writeReportHtml(dir, { gitHead: () => 'b'.repeat(40) });
    const prov = byId(load(dir).doc, 'provenance')!;
    const dds = all(prov, (e) => e.tagName === 'dd').map(text);
    expect(dds).toContain('c'.repeat(40));
  });

  it('the default reads HEAD of the cwd (this checkout), or omits it outside git', async () => {
    const dir = findRun(100);
    await writeReportHtml(dir);
    const head = readRunFolder(dir).provenance.gitCommit;
    const inGit = await new Promise<string | null>((res) => execFile('git', ['rev-parse', 'HEAD'], (e, out) => res(e ? null : out.trim())));
    expect(head).toBe(inGit);
  });

  it('leaves no temporary file behind', async () => {
    const dir = fitRun();
    await writeReportHtml(dir, noGit);
    await writeReportHtml(dir, noGit);
    expect(readdirSync(dir).sort()).toEqual(['find.json', 'metrics.csv', 'model', 'plan.json', 'report.html', 'report.json', 'schedule.csv']);
  });
});

describe('fastlr report <run-dir>', () => {
  async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
    const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
    try {
      return { code: await fn(), out, err };
    } finally {
      o.mockRestore();
      e.mockRestore();
    }
  }

  it('rebuilds report.html and prints a summary: command, backend, suggestions, final metrics, gates', async () => {
    const dir = fitRun();
    const { code, out, err } = await capture(() => runReport(dir, { json: false, quiet: false, color: false }));
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(existsSync(join(dir, 'report.html'))).toBe(true);
    expect(out).toContain(`run       ${dir}`);
    expect(out).toContain('command   fit (demo): completed 3 epoch(s); 2 gate(s) passed');
    expect(out).toContain('backend   cpu; seed 7; fastlr 0.1.0, tfjs 4.22.0, node 20.20.2');
    expect(out).toMatch(/find {6}valley\* \d\.\d\de-\d/);
    expect(out).toContain('fit       3 epoch(s), completed: train_loss 0.3333, valid_loss 0.3667, valid_accuracy 0.9');
    expect(out).toContain('gate      pass  valid_accuracy >= 0.9  (got 0.9)');
    expect(out).toContain(`report    ${join(dir, 'report.html')}`);
    expect(out).not.toContain('\u001b[');
  });

  it('--json prints one JSON summary on stdout, the human lines on stderr', async () => {
    const dir = finetuneRun();
    const { code, out, err } = await capture(() => runReport(dir, { json: true, quiet: false, color: false }));
    expect(code).toBe(0);
    const s = JSON.parse(out) as Record<string, unknown>;
    expect(s).toMatchObject({
      command: 'finetune',
      backend: 'cpu',
      seed: 7,
      status: { kind: 'fail' },
      gates: [{ name: 'valid_accuracy', pass: false, actual: 0.8 }],
      report_html: join(dir, 'report.html'),
      find: null,
    });
    expect((s.stages as { name: string; epochs: number }[]).map((x) => [x.name, x.epochs])).toEqual([
      ['frozen', 1],
      ['unfrozen', 2],
    ]);
    expect(err).toContain('command   finetune (demo): quality gates missed');
  });

  it('--json of a find run carries each suggestion or its reason', async () => {
    const dir = findRun(100);
    const { out } = await capture(() => runReport(dir, { json: true, quiet: true, color: false }));
    const s = JSON.parse(out) as { find: { suggest: string; suggested: number; suggestions: Record<string, { lr?: number; error?: string }> } };
    expect(s.find.suggest).toBe('valley');
    expect(s.find.suggestions.valley!.lr).toBe(s.find.suggested);
    expect(Object.keys(s.find.suggestions).sort()).toEqual(['minimum', 'slide', 'steep', 'valley']);
  });

  it('a missing folder, a file, or a folder that is not a run: FastlrError naming the path, exit 2', async () => {
    const missing = join(ROOT, 'nope');
    await expect(runReport(missing, { json: false, quiet: true, color: false })).rejects.toThrow(FastlrError);
    await expect(runReport(missing, { json: false, quiet: true, color: false })).rejects.toMatchObject({ exitCode: 2, message: `${missing}: no such folder` });
    const empty = join(ROOT, 'empty');
    mkdirSync(empty);
    await expect(runReport(empty, { json: false, quiet: true, color: false })).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining(`${empty}: not a fastlr run folder`) });
    const file = join(ROOT, 'afile.txt');
    writeFileSync(file, 'x');
    await expect(runReport(file, { json: false, quiet: true, color: false })).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining(`${file}: not a folder`) });
    // the parent of run folders: points at the newest one
    const run = fitRun();
    const parent = join(run, '..');
    await expect(runReport(parent, { json: false, quiet: true, color: false })).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining(`the newest is ${run}`) });
    expect(existsSync(join(empty, 'report.html'))).toBe(false);
  });
});

describe('report helpers', () => {
  it('thinIndices keeps ends and spacing; medianCurve is element-wise and refuses misaligned x', () => {
    expect(thinIndices(5, 10)).toEqual([0, 1, 2, 3, 4]);
    const t = thinIndices(10_001, 101);
    expect(t).toHaveLength(101);
    expect(t[0]).toBe(0);
    expect(t[100]).toBe(10_000);
    expect(new Set(t.slice(1).map((v, i) => v - t[i]!))).toEqual(new Set([100]));
    expect(medianCurve([{ x: [1, 2, 3], y: [1, 5, 9] }, { x: [1, 2], y: [3, 1] }, { x: [1, 2, 3], y: [2, 2, 2] }])).toEqual({ x: [1, 2], y: [2, 2] });
    expect(medianCurve([{ x: [1, 2], y: [1, 2] }, { x: [1, 2], y: [3, NaN] }])).toEqual({ x: [1, 2], y: [2, 2] });
    expect(medianCurve([{ x: [1, 2], y: [1, 2] }, { x: [1, 3], y: [3, 1] }])).toBeNull();
  });

  it('svg: dots and integer ticks are opt-in; the default output is unchanged by them', () => {
    const base = { title: 't', xLabel: 'x', yLabel: 'y', series: [{ name: 's', x: [0, 1, 2], y: [3, 1, 2] }] };
    const plain = lineChartSvg(base);
    expect(plain).not.toContain('class="dots"');
    expect(plain).toContain('>0.5<'); // fractional tick by default
    const dotted = lineChartSvg({ ...base, xIntegers: true, series: [{ ...base.series[0]!, dots: true }] });
    expect(dotted.match(/<circle /g)).toHaveLength(3);
    expect(dotted).not.toContain('>0.5<');
  });
});

// ---------------------------------------------------------------------------------------------
// In a real headless browser: Debian's chromium (`.ci/run` installs it).

describe.skipIf(!CHROMIUM)(`report.html in headless chromium${CHROMIUM_SKIP}`, () => {
  it('loads without errors, runs no script, fetches nothing, and draws every chart with the expected points', async () => {
    const fit = fitRun();
    const ft = finetuneRun();
    const find = findRun(100, { repeats: [curve(100), curve(90, 100, 0.1)] });
    const expected: Record<string, Record<string, number[]>> = {
      [fit]: {
        'chart-find': [95],
        'chart-fit-loss': [3, 3],
        'chart-fit-metric-accuracy': [3],
        'chart-fit-lr': [60, 60],
        'chart-fit-mom': [60],
        'chart-fit-batch-loss': [60, 60],
      },
      [ft]: {
        'chart-frozen-loss': [1, 1],
        'chart-frozen-metric-accuracy': [1],
        'chart-frozen-lr': [10, 10],
        'chart-frozen-mom': [10],
        'chart-frozen-batch-loss': [10, 10],
        'chart-unfrozen-loss': [2, 2],
        'chart-unfrozen-metric-accuracy': [2],
        'chart-unfrozen-lr': [20, 20],
        'chart-unfrozen-mom': [20],
        'chart-unfrozen-batch-loss': [20, 20],
      },
      [find]: { 'chart-find': [95, 85, 85] },
    };
    for (const [dir, charts] of Object.entries(expected)) {
      await writeReportHtml(dir, noGit);
      const work = mkdtempSync(join(tmpdir(), 'fastlr-chromium-'));
      try {
        const harness = join(work, 'harness.html');
        writeFileSync(harness, HARNESS.replace('REPORT', pathToFileURL(join(dir, 'report.html')).href));
        const { dom, log } = await chromium(pathToFileURL(harness).href, join(work, 'profile'), ['--allow-file-access-from-files']);
        const m = /<pre id="out">([^<]*)<\/pre>/.exec(dom);
        expect(m, `no harness output in:\n${dom.slice(0, 500)}\n${log.slice(-2000)}`).not.toBeNull();
        const raw = m![1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
        expect(raw.startsWith('ERR') || raw === 'pending' ? raw : 'ok').toBe('ok');
        const view = JSON.parse(raw) as BrowserView;
        expect(consoleLines(log)).toEqual([]);
        expect(view.scripts).toBe(0);
        expect(view.resources).toEqual([]);
        expect(view.title).toMatch(/^fastlr (find|fit|finetune): demo$/);
        expect(view.sections).toContain('provenance');
        expect(Object.fromEntries(view.charts.map((c) => [c.id, c.paths.map((p) => p.declared)]))).toEqual(charts);
        for (const c of view.charts) {
          expect(c.svgNs).toBe('http://www.w3.org/2000/svg');
          expect(c.width).toBeGreaterThan(100);
          for (const p of c.paths) {
            expect(p.points).toBe(p.declared);
            if (p.declared > 1) {
              expect(p.length).toBeGreaterThan(0);
              expect(p.bboxW).toBeGreaterThan(0);
            }
          }
        }
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    }
  });

  it('opens on its own (no harness, no file-access flag) and the browser keeps the whole document', async () => {
    const dir = fitRun();
    await writeReportHtml(dir, noGit);
    const work = mkdtempSync(join(tmpdir(), 'fastlr-chromium-'));
    try {
      const { dom, log } = await chromium(pathToFileURL(join(dir, 'report.html')).href, join(work, 'profile'));
      expect(consoleLines(log)).toEqual([]);
      const doc = parse(dom);
      const paths = all(doc, (e) => e.tagName === 'path' && hasClass(e, 'series'));
      expect(paths.length).toBe(1 + 2 + 1 + 2 + 1 + 2);
      for (const p of paths) expect(pathPoints(p)).toBe(Number(attr(p, 'data-points')));
      expect(all(doc, (e) => e.tagName === 'section').map((s) => attr(s, 'id'))).toEqual(['find', 'training', 'gates', 'provenance', 'config', 'files']);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
