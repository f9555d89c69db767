// `fastlr fit` end to end through the built binary: run folder, gates, divergence, lr: auto, interrupt + resume.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parse as parseCsv } from 'csv-parse/sync';
import { runCli } from './helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'fastlr-fit-'));

/** A small synthetic classification run; `extra` is appended YAML (top-level keys). */
function config(name: string, opts: { n?: number; epochs?: number; extra?: string } = {}): string {
  const f = join(base, `${name}.yaml`);
  writeFileSync(
    f,
    `name: ${name}
seed: 3
backend: cpu
data:
  source: synthetic
  batch_size: 32
  valid_pct: 0.2
  synthetic: { task: classification, n: ${opts.n ?? 1200}, features: 16, classes: 4, noise: 1.5 }
model:
  input: [16]
  layers:
    - dense: { units: 32, activation: relu }
    - dropout: 0.1
    - dense: { units: 4 }
  groups: [2]
metrics: [accuracy, error_rate]
fit: { epochs: ${opts.epochs ?? 3}, lr: 1e-2 }
output: ${join(base, 'runs', name)}
${opts.extra ?? ''}
`,
  );
  return f;
}

interface FitDoc {
  command: string;
  backend: string;
  exit_code: number;
  run_dir: string;
  lr_source: { method: string; value: number; find_json?: string };
  epochs: { epoch: number; train_loss: number; valid_loss: number; metrics: Record<string, number> }[];
  final: Record<string, number>;
  gates: { name: string; pass: boolean }[];
  plan: { batches_per_epoch: number; epochs: number };
  stop: { reason: string; iteration: number };
}

const weightsOf = (runDir: string): Buffer => readFileSync(join(runDir, 'model', 'weights.bin'));

