/**
 * `fastlr finetune`, `finetune --unfreeze`, `find --unfreeze` and `export-digits` end to end through the built CLI, on
 * tiny data (synthetic rows; a few exported digits for the image path). Each CLI run takes about a second.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir, saveModelDir } from '../src/model/index.js';
import { runCli } from './helpers/cli.js';
import { readVectors } from './helpers/fastai-fixture.js';

interface VecStep {
  train_iter: number;
  epoch: number;
  batch: number;
  lr: number[];
  mom: number[];
  requires_grad: boolean[];
}
interface FineTuneCase {
  name: string;
  epochs: number;
  n_iter_per_epoch: number;
  n_groups: number;
  effective_defaults: { base_lr: number; freeze_epochs: number; lr_mult: number; pct_start: number; div: number };
  phases: { phase: string; steps: VecStep[] }[];
}
interface StageDoc {
  command: string;
  stage: 'frozen' | 'unfrozen';
  groups: string[][];
  model_from: string;
  frozen_model?: string | null;
  frozen_stage?: { final: Record<string, number> };
  epochs: { epoch: number; train_loss: number; valid_loss: number }[];
  final: Record<string, number>;
  gates: { name: string; pass: boolean }[];
  exit_code: number;
  run_dir: string;
  skipped_images: { count: number; files: { path: string; reason: string }[] };
}

const CASE = readVectors<{ fine_tune_cases: FineTuneCase[] }>('one_cycle_schedules.json').fine_tune_cases[0]!;
const rel = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

let root: string;
let base: string; // a saved 8-8-8-3 MLP

function weights(dir: string): Promise<Float32Array[]> {
  return loadModelDir(dir).then((m) => {
    const w = m.getWeights().map((t) => Float32Array.from(t.dataSync() as Float32Array));
    m.dispose();
    return w;
  });
}
const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length && new Uint32Array(a.buffer).every((v, i) => v === new Uint32Array(b.buffer)[i]);

/** A config over 100 synthetic rows (80 train = 20 batches of 4, as the vector case), `from` the saved MLP. */
function config(
  name: string,
  out: string,
  extra = '',
  model = `  from: ${JSON.stringify(base)}\n  groups: [1, 2]\n`,
  finetune = `{ freeze_epochs: ${CASE.effective_defaults.freeze_epochs}, epochs: ${CASE.epochs} }`,
): string {
  const path = join(root, `${name}.yaml`);
  writeFileSync(
    path,
    `name: ${name}
seed: 11
backend: cpu
data:
  source: synthetic
  valid_pct: 0.2
  batch_size: 4
  synthetic: { n: 100, features: 8, classes: 3, noise: 0.3 }
model:
${model}loss: cross_entropy
metrics: [accuracy]
finetune: ${finetune}
output: ${JSON.stringify(out)}
${extra}`,
  );
  return path;
}

