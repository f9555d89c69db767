/** Self-contained SVG line charts (no external assets): find.svg and the charts of report.html. */

export interface SvgSeries {
  name: string;
  x: number[];
  y: number[];
  color?: string;
  /** stroke width; the median of repeated curves is drawn bold */
  width?: number;
  opacity?: number;
  /** also draw a dot at every point (short series, e.g. one value per epoch) */
  dots?: boolean;
}

export interface SvgMark {
  x: number;
  y: number;
  label: string;
  color?: string;
}

export interface SvgChart {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  series: SvgSeries[];
  marks?: SvgMark[];
  width?: number;
  height?: number;
  /** clip y above this value (a diverging tail) */
  yMax?: number;
  /** label only whole-number x ticks (epochs, iterations) */
  xIntegers?: boolean;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function ticks(lo: number, hi: number, n: number): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

export function lineChartSvg(c: SvgChart): string {
  const W = c.width ?? 640;
  const H = c.height ?? 360;
  const m = { l: 64, r: 16, t: 32, b: 48 };
  const fx = (x: number): number => (c.logX ? Math.log10(x) : x);
  const pts = c.series.map((s) =>
    s.x.map((x, i) => [fx(x), s.y[i] ?? NaN] as const).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b)),
  );
  const allX = pts.flat().map((p) => p[0]);
  const allY = pts.flat().map((p) => p[1]);
  let x0 = allX.length ? Math.min(...allX) : 0;
  let x1 = allX.length ? Math.max(...allX) : 1;
  let y0 = allY.length ? Math.min(...allY) : 0;
  let y1 = allY.length ? Math.max(...allY) : 1;
  if (c.yMax !== undefined && Number.isFinite(c.yMax)) y1 = Math.min(y1, c.yMax);
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x0 + 1];
  if (!(y1 > y0)) [y0, y1] = [y0 - 1, y0 + 1];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const px = (x: number): number => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (y: number): number => m.t + (1 - (Math.min(y, y1) - y0) / (y1 - y0)) * (H - m.t - m.b);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11" role="img" aria-label="${esc(c.title)}">`,
  );
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(c.title)}</text>`);
  // axes and grid
  const xt = c.logX
    ? Array.from({ length: Math.floor(x1) - Math.ceil(x0) + 1 }, (_, i) => Math.ceil(x0) + i)
    : ticks(x0, x1, 6).filter((t) => !c.xIntegers || Number.isInteger(t));
  for (const t of xt) {
    const X = px(t).toFixed(1);
    out.push(`<line x1="${X}" x2="${X}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${X}" y="${H - m.b + 14}" text-anchor="middle">${c.logX ? `1e${t}` : fmt(t)}</text>`);
  }
  for (const t of ticks(y0, y1, 5)) {
    const Y = py(t).toFixed(1);
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${Y}" y2="${Y}" stroke="#eee"/>`);
    out.push(`<text x="${m.l - 6}" y="${Y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(c.xLabel)}</text>`);
  out.push(
    `<text x="14" y="${(m.t + H - m.b) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.t + H - m.b) / 2})">${esc(c.yLabel)}</text>`,
  );
  c.series.forEach((s, i) => {
    const p = pts[i]!;
    if (p.length === 0) return;
    const d = p.map(([x, y], k) => `${k ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('');
    out.push(
      `<path class="series" data-name="${esc(s.name)}" data-points="${p.length}" d="${d}" fill="none" stroke="${s.color ?? PALETTE[i % PALETTE.length]}" stroke-width="${s.width ?? 1.5}" stroke-opacity="${s.opacity ?? 1}"/>`,
    );
    if (s.dots) {
      const col = s.color ?? PALETTE[i % PALETTE.length];
      out.push(
        `<g class="dots" data-name="${esc(s.name)}" fill="${col}">${p.map(([x, y]) => `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5"/>`).join('')}</g>`,
      );
    }
  });
  for (const mk of c.marks ?? []) {
    const X = fx(mk.x);
    if (!Number.isFinite(X) || !Number.isFinite(mk.y)) continue;
    const col = mk.color ?? '#d62728';
    out.push(
      `<g class="mark"><circle cx="${px(X).toFixed(1)}" cy="${py(mk.y).toFixed(1)}" r="4" fill="${col}"/><text x="${(px(X) + 6).toFixed(1)}" y="${(py(mk.y) - 6).toFixed(1)}" fill="${col}">${esc(mk.label)}</text></g>`,
    );
  }
  if (c.series.length > 1) {
    c.series.slice(0, 8).forEach((s, i) => {
      const y = m.t + 8 + i * 14;
      out.push(
        `<line x1="${W - m.r - 110}" x2="${W - m.r - 94}" y1="${y}" y2="${y}" stroke="${s.color ?? PALETTE[i % PALETTE.length]}" stroke-width="${s.width ?? 1.5}"/><text x="${W - m.r - 90}" y="${y + 4}">${esc(s.name)}</text>`,
      );
    });
  }
  out.push('</svg>');
  return out.join('\n');
}
