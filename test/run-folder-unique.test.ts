/**
 * Two runs started in the same millisecond get two run folders: the last component is made with an exclusive mkdir
 * and a taken name becomes `<command>-<stamp>-2`, `-3`, … (before, both processes wrote into one folder). A unit test
 * with an injected clock, and two real processes started together with the same clock (FASTLR_TEST_NOW).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RunFolder } from '../src/report/run-folder.js';
import { byRunName, latestRun } from '../src/report/run-index.js';
import { runCli, tinyConfigYaml } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-unique-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const AT = new Date('2026-12-07T09:00:00.123Z');

describe('RunFolder.create with an injected clock', () => {
  it('the same millisecond twice, and many at once: distinct folders, -2, -3, … in creation order', async () => {
    const root = join(work, 'unit');
    const a = await RunFolder.create(root, 'fit', { now: () => AT });
    const b = await RunFolder.create(root, 'fit', { now: () => AT });
    expect(basename(a.dir)).toBe('fit-20261207-090000-123');
    expect(basename(b.dir)).toBe('fit-20261207-090000-123-2');
    const many = await Promise.all(Array.from({ length: 10 }, () => RunFolder.create(root, 'fit', { now: () => AT })));
    const names = new Set([a, b, ...many].map((r) => basename(r.dir)));
    expect(names.size).toBe(12);
    expect(readdirSync(root).sort(byRunName).at(-1)).toBe('fit-20261207-090000-123-12');
  });

  it('the newest run is the highest suffix (-10 after -9), for --resume and model.from', async () => {
    const root = join(work, 'order');
    for (let k = 0; k < 10; k++) await RunFolder.create(root, 'fit', { now: () => AT });
    expect(basename((await latestRun(root, 'fit', () => true))!)).toBe('fit-20261207-090000-123-10');
    expect(['fit-1-10', 'fit-1-9', 'fit-1', 'fit-1-2'].sort(byRunName)).toEqual(['fit-1', 'fit-1-2', 'fit-1-9', 'fit-1-10']);
  });
});

describe('two real processes started together', () => {
  it('in the same (injected) millisecond each writes its own run folder', async () => {
    const dir = join(work, 'procs');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'c.yaml'),
      tinyConfigYaml('u', 'output: runs\n'),
    );
    const env = { FASTLR_TEST_NOW: AT.toISOString() };
    const [r1, r2] = await Promise.all([runCli(['find', 'c.yaml', '--quiet', '--seed', '1'], { cwd: dir, env }), runCli(['find', 'c.yaml', '--quiet', '--seed', '2'], { cwd: dir, env })]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    const runs = readdirSync(join(dir, 'runs')).filter((n) => n.startsWith('find-')).sort(byRunName);
    expect(runs).toEqual(['find-20261207-090000-123', 'find-20261207-090000-123-2']);
    // each folder holds one whole run: its own plan.json (its seed), find.json pointing at itself
    const seeds = runs.map((r) => JSON.parse(readFileSync(join(dir, 'runs', r, 'plan.json'), 'utf8')).seed as number).sort();
    expect(seeds).toEqual([1, 2]);
    for (const r of runs) expect(JSON.parse(readFileSync(join(dir, 'runs', r, 'find.json'), 'utf8')).run_dir).toBe(join(dir, 'runs', r));
  });
});
