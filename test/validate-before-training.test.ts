/**
 * find, fit and finetune run the validation `check` runs (one function, src/plan/validate.ts) before anything is
 * trained: an empty validation set, fewer samples than batch_size, a missing CSV, … are exit 2 at the file:line:col of
 * the key responsible — the same line check prints — and no run folder is left behind. Before, an empty validation
 * set trained with NaN metrics and exited 0 (or 1, "Invalid array length"), and a too-large batch was exit 1.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-validate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const base = (data: string, model = 'model:\n  input: [4]\n  layers: [{ dense: 3 }]') => `name: v
seed: 1
backend: cpu
data:
${data}
${model}
fit: { epochs: 1, lr: 1.0e-2 }
find: { num_it: 10 }
finetune: { freeze_epochs: 1, epochs: 1 }
output: runs
`;
const SYNTH = (extra: string) => `  source: synthetic\n  batch_size: 16\n${extra}  synthetic: { task: classification, n: 200, features: 4, classes: 3 }`;

let modelDir = '';

beforeAll(async () => {
  // a saved model for finetune (a real fit, 1 epoch)
  const dir = join(work, 'pre');
  mkdirSync(dir);
  writeFileSync(join(dir, 'pre.yaml'), base(SYNTH('')));
  const r = await runCli(['fit', 'pre.yaml', '--quiet'], { cwd: dir });
  expect(r.code, r.stderr).toBe(0);
  const run = readdirSync(join(dir, 'runs')).find((n) => n.startsWith('fit-'))!;
  modelDir = join(dir, 'runs', run, 'model');
});

interface Case {
  name: string;
  yaml: () => string;
  files?: Record<string, string>;
  /** where check (and so every command) places the problem */
  where: RegExp;
}

const CASES: Case[] = [
  {
    name: 'an empty validation set (valid_pct rounds to 0 samples)',
    yaml: () => base(SYNTH('  valid_pct: 0.001\n')),
    where: /^c\.yaml:7:14 +data\.valid_pct: no validation samples \(200 samples, valid_pct 0\.001\)$/m,
  },
  {
    name: 'fewer training samples than batch_size',
    yaml: () => base(SYNTH('').replace('batch_size: 16', 'batch_size: 256')),
    where: /^c\.yaml:6:15 +data\.batch_size: the training split has 160 samples, fewer than batch_size 256/m,
  },
  {
    name: 'an empty validation CSV',
    yaml: () => base('  source: csv\n  batch_size: 4\n  csv: { train: train.csv, valid: valid.csv, target: y }'),
    files: { 'train.csv': 'a,b,c,d,y\n' + Array.from({ length: 40 }, (_, i) => `${i},1,2,3,${i % 3}`).join('\n') + '\n', 'valid.csv': 'a,b,c,d,y\n' },
    where: /^c\.yaml:7:35 +data\.csv\.valid: .*valid\.csv: no data rows after the header$/m,
  },
];

describe.each(CASES)('$name', (c) => {
  const dir = join(work, c.name.replace(/\W+/g, '-'));
  const setup = (text: string): void => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'c.yaml'), text);
    for (const [f, t] of Object.entries(c.files ?? {})) writeFileSync(join(dir, f), t);
  };

  it('check, find, fit and finetune: exit 2 at the same file:line:col, before the backend loads, no run folder', async () => {
    setup(c.yaml());
    const check = await runCli(['check', 'c.yaml'], { cwd: dir });
    expect(check.code, check.stderr).toBe(2);
    const line = check.stderr.split('\n').find((l) => c.where.test(l));
    expect(line, check.stderr).toBeDefined();
    for (const cmd of ['find', 'fit']) {
      const r = await runCli([cmd, 'c.yaml'], { cwd: dir });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(2);
      expect(r.stderr.split('\n')).toContain(line);
      expect(r.stderr).not.toMatch(/unexpected error|^backend:/m);
    }
    // finetune from a real saved model: the data problem is found before the model is loaded
    setup(c.yaml().replace(/model:\n  input: \[4\]\n  layers: \[\{ dense: 3 \}\]/, `model:\n  from: ${modelDir}`));
    const ft = await runCli(['finetune', 'c.yaml'], { cwd: dir });
    expect(ft.code, ft.stderr).toBe(2);
    expect(ft.stderr).toMatch(c.where);
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });
});
