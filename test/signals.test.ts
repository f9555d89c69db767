// Ctrl-C on the real binary (node bin/fastlr.js), mid-epoch and mid-range-test, with epochs that take seconds: the
// signal is honoured within a batch (exit 130 in about a second, not at the end of the epoch), find writes find.json
// with stop.reason interrupted, fit checkpoints at the batch, a second Ctrl-C exits at once with the finished epoch's
// checkpoint whole, and the printed "Continue with:" command (with the original --set/--out) works as printed.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT, runCli, type CliResult } from './helpers/cli.js';
import { loadCheckpoint } from '../src/phases/checkpoint.js';

const base = mkdtempSync(join(tmpdir(), 'fastlr-signals-'));
/** From the signal to the exit: one batch here is a few ms; the rest is writing the run folder and exiting. */
const WITHIN_MS = 2500;

/**
 * 32,000 training rows in batches of 32: 1,000 batches, several seconds per epoch on the cpu backend. `heavy`:
 * 8 batches of 2,000 through a 256-1024-4 MLP, each a good fraction of a second.
 */
function config(name: string, heavy = false): string {
  const [n, features, units, batch] = heavy ? [20000, 256, 1024, 2000] : [40000, 16, 32, 32];
  const f = join(base, `${name}.yaml`);
  writeFileSync(
    f,
    `name: ${name}
seed: 3
backend: cpu
data:
  source: synthetic
  batch_size: ${batch}
  valid_pct: 0.2
  synthetic: { task: classification, n: ${n}, features: ${features}, classes: 4, noise: 1.5 }
model:
  input: [${features}]
  layers:
    - dense: { units: ${units}, activation: relu }
    - dense: { units: 4 }
metrics: [accuracy]
fit: { epochs: 4, lr: 1.0e-2 }
find: { num_it: 20000, start_lr: 1.0e-7, end_lr: 1.0e-3 }
output: ${join(base, 'runs', name)}
`,
  );
  return f;
}

interface Timed extends CliResult {
  /** ms from the first signal to the exit */
  afterSignal: number;
}

/**
 * Run the binary; once `ready` matches its stdout, wait `delayMs` and send SIGINT (`times` times, `gapMs` apart).
 */
async function interrupt(args: string[], o: { ready: RegExp; delayMs: number; times?: number; gapMs?: number }): Promise<Timed> {
  let sentAt = 0;
  let out = '';
  const res = await runCli(args, {
    onSpawn: (p) =>
      p.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (sentAt === 0 && o.ready.test(out)) {
          sentAt = -1;
          setTimeout(() => {
            sentAt = performance.now();
            p.kill('SIGINT');
            for (let k = 1; k < (o.times ?? 1); k++) setTimeout(() => p.kill('SIGINT'), k * (o.gapMs ?? 50));
          }, o.delayMs);
        }
      }),
  });
  expect(sentAt, `never saw ${o.ready} in\n${res.stdout}\n${res.stderr}`).toBeGreaterThan(0);
  return { ...res, afterSignal: performance.now() - sentAt };
}

const onlyRun = (cfg: string, command: string): string => {
  const root = join(base, 'runs', cfg);
  const runs = readdirSync(root).filter((n) => n.startsWith(`${command}-`));
  expect(runs).toHaveLength(1);
  return join(root, runs[0]!);
};

