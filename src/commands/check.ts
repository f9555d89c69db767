/**
 * `fastlr check <config>`: validate, then show the resolved plan, the parameter groups, the data and batch counts,
 * and the LR/momentum schedule of each phase. Trains nothing; tfjs is loaded only to read a `model.from` architecture.
 */
import * as asciichart from 'asciichart';
import {
  summarizeSchedules,
  type GroupInfo,
  type PhaseName,
  type PhaseSchedule,
  type PhaseSummary,
  type PlanAnalysis,
} from '../plan/analysis.js';
import { readConfigText, resolvePlanLocated, type Plan } from '../plan/index.js';
import { validatePlan } from '../plan/validate.js';
import { processIo, type CheckOptions, type Io } from './types.js';

export { processIo, type Io, type Out } from './types.js';


// ---------------------------------------------------------------------------------------------- formatting
/** 3e-3, 1e-7, 0.25, 25, 1e5 */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (Number.isInteger(x) && a < 1e5) return String(x);
  if (a < 1e-3 || a >= 1e5) return x.toExponential().replace('e+', 'e');
  return String(x);
}

/** Fixed-width number for tables: 1.20e-4 */
const fmtSci = (x: number): string => x.toExponential(2).replace('e+', 'e');

const BARE = /^[A-Za-z_][\w./-]*$/;

/** A compact one-line YAML flow rendering. */
export function flow(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return BARE.test(v) && !['null', 'true', 'false', 'auto'].includes(v) ? v : JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
  if (entries.length === 0) return '{}';
  return `{ ${entries.map(([k, x]) => `${k}: ${flow(x)}`).join(', ')} }`;
}

interface Paint {
  head(s: string): string;
  dim(s: string): string;
  good(s: string): string;
  warn(s: string): string;
}

function painter(on: boolean): Paint {
  const wrap = (code: string) => (s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { head: wrap('1'), dim: wrap('2'), good: wrap('32'), warn: wrap('33') };
}

function table(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2))).join('').trimEnd());
}

const PHASE_LABEL: Record<PhaseName, string> = {
  fit: 'fit',
  finetune_frozen: 'finetune (frozen)',
  finetune_unfrozen: 'finetune (unfrozen)',
};

/** The plan, one line per section; layers one per line; only the data source in use. */
function renderPlan(plan: Plan): string[] {
  const { mnist, csv, images, synthetic, ...dataRest } = plan.data;
  const sourceSection = { mnist, csv, images, synthetic }[plan.data.source];
  const data = { ...dataRest, [plan.data.source]: sourceSection };
  const { layers, head, ...modelRest } = plan.model;
  const lines = [
    `name: ${flow(plan.name)}   seed: ${plan.seed}   backend: ${plan.backend}   output: ${flow(plan.output)}`,
    `data: ${flow(data)}`,
    `model: ${flow(modelRest)}`,
  ];
  const list = (key: string, specs: readonly object[] | undefined) => {
    if (!specs) return;
    lines.push(`  ${key}:`);
    for (const s of specs) lines.push(`    - ${flow(s)}`);
  };
  list('layers', layers);
  list('head', head);
  lines.push(`loss: ${plan.loss}   metrics: ${flow(plan.metrics)}`);
  for (const k of ['optimizer', 'find', 'fit', 'finetune', 'expect'] as const) lines.push(`${k}: ${flow(plan[k])}`);
  return lines.map((l) => `  ${l}`);
}

function renderGroups(groups: GroupInfo[] | undefined, plan: Plan): string[] {
  if (!groups) return [`  split points ${flow(plan.model.groups)} (layers of ${plan.model.from} not readable yet)`];
  const out: string[] = [];
  const last = groups.length - 1;
  for (const g of groups) {
    const role = groups.length === 1 ? 'the whole model' : g.index === last ? 'head' : g.index === 0 ? 'body' : 'body';
    const frozen =
      groups.length === 1
        ? ''
        : g.trainedWhenFrozen === 'all'
          ? 'trained in both finetune stages'
          : g.trainedWhenFrozen === 'batchnorm only'
            ? 'frozen in finetune stage 1 (batchnorm layers still train)'
            : 'frozen in finetune stage 1';
    const params = g.params !== undefined ? `${g.params.toLocaleString('en-US')} params` : '';
    out.push(`  group ${g.index} (${role})  ${[params, frozen].filter(Boolean).join(' · ')}`);
    if (g.shapes) {
      out.push(...table(g.shapes.map((s) => [s.name, s.type, `[${s.output.join(', ')}]`, s.params ? String(s.params) : '']), '    '));
    } else {
      // a saved model's group: its first and last layers (a pretrained body has hundreds)
      const n = g.layers.length;
      out.push(n <= 2 ? `    ${g.layers.join(', ')}` : `    ${g.layers[0]} … ${g.layers[n - 1]} (${n} layers)`);
    }
  }
  return out;
}

