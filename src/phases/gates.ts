import { ExitCode, FastlrError } from '../errors.js';

/** `expect:` quality gates, e.g. `valid_accuracy: ">= 0.97"`: parsed and checked, pure. */

export type GateOp = '>=' | '<=' | '>' | '<' | '==';

export interface GateResult {
  name: string;
  expect: string;
  actual: number | null;
  pass: boolean;
}

const GATE_RE = /^\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$/;

export function parseGate(expr: string): { op: GateOp; value: number } | null {
  const m = GATE_RE.exec(expr);
  return m ? { op: m[1] as GateOp, value: Number(m[2]) } : null;
}

/** The names a gate can test, from an epoch's values: train_loss, valid_loss, valid_<metric> (and <metric>). */
export function gateValues(e: { train_loss: number; valid_loss: number; metrics: Record<string, number> }): Record<string, number> {
  const out: Record<string, number> = { train_loss: e.train_loss, valid_loss: e.valid_loss };
  for (const [k, v] of Object.entries(e.metrics)) {
    out[`valid_${k}`] = v;
    out[k] = v;
  }
  return out;
}

export function checkGates(expect: Record<string, string>, values: Record<string, number>): GateResult[] {
  return Object.entries(expect).map(([name, expr]) => {
    const g = parseGate(expr);
    const actual = values[name];
    if (!g || actual === undefined || !Number.isFinite(actual)) return { name, expect: expr, actual: actual ?? null, pass: false };
    const pass =
      g.op === '>=' ? actual >= g.value : g.op === '<=' ? actual <= g.value : g.op === '>' ? actual > g.value : g.op === '<' ? actual < g.value : actual === g.value;
    return { name, expect: expr, actual, pass };
  });
}

/** Gate names that no value of this run can answer (checked before training, so a typo fails fast). */
export function unknownGates(expect: Record<string, string>, known: string[]): string[] {
  return Object.keys(expect).filter((k) => !known.includes(k));
}

/** The names a run's gates can test: train_loss, valid_loss, <metric> and valid_<metric>. */
export function knownGateNames(metrics: readonly string[]): string[] {
  return ['train_loss', 'valid_loss', ...metrics.flatMap((m) => [m, `valid_${m}`])];
}

/** Check gate names before training so a typo fails in a second, not after the run (FastlrError, exit 2). */
export function assertKnownGates(expect: Record<string, string>, metrics: readonly string[]): void {
  const known = knownGateNames(metrics);
  const bad = unknownGates(expect, known);
  if (bad.length) {
    throw new FastlrError(`expect: unknown gate ${bad.map((b) => `'${b}'`).join(', ')}; this run reports ${known.join(', ')}`, ExitCode.usage);
  }
}
