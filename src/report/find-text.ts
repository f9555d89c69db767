import type { RangeTestResult } from '../phases/find.js';
import type { Method } from '../schedule/index.js';
import type { RepeatSummary } from '../phases/repeats.js';
import { fmtLr, logXChart, rangeTestYMax, type Mark } from './chart.js';
import { lineChartSvg, type SvgMark } from './svg.js';

export const METHOD_CHAR: Record<Method, string> = { valley: 'V', slide: 'S', steep: 'T', minimum: 'M' };

/** The plotted part of a range test: every point but the last 5 (fastai's plot_lr_find). */
export function plottedCurve(r: Pick<RangeTestResult, 'lrs' | 'losses'>): { x: number[]; y: number[] } {
  const n = Math.max(r.lrs.length - 5, Math.min(r.lrs.length, 2));
  return { x: r.lrs.slice(0, n), y: r.losses.slice(0, n) };
}

export function stopText(r: Pick<RangeTestResult, 'stop'>, numIt: number): string {
  const at = r.stop.iteration;
  switch (r.stop.reason) {
    case 'num_it':
    case 'completed':
      return `ran all ${numIt} iterations`;
    case 'diverged':
      return `stopped after ${at} iterations: the smoothed loss passed 4x its best (diverged)`;
    case 'non_finite':
      return `stopped after ${at} iterations: the loss became NaN or infinite`;
    case 'interrupted':
      return `interrupted after ${at} iterations`;
  }
}

/** Chart + suggestions table + stop line, as a person reads them. */
export function renderFind(r: RangeTestResult, o: { color: boolean; width?: number; numIt: number }): string {
  const curve = plottedCurve(r);
  const marks: Mark[] = [];
  for (const [m, s] of Object.entries(r.suggestions) as [Method, RangeTestResult['suggestions'][Method]][]) {
    if ('lr' in s) marks.push({ x: s.point[0], char: METHOD_CHAR[m] });
  }
  const chart = logXChart([curve], marks, {
    width: o.width ?? 64,
    height: 12,
    color: o.color,
    yMax: rangeTestYMax(curve.y),
  });
  const lines = ['', 'smoothed loss vs learning rate', chart, ''];
  lines.push(`  ${'method'.padEnd(14)}${'lr'.padEnd(12)}loss at lr`);
  const errors = new Set(Object.values(r.suggestions).map((s) => ('error' in s ? s.error : null)));
  const [onlyError] = errors;
  if (errors.size === 1 && typeof onlyError === 'string') {
    lines.push(`  no suggestion from any method: ${onlyError}`);
  } else {
    for (const m of ['valley', 'slide', 'steep', 'minimum'] as Method[]) {
      const s = r.suggestions[m];
      const mark = m === r.method ? '*' : ' ';
      const name = `${mark} ${`${m} (${METHOD_CHAR[m]})`.padEnd(14)}`;
      lines.push('lr' in s ? `${name}${fmtLr(s.lr).padEnd(12)}${s.loss.toPrecision(4)}` : `${name}no suggestion: ${s.error}`);
    }
    lines.push(`  (* = find.suggest, the LR fastlr uses)`);
  }
  lines.push('');
  lines.push(`${stopText(r, o.numIt)}; ${r.seconds.toFixed(2)} s`);
  return lines.join('\n');
}

export function findSvg(r: RangeTestResult, title = 'LR range test'): string {
  const curve = plottedCurve(r);
  const marks: SvgMark[] = [];
  const colors: Record<Method, string> = { valley: '#d62728', slide: '#2ca02c', steep: '#9467bd', minimum: '#ff7f0e' };
  for (const m of ['valley', 'slide', 'steep', 'minimum'] as Method[]) {
    const s = r.suggestions[m];
    if ('lr' in s) marks.push({ x: s.point[0], y: s.point[1], label: `${m} ${fmtLr(s.lr)}`, color: colors[m] });
  }
  return lineChartSvg({
    title,
    xLabel: 'learning rate (log scale)',
    yLabel: 'smoothed loss',
    logX: true,
    series: [{ name: 'smoothed loss', x: curve.x, y: curve.y, width: 2 }],
    marks,
    yMax: rangeTestYMax(curve.y),
  });
}