describe('fastlr fit', () => {
  it('trains, writes the run folder and prints one JSON document', async () => {
    const res = await runCli(['fit', config('basic'), '--json']);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as FitDoc;
    expect(doc.command).toBe('fit');
    expect(doc.backend).toBe('cpu');
    expect(doc.lr_source).toEqual({ method: 'config', value: 1e-2 });
    expect(doc.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    for (const k of ['train_loss', 'valid_loss', 'valid_accuracy', 'valid_error_rate']) expect(Number.isFinite(doc.final[k])).toBe(true);
    expect(doc.final.valid_accuracy! + doc.final.valid_error_rate!).toBeCloseTo(1, 6);
    // the human side went to stderr: the epoch table
    expect(res.stderr).toMatch(/^epoch\s+train_loss\s+valid_loss\s+accuracy\s+error_rate\s+time$/m);

    const dir = doc.run_dir;
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8'))).toEqual(doc);
    const metrics = parseCsv(readFileSync(join(dir, 'metrics.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(metrics).toHaveLength(3);
    expect(Object.keys(metrics[0]!)).toEqual(['epoch', 'train_loss', 'valid_loss', 'accuracy', 'error_rate', 'seconds']);
    const sched = parseCsv(readFileSync(join(dir, 'schedule.csv'), 'utf8'), { columns: true }) as Record<string, string>[];
    expect(sched).toHaveLength(3 * doc.plan.batches_per_epoch);
    expect(Number(sched[0]!.lr_1)).toBeCloseTo(1e-2 / 25, 12); // one-cycle starts at lr_max/div
    expect(Number(sched[0]!.mom)).toBe(0.95);
    const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as { fit: { epochs: number }; backend_used: string };
    expect(plan.fit.epochs).toBe(3);
    expect(plan.backend_used).toBe('cpu');
    for (const ck of ['last', 'best']) expect(readdirSync(join(dir, 'ckpt', ck)).sort()).toEqual(['model', 'optimizer.bin', 'state.json', 'weights.bin']);

    // model/ is a tfjs LayersModel folder: tf.loadLayersModel reads it
    const json = JSON.parse(readFileSync(join(dir, 'model', 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const weightData = new Uint8Array(weightsOf(dir)).buffer;
    const model = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0]!.weights, weightData }),
    );
    expect(model.predict(tf.zeros([2, 16])) instanceof tf.Tensor).toBe(true);
    expect((model.outputs[0]!.shape as number[])[1]).toBe(4);
  });

  it('the same seed trains to the same weights, bit for bit', async () => {
    const a = JSON.parse((await runCli(['fit', config('same-a'), '--json'])).stdout) as FitDoc;
    const b = JSON.parse((await runCli(['fit', config('same-b'), '--json'])).stdout) as FitDoc;
    expect(weightsOf(a.run_dir).equals(weightsOf(b.run_dir))).toBe(true);
  });

  it('a missed expect: gate exits 4 and names the gate', async () => {
    const res = await runCli(['fit', config('gate', { extra: 'expect: { valid_accuracy: ">= 1.01", valid_loss: "<= 100" }' })]);
    expect(res.code).toBe(4);
    expect(res.stdout).toMatch(/FAIL\s+valid_accuracy >= 1\.01/);
    expect(res.stdout).toMatch(/pass\s+valid_loss <= 100/);
    expect(res.stderr).toContain('quality gates missed: valid_accuracy >= 1.01');
  });

  it('an unknown gate name is refused before training (exit 2)', async () => {
    const res = await runCli(['fit', config('badgate', { extra: 'expect: { valid_acuracy: ">= 0.5" }' })]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/badgate\.yaml:\d+:\d+  expect\.valid_acuracy: unknown metric "valid_acuracy"; did you mean "valid_accuracy"\?/);
  });

  it('a diverging fit stops with exit 3 and says at which step and LR', async () => {
    const res = await runCli(['fit', config('diverge'), '--lr', '1e12', '--json']);
    expect(res.code, res.stderr).toBe(3);
    expect(res.stderr).toMatch(/diverged: the loss became NaN\/infinite at step \d+ \(lr [\d.e+-]+/);
    const doc = JSON.parse(res.stdout) as FitDoc;
    expect(doc.stop.reason).toBe('non_finite');
    expect(doc.exit_code).toBe(3);
  });

  it('lr: auto runs the range test first, records it, and then trains as if it had never run', async () => {
    const auto = await runCli(['fit', config('auto'), '--lr', 'auto', '--json']);
    expect(auto.code, auto.stderr).toBe(0);
    const doc = JSON.parse(auto.stdout) as FitDoc;
    expect(doc.lr_source.method).toBe('valley');
    expect(doc.lr_source.value).toBeGreaterThan(0);
    const find = JSON.parse(readFileSync(doc.lr_source.find_json!, 'utf8')) as { suggested: number };
    expect(find.suggested).toBe(doc.lr_source.value);
    expect(auto.stderr).toContain(`lr: auto -> valley suggestion ${doc.lr_source.value.toExponential(2)}`);
    const plan = JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8')) as { lr_source: unknown };
    expect(plan.lr_source).toEqual(doc.lr_source);
    // the same LR given explicitly: identical weights (find restored weights, optimizer and RNG)
    const plain = JSON.parse((await runCli(['fit', config('auto-plain'), '--lr', String(doc.lr_source.value), '--json'])).stdout) as FitDoc;
    expect(weightsOf(plain.run_dir).equals(weightsOf(doc.run_dir))).toBe(true);
  });

  it('SIGINT mid-run saves ckpt/last and exits 130; --resume finishes with the weights of an uninterrupted run', async () => {
    const opts = { n: 16000, epochs: 3 };
    const whole = JSON.parse((await runCli(['fit', config('whole', opts), '--json'])).stdout) as FitDoc;
    expect(whole.exit_code).toBe(0);

    const cfg = config('cut', opts);
    let sent = false;
    const cut = await runCli(['fit', cfg], {
      onSpawn: (p) =>
        p.stdout!.on('data', (d: Buffer) => {
          // the first epoch line: we are now inside epoch 1
          if (!sent && /^0\s+\d/m.test(d.toString())) {
            sent = true;
            p.kill('SIGINT');
          }
        }),
    });
    expect(sent).toBe(true);
    expect(cut.code, cut.stderr).toBe(130);
    expect(cut.stderr).toContain(`Continue with: fastlr fit ${cfg} --resume`);

    // a changed plan is refused unless --force
    const changed = await runCli(['fit', cfg, '--resume', '--set', 'fit.div=10']);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('was made with a different plan');

    const resumed = await runCli(['fit', cfg, '--resume', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resuming from .*ckpt\/last: epoch \d, batch \d+\/\d+/);
    const doc = JSON.parse(resumed.stdout) as FitDoc;
    expect(doc.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
    expect(weightsOf(doc.run_dir).equals(weightsOf(whole.run_dir))).toBe(true);
    expect(doc.final).toEqual(whole.final);
    const sched = readFileSync(join(doc.run_dir, 'schedule.csv'), 'utf8').trim().split('\n');
    expect(sched).toHaveLength(1 + 3 * whole.plan.batches_per_epoch);

    const again = await runCli(['fit', cfg, '--resume']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('nothing to resume');
  });
});
