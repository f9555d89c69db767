/**
 * The small synthetic experiment the in-process engine/phase tests open sessions on (a 6-feature, 3-class
 * classification MLP with dropout), and a bookkeeper that opens sessions from a YAML text and disposes them all after
 * the describe block.
 */
import { afterAll } from 'vitest';
import { resolvePlan } from '../../src/plan/index.js';
import { openSession, type Session } from '../../src/phases/session.js';

export interface SyntheticMlpOptions {
  seed: number;
  /** rows of synthetic data */
  n: number;
  backend?: string;
  /** model.groups (omitted: the default split) */
  groups?: number[];
  /** further top-level YAML (find:, fit:, finetune: ...), each line as written */
  tail: string;
}

/** The experiment's YAML: line numbers are stable for a given option set. */
export function syntheticMlpYaml(o: SyntheticMlpOptions): string {
  return `
seed: ${o.seed}
backend: ${o.backend ?? 'cpu'}
data:
  source: synthetic
  batch_size: 16
  valid_pct: 0.25
  synthetic: { task: classification, n: ${o.n}, features: 6, classes: 3, noise: 0.6 }
model:
  input: [6]
  layers:
    - dense: { units: 16, activation: relu }
    - dropout: 0.2
    - dense: { units: 3 }
${o.groups !== undefined ? `  groups: [${o.groups.join(', ')}]\n` : ''}${o.tail.trim()}
`;
}

/** Opens sessions from YAML (named `file` in messages) and disposes every one after the enclosing describe block. */
export function sessionsFor(file: string): (yaml: string) => Promise<Session> {
  const sessions: Session[] = [];
  afterAll(() => sessions.forEach((s) => s.dispose()));
  return async (yaml: string): Promise<Session> => {
    const { plan } = resolvePlan(yaml, file, { env: {} });
    const s = await openSession(plan);
    sessions.push(s);
    return s;
  };
}

/** Every weight of the session's model, in order, as plain numbers. */
export const weightsOf = (s: Session): number[][] => s.learner.model.weights.map((w) => Array.from(w.read().dataSync()));
