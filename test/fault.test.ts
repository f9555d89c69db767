/**
 * Fault test: `fastlr fit` is SIGKILLed at seeded random points (during an epoch, in the checkpoint and table
 * writes that follow an epoch, while the final model and report are written); after each kill every file present in
 * the run folder must be whole (JSON parses, CSVs are rectangular and numeric, model.json + weights.bin load with
 * tfjs, checkpoints load). Then `fit --resume` continues the last killed run to the end.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { BIN, runCli } from './helpers/cli.js';
import { checkRunFolder } from './helpers/run-files.js';

const EPOCHS = 6;
const CONFIG = `name: fault
seed: 3
backend: cpu
data:
  source: synthetic
  valid_pct: 0.2
  batch_size: 32
  synthetic: { task: classification, n: 1600, features: 16, classes: 4, noise: 0.8 }
model:
  input: [16]
  layers:
    - dense: { units: 64, activation: relu }
    - dense: { units: 4 }
  groups: [1]
loss: cross_entropy
metrics: [accuracy]
fit: { epochs: ${EPOCHS}, lr: 3.0e-3 }
output: runs
`;

const work = mkdtempSync(join(tmpdir(), 'fastlr-fault-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface KillPoint {
  what: string;
  /** external: SIGKILL `delay` ms after the first output line matching `trigger` */
  trigger?: RegExp;
  delay?: number;
  /** internal: FASTLR_TEST_KILL_AT_WRITE, the process kills itself at its n-th write point (mid-file, mid-swap) */
  writePoint?: number;
}

