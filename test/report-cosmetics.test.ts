/**
 * What a user reads back: `fastlr report` on a run that stopped before its first result (plan.json only) still says
 * which config and which versions ran it; metrics listed twice are refused at their line:col (they made a metrics.csv
 * header fastlr's own reader rejected); and fastlr's metrics.csv reader reads back every table fastlr writes.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { epochRowsCsv } from '../src/report/documents.js';
import { readRunFolder } from '../src/report/report-data.js';
import { metricsFor } from '../src/engine/loss.js';
import { runCli, tinyConfigYaml } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-cosmetic-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const CONFIG = (metrics: string) => tinyConfigYaml('cos', `${metrics}\noutput: runs\n`);

describe('report on a folder with only plan.json', () => {
  it('fills config and versions from plan.json', async () => {
    const dir = join(work, 'plan-only');
    mkdirSync(dir);
    writeFileSync(join(dir, 'c.yaml'), CONFIG(''));
    const r = await runCli(['find', 'c.yaml', '--quiet'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    const run = join(dir, 'runs', readdirSync(join(dir, 'runs')).find((n) => n.startsWith('find-'))!);
    // as a run killed before its first result leaves it
    for (const f of readdirSync(run)) if (f !== 'plan.json') rmSync(join(run, f), { recursive: true });
    const rep = await runCli(['report', run, '--json'], { cwd: dir });
    expect(rep.code, rep.stderr).toBe(0);
    const s = JSON.parse(rep.stdout) as { config: string | null; versions: Record<string, string | null>; backend: string | null; status: { text: string } };
    expect(s.config).toBe('c.yaml');
    expect(s.versions.fastlr).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.versions.tfjs).toMatch(/^\d+\.\d+\.\d+/);
    expect(s.versions.node).toBe(process.versions.node);
    expect(s.backend).toBe('cpu');
    expect(s.status.text).toMatch(/plan\.json only/);
  });
});

describe('metrics listed twice', () => {
  it('check and fit refuse them at the duplicate item (line:col), exit 2', async () => {
    const dir = join(work, 'dup');
    mkdirSync(dir);
    writeFileSync(join(dir, 'c.yaml'), CONFIG('metrics: [accuracy, error_rate, accuracy]'));
    for (const cmd of ['check', 'fit']) {
      const r = await runCli([cmd, 'c.yaml'], { cwd: dir });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^c\.yaml:11:33 +metrics\[2\]: accuracy is listed twice \(also item 0\)/m);
    }
    expect(readdirSync(dir)).toEqual(['c.yaml']);
  });

  it('a library caller\'s duplicate list is one column each', () => {
    expect(metricsFor('cross_entropy', ['accuracy', 'accuracy', 'error_rate'])).toEqual(['accuracy', 'error_rate']);
  });
});

describe("fastlr's metrics.csv reader reads back what fastlr writes", () => {
  const rows = [
    { epoch: 0, train_loss: 1.25, valid_loss: 1.5, seconds: 0.5, m: [0.5, 0.25] },
    { epoch: 1, train_loss: NaN, valid_loss: Infinity, seconds: 1.25, m: [NaN, 0.75] },
  ];
  it.each([[[]], [['accuracy']], [['accuracy', 'error_rate']], [['mae', 'rmse']]])('metrics %j', (metrics: string[]) => {
    const dir = join(work, `csv-${metrics.join('-') || 'none'}`);
    mkdirSync(dir);
    const epochs = rows.map((r) => ({ ...r, metrics: Object.fromEntries(metrics.map((k, i) => [k, r.m[i]!])) }));
    writeFileSync(join(dir, 'metrics.csv'), epochRowsCsv(epochs, metrics));
    const d = readRunFolder(dir);
    expect(d.problems).toEqual([]);
    const back = d.stages[0]!.epochs;
    expect(back.map((e) => e.epoch)).toEqual([0, 1]);
    expect(back.map((e) => e.train_loss)).toEqual([1.25, NaN]);
    expect(back.map((e) => e.valid_loss)).toEqual([1.5, NaN]); // non-finite cells are written empty
    expect(back.map((e) => e.seconds)).toEqual([0.5, 1.25]);
    for (const [i, k] of metrics.entries()) expect(back.map((e) => e.metrics[k])).toEqual(rows.map((r) => r.m[i]));
  });

  it('a metrics.csv with a repeated column (written before duplicates were refused) is read, first column kept', () => {
    const dir = join(work, 'csv-legacy');
    mkdirSync(dir);
    writeFileSync(join(dir, 'metrics.csv'), 'epoch,train_loss,valid_loss,accuracy,accuracy,seconds\n0,1,2,0.5,0.5,3\n');
    const d = readRunFolder(dir);
    expect(d.problems).toEqual([]);
    expect(d.stages[0]!.epochs[0]).toEqual({ epoch: 0, train_loss: 1, valid_loss: 2, metrics: { accuracy: 0.5 }, seconds: 3 });
  });
});