function scheduleRows(dir: string): number[][] {
  return readFileSync(join(dir, 'schedule.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
}

/** lr of every group and mom of every step vs fastai's fine_tune; counters identical. */
function expectSchedule(dir: string, want: VecStep[]): number {
  const rows = scheduleRows(dir);
  expect(rows).toHaveLength(want.length);
  let worst = 0;
  want.forEach((w, k) => {
    const [iter, epoch, batch, ...rest] = rows[k]!;
    expect([iter, epoch, batch]).toEqual([w.train_iter, w.epoch, w.batch]);
    w.lr.forEach((v, g) => (worst = Math.max(worst, rel(rest[g]!, v))));
    worst = Math.max(worst, rel(rest[w.lr.length]!, w.mom[0]!));
  });
  return worst;
}

async function json<T>(args: string[], code = 0): Promise<T> {
  const res = await runCli([...args, '--json']);
  expect(res.code, res.stderr).toBe(code);
  return JSON.parse(res.stdout) as T;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'fastlr-ftcli-'));
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'relu', inputShape: [8], name: 'l0_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 8, activation: 'relu', name: 'l1_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
      tf.layers.dense({ units: 3, name: 'l2_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  base = join(root, 'base-model');
  await saveModelDir(m, base);
  m.dispose();
});

describe('finetune then finetune --unfreeze (fine_tune_defaults_3groups)', () => {
  it("both stages' schedules match fastai's fine_tune; the frozen stage leaves the body alone; stage 2 continues from stage 1", async () => {
    expect(CASE.n_groups).toBe(3);
    expect(CASE.n_iter_per_epoch).toBe(20);
    const out = join(root, 'runs-a');
    const cfg = config('ft-a', out);

    const s1 = await json<StageDoc>(['finetune', cfg]);
    expect(s1).toMatchObject({ command: 'finetune', stage: 'frozen', exit_code: 0, model_from: base });
    expect(s1.groups).toEqual([['l0_dense'], ['l1_dense'], ['l2_dense']]);
    expect(s1.epochs).toHaveLength(CASE.effective_defaults.freeze_epochs);
    const frozenDir = join(s1.run_dir, 'frozen');
    expect(expectSchedule(frozenDir, CASE.phases[0]!.steps)).toBeLessThan(1e-12);
    // requires_grad [false, false, true]: the first two groups are bit for bit the loaded model, the head moved
    const [w0, w1] = [await weights(base), await weights(join(frozenDir, 'model'))];
    CASE.phases[0]!.steps[0]!.requires_grad.forEach((trains, g) => {
      for (const k of [2 * g, 2 * g + 1]) expect(sameBits(w0[k]!, w1[k]!), `group ${g} weight ${k} unchanged`).toBe(!trains);
    });
    for (const f of ['plan.json', 'frozen/report.json', 'frozen/metrics.csv', 'frozen/ckpt/last/state.json', 'frozen/ckpt/best/state.json', 'frozen/model/model.json']) {
      expect(existsSync(join(s1.run_dir, f)), f).toBe(true);
    }

    const s2 = await json<StageDoc>(['finetune', cfg, '--unfreeze']);
    expect(s2).toMatchObject({ stage: 'unfrozen', exit_code: 0, run_dir: s1.run_dir, frozen_model: join(frozenDir, 'model'), model_from: base });
    expect(s2.frozen_stage).toBeUndefined(); // it did not run stage 1 again
    expect(s2.epochs).toHaveLength(CASE.epochs);
    expect(expectSchedule(join(s1.run_dir, 'unfrozen'), CASE.phases[1]!.steps)).toBeLessThan(1e-12);
    const w2 = await weights(join(s1.run_dir, 'unfrozen', 'model'));
    w2.forEach((w, k) => expect(sameBits(w, w1[k]!), `weight ${k} trained in stage 2`).toBe(false));
    expect(readdirSync(out)).toHaveLength(1);

    // --unfreeze on a fresh output runs stage 1 first, in one process: the same numbers as the two commands
    const outB = join(root, 'runs-b');
    const both = await json<StageDoc>(['finetune', config('ft-a', outB), '--unfreeze']);
    expect(both.frozen_stage?.final).toEqual(s1.final);
    expect(both.epochs).toEqual(s2.epochs.map((e, i) => ({ ...e, seconds: both.epochs[i]!.seconds })));
    expect(scheduleRows(join(both.run_dir, 'unfrozen')).map((r) => r.slice(0, -1))).toEqual(
      scheduleRows(join(s1.run_dir, 'unfrozen')).map((r) => r.slice(0, -1)),
    );

    // find --unfreeze: the range test on the saved stage-1 model, unfrozen; it changes nothing on disk
    const f = await json<{ command: string; unfrozen: boolean; lrs: number[]; run_dir: string }>(['find', cfg, '--unfreeze', '--set', 'find.num_it=12']);
    expect(f).toMatchObject({ command: 'find', unfrozen: true });
    expect(f.lrs).toHaveLength(12);
    expect(await weights(join(frozenDir, 'model'))).toEqual(w1);
  });

  it('find --unfreeze without a saved frozen stage, finetune without model.from, freeze_epochs 0, nothing to resume: exit 2', async () => {
    const out = join(root, 'runs-empty');
    const cfg = config('ft-e', out);
    const find = await runCli(['find', cfg, '--unfreeze']);
    expect(find.code).toBe(2);
    expect(find.stderr).toContain('no saved frozen finetune stage');
    expect(find.stderr).toContain(`fastlr finetune ${cfg}`);

    const noFrom = await runCli(['finetune', config('ft-nofrom', out, '', '  input: [8]\n  layers: [ { dense: 3 } ]\n')]);
    expect(noFrom.code).toBe(2);
    expect(noFrom.stderr).toContain('finetune needs model.from');

    const zero = await runCli(['finetune', cfg, '--set', 'finetune.freeze_epochs=0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain('--unfreeze');

    const resume = await runCli(['finetune', cfg, '--resume']);
    expect(resume.code).toBe(2);
    expect(resume.stderr).toContain('no unfinished finetune frozen stage');
    expect(existsSync(out)).toBe(false);
  });

  it('freeze_epochs 0 with --unfreeze trains every group from model.from; a missed expect: gate exits 4; divergence exits 3', async () => {
    const out = join(root, 'runs-zero');
    const cfg = config('ft-z', out, 'expect: { valid_accuracy: ">= 1.01" }\n');
    const res = await runCli(['finetune', cfg, '--unfreeze', '--set', 'finetune.freeze_epochs=0', '--json']);
    expect(res.code, res.stderr).toBe(4);
    const doc = JSON.parse(res.stdout) as StageDoc;
    expect(doc).toMatchObject({ stage: 'unfrozen', exit_code: 4, frozen_model: null, model_from: base });
    expect(doc.gates).toEqual([expect.objectContaining({ name: 'valid_accuracy', pass: false })]);
    expect(existsSync(join(doc.run_dir, 'frozen'))).toBe(false);
    expect(res.stderr).toContain('quality gates missed');

    // a learning rate that blows the weights up: the loss turns non-finite, exit 3, no model saved
    const div = await runCli(['finetune', cfg, '--set', 'finetune.base_lr=1e30', '--json']);
    expect(div.code, div.stderr).toBe(3);
    const d = JSON.parse(div.stdout) as StageDoc & { stop: { reason: string } };
    expect(d).toMatchObject({ stage: 'frozen', exit_code: 3, stop: { reason: 'non_finite' } });
    expect(div.stderr).toContain('training diverged');
    expect(existsSync(join(d.run_dir, 'frozen', 'model'))).toBe(false);
  });
});

describe('SIGINT and --resume', () => {
  it('an interrupted --unfreeze exits 130 with ckpt/last; --unfreeze --resume finishes both stages as if never stopped', async () => {
    const stages = '{ freeze_epochs: 3, epochs: 3 }';
    const ref = await json<StageDoc>(['finetune', config('ft-int-ref', join(root, 'runs-int-ref'), '', undefined, stages), '--unfreeze']);
    const intCfg = config('ft-int', join(root, 'runs-int-cut'), '', undefined, stages);
    let sent = false;
    const cut = await runCli(['finetune', intCfg, '--unfreeze', '--json'], {
      onSpawn: (p) =>
        p.stderr?.on('data', (d: Buffer) => {
          // the first progress line of the frozen stage: stop it after the batch that is running
          if (!sent && d.toString().includes('finetune-frozen:')) {
            sent = true;
            p.kill('SIGINT');
          }
        }),
    });
    expect(sent).toBe(true);
    expect(cut.code, cut.stderr).toBe(130);
    expect(cut.stderr).toContain(`fastlr finetune ${intCfg} --unfreeze --resume`);
    const runDir = readdirSync(join(root, 'runs-int-cut')).map((n) => join(root, 'runs-int-cut', n))[0]!;
    expect(existsSync(join(runDir, 'frozen', 'ckpt', 'last', 'state.json'))).toBe(true);
    expect(existsSync(join(runDir, 'frozen', 'model'))).toBe(false);

    const done = await json<StageDoc>(['finetune', intCfg, '--unfreeze', '--resume']);
    expect(done.run_dir).toBe(runDir);
    expect(done.frozen_stage?.final).toEqual(ref.frozen_stage?.final);
    expect(done.final).toEqual(ref.final);
    expect(scheduleRows(join(runDir, 'unfrozen'))).toEqual(scheduleRows(join(ref.run_dir, 'unfrozen')));
    expect(scheduleRows(join(runDir, 'frozen'))).toEqual(scheduleRows(join(ref.run_dir, 'frozen')));
    // nothing left to resume
    expect((await runCli(['finetune', intCfg, '--unfreeze', '--resume'])).code).toBe(2);
  });
});

describe('model.from names a run base folder', () => {
  it("resolves to the newest completed fit run's model/, passing over unfinished ones; none → exit 2 naming the folder", async () => {
    const runs = join(root, 'pretrain-runs');
    const done = join(runs, 'fit-20260101-000000-000', 'model');
    mkdirSync(done, { recursive: true });
    cpSync(base, done, { recursive: true });
    mkdirSync(join(runs, 'fit-20270101-000000-000', 'ckpt', 'last'), { recursive: true }); // interrupted: no model/
    const cfg = config('ft-base', join(root, 'runs-base'), '', `  from: ${JSON.stringify(runs)}\n  groups: [2]\n`);
    const doc = await json<StageDoc>(['finetune', cfg, '--set', 'finetune.freeze_epochs=1']);
    expect(doc.model_from).toBe(done);
    expect(doc.groups).toEqual([['l0_dense', 'l1_dense'], ['l2_dense']]);

    const empty = join(root, 'no-fit-yet');
    mkdirSync(empty);
    const bad = await runCli(['finetune', config('ft-nofit', join(root, 'runs-nofit'), '', `  from: ${JSON.stringify(empty)}\n`)]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`model.from: ${empty} has no model.json and no fit-* run folder`);
  });
});

describe('export-digits and the image path', () => {
  it('exports digits as PNGs; finetune reads them, names and counts an unreadable image, and goes on', async () => {
    const dir = join(root, 'digits');
    const exp = await runCli(['export-digits', dir, '--digits', '5,6', '--per-class', '6', '--valid-per-class', '4', '--seed', '3']);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toContain('train: 12 images (5: 6, 6: 6)');
    expect(readdirSync(join(dir, 'train', '5'))).toHaveLength(6);
    const again = await runCli(['export-digits', dir, '--digits', '5,6']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('not empty');
    expect((await runCli(['export-digits', join(root, 'x'), '--digits', '5,x'])).code).toBe(2);
    const broken = join(dir, 'train', '6', 'zz-broken.png');
    writeFileSync(broken, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]));

    // a digits model: flatten + dense(4) + dense(2), fine-tuned with a new 2-unit head
    const m = tf.sequential({
      layers: [
        tf.layers.flatten({ inputShape: [28, 28, 1], name: 'l0_flatten' }),
        tf.layers.dense({ units: 4, activation: 'relu', name: 'l1_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
        tf.layers.dense({ units: 2, name: 'l2_dense', kernelInitializer: tf.initializers.glorotUniform({ seed: 5 }) }),
      ],
    });
    const model = join(root, 'digits-model');
    await saveModelDir(m, model);
    m.dispose();
    const cfg = join(root, 'ft-img.yaml');
    writeFileSync(
      cfg,
      `name: ft-img
backend: cpu
data:
  source: images
  images: { path: ${JSON.stringify(dir)}, size: [28, 28], channels: 1 }
  batch_size: 4
model:
  from: ${JSON.stringify(model)}
  head: [ { dense: 2 } ]
finetune: { freeze_epochs: 1, epochs: 1 }
output: ${JSON.stringify(join(root, 'runs-img'))}
`,
    );
    const res = await runCli(['finetune', cfg, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toContain('skipped 1 unreadable image');
    expect(res.stderr).toContain(broken);
    const doc = JSON.parse(res.stdout) as StageDoc;
    expect(doc.skipped_images.count).toBe(1);
    expect(doc.skipped_images.files[0]!.path).toBe(broken);
    expect(doc.groups).toEqual([['l0_flatten', 'l1_dense'], ['l2_dense']]);
  });
});