describe('Ctrl-C on the real binary', () => {
  it('find: SIGINT mid-range-test exits 130 within a batch; find.json says stop.reason interrupted', async () => {
    const res = await interrupt(['find', config('find-cut')], { ready: /find: \d+ batches planned/, delayMs: 1500 });
    expect(res.code, res.stderr).toBe(130);
    expect(res.afterSignal).toBeLessThan(WITHIN_MS);
    expect(res.stderr).toContain('interrupt: finishing the current batch');
    expect(res.stderr).toContain('interrupted; the model was restored');
    const doc = JSON.parse(readFileSync(join(onlyRun('find-cut', 'find'), 'find.json'), 'utf8')) as {
      stop: { reason: string; iteration: number };
      exit_code: number;
      lrs: number[];
    };
    expect(doc.stop.reason).toBe('interrupted');
    expect(doc.exit_code).toBe(130);
    expect(doc.stop.iteration).toBeGreaterThan(0);
    expect(doc.stop.iteration).toBeLessThan(20000);
    expect(doc.lrs).toHaveLength(doc.stop.iteration);
  }, 120_000);

  it('fit --lr auto: SIGINT during its range test exits 130 and trains nothing', async () => {
    const res = await interrupt(['fit', config('auto-cut'), '--lr', 'auto'], { ready: /find: \d+ batches planned/, delayMs: 1500 });
    expect(res.code, res.stderr).toBe(130);
    expect(res.afterSignal).toBeLessThan(WITHIN_MS);
    expect(res.stderr).toContain('interrupted during the range test; nothing was trained');
    const run = onlyRun('auto-cut', 'fit');
    expect(readdirSync(run)).not.toContain('ckpt');
    const find = JSON.parse(readFileSync(join(run, 'find.json'), 'utf8')) as { stop: { reason: string } };
    expect(find.stop.reason).toBe('interrupted');
  }, 120_000);

  it('fit: SIGINT mid-epoch checkpoints at the batch and exits 130 within a batch; the printed command (with --set/--out) resumes', async () => {
    const cfg = config('fit-cut');
    const out = join(base, 'elsewhere');
    const res = await interrupt(['fit', cfg, '--set', 'fit.epochs=3', '--out', out], { ready: /fit: \d+ batches planned/, delayMs: 700 });
    expect(res.code, res.stderr).toBe(130);
    expect(res.afterSignal).toBeLessThan(WITHIN_MS);
    const runs = readdirSync(out).filter((n) => n.startsWith('fit-'));
    expect(runs).toHaveLength(1);
    const run = join(out, runs[0]!);
    const ck = await loadCheckpoint(join(run, 'ckpt', 'last'));
    // inside an epoch, at the batch the signal stopped
    const { epoch, batch } = ck.meta.position;
    expect(epoch).toBeLessThan(3);
    expect(batch).toBeGreaterThanOrEqual(0); // 0 only when the signal landed exactly between two epochs
    expect(batch).toBeLessThan(1000);
    const done = epoch * 1000 + batch;
    const rows = readFileSync(join(run, 'schedule.csv'), 'utf8').trim().split('\n');
    expect(rows).toHaveLength(1 + done);
    const report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')) as { stop: { reason: string; iteration: number }; exit_code: number };
    expect(report.stop).toEqual({ reason: 'interrupted', iteration: done });
    expect(report.exit_code).toBe(130);

    // the hint, run as printed (through a shell, `fastlr` being this binary)
    const hint = /Continue with: (fastlr .*)$/m.exec(res.stderr)?.[1];
    expect(hint, res.stderr).toBeDefined();
    expect(hint).toContain('--set fit.epochs=3');
    expect(hint).toContain(`--out ${out}`);
    expect(hint).toContain(`--resume ${run}`);
    const resumed = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const p = spawn('bash', ['-c', `fastlr() { "${process.execPath}" "${BIN}" "$@"; }; ${hint} --json`], {
        cwd: ROOT,
        env: { ...process.env, CI: 'true', NO_COLOR: '1', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (code) => done({ code, stderr }));
    });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming from ${join(run, 'ckpt', 'last')}: epoch ${epoch}, batch ${batch}/1000`);
    const finished = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')) as { stop: { reason: string }; epochs: { epoch: number }[] };
    expect(finished.stop.reason).toBe('completed');
    expect(finished.epochs.map((e) => e.epoch)).toEqual([0, 1, 2]);
  }, 240_000);

  it('fit: a second Ctrl-C as an epoch ends exits at once, after that epoch’s checkpoint is whole', async () => {
    const res = await interrupt(['fit', config('fit-twice', true)], { ready: /^0\s+\d/m, delayMs: 100, times: 2, gapMs: 30 });
    expect(res.code, res.stderr).toBe(130);
    expect(res.afterSignal).toBeLessThan(WITHIN_MS);
    expect(res.stderr).toContain('interrupt again: exiting now');
    const ck = await loadCheckpoint(join(onlyRun('fit-twice', 'fit'), 'ckpt', 'last'));
    expect(ck.meta.history.map((e) => e.epoch)).toEqual([0]);
    // the epoch-end checkpoint (epoch 1, batch 0) or the newer one at the batch
    expect(ck.meta.position.epoch).toBe(1);
  }, 120_000);
});
