/**
 * Missing, truncated or corrupt inputs — saved model folders (model.from), checkpoints and run files (--resume), CSV
 * files and image folders — end with exit 2 and an error naming the path; never an unexpected error or a stack trace.
 * The commands run in-process through the CLI's main(); one run is killed for real to get a checkpoint to damage.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { BIN, ROOT, runCli } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-broken-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sink(): { write(s: string): boolean; text: string } {
  const s = { text: '', write: (c: string) => ((s.text += c), true) };
  return s;
}

/** Run the CLI in-process in `work`; the exit code and what it printed on the io streams. */
async function cli(...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  return cliIn(work, ...args);
}

async function cliIn(dir: string, ...args: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const stdout = sink();
  const stderr = sink();
  const env = { ...process.env, NO_COLOR: '1', CI: 'true', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', GITHUB_ACTIONS: '' };
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const code = await main(['node', 'fastlr', ...args, '--quiet'], { stdout, stderr, env, cwd: dir });
    return { code, stderr: stderr.text, stdout: stdout.text };
  } finally {
    process.chdir(cwd);
  }
}

/** exit 2, the path named, no stack trace, no "unexpected error". */
function expectNamed(r: { code: number; stderr: string }, path: string, what?: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toContain(path);
  if (what) expect(r.stderr).toMatch(what);
  expect(r.stderr).not.toMatch(/unexpected error|^\s+at /m);
}

const SYNTH = `  source: synthetic
  batch_size: 16
  synthetic: { task: classification, n: 200, features: 4, classes: 3 }`;

const write = (name: string, text: string): string => {
  writeFileSync(join(work, name), text);
  return name;
};

let model = '';

beforeAll(async () => {
  write('base.yaml', `name: base\nseed: 1\nbackend: cpu\ndata:\n${SYNTH}\nmodel:\n  input: [4]\n  layers: [{ dense: { units: 8, activation: relu } }, { dense: 3 }]\nfit: { epochs: 1, lr: 1.0e-2 }\noutput: runs\n`);
  const r = await cli('fit', 'base.yaml');
  expect(r.code, r.stderr).toBe(0);
  const dir = readdirSync(join(work, 'runs')).find((n) => n.startsWith('fit-'))!;
  model = join(work, 'runs', dir, 'model');
}, 60_000);

describe('model.from: a missing, empty, truncated or corrupt model folder', () => {
  const finetune = (from: string): string =>
    write('ft.yaml', `name: ft\nseed: 1\nbackend: cpu\ndata:\n${SYNTH}\nmodel:\n  from: ${from}\n  head: [{ dense: 3 }]\nfinetune: { freeze_epochs: 1, epochs: 1 }\noutput: ftruns\n`);
  const copy = (name: string): string => {
    const d = join(work, name);
    cpSync(model, d, { recursive: true });
    return d;
  };

  it('the intact model fine-tunes (the cases below differ from it only by the damage)', async () => {
    const r = await cli('finetune', finetune(model));
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);

  it('missing folder, empty folder, a file instead of a folder', async () => {
    expectNamed(await cli('finetune', finetune(join(work, 'no-such-model'))), join(work, 'no-such-model'), /does not exist/);
    mkdirSync(join(work, 'empty-model'));
    expectNamed(await cli('finetune', finetune(join(work, 'empty-model'))), join(work, 'empty-model'), /has no model\.json/);
    write('a-file', 'x');
    expectNamed(await cli('finetune', finetune(join(work, 'a-file'))), join(work, 'a-file'), /not a folder/);
  });

  it('truncated or missing weights.bin', async () => {
    const t = copy('trunc-model');
    writeFileSync(join(t, 'weights.bin'), readFileSync(join(model, 'weights.bin')).subarray(0, 50));
    expectNamed(await cli('finetune', finetune(t)), join(t, 'weights.bin'), /truncated/);
    const m = copy('noweights-model');
    rmSync(join(m, 'weights.bin'));
    expectNamed(await cli('finetune', finetune(m)), join(m, 'weights.bin'), /not found/);
  });

  it('model.json cut short, binary garbage, not a layers model, a topology tfjs cannot rebuild', async () => {
    const cases: [string, string | Buffer, RegExp][] = [
      ['cut-model', readFileSync(join(model, 'model.json'), 'utf8').slice(0, 120), /malformed JSON/],
      ['garbage-model', Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7919) % 256)), /malformed JSON/],
      ['array-model', '[1, 2]', /not a tfjs layers model/],
      ['topology-model', JSON.stringify({ modelTopology: { class_name: 'Nope' }, weightsManifest: [{ paths: ['weights.bin'], weights: [] }] }), /cannot rebuild|no layer list/],
      // no weights at all: never a silent random start (model.reinit is the explicit way)
      ['weightless-model', JSON.stringify({ modelTopology: (JSON.parse(readFileSync(join(model, 'model.json'), 'utf8')) as { modelTopology: unknown }).modelTopology }), /has no weights.*model\.reinit: true/],
    ];
    for (const [name, body, why] of cases) {
      const d = copy(name);
      writeFileSync(join(d, 'model.json'), body);
      expectNamed(await cli('finetune', finetune(d)), join(d, 'model.json'), why);
    }
  });
});