/** Run `fit` in `cwd` and kill it at `pt`; resolves with whether it died of SIGKILL before finishing on its own. */
function fitKilledAt(cwd: string, pt: KillPoint): Promise<{ killed: boolean; code: number | null; out: string }> {
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [BIN, 'fit', 'fit.yaml'], {
      cwd,
      env: {
        ...process.env,
        CI: 'true',
        NO_COLOR: '1',
        FASTLR_BACKEND: '',
        FASTLR_OUT: '',
        FASTLR_SEED: '',
        GITHUB_ACTIONS: '',
        FASTLR_TEST_KILL_AT_WRITE: pt.writePoint !== undefined ? String(pt.writePoint) : '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let sent = false;
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (pt.trigger && !sent && out.split('\n').some((l) => pt.trigger!.test(l))) {
        sent = true;
        setTimeout(() => p.kill('SIGKILL'), pt.delay ?? 0);
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('error', fail);
    p.on('close', (code, signal) => done({ killed: signal === 'SIGKILL', code, out }));
  });
}

const epochLine = (k: number): RegExp => new RegExp(`^${k}\\s+\\d+\\.\\d+\\s+\\d+\\.\\d+`);

/** About how many write points a fit of EPOCHS epochs passes (plan, per epoch 2 tables + 2 checkpoint swaps, the end). */
const WRITE_POINTS = 1 + EPOCHS * 6 + 6;

describe('SIGKILL during fit never leaves a broken file in the run folder', () => {
  const rng = seedrandom('fastlr-fault-7');
  const points: KillPoint[] = [{ trigger: /^fit: \d+ batches planned/, delay: Math.floor(rng() * 150), what: 'during the first epoch' }];
  for (let i = 0; i < 2; i++) {
    const k = Math.floor(rng() * (EPOCHS - 1));
    const delay = Math.floor(rng() * 40);
    points.push({ trigger: epochLine(k), delay, what: `${delay} ms after epoch ${k}` });
  }
  points.push({ trigger: epochLine(EPOCHS - 1), delay: Math.floor(rng() * 10), what: 'while the final model and report are written' });
  for (let i = 0; i < 6; i++) {
    const n = 2 + Math.floor(rng() * (WRITE_POINTS - 4));
    points.push({ writePoint: n, what: `at write point ${n}` });
  }

  it(`kills at ${points.length} seeded points; every file present parses; --resume then finishes`, async () => {
    const seen = { json: 0, csv: 0, models: 0, checkpoints: 0 };
    const killed: string[] = [];
    for (const [i, pt] of points.entries()) {
      const cwd = join(work, `k${i}`);
      mkdirSync(cwd, { recursive: true });
      writeFileSync(join(cwd, 'fit.yaml'), CONFIG);
      const r = await fitKilledAt(cwd, pt);
      const runs = readdirSync(join(cwd, 'runs')).filter((n) => n.startsWith('fit-'));
      expect(runs, `${pt.what}: one run folder`).toHaveLength(1);
      const check = await checkRunFolder(join(cwd, 'runs', runs[0]!));
      expect(check.problems, `${pt.what} (${r.killed ? 'SIGKILL' : `exit ${r.code}`}): files ${check.files.join(', ')}`).toEqual([]);
      for (const k of Object.keys(seen) as (keyof typeof seen)[]) seen[k] += check.checked[k];
      if (r.killed) killed.push(cwd);
      else expect(r.code, `${pt.what}: not killed, so it must have finished\n${r.out}`).toBe(0);
    }
    // the kills really happened mid-run, and the checks really looked at files of every kind
    expect(killed.length).toBeGreaterThanOrEqual(points.length - 1);
    expect(seen.json).toBeGreaterThan(points.length);
    expect(seen.csv).toBeGreaterThan(points.length);
    expect(seen.checkpoints).toBeGreaterThan(0);
    expect(seen.models).toBeGreaterThan(0);

    // killed runs continue from their last checkpoint (or start again when none was written) and finish whole
    for (const cwd of [killed[1], killed[killed.length - 2], killed[killed.length - 1]]) {
      const res = await runCli(['fit', 'fit.yaml', '--resume', '--json'], { cwd });
      const noCkpt = /has no checkpoint yet/.test(res.stderr);
      const final = noCkpt ? await runCli(['fit', 'fit.yaml', '--json'], { cwd }) : res;
      expect(final.code, final.stderr).toBe(0);
      const doc = JSON.parse(final.stdout) as { epochs: unknown[]; run_dir: string };
      expect(doc.epochs).toHaveLength(EPOCHS);
      expect((await checkRunFolder(resolve(doc.run_dir))).problems).toEqual([]);
    }
  }, 180_000);

  it('finetune and finetune --unfreeze killed at seeded write points leave only whole files too', async () => {
    const base = join(work, 'k0');
    const fits = readdirSync(join(base, 'runs')).filter((n) => n.startsWith('fit-')).sort();
    const model = fits.map((n) => join(base, 'runs', n, 'model')).find((d) => existsSync(join(d, 'model.json')));
    // k0 was killed in its first epoch: train a model to fine-tune from when no run there finished
    const from = model ?? join(work, 'ft-base', 'runs');
    if (!model) {
      mkdirSync(join(work, 'ft-base'), { recursive: true });
      writeFileSync(join(work, 'ft-base', 'fit.yaml'), CONFIG.replace(`epochs: ${EPOCHS}`, 'epochs: 1'));
      expect((await runCli(['fit', 'fit.yaml', '--quiet'], { cwd: join(work, 'ft-base') })).code).toBe(0);
    }
    const ft = CONFIG.replace(/model:\n(?: {2}.*\n|\s{4}.*\n)+/, `model:\n  from: ${JSON.stringify(from)}\n  head: [{ dense: 4 }]\n`).replace(/^fit: .*$/m, 'finetune: { freeze_epochs: 2, epochs: 2 }');
    const rng = seedrandom('fastlr-fault-finetune');
    let killed = 0;
    for (let i = 0; i < 3; i++) {
      const cwd = join(work, `ft${i}`);
      mkdirSync(cwd, { recursive: true });
      writeFileSync(join(cwd, 'fit.yaml'), ft);
      const n = 2 + Math.floor(rng() * 24);
      const args = i === 2 ? ['finetune', 'fit.yaml', '--unfreeze'] : ['finetune', 'fit.yaml'];
      const r = spawnSync(process.execPath, [BIN, ...args, '--quiet'], {
        cwd,
        env: { ...process.env, CI: 'true', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', GITHUB_ACTIONS: '', FASTLR_TEST_KILL_AT_WRITE: String(n) },
      });
      if (r.signal === 'SIGKILL') killed++;
      else expect(r.status, r.stderr.toString()).toBe(0);
      const runs = readdirSync(join(cwd, 'runs')).filter((x) => x.startsWith('finetune-'));
      expect(runs).toHaveLength(1);
      const check = await checkRunFolder(join(cwd, 'runs', runs[0]!));
      expect(check.problems, `finetune ${args.slice(2).join(' ')} killed at write point ${n}: ${check.files.join(', ')}`).toEqual([]);
      if (r.signal !== 'SIGKILL') continue;
      // a stage with a checkpoint (whole, or caught mid-swap at ckpt/.last.old) and no final model must resume
      const rd = join(cwd, 'runs', runs[0]!);
      const resumable = ['frozen', 'unfrozen'].some(
        (st) => !existsSync(join(rd, st, 'model', 'model.json')) && ['last/state.json', '.last.old/state.json'].some((f) => existsSync(join(rd, st, 'ckpt', f))),
      );
      const again = spawnSync(process.execPath, [BIN, ...args, '--resume', '--quiet'], { cwd, env: { ...process.env, CI: 'true', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', GITHUB_ACTIONS: '' } });
      if (resumable) expect(again.status, `resume after a kill at write point ${n}: ${again.stderr.toString()}`).toBe(0);
      else expect(again.status).toBe(2);
    }
    expect(killed).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
