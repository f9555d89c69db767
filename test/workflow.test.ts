/**
 * The documented GitHub Actions example (.github/workflows/fastlr-example.yml) is a real workflow: valid YAML with
 * the keys GitHub requires, `find` before `fit`, on a bundled config that `fastlr check` accepts and that has an
 * `expect:` gate, artifacts kept even when the gate fails; .ci/run installs chromium only when it can.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from './helpers/cli.js';

interface Step { name?: string; uses?: string; run?: string; if?: string; with?: Record<string, unknown> }
interface Workflow { name: string; on: Record<string, unknown>; jobs: Record<string, { 'runs-on': string; steps: Step[] }> }

const wf = YAML.parse(readFileSync(join(ROOT, '.github/workflows/fastlr-example.yml'), 'utf8')) as Workflow;

describe('the example workflow', () => {
  const steps = Object.values(wf.jobs).flatMap((j) => j.steps);
  const runs = steps.flatMap((s) => (s.run ? [s.run] : []));
  const fastlr = runs.filter((r) => /fastlr(\.js)? /.test(r)).map((r) => r.replace(/^.*?fastlr(\.js)? /, '').split(/\s+/));

  it('is a workflow GitHub accepts: name, triggers, jobs with runs-on and steps that either use or run', () => {
    expect(typeof wf.name).toBe('string');
    expect(Object.keys(wf.on)).toContain('push');
    for (const job of Object.values(wf.jobs)) {
      expect(job['runs-on']).toMatch(/^ubuntu-/);
      for (const s of job.steps) expect(Boolean(s.uses) !== Boolean(s.run)).toBe(true);
    }
    expect(steps.map((s) => s.uses).filter(Boolean)).toEqual(expect.arrayContaining(['actions/checkout@v4', 'actions/setup-node@v4']));
  });

  it('builds, then runs find before fit on the same config; the config is valid and has a gate', async () => {
    expect(runs.indexOf('npm ci --no-audit --no-fund')).toBeLessThan(runs.indexOf('npm run build'));
    const cmds = fastlr.map((a) => a[0]);
    expect(cmds.indexOf('find')).toBeGreaterThanOrEqual(0);
    expect(cmds.indexOf('find')).toBeLessThan(cmds.indexOf('fit'));
    const configs = new Set(fastlr.map((a) => a[1]));
    expect(configs.size).toBe(1);
    const config = [...configs][0]!;
    const check = await runCli(['check', config, '--json']);
    expect(check.code, check.stderr).toBe(0);
    const doc = JSON.parse(check.stdout) as { plan: { expect: Record<string, string> } };
    expect(Object.keys(doc.plan.expect).length).toBeGreaterThan(0);
    expect(fastlr.find((a) => a[0] === 'find')).toContain('--repeats');
  });

  it('keeps the run folders as an artifact even when the gate fails the job', () => {
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'));
    expect(upload?.if).toBe('always()');
    expect(String(upload?.with?.path)).toContain('runs/');
  });
});

describe('.ci/run', () => {
  const script = readFileSync(join(ROOT, '.ci/run'), 'utf8');
  it('installs chromium only when missing and when apt-get can (root), then npm ci, build, test', () => {
    expect(script).toMatch(/command -v chromium/);
    expect(script).toMatch(/apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium/);
    expect(script).toMatch(/id -u/);
    const order = ['npm ci', 'npm run build', 'npm test'].map((c) => script.indexOf(c));
    expect(order.every((i) => i > script.indexOf('apt-get install'))).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});