describe('fit --resume: a damaged checkpoint or run file', () => {
  const LONG = `name: long\nseed: 1\nbackend: cpu\ndata:\n${SYNTH}\nmodel:\n  input: [4]\n  layers: [{ dense: { units: 8, activation: relu } }, { dense: 3 }]\nfit: { epochs: 3, lr: 1.0e-2 }\noutput: OUT\n`;
  let killed = '';

  beforeAll(() => {
    // a real run, SIGKILLed by itself at its 8th write point (after the first epoch's checkpoint)
    const dir = join(work, 'killed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'long.yaml'), LONG.replace('OUT', 'runs'));
    const r = spawnSync(process.execPath, [BIN, 'fit', 'long.yaml', '--quiet'], {
      cwd: dir,
      env: { ...process.env, CI: 'true', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', FASTLR_TEST_KILL_AT_WRITE: '8' },
    });
    expect(r.signal).toBe('SIGKILL');
    killed = dir;
  }, 60_000);

  /** A copy of the killed run's folder (config + output root) with `damage` applied to its run folder; resumes it. */
  async function resumeDamaged(name: string, damage: (run: string) => void): Promise<{ code: number; stderr: string; run: string }> {
    const dir = join(work, name);
    cpSync(killed, dir, { recursive: true });
    const run = join(dir, 'runs', readdirSync(join(dir, 'runs')).find((n) => n.startsWith('fit-'))!);
    damage(run);
    return { ...(await cliIn(dir, 'fit', 'long.yaml', '--resume')), run };
  }

  it('the undamaged copy resumes to the end', async () => {
    const r = await resumeDamaged('resume-ok', () => undefined);
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);

  it('optimizer.bin corrupt or missing; weights.bin truncated; state.json cut short or incomplete', async () => {
    const ck = (run: string, f: string): string => join(run, 'ckpt', 'last', f);
    const cases: [string, string, (run: string) => void, RegExp][] = [
      ['opt-garbage', 'optimizer.bin', (run) => writeFileSync(ck(run, 'optimizer.bin'), 'not an optimizer state'), /bad magic/],
      ['opt-missing', 'optimizer.bin', (run) => rmSync(ck(run, 'optimizer.bin')), /missing/],
      ['w-trunc', 'weights.bin', (run) => writeFileSync(ck(run, 'weights.bin'), readFileSync(ck(run, 'weights.bin')).subarray(0, 10)), /truncated/],
      ['state-cut', 'state.json', (run) => writeFileSync(ck(run, 'state.json'), readFileSync(ck(run, 'state.json'), 'utf8').slice(0, 40)), /not valid JSON/],
      ['state-partial', 'state.json', (run) => writeFileSync(ck(run, 'state.json'), '{"format":"fastlr-checkpoint/1"}'), /missing/],
    ];
    for (const [name, file, damage, why] of cases) {
      const r = await resumeDamaged(name, damage);
      expectNamed(r, ck(r.run, file), why);
    }
  }, 60_000);

  it('hand-edited positions a stage cannot reach (epoch 99, batch 1e9, more frozen groups than exist) are refused', async () => {
    const state = (run: string): string => join(run, 'ckpt', 'last', 'state.json');
    const edit = (f: (m: Record<string, any>) => void) => (run: string): void => {
      const m = JSON.parse(readFileSync(state(run), 'utf8')) as Record<string, any>;
      f(m);
      writeFileSync(state(run), JSON.stringify(m));
    };
    const cases: [string, (run: string) => void, RegExp][] = [
      ['pos-epoch', edit((m) => (m.position.epoch = 99)), /position\.epoch is 99, but this stage has 3 epochs/],
      ['pos-batch', edit((m) => (m.position.batch = 1e9)), /position\.batch is 1000000000, but an epoch has \d+ batches/],
      ['pos-frozen', edit((m) => (m.frozen_groups = 7)), /frozen_groups is 7, but the model has 1 parameter group/],
      ['pos-history', edit((m) => (m.history = [])), /history has 0 epoch summaries, position\.epoch says 1/],
    ];
    for (const [name, damage, why] of cases) {
      const r = await resumeDamaged(name, damage);
      expectNamed(r, state(r.run), why);
    }
  }, 60_000);

  it('plan.json or schedule.csv damaged', async () => {
    const p = await resumeDamaged('plan-garbage', (run) => writeFileSync(join(run, 'plan.json'), 'garbage'));
    expectNamed(p, join(p.run, 'plan.json'), /not valid JSON/);
    const s = await resumeDamaged('sched-garbage', (run) => writeFileSync(join(run, 'schedule.csv'), 'iter,epoch\n1,2,3\n'));
    expectNamed(s, join(s.run, 'schedule.csv'), /header/);
  }, 60_000);
});

describe('data files: missing, truncated, binary, empty CSVs; truncated or corrupt images', () => {
  const csvConfig = (path: string): string =>
    write('csv.yaml', `name: csvt\nbackend: cpu\ndata:\n  source: csv\n  batch_size: 4\n  csv: { path: ${JSON.stringify(path)}, target: species }\nmodel:\n  layers: [{ dense: 3 }]\nfind: { num_it: 5 }\noutput: cruns\n`);
  const flowers = readFileSync(join(ROOT, 'test/fixtures/data/flowers.csv'), 'utf8');

  it('csv: the intact file runs; a missing, cut, binary, empty file or a folder gives exit 2 naming it', async () => {
    write('good.csv', flowers);
    expect((await cli('find', csvConfig(join(work, 'good.csv')))).code).toBe(0);
    const cases: [string, string | Buffer | null, RegExp][] = [
      ['missing.csv', null, /not found/],
      ['cut.csv', flowers.slice(0, flowers.indexOf('\n', 100) + 8), /expected 3 columns/],
      ['binary.csv', Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 131 + 7) % 256)), /./],
      ['empty.csv', '', /empty/],
    ];
    for (const [name, body, why] of cases) {
      if (body !== null) writeFileSync(join(work, name), body);
      expectNamed(await cli('find', csvConfig(join(work, name))), join(work, name), why);
    }
    mkdirSync(join(work, 'folder.csv'));
    expectNamed(await cli('find', csvConfig(join(work, 'folder.csv'))), join(work, 'folder.csv'));
    // check names the missing file too, at its config key
    expectNamed(await cli('check', csvConfig(join(work, 'missing.csv'))), join(work, 'missing.csv'), /data\.csv\.path/);
  }, 60_000);

  it('images: a truncated PNG or a corrupt file is named and skipped with a count, the run goes on; a missing folder is exit 2', async () => {
    const root = join(work, 'imgs');
    for (const c of ['a', 'b']) {
      mkdirSync(join(root, c), { recursive: true });
      for (let i = 0; i < 6; i++) {
        const png = new PNG({ width: 8, height: 8 });
        png.data.fill(c === 'a' ? 30 * i : 255 - 30 * i);
        writeFileSync(join(root, c, `${i}.png`), PNG.sync.write(png));
      }
    }
    const config = (path: string): string =>
      write('img.yaml', `name: imgt\nbackend: cpu\ndata:\n  source: images\n  batch_size: 2\n  valid_pct: 0.25\n  images: { path: ${JSON.stringify(path)}, size: [8, 8], channels: 1 }\nmodel:\n  layers: [flatten, { dense: 2 }]\nfind: { num_it: 3 }\noutput: iruns\n`);
    expect((await cli('find', config(root))).code).toBe(0);
    const cut = join(work, 'imgs-cut');
    cpSync(root, cut, { recursive: true });
    writeFileSync(join(cut, 'a', '1.png'), readFileSync(join(root, 'a', '1.png')).subarray(0, 60));
    const skipped = async (dir: string, file: string, why: RegExp): Promise<void> => {
      const r = await runCli(['find', config(dir)], { cwd: work }); // the binary: the warning goes to the real stderr
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('skipped 1 unreadable image (left out of the data):');
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(why);
    };
    await skipped(cut, join(cut, 'a', '1.png'), /truncated|corrupt|decode/i);
    const bad = join(work, 'imgs-bad');
    cpSync(root, bad, { recursive: true });
    writeFileSync(join(bad, 'b', '2.png'), 'definitely not a png');
    await skipped(bad, join(bad, 'b', '2.png'), /not a PNG or JPEG/);
    expectNamed(await cli('find', config(join(work, 'no-imgs'))), join(work, 'no-imgs'), /not found/);
  }, 60_000);

  it('absurd sizes are config errors at their key before anything is allocated (check and the training commands)', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'fit.epochs=1e9'], /fit\.epochs: 1,000,000,000 epochs × \d+ batches/],
      [['--set', 'model.layers[0].dense.units=100000000000'], /model\.layers\[0\]: the model has [\d,]+ parameters/],
      [['--set', 'data.synthetic.n=1000000000'], /data\.synthetic\.n: 1,000,000,000 samples/],
      [['--set', 'find.num_it=1e7'], /find\.num_it: 10,000,000 iterations/],
    ];
    for (const [set, why] of cases) {
      for (const cmd of ['check', 'fit', 'find']) {
        const r = await cli(cmd, 'base.yaml', ...set);
        expect(r.code, `${cmd} ${set.join(' ')}: ${r.stderr}`).toBe(2);
        expect(r.stderr).toMatch(why);
      }
    }
    const big = (await cli('find', write('huge-img.yaml', `name: h\nbackend: cpu\ndata:\n  source: images\n  images: { path: imgs, size: [100000, 100000], channels: 1 }\nmodel:\n  layers: [flatten, { dense: 2 }]\n`)));
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/data\.images\.size: 100,000×100,000×1/);
  }, 60_000);

  it('the real binary maps the same errors to exit 2 with the path on stderr', async () => {
    const r = await runCli(['find', join(work, 'csv.yaml'), '--quiet'], { cwd: work });
    expect(r.code).toBe(2);
    // found by the validation `check` runs, before training: at the key, with the path
    expect(r.stderr).toMatch(/csv\.yaml:\d+:\d+ +data\.csv\.path: csv file not found: .*missing\.csv/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  }, 60_000);
});
