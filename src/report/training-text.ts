/** The human text at the end of a training stage: charts, gate lines, the one-line summary. */
import * as asciichart from 'asciichart';
import type { EpochSummary } from '../engine/learner.js';
import type { GateResult } from '../phases/gates.js';
import { epochChart, fmtLr } from './chart.js';

/** Charts at the end of a fit: train/valid loss per epoch and the LR schedule. */
export function trainingCharts(epochs: readonly EpochSummary[], lrs: readonly number[][], color: boolean): string {
  const out: string[] = [];
  if (epochs.length >= 2) {
    const train = epochs.map((e) => e.train_loss);
    const valid = epochs.map((e) => e.valid_loss);
    if (color) {
      out.push('loss per epoch (blue: train, green: valid)');
      out.push(epochChart([train, valid], { colors: [asciichart.blue, asciichart.green] }));
    } else {
      // without colours two lines on one chart cannot be told apart: one chart each
      out.push('train loss per epoch', epochChart([train], { height: 5 }));
      out.push('valid loss per epoch', epochChart([valid], { height: 5 }));
    }
  }
  if (lrs.length >= 2) {
    const last = lrs.map((l) => l[l.length - 1] ?? NaN);
    const width = 60;
    const step = Math.max(1, Math.ceil(last.length / width));
    const sampled = last.filter((_, i) => i % step === 0);
    out.push(`learning rate over the fit (last group; ${last.length} steps)`);
    out.push(asciichart.plot(sampled, { height: 6, format: (v: number) => fmtLr(v).padStart(9) }));
  }
  return out.join('\n');
}

export function gateLines(gates: readonly GateResult[]): string[] {
  return gates.map((g) => `${g.pass ? 'pass' : 'FAIL'}  ${g.name} ${g.expect}  (got ${g.actual === null ? 'nothing' : Number(g.actual.toPrecision(6))})`);
}

/** `train_loss 0.019, valid_loss 0.13, accuracy 0.963`: the final values once each (metrics are validation values). */
export function finalSummary(final: Record<string, number>): string {
  return Object.entries(final)
    .filter(([k]) => !(k.startsWith('valid_') && k !== 'valid_loss'))
    .map(([k, v]) => `${k} ${Number(v.toPrecision(4))}`)
    .join(', ');
}
