import * as asciichart from 'asciichart';

export interface Curve {
  x: number[];
  y: number[];
  color?: string;
}

export interface Mark {
  x: number;
  /** one character drawn under the chart at x */
  char: string;
}

export interface LogChartOptions {
  width?: number;
  height?: number;
  /** draw the curve(s) with ANSI colours */
  color?: boolean;
  /** upper bound for y (points above are clipped): keeps a diverging tail from flattening the curve */
  yMax?: number;
}

const COLORS = [asciichart.blue, asciichart.lightgray, asciichart.green, asciichart.magenta, asciichart.cyan];

/** Resample a curve at `cols` points evenly spaced in log10(x) over [lo, hi] (linear interpolation). */
export function resampleLog(c: Curve, lo: number, hi: number, cols: number): number[] {
  const pts = c.x
    .map((x, i) => [Math.log10(x), c.y[i] ?? NaN] as const)
    .filter(([lx, y]) => Number.isFinite(lx) && Number.isFinite(y))
    .sort((a, b) => a[0] - b[0]);
  const out: number[] = [];
  let j = 0;
  for (let k = 0; k < cols; k++) {
    const lx = cols === 1 ? lo : lo + ((hi - lo) * k) / (cols - 1);
    while (j < pts.length - 2 && pts[j + 1]![0] < lx) j++;
    const a = pts[j];
    const b = pts[Math.min(j + 1, pts.length - 1)];
    if (!a || !b || lx < a[0] - 1e-12 || lx > b[0] + 1e-12) {
      out.push(NaN);
      continue;
    }
    const t = b[0] === a[0] ? 0 : (lx - a[0]) / (b[0] - a[0]);
    out.push(a[1] + t * (b[1] - a[1]));
  }
  return out;
}

/** A sensible y ceiling for a range-test curve: no more than the start plus its drop again. */
export function rangeTestYMax(y: number[]): number | undefined {
  const fin = y.filter(Number.isFinite);
  if (fin.length === 0) return undefined;
  const lo = Math.min(...fin);
  const first = fin[0]!;
  const hi = Math.max(...fin);
  const cap = first + Math.max(first - lo, Math.abs(first) * 0.1);
  return Math.min(hi, cap);
}

/**
 * A terminal chart with a log-scaled x axis labelled in powers of ten, and optional marks under it.
 * Curves are resampled to the chart width, so any number of points fits.
 */
export function logXChart(curves: Curve[], marks: Mark[] = [], o: LogChartOptions = {}): string {
  const width = Math.max(20, o.width ?? 60);
  const height = Math.max(4, o.height ?? 12);
  const xs = curves.flatMap((c) => c.x).filter((x) => x > 0 && Number.isFinite(x));
  if (xs.length < 2) return '(not enough points to draw a chart)';
  const lo = Math.log10(Math.min(...xs));
  const hi = Math.log10(Math.max(...xs));
  if (!(hi > lo)) return '(not enough points to draw a chart)';
  const series = curves.map((c) => resampleLog(c, lo, hi, width));
  const all = series.flat().filter(Number.isFinite);
  if (all.length === 0) return '(no finite values to draw)';
  const yMin = Math.min(...all);
  const yMax = Math.max(yMin + 1e-12, Math.min(o.yMax ?? Infinity, Math.max(...all)));
  const clipped = series.map((s) => s.map((v) => (Number.isFinite(v) ? Math.min(v, yMax) : NaN)));
  const labelWidth = 9;
  const plot = asciichart.plot(clipped, {
    height,
    min: yMin,
    max: yMax,
    padding: ' '.repeat(labelWidth),
    format: (v: number) => fmtNum(v).padStart(labelWidth),
    colors: o.color ? curves.map((c, i) => c.color ?? COLORS[i % COLORS.length]) : undefined,
  });
  // asciichart puts `offset` (3) columns of label + axis before the first data column
  const left = labelWidth + 2;
  const lines = [plot];
  if (marks.length) {
    const row = new Array<string>(width).fill(' ');
    for (const m of marks) {
      const col = Math.round(((Math.log10(m.x) - lo) / (hi - lo)) * (width - 1));
      if (col >= 0 && col < width) row[col] = row[col] === ' ' ? m.char : '*';
    }
    lines.push(' '.repeat(left) + row.join('').trimEnd());
  }
  lines.push(' '.repeat(left) + xAxis(lo, hi, width));
  return lines.join('\n');
}

/** Tick labels at the powers of ten inside [lo, hi] (log10 units), spaced so they never overlap. */
function xAxis(lo: number, hi: number, width: number): string {
  const row = new Array<string>(width + 8).fill(' ');
  const decades: number[] = [];
  for (let d = Math.ceil(lo - 1e-9); d <= Math.floor(hi + 1e-9); d++) decades.push(d);
  const step = Math.max(1, Math.ceil((decades.length * 6) / width));
  let lastEnd = -1;
  decades.forEach((d, i) => {
    if (i % step !== 0) return;
    const col = Math.round(((d - lo) / (hi - lo)) * (width - 1));
    const label = `1e${d}`;
    if (col <= lastEnd) return;
    for (let k = 0; k < label.length && col + k < row.length; k++) row[col + k] = label[k]!;
    lastEnd = col + label.length;
  });
  return row.join('').trimEnd() + '  (lr)';
}

/** Compact number for tables and axes: 3 significant digits, exponent form when small or large. */
export function fmtNum(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** A learning rate the way people write it: 1.32e-2. */
export function fmtLr(v: number): string {
  return Number.isFinite(v) ? v.toExponential(2) : String(v);
}

/** Resample evenly spaced values to `cols` columns by linear interpolation (a few epochs still draw a line). */
export function stretchLinear(y: number[], cols: number): number[] {
  if (y.length === 0) return [];
  if (y.length === 1) return new Array<number>(cols).fill(y[0]!);
  const out: number[] = [];
  for (let k = 0; k < cols; k++) {
    const t = (k * (y.length - 1)) / (cols - 1);
    const i = Math.min(Math.floor(t), y.length - 2);
    const f = t - i;
    out.push(y[i]! + f * (y[i + 1]! - y[i]!));
  }
  return out;
}

/**
 * Per-epoch series (train/valid loss) on one chart, stretched to `width` columns, with the epochs
 * labelled under it. Non-finite values are left out of the scale.
 */
export function epochChart(series: number[][], o: { width?: number; height?: number; colors?: string[] } = {}): string {
  const n = Math.max(0, ...series.map((s) => s.length));
  if (n < 2) return '(fewer than two epochs: nothing to draw)';
  const width = Math.max(2 * n, o.width ?? 48);
  const stretched = series.map((s) => stretchLinear(s, width));
  const labelWidth = 9;
  const plot = asciichart.plot(stretched, {
    height: o.height ?? 8,
    padding: ' '.repeat(labelWidth),
    format: (v: number) => fmtNum(v).padStart(labelWidth),
    colors: o.colors,
  });
  const row = new Array<string>(width + 4).fill(' ');
  for (let e = 0; e < n; e++) {
    const col = Math.round((e * (width - 1)) / (n - 1));
    const label = String(e);
    for (let k = 0; k < label.length && col + k < row.length; k++) row[col + k] = label[k]!;
  }
  return `${plot}\n${' '.repeat(labelWidth + 2)}${row.join('').trimEnd()}  (epoch)`;
}