function renderSchedules(summaries: PhaseSummary[], nGroups: number): string[] {
  const rows: string[][] = [['phase', 'group', 'start', 'peak', 'end']];
  for (const s of summaries) {
    const same = s.lr.every((l) => l.start === s.lr[0]!.start && l.peak === s.lr[0]!.peak && l.end === s.lr[0]!.end);
    const lrs = same ? s.lr.slice(0, 1) : s.lr;
    for (const l of lrs) rows.push([PHASE_LABEL[s.phase], nGroups > 1 && !same ? String(l.group) : 'all', fmtSci(l.start), fmtSci(l.peak), fmtSci(l.end)]);
    rows.push([PHASE_LABEL[s.phase], 'mom', s.mom.start.toFixed(3), `${s.mom.min.toFixed(3)} (min)`, s.mom.end.toFixed(3)]);
  }
  return table(rows);
}

/** asciichart of each group's lr over the steps of a phase, resampled to `width` columns. */
function lrChart(s: PhaseSchedule, color: boolean, width = 60): string[] {
  const n = s.steps.length;
  const cols = Math.min(width, n);
  const first = s.steps[0]!.lr;
  const distinct = s.steps.some((st) => st.lr.some((v) => v !== st.lr[0]));
  const nGroups = distinct ? first.length : 1;
  const series: number[][] = [];
  for (let g = 0; g < nGroups; g++) {
    const col: number[] = [];
    for (let c = 0; c < cols; c++) col.push(s.steps[Math.round((c * (n - 1)) / Math.max(1, cols - 1))]!.lr[g]!);
    series.push(col);
  }
  const colors = [asciichart.blue, asciichart.green, asciichart.magenta, asciichart.cyan, asciichart.yellow];
  const chart = asciichart.plot(series, {
    height: 8,
    format: (x: number) => fmtSci(x).padStart(9),
    ...(color ? { colors: series.map((_, i) => colors[i % colors.length]!) } : {}),
  });
  return chart.split('\n').map((l) => `  ${l}`);
}

function renderHuman(
  o: CheckOptions,
  plan: Plan,
  hash: string,
  a: PlanAnalysis,
  summaries: PhaseSummary[],
  color: boolean,
): string {
  const p = painter(color);
  const d = a.data;
  const out: string[] = [];
  out.push(`${p.good('✓')} ${o.config} is valid ${p.dim(`(plan ${hash.slice(0, 12)})`)}`, '');
  out.push(p.head('plan'), ...renderPlan(plan), '');
  const classes = d.task === 'classification' ? `${d.nClasses} classes` : 'regression';
  const shape = d.inputShape ? ` · sample [${d.inputShape.join(', ')}]` : '';
  out.push(p.head('data'));
  out.push(`  ${d.source}: ${d.total.toLocaleString('en-US')} samples${d.note ? ` (${d.note})` : ''} → train ${d.train}, valid ${d.valid} · ${classes}${shape}`);
  out.push(
    `  batch_size ${plan.data.batch_size}${plan.data.drop_last ? ', drop_last' : ''}: ${d.trainBatches} training batches per epoch, ${d.validBatches} validation batches`,
    '',
  );
  out.push(p.head(`parameter groups (${a.nGroups})`), ...renderGroups(a.groups, plan), '');
  const it = a.iterations;
  const ipe = d.trainBatches;
  const repeats = plan.find.repeats > 1 ? ` (${plan.find.repeats} repeats)` : '';
  out.push(p.head('iterations (training batches)'));
  out.push(
    ...table([
      ['find', `${it.find}${repeats}`],
      ['fit', `${plan.fit.epochs} epoch${plan.fit.epochs > 1 ? 's' : ''} × ${ipe} = ${it.fit}`],
      ['finetune (frozen)', `${plan.finetune.freeze_epochs} × ${ipe} = ${it.finetune_frozen}`],
      ['finetune (unfrozen)', `${plan.finetune.epochs} × ${ipe} = ${it.finetune_unfrozen}`],
    ]),
    '',
  );
  if (summaries.length > 0) out.push(p.head('learning rate and momentum (start, peak, end)'), ...renderSchedules(summaries, a.nGroups), '');
  const fit = a.schedules.find((s) => s.phase === 'fit' && s.steps.length > 0);
  if (fit) {
    const distinct = fit.steps.some((st) => st.lr.some((v) => v !== st.lr[0]));
    const groups = a.nGroups > 1 ? (distinct ? ` (one line per group, 0..${a.nGroups - 1})` : ' (every group)') : '';
    out.push(p.head(`lr over the fit${groups}`), ...lrChart(fit, color), '');
  }
  for (const w of a.warnings) out.push(`${p.warn('note:')} ${w}`);
  return out.join('\n').replace(/\n+$/, '') + '\n';
}

