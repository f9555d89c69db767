// The stages `check` prints are the stages the commands run: `check --schedule csv` against the schedule.csv of real
// runs (fit, finetune's frozen and unfrozen stages) on the bundled MNIST digits, with a non-default fit.div; fine_tune's
// frozen stage keeps fit_one_cycle's div 25. Then what --resume reads back: `--resume <run-dir>` and a plan.json
// edited to a negative lr (exit 2 naming the file).
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'fastlr-phases-'));
const FIT_DIV = 10; // not fastai's 25

function writeConfig(name: string, body: string): string {
  const f = join(base, `${name}.yaml`);
  writeFileSync(
    f,
    `name: ${name}
seed: 5
backend: cpu
data:
  source: mnist
  mnist: { limit: 400 }
  valid_pct: 0.2
  batch_size: 32
loss: cross_entropy
metrics: [accuracy]
optimizer: { type: adam, wd: 0.01 }
fit: { epochs: 2, lr: 3.0e-3, div: ${FIT_DIV}, div_final: 1.0e4, pct_start: 0.3 }
output: ${join(base, 'runs', name)}
${body}`,
  );
  return f;
}

const fitConfig = writeConfig(
  'digits-fit',
  `model:
  input: [28, 28, 1]
  layers:
    - flatten
    - dense: { units: 16, activation: relu }
    - dense: { units: 10 }
`,
);

/** check's rows of one phase as `iter,epoch,lr_0..,mom` (its `pos` column dropped). */
async function checkRows(config: string, phase: string): Promise<string[]> {
  const res = await runCli(['check', config, '--schedule', 'csv']);
  expect(res.code, res.stderr).toBe(0);
  const rows = res.stdout.trim().split('\n').map((l) => l.split(','));
  const head = rows[0]!;
  expect(head.slice(0, 4)).toEqual(['phase', 'step', 'epoch', 'pos']);
  return rows.filter((r) => r[0] === phase).map((r) => [r[1], r[2], ...r.slice(4)].join(','));
}

/** A run's schedule.csv rows as `iter,epoch,lr_0..,mom` (batch, loss and smooth_loss dropped). */
function runRows(dir: string): string[] {
  const lines = readFileSync(join(dir, 'schedule.csv'), 'utf8').trim().split('\n');
  const head = lines[0]!.split(',');
  expect(head.slice(0, 3)).toEqual(['iter', 'epoch', 'batch']);
  expect(head.slice(-2)).toEqual(['loss', 'smooth_loss']);
  return lines.slice(1).map((l) => {
    const c = l.split(',');
    return [c[0], c[1], ...c.slice(3, -2)].join(',');
  });
}

interface StageDoc {
  exit_code: number;
  run_dir: string;
  stage?: string;
  plan?: { batches_per_epoch: number };
}

async function json<T>(args: string[], code = 0): Promise<T> {
  const res = await runCli([...args, '--json']);
  expect(res.code, res.stderr).toBe(code);
  return JSON.parse(res.stdout) as T;
}

describe('check --schedule shows exactly what runs', () => {
  let fitRun = '';

  it('fit: every step of schedule.csv equals check --schedule (fit.div 10)', async () => {
    const doc = await json<StageDoc>(['fit', fitConfig]);
    fitRun = doc.run_dir;
    const want = await checkRows(fitConfig, 'fit');
    expect(want).toHaveLength(2 * doc.plan!.batches_per_epoch);
    expect(runRows(doc.run_dir)).toEqual(want);
    // the first step is lr_max / fit.div
    expect(Number(want[0]!.split(',')[2])).toBeCloseTo(3e-3 / FIT_DIV, 15);
  }, 120_000);

  it('finetune --unfreeze: the frozen and unfrozen stages equal check --schedule; the frozen stage starts at base_lr/25, not /fit.div', async () => {
    const ft = writeConfig(
      'digits-ft',
      `model:
  from: ${JSON.stringify(fitRun)}
  cut: -1
  head:
    - dense: { units: 10 }
finetune: { freeze_epochs: 1, epochs: 2, base_lr: 2.0e-3, div: 4 }
`,
    );
    const frozen = await checkRows(ft, 'finetune_frozen');
    const unfrozen = await checkRows(ft, 'finetune_unfrozen');
    expect(frozen.length).toBeGreaterThan(0);
    expect(unfrozen).toHaveLength(2 * frozen.length);
    const doc = await json<StageDoc>(['finetune', ft, '--unfreeze']);
    expect(doc.stage).toBe('unfrozen');
    expect(runRows(join(doc.run_dir, 'frozen'))).toEqual(frozen);
    expect(runRows(join(doc.run_dir, 'unfrozen'))).toEqual(unfrozen);
    // fastai's fine_tune: stage 1 is fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99) with its default
    // div 25; stage 2 uses fine_tune's div (4 here) at base_lr/2
    const lrOf = (row: string): number[] => row.split(',').slice(2, -1).map(Number);
    expect(lrOf(frozen[0]!).at(-1)).toBeCloseTo(2e-3 / 25, 15);
    expect(lrOf(unfrozen[0]!).at(-1)).toBeCloseTo(1e-3 / 4, 15);
  }, 180_000);

  it('--resume <run-dir> continues that run, not the newest; a negative lr in its plan.json is exit 2 naming the file', async () => {
    const cfg = writeConfig(
      'digits-resume',
      `model:
  input: [28, 28, 1]
  layers:
    - flatten
    - dense: { units: 10 }
`,
    );
    const older = await json<StageDoc>(['fit', cfg]);
    const newer = await json<StageDoc>(['fit', cfg]);
    expect(newer.run_dir).not.toBe(older.run_dir);
    // the older run "killed before its final model": ckpt/last is at the end, model/ missing
    rmSync(join(older.run_dir, 'model'), { recursive: true });
    // plain --resume means the newest, which finished
    const plain = await runCli(['fit', cfg, '--resume']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`nothing to resume: the newest fit run ${newer.run_dir} finished`);
    const planFile = join(older.run_dir, 'plan.json');
    const saved = readFileSync(planFile, 'utf8');
    writeFileSync(planFile, saved.replace(/"lr_resolved": [^,\n]+/, '"lr_resolved": -0.003'));
    const bad = await runCli(['fit', cfg, '--resume', older.run_dir]);
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toContain(planFile);
    expect(bad.stderr).toContain('lr_resolved');
    writeFileSync(planFile, saved);
    const resumed = await json<StageDoc>(['fit', cfg, '--resume', older.run_dir]);
    expect(resumed.run_dir).toBe(older.run_dir);
    expect(readFileSync(join(older.run_dir, 'model', 'weights.bin')).equals(readFileSync(join(newer.run_dir, 'model', 'weights.bin')))).toBe(true);
    // a folder that is not a fit run
    const notRun = await runCli(['fit', cfg, '--resume', base]);
    expect(notRun.code).toBe(2);
    expect(notRun.stderr).toContain('is not a fit run folder');
  }, 180_000);
});
