import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, writeFileSync, existsSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expectedRuntime, runCli } from './helpers/cli.js';
import { fixtureConfig, readVectors, smoothLossErrors, writeFastaiFixture, type TorchLinearWeights } from './helpers/fastai-fixture.js';

interface RunVector {
  args: { start_lr: number; end_lr: number; num_it: number; stop_div: boolean };
  n_iterations_run: number;
  stop_reason: string;
  recorded_lrs: number[];
  recorded_smooth_losses: number[];
  suggestions: Record<string, number>;
  suggestion_points: Record<string, [number, number]>;
  initial_weights: TorchLinearWeights;
}

const runs = readVectors<{ runs: RunVector[] }>('lr_find_run.json').runs;

function rel(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
}

describe("fidelity: `fastlr find` reproduces fastai's lr_find (lr_find_run.json)", () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const [k, ref] of runs.entries()) {
    it(`run ${k}: stop_div ${ref.args.stop_div}, through the CLI`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fastlr-fid-'));
      const f = await writeFastaiFixture(dir, ref.initial_weights);
      const cfg = join(dir, 'find.yaml');
      const a = ref.args;
      writeFileSync(
        cfg,
        fixtureConfig(f, `find: { start_lr: ${a.start_lr}, end_lr: ${a.end_lr}, num_it: ${a.num_it}, stop_div: ${a.stop_div} }\noutput: ${JSON.stringify(join(dir, 'runs'))}\n`),
      );
      const res = await runCli(['find', cfg, '--json']);
      expect(res.stderr).not.toMatch(/at .*\.js:\d+/); // no stack trace
      expect(res.code).toBe(0);
      const doc = JSON.parse(res.stdout) as {
        lrs: number[];
        losses: number[];
        stop: { reason: string; iteration: number };
        suggestions: Record<string, { lr: number; loss: number } | { error: string }>;
        backend: string;
        kernels: string;
        optimizer_path: string;
      };
      // under FASTLR_KERNELS=stock (npm run test:stock) or the stand-in tfjs-node the same numbers come from stock kernels
      const want = expectedRuntime();
      expect(doc.kernels).toBe(want.kernels);
      if (want.backend) expect(doc.backend).toBe(want.backend);
      // same number of iterations and the same stop rule
      expect(doc.lrs.length).toBe(ref.n_iterations_run);
      expect(doc.stop.iteration).toBe(ref.n_iterations_run);
      expect(doc.stop.reason).toBe(ref.stop_reason.startsWith('divergence') ? 'diverged' : 'num_it');
      // recorded LRs are fastai's
      doc.lrs.forEach((lr, i) => expect(rel(lr, ref.recorded_lrs[i]!)).toBeLessThan(1e-12));
      // smoothed losses: ≤1e-5 up to the minimum, ≤1e-3 after it, the last 5 left out (semantics §7)
      const { before: worstBefore, after: worstAfter } = smoothLossErrors(doc.losses, ref.recorded_smooth_losses);
      expect(worstBefore).toBeLessThan(1e-5);
      expect(worstAfter).toBeLessThan(1e-3);
      // every suggestion matches fastai's
      for (const m of ['valley', 'slide', 'steep', 'minimum']) {
        const s = doc.suggestions[m]!;
        expect('lr' in s, `${m}: ${JSON.stringify(s)}`).toBe(true);
        if ('lr' in s) expect(rel(s.lr, ref.suggestions[m]!)).toBeLessThan(1e-5);
      }
      // the run folder holds the same document, the plan and the chart
      const runDir = join(dir, 'runs', readdirSync(join(dir, 'runs'))[0]!);
      expect(JSON.parse(readFileSync(join(runDir, 'find.json'), 'utf8')).lrs).toEqual(doc.lrs);
      expect(existsSync(join(runDir, 'plan.json'))).toBe(true);
      expect(readFileSync(join(runDir, 'find.svg'), 'utf8')).toMatch(/^<svg/);
      console.log(`lr_find run ${k} on ${doc.backend}: max rel err ${worstBefore.toExponential(2)} up to the minimum, ${worstAfter.toExponential(2)} after`);
    });
  }
});