// ---------------------------------------------------------------------------------------------- machine output
function stepRows(s: PhaseSchedule): { step: number; epoch: number; pos: number; lr: number[]; mom: number }[] {
  return s.steps.map((st) => ({ step: st.iter, epoch: st.epoch, pos: st.pos, lr: st.lr, mom: st.mom }));
}

export function scheduleCsv(schedules: readonly PhaseSchedule[], nGroups: number): string {
  const head = ['phase', 'step', 'epoch', 'pos', ...Array.from({ length: nGroups }, (_, g) => `lr_${g}`), 'mom'];
  const lines = [head.join(',')];
  for (const s of schedules) {
    for (const r of stepRows(s)) lines.push([s.phase, r.step, r.epoch, r.pos, ...r.lr, r.mom].join(','));
  }
  return lines.join('\n') + '\n';
}

function scheduleJson(schedules: readonly PhaseSchedule[], plan: Plan): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (plan.fit.lr === 'auto') out['fit'] = null;
  for (const s of schedules) out[s.phase] = stepRows(s);
  return out;
}

function checkDoc(o: CheckOptions, plan: Plan, hash: string, a: PlanAnalysis, summaries: PhaseSummary[]): Record<string, unknown> {
  const d = a.data;
  return {
    command: 'check',
    ok: true,
    config: o.config,
    config_hash: hash,
    plan,
    data: {
      source: d.source,
      total: d.total,
      train: d.train,
      valid: d.valid,
      input_shape: d.inputShape ?? null,
      task: d.task,
      classes: d.nClasses,
      target_dim: d.targetDim,
      train_batches_per_epoch: d.trainBatches,
      valid_batches_per_epoch: d.validBatches,
    },
    groups:
      a.groups?.map((g) => ({
        index: g.index,
        layers: g.shapes
          ? g.shapes.map((s) => ({ name: s.name, type: s.type, output_shape: s.output, params: s.params }))
          : g.layers.map((name) => ({ name })),
        params: g.params ?? null,
        trained_when_frozen: g.trainedWhenFrozen,
      })) ?? null,
    iterations: a.iterations,
    schedules: summaries,
    warnings: a.warnings,
    ...(o.schedule ? { steps: scheduleJson(a.schedules, plan) } : {}),
  };
}

/** Exit code 0 when valid; a ConfigError (exit 2) lists every problem. */
export async function runCheck(o: CheckOptions, io: Io = processIo()): Promise<number> {
  const text = await readConfigText(o.config);
  const located = resolvePlanLocated(text, o.config, {
    set: o.set,
    env: io.env,
    overrides: { backend: o.backend, seed: o.seed, out: o.out, threads: o.threads },
  });
  const { plan, hash } = located;
  // the validation find/fit/finetune run before training (src/plan/validate.ts), without writing anything
  const analysis = await validatePlan(located, { cwd: io.cwd, writeProbe: false });
  const summaries = summarizeSchedules(analysis.schedules);
  const machine = o.json || o.schedule !== undefined;
  const humanOut = machine ? io.stderr : io.stdout;
  if (o.json) {
    io.stdout.write(JSON.stringify(checkDoc(o, plan, hash, analysis, summaries), null, 2) + '\n');
  } else if (o.schedule === 'csv') {
    io.stdout.write(scheduleCsv(analysis.schedules, analysis.nGroups));
  } else if (o.schedule === 'json') {
    io.stdout.write(JSON.stringify(scheduleJson(analysis.schedules, plan), null, 2) + '\n');
  }
  if (!o.quiet) {
    const color = o.color && Boolean(humanOut.isTTY) && !io.env['NO_COLOR'];
    humanOut.write(renderHuman(o, plan, hash, analysis, summaries, color));
  }
  return 0;
}
