// `fastlr find` end to end through the built binary: output contract, run folder, backends, exit codes.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/cli.js';

const base = mkdtempSync(join(tmpdir(), 'fastlr-find-'));

function config(name: string, extra = ''): string {
  const f = join(base, `${name}.yaml`);
  writeFileSync(
    f,
    `name: ${name}
seed: 5
backend: cpu
data:
  source: synthetic
  batch_size: 32
  synthetic: { task: classification, n: 800, features: 8, classes: 3, noise: 0.5 }
model:
  input: [8]
  layers: [{ dense: { units: 16, activation: relu } }, { dense: 3 }]
find: { num_it: 60 }
output: ${join(base, 'runs', name)}
${extra}
`,
  );
  return f;
}

interface Doc {
  command: string;
  backend: string;
  backend_skipped: { name: string; reason: string }[];
  seed: number;
  lrs: number[];
  losses: number[];
  raw_losses: number[];
  stop: { reason: string; iteration: number };
  suggestions: Record<string, { lr: number; loss: number } | { error: string }>;
  suggested: number | null;
  seconds: number;
  run_dir: string;
  exit_code: number;
}

describe('fastlr find', () => {
  it('prints the chart, the four suggestions and writes find.json, find.svg and plan.json', async () => {
    const human = await runCli(['find', config('human')]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('smoothed loss vs learning rate');
    expect(human.stdout).toMatch(/1e-\d/); // x axis in powers of ten
    for (const m of ['valley (V)', 'slide (S)', 'steep (T)', 'minimum (M)']) expect(human.stdout).toContain(m);
    expect(human.stdout).toMatch(/^\* valley/m); // the configured method is marked
    expect(human.stdout).toMatch(/ran all 60 iterations|stopped after \d+ iterations/);
    expect(human.stdout).toMatch(/suggested lr \(valley\): \d\.\d\de-\d/);
    expect(human.stdout + human.stderr).not.toContain('Hi, looks like you are running TensorFlow.js');
    expect(human.stderr).toContain('backend: cpu');

    const res = await runCli(['find', config('json'), '--json']);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as Doc;
    expect(doc.command).toBe('find');
    expect(doc.backend).toBe('cpu');
    expect(doc.seed).toBe(5);
    expect(doc.exit_code).toBe(0);
    expect(doc.lrs.length).toBe(doc.losses.length);
    expect(doc.raw_losses.length).toBe(doc.lrs.length);
    expect(doc.lrs[0]).toBeCloseTo(1e-7, 15);
    expect(Object.keys(doc.suggestions).sort()).toEqual(['minimum', 'slide', 'steep', 'valley']);
    expect(doc.suggested).toBe((doc.suggestions.valley as { lr: number }).lr);
    expect(JSON.parse(readFileSync(join(doc.run_dir, 'find.json'), 'utf8'))).toEqual(doc);
    expect(JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8'))).toMatchObject({ name: 'json', backend_used: 'cpu' });
    const svg = readFileSync(join(doc.run_dir, 'find.svg'), 'utf8');
    expect(svg.startsWith('<svg') || svg.startsWith('<?xml')).toBe(true);
    expect(svg).not.toMatch(/(?:href|src)=["']https?:/);
    // the same config again: the same curve (seeded, and find restores everything it touched)
    const again = JSON.parse((await runCli(['find', config('json'), '--json'])).stdout) as Doc;
    expect(again.losses).toEqual(doc.losses);
    expect(again.suggestions).toEqual(doc.suggestions);
  });

  it('--set find.suggest picks the method whose LR is `suggested`', async () => {
    const res = await runCli(['find', config('steep'), '--json', '--set', 'find.suggest=steep']);
    const doc = JSON.parse(res.stdout) as Doc;
    expect(doc.suggested).toBe((doc.suggestions.steep as { lr: number }).lr);
  });

  it('a curve that diverges at once exits 3 with every method saying why, never a crash', async () => {
    const res = await runCli(['find', config('diverge', 'optimizer: { type: sgd }'), '--json', '--set', 'find.start_lr=1e3', '--set', 'find.end_lr=1e9']);
    expect(res.code).toBe(3);
    const doc = JSON.parse(res.stdout) as Doc;
    expect(doc.suggested).toBeNull();
    expect(doc.exit_code).toBe(3);
    expect(['diverged', 'non_finite']).toContain(doc.stop.reason);
    for (const s of Object.values(doc.suggestions)) expect('error' in s && s.error.length > 10).toBe(true);
    expect(res.stderr).toMatch(/fastlr find: training (diverged|produced a non-finite loss) after \d+ iterations/);
    expect(res.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
  });

  it('--backend wasm runs on wasm and records it; a backend that cannot load is exit 2 with the reason', async () => {
    const wasm = await runCli(['find', config('wasm'), '--json', '--backend', 'wasm', '--set', 'find.num_it=20']);
    expect(wasm.code, wasm.stderr).toBe(0);
    expect((JSON.parse(wasm.stdout) as Doc).backend).toBe('wasm');
    const native = await runCli(['find', config('native'), '--backend', 'tensorflow']);
    if (native.code === 0) return; // tfjs-node is installed on this machine: nothing to refuse
    expect(native.code).toBe(2);
    expect(native.stderr).toMatch(/backend tensorflow cannot be used: .+/);
  });

  it('backend auto skips what cannot load, says why on stderr and in the JSON', async () => {
    const res = await runCli(['find', config('auto', ''), '--json', '--set', 'backend=auto', '--set', 'find.num_it=20']);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as Doc;
    const order = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
    expect(order).toContain(doc.backend);
    expect(doc.backend_skipped.map((s) => s.name)).toEqual(order.slice(0, order.indexOf(doc.backend)));
    for (const s of doc.backend_skipped) expect(res.stderr).toContain(`skipped ${s.name}: ${s.reason}`);
  });

  it('a missing data file names the path (exit 2) and leaves no run folder behind', async () => {
    const f = join(base, 'nodata.yaml');
    writeFileSync(
      f,
      `data: { source: csv, csv: { path: ${join(base, 'missing.csv')}, target: y } }\nmodel: { layers: [{ dense: 2 }] }\noutput: ${join(base, 'runs', 'nodata')}\n`,
    );
    const res = await runCli(['find', f]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(join(base, 'missing.csv'));
    expect(existsSync(join(base, 'runs', 'nodata'))).toBe(false);
  });
});
