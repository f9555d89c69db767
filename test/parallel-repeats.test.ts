/** find --repeats on worker threads: the same runs, number for number, as the sequential loop (needs `npm run build`). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import type { Session } from '../src/phases/session.js';
import { sessionsFor, syntheticMlpYaml, weightsOf } from './helpers/sessions.js';
import { repeatedRangeTest } from '../src/phases/repeats.js';
import { repeatWorkers } from '../src/phases/parallel-repeats.js';
import { StopSignal } from '../src/engine/events.js';

const yaml = (backend: string): string => syntheticMlpYaml({ seed: 11, n: 320, backend, tail: 'find: { num_it: 40 }' });

/** Everything a find document takes from the runs (not `seconds`). */
const numbers = (runs: { seed: number; lrs: number[]; losses: number[]; raw_losses: number[]; stop: unknown; suggestions: unknown; suggested: number | null }[]) =>
  runs.map((r) => ({ seed: r.seed, lrs: r.lrs, losses: r.losses, raw: r.raw_losses, stop: r.stop, suggestions: r.suggestions, suggested: r.suggested }));

describe('find --repeats in parallel', () => {
  const openYaml = sessionsFor('parallel-repeats.yaml');
  const open = (backend: string): Promise<Session> => openYaml(yaml(backend));

  for (const backend of ['cpu', 'wasm']) {
    it(`${backend}: 4 repeats on this thread + 2 workers give the sequential runs exactly; weights and RNG restored`, async () => {
      const seq = await open(backend);
      const a = await repeatedRangeTest(seq.learner, seq.plan.find, 4);
      const par = await open(backend);
      // a trained state (not the fresh model) so that the workers must take the coordinator's weights and optimizer
      await repeatedRangeTest(par.learner, { ...par.plan.find, num_it: 6 }, 1);
      const before = weightsOf(par);
      const rngBefore = JSON.stringify(par.learner.rng.state());
      const seen: number[] = [];
      // every repeat on the workers (this thread only coordinates), then shared with this thread
      const b = await repeatedRangeTest(par.learner, par.plan.find, 4, { parallel: { plan: par.plan, workers: 2, local: false }, onRepeat: (k) => seen.push(k) });
      expect(b.onWorkers).toBe(4);
      expect(numbers(b.runs)).toEqual(numbers(a.runs));
      const c = await repeatedRangeTest(par.learner, par.plan.find, 4, { parallel: { plan: par.plan, workers: 1 } });
      expect(numbers(c.runs)).toEqual(numbers(a.runs));
      expect(b.seeds).toEqual(a.seeds);
      expect([...seen].sort()).toEqual([0, 1, 2, 3]);
      expect(weightsOf(par)).toEqual(before);
      expect(JSON.stringify(par.learner.rng.state())).toBe(rngBefore);
    }, 120_000);
  }

  it('a model whose weights were changed before the repeats: the workers start from those weights, not the plan', async () => {
    const seq = await open('cpu');
    const par = await open('cpu');
    for (const s of [seq, par]) {
      const w = s.learner.model.weights[0]!;
      const half = w.read().mul(0.5);
      w.write(half);
      half.dispose();
    }
    const a = await repeatedRangeTest(seq.learner, seq.plan.find, 3);
    const b = await repeatedRangeTest(par.learner, par.plan.find, 3, { parallel: { plan: par.plan, workers: 2, local: false } });
    expect(b.onWorkers).toBe(3);
    expect(numbers(b.runs)).toEqual(numbers(a.runs));
  }, 120_000);

  it('a stop requested before the start: one interrupted repeat, as the sequential loop', async () => {
    const s = await open('cpu');
    const signal = new StopSignal();
    signal.request('interrupted');
    const seq = await repeatedRangeTest(s.learner, s.plan.find, 3, { signal });
    expect(seq.runs.map((r) => r.stop.reason)).toEqual(['interrupted']);
    for (const local of [true, false]) {
      const par = await repeatedRangeTest(s.learner, s.plan.find, 3, { signal, parallel: { plan: s.plan, workers: 2, local } });
      expect(numbers(par.runs)).toEqual(numbers(seq.runs));
    }
  }, 60_000);

  it('workers: this thread runs repeats too, so threads − 1 of them, never more than repeats − 1', () => {
    expect(repeatWorkers(5, 1)).toBe(0);
    expect(repeatWorkers(5, 2)).toBe(1);
    expect(repeatWorkers(3, 8)).toBe(2);
    expect(repeatWorkers(1, 8)).toBe(0);
  });
});

describe('fastlr find --repeats through the binary', () => {
  it('--threads 2 (repeats on worker threads) writes the numbers --threads 1 writes', async () => {
    const work = mkdtempSync(join(tmpdir(), 'fastlr-par-repeats-'));
    try {
      writeFileSync(join(work, 'p.yaml'), yaml('wasm').replace('find: { num_it: 40 }', 'find: { num_it: 30 }\noutput: runs'));
      const docs = [];
      for (const threads of ['1', '2']) {
        const r = await runCli(['find', 'p.yaml', '--repeats', '3', '--threads', threads, '--json'], { cwd: work });
        expect(r.code, r.stderr).toBe(0);
        docs.push(JSON.parse(r.stdout) as { repeats: Parameters<typeof numbers>[0]; summary: unknown; suggested: number | null; threads_used?: number });
      }
      const [one, two] = docs as [(typeof docs)[number], (typeof docs)[number]];
      expect(one.repeats).toHaveLength(3);
      expect(numbers(two.repeats)).toEqual(numbers(one.repeats));
      expect(two.summary).toEqual(one.summary);
      expect(two.suggested).toBe(one.suggested);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 120_000);
});