/** Where a suggestion is marked on the curve: at the lr, except `minimum`, which suggests a tenth of the lr it marks. */
function markedLr(m: Method, lr: number): number {
  return m === 'minimum' ? lr * 10 : lr;
}

/** Every repeat's curve on one chart (the median last, in its own colour) and the per-method spread. */
export function renderRepeats(
  runs: Pick<RangeTestResult, 'lrs' | 'losses'>[],
  sum: RepeatSummary,
  o: { color: boolean; method: Method; width?: number },
): string {
  const curves = runs.map((r) => ({ ...plottedCurve(r), color: '\x1b[90m' }));
  const med = plottedCurve(sum.median_curve);
  const marks: Mark[] = [];
  for (const m of ['valley', 'slide', 'steep', 'minimum'] as Method[]) {
    const v = sum.methods[m].median;
    if (v !== null) marks.push({ x: markedLr(m, v), char: METHOD_CHAR[m] });
  }
  const chart = logXChart([...curves, { ...med, color: '\x1b[34m' }], marks, {
    width: o.width ?? 64,
    height: 12,
    color: o.color,
    yMax: rangeTestYMax(med.y),
  });
  const lines = ['', `smoothed loss vs learning rate, ${runs.length} repeats (median curve ${o.color ? 'in blue' : 'included'})`, chart, ''];
  lines.push('  method        median lr   min - max              spread     answered');
  for (const m of ['valley', 'slide', 'steep', 'minimum'] as Method[]) {
    const s = sum.methods[m];
    const name = `${m === o.method ? '*' : ' '} ${m} (${METHOD_CHAR[m]})`.padEnd(16);
    lines.push(
      s.median === null
        ? `${name}no suggestion in any repeat`
        : `${name}${fmtLr(s.median).padEnd(12)}${`${fmtLr(s.min!)} - ${fmtLr(s.max!)}`.padEnd(23)}${`${s.spread_decades!.toFixed(2)} dec`.padEnd(11)}${s.answered}/${runs.length}`,
    );
  }
  const a = sum.agreement;
  lines.push(
    a.ratio === null
      ? '  agreement: fewer than two methods answered'
      : `  agreement: the methods' medians span ${a.ratio.toFixed(1)}x (${a.agree ? 'within' : 'NOT within'} find.agree_within = ${a.within}x)`,
  );
  return lines.join('\n');
}

export function repeatsSvg(runs: Pick<RangeTestResult, 'lrs' | 'losses'>[], sum: RepeatSummary, title: string): string {
  const med = plottedCurve(sum.median_curve);
  const colors: Record<Method, string> = { valley: '#d62728', slide: '#2ca02c', steep: '#9467bd', minimum: '#ff7f0e' };
  return lineChartSvg({
    title,
    xLabel: 'learning rate (log scale)',
    yLabel: 'smoothed loss',
    logX: true,
    series: [
      ...runs.map((r, k) => ({ name: `repeat ${k + 1}`, ...plottedCurve(r), color: '#7f7f7f', width: 1, opacity: 0.5 })),
      { name: 'median', ...med, color: '#1f77b4', width: 3 },
    ],
    marks: (['valley', 'slide', 'steep', 'minimum'] as Method[]).flatMap((m) => {
      const median = sum.methods[m].median;
      if (median === null) return [];
      const v = markedLr(m, median);
      let y = NaN;
      let d = Infinity;
      med.x.forEach((x, i) => {
        const dd = Math.abs(Math.log(x) - Math.log(v));
        if (dd < d) [d, y] = [dd, med.y[i]!];
      });
      return [{ x: v, y, label: `${m} ${fmtLr(median)}`, color: colors[m] }];
    }),
    yMax: rangeTestYMax(med.y),
  });
}
