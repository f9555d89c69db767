/**
 * The CI story end to end, through the real binary: `find --repeats` (every repeat + the summary in --json), `fit`
 * with a missed gate (exit 4) and `finetune`, each leaving report.html in its run folder; under GITHUB_ACTIONS=true
 * the `::error` workflow commands (config errors with file/line/col, missed gates) and the Markdown step summary;
 * then the three real report.html files in headless chromium.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { CHROMIUM, CHROMIUM_SKIP, viewInChromium } from './helpers/chromium.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-ci-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const CONFIG = `name: ci
seed: 5
backend: cpu
data:
  source: synthetic
  batch_size: 16
  synthetic: { task: classification, n: 400, features: 4, classes: 3, noise: 0.6 }
model:
  input: [4]
  layers:
    - dense: { units: 16, activation: relu }
    - dense: 3
  groups: [1]
find: { num_it: 40, suggest: valley }
fit: { epochs: 2, lr: 1.0e-2 }
finetune: { freeze_epochs: 1, epochs: 1 }
expect: { valid_accuracy: ">= 0.5" }
output: runs
`;
writeFileSync(join(work, 'ci.yaml'), CONFIG);

const summary = join(work, 'step-summary.md');
const GH = { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, GITHUB_WORKSPACE: work };
const annotations = (stderr: string): string[] => stderr.split('\n').filter((l) => l.startsWith('::'));

interface Spread { median: number | null; min: number | null; max: number | null; spread_decades: number | null; answered: number }
interface FindJson {
  suggest: string;
  suggested: number;
  lrs: number[];
  run_dir: string;
  files: Record<string, string>;
  repeats: { seed: number; lrs: number[]; losses: number[]; suggestions: Record<string, unknown>; suggested: number | null; stop: { reason: string } }[];
  summary: { methods: Record<string, Spread>; agreement: { within: number; ratio: number | null; agree: boolean }; median_curve: { lrs: number[]; losses: number[] } };
}

const reports: Record<string, string> = {};

describe('CI outputs of real runs', () => {
  it('find --repeats 3 --json: every repeat and the summary; report.html; a step summary with the spread', async () => {
    writeFileSync(summary, '# earlier step\n');
    const r = await runCli(['find', 'ci.yaml', '--repeats', '3', '--json'], { cwd: work, env: GH });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as FindJson;
    expect(doc.repeats).toHaveLength(3);
    expect(new Set(doc.repeats.map((x) => x.seed)).size).toBe(3);
    for (const x of doc.repeats) {
      expect(x.lrs.length).toBe(x.losses.length);
      expect(Object.keys(x.suggestions).sort()).toEqual(['minimum', 'slide', 'steep', 'valley']);
    }
    const v = doc.summary.methods.valley!;
    const answered = doc.repeats.map((x) => x.suggestions.valley).filter((s) => typeof s === 'object' && s !== null && 'lr' in s) as { lr: number }[];
    expect(v.answered).toBe(answered.length);
    expect(v.min).toBe(Math.min(...answered.map((s) => s.lr)));
    expect(v.max).toBe(Math.max(...answered.map((s) => s.lr)));
    expect(v.spread_decades).toBeCloseTo(Math.log10(v.max! / v.min!), 12);
    expect(doc.suggested).toBe(v.median);
    expect(doc.summary.agreement.within).toBe(3);
    expect(doc.files.report_html).toBe('report.html');
    expect(existsSync(join(doc.run_dir, 'report.html'))).toBe(true);
    reports.find = join(doc.run_dir, 'report.html');
    const html = readFileSync(reports.find, 'utf8');
    expect(html).toContain('Spread over 3 repeats');
    expect(html).toMatch(/id="agreement"/);
    expect(annotations(r.stderr)).toEqual([]);
    const md = readFileSync(summary, 'utf8');
    expect(md.startsWith('# earlier step\n')).toBe(true);
    expect(md).toContain('fastlr find · ci');
    expect(md).toContain('#### Spread over 3 repeats');
    expect(md).toMatch(/\| \*\*valley\*\* \| [\d.e+-]+ \| [\d.e+-]+ – [\d.e+-]+ \| \d+\.\d\d \| \d\/3 \|/);
  }, 120_000);

  it('fit with a missed gate: exit 4, one ::error line for the gate, the fit summary appended, report.html', async () => {
    writeFileSync(summary, '');
    const r = await runCli(['fit', 'ci.yaml', '--set', 'expect.valid_accuracy=">= 0.9999"', '--json'], { cwd: work, env: GH });
    expect(r.code, r.stderr).toBe(4);
    const doc = JSON.parse(r.stdout) as { run_dir: string; epochs: unknown[]; final: Record<string, number> };
    const gate = annotations(r.stderr);
    expect(gate).toEqual([`::error title=fastlr gate::expect valid_accuracy >= 0.9999 missed: got ${Number(doc.final.valid_accuracy!.toPrecision(6))}`]);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('### ❌ fastlr fit · ci');
    expect(md).toContain('**Quality gates missed:** `valid_accuracy >= 0.9999`');
    expect(md).toMatch(/\| valid_accuracy \| `>= 0.9999` \| [\d.]+ \| ❌ \|/);
    expect(md.match(/^\| \d+ \|/gm)).toHaveLength(2);
    reports.fit = join(doc.run_dir, 'report.html');
    expect(readFileSync(reports.fit, 'utf8')).toContain('FAIL');
  }, 120_000);

  it('the same gate outside GitHub Actions: exit 4 but no workflow commands and no step summary', async () => {
    writeFileSync(summary, '');
    const r = await runCli(['fit', 'ci.yaml', '--set', 'expect.valid_accuracy=">= 0.9999"', '--quiet'], { cwd: work, env: { GITHUB_ACTIONS: '', GITHUB_STEP_SUMMARY: summary } });
    expect(r.code).toBe(4);
    expect(annotations(r.stderr + r.stdout)).toEqual([]);
    expect(readFileSync(summary, 'utf8')).toBe('');
  }, 120_000);

  it('finetune from the fit model passes its gate; its report.html shows the stage', async () => {
    const runs = readdirSync(join(work, 'runs')).filter((n) => n.startsWith('fit-')).sort();
    writeFileSync(join(work, 'ft.yaml'), CONFIG.replace(/model:\n(?: {2}.*\n|\s{4}.*\n)+/, `model:\n  from: runs/${runs[0]}/model\n  cut: -1\n  head: [{ dense: 3 }]\n`).replace(/^finetune: .*$/m, 'finetune: { freeze_epochs: 4, epochs: 1, base_lr: 1.0e-2 }'));
    writeFileSync(summary, '');
    const r = await runCli(['finetune', 'ft.yaml', '--json'], { cwd: work, env: GH });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { run_dir: string; gates: { pass: boolean }[] };
    expect(doc.gates.every((g) => g.pass)).toBe(true);
    expect(annotations(r.stderr)).toEqual([]);
    expect(readFileSync(summary, 'utf8')).toContain('### ✅ fastlr finetune (frozen stage) · ci');
    reports.finetune = join(doc.run_dir, 'report.html');
    expect(existsSync(reports.finetune)).toBe(true);
  }, 120_000);

  it('fastlr report rebuilds report.html of the real runs and summarises them (spread of the repeats, gates, provenance)', async () => {
    const find = await runCli(['report', join(reports.find!, '..'), '--json'], { cwd: work });
    expect(find.code, find.stderr).toBe(0);
    const f = JSON.parse(find.stdout) as { command: string; argv: string[]; find: { repeats: number; spread: { method: string; answered: number }[]; agreement: { within: number } } };
    expect(f.command).toBe('find');
    expect(f.argv).toEqual(['find', 'ci.yaml', '--repeats', '3', '--json']);
    expect(f.find.repeats).toBe(3);
    expect(f.find.spread.map((x) => x.method)).toEqual(['valley', 'slide', 'steep', 'minimum']);
    expect(f.find.agreement.within).toBe(3);
    expect(find.stderr).toMatch(/^spread {4}3 repeats/m);
    const fit = await runCli(['report', join(reports.fit!, '..')], { cwd: work });
    expect(fit.code).toBe(0);
    expect(fit.stdout).toMatch(/^gate {6}FAIL {2}valid_accuracy >= 0\.9999/m);
    expect(fit.stdout).toMatch(/^argv {6}fit ci\.yaml --set/m);
    const html = readFileSync(reports.fit!, 'utf8');
    expect(html).toContain('<dt>command line</dt>');
  }, 60_000);

  it('config errors become ::error file=…,line=…,col=… annotations (file relative to the workspace), exit 2', async () => {
    writeFileSync(join(work, 'bad.yaml'), CONFIG.replace('fit: { epochs: 2, lr: 1.0e-2 }', 'fit: { epochz: 2, lr: -1 }'));
    const line = CONFIG.split('\n').findIndex((l) => l.startsWith('fit:')) + 1;
    for (const cmd of ['check', 'fit']) {
      const r = await runCli([cmd, join(work, 'bad.yaml')], { cwd: work, env: GH });
      expect(r.code).toBe(2);
      const a = annotations(r.stderr);
      expect(a).toHaveLength(2);
      for (const x of a) expect(x).toMatch(new RegExp(`^::error file=bad\\.yaml,line=${line},col=\\d+,title=fastlr config::fit\\.(epochz|lr): `));
      expect(a.join('\n')).toMatch(/epochz/);
    }
  }, 60_000);
});

describe.skipIf(!CHROMIUM)(`the real report.html files in headless chromium${CHROMIUM_SKIP}`, () => {
  it('find --repeats, fit and finetune reports load without console errors and draw the expected points', async () => {
    expect(Object.keys(reports).sort()).toEqual(['find', 'finetune', 'fit']);
    const find = JSON.parse(readFileSync(join(reports.find!, '..', 'find.json'), 'utf8')) as FindJson;
    const fitDir = join(reports.fit!, '..');
    const steps = readFileSync(join(fitDir, 'schedule.csv'), 'utf8').trim().split('\n').length - 1;
    const plotted = (n: number): number => Math.max(n - 5, Math.min(n, 2));
    const shortest = Math.min(...find.repeats.map((x) => plotted(x.lrs.length)));
    const expected: Record<string, Record<string, number[]>> = {
      find: { 'chart-find': [...find.repeats.map((x) => plotted(x.lrs.length)), shortest] },
      fit: {
        'chart-fit-loss': [2, 2],
        'chart-fit-metric-accuracy': [2],
        'chart-fit-lr': [steps, steps],
        'chart-fit-mom': [steps],
        'chart-fit-batch-loss': [steps, steps],
      },
    };
    for (const [which, path] of Object.entries(reports)) {
      const { view, raw, console: logged } = await viewInChromium(path);
      expect(view, raw).not.toBeNull();
      expect(logged).toEqual([]);
      expect(view!.scripts).toBe(0);
      expect(view!.resources).toEqual([]);
      expect(view!.title).toBe(`fastlr ${which}: ci`);
      expect(view!.sections).toEqual(expect.arrayContaining(['gates', 'provenance', 'config', 'files']));
      const charts = Object.fromEntries(view!.charts.map((c) => [c.id, c.paths.map((p) => p.declared)]));
      if (expected[which]) expect(charts).toEqual(expected[which]);
      else expect(Object.keys(charts)).toEqual(expect.arrayContaining(['chart-frozen-loss', 'chart-frozen-lr']));
      for (const c of view!.charts) {
        expect(c.width).toBeGreaterThan(100);
        for (const p of c.paths) {
          expect(p.points).toBe(p.declared);
          if (p.declared > 1) expect(p.length).toBeGreaterThan(0);
        }
      }
    }
  }, 180_000);
});
