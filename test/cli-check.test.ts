// `fastlr check` and `fastlr schema` through the built binary, as a user runs them.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { ROOT, runCli } from './helpers/cli.js';

const CONFIGS = readdirSync(resolve(ROOT, 'configs'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => `configs/${f}`);

const noStack = (s: string): void => expect(s).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);

/**
 * What a bundled config needs before `check` can pass, as its README sequence makes it: the image folder
 * (`fastlr export-digits`) and the pretrained model (`fastlr fit configs/digits-pretrain.yaml`, here a short one).
 */
const prepared = (async (): Promise<Record<string, string[]>> => {
  const tmp = mkdtempSync(join(tmpdir(), 'fastlr-check-prep-'));
  const images = join(tmp, 'digits-5-9');
  const exp = await runCli(['export-digits', images, '--digits', '5,6,7,8,9', '--per-class', '4', '--quiet']);
  expect(exp.code, exp.stderr).toBe(0);
  const pre = await runCli(['fit', 'configs/digits-pretrain.yaml', '--json', '--out', join(tmp, 'pre'), '--set', 'fit.epochs=1', '--set', 'data.mnist.limit=200', '--set', 'expect={}']);
  expect(pre.code, pre.stderr).toBe(0);
  const model = join((JSON.parse(pre.stdout) as { run_dir: string }).run_dir, 'model');
  // the MobileNetV2 pair: the imported nsfwjs network and 224x224 RGB digits (check reads image headers, not pixels)
  const mnv2 = join(tmp, 'mobilenetv2-nsfwjs');
  const imp = await runCli([mnv2], { bin: resolve(ROOT, 'scripts/import-nsfwjs.mjs') });
  expect(imp.code, imp.stderr).toBe(0);
  const images224 = join(tmp, 'digits-5-9-224');
  const exp224 = await runCli(['export-digits', images224, '--digits', '5,6,7,8,9', '--per-class', '2', '--valid-per-class', '1', '--size', '224', '--channels', '3', '--quiet']);
  expect(exp224.code, exp224.stderr).toBe(0);
  const mobilenet = ['--set', `data.images.path=${images224}`, '--set', `model.from=${mnv2}`];
  return {
    'configs/mobilenet-finetune.yaml': mobilenet,
    'configs/mobilenet-scratch.yaml': mobilenet,
    'configs/digits-scratch.yaml': ['--set', `data.images.path=${images}`],
    'configs/digits-finetune.yaml': ['--set', `data.images.path=${images}`, '--set', `model.from=${model}`],
  };
})();

describe('fastlr check on every bundled config', () => {
  it.each(CONFIGS)('%s is valid and shows plan, groups, iterations and schedule', async (cfg) => {
    const res = await runCli(['check', cfg, ...((await prepared)[cfg] ?? [])]);
    expect(res.code, res.stderr).toBe(0);
    const out = res.stdout;
    expect(out).toContain(`✓ ${cfg} is valid`);
    for (const section of ['plan', 'parameter groups', 'iterations (training batches)', 'learning rate and momentum (start, peak, end)']) {
      expect(out).toMatch(new RegExp(`^${section.replace(/[()]/g, '\\$&')}`, 'm'));
    }
    expect(out).toMatch(/^\s+fit\s+\d+ epochs? × \d+ = \d+$/m);
    expect(out).toMatch(/[┼┤]/); // the asciichart of the LR
  });

  it('--json is one parseable document with the plan, groups, iterations and schedule summary', async () => {
    const res = await runCli(['check', 'configs/mnist-cnn.yaml', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(doc.command).toBe('check');
    expect(doc.ok).toBe(true);
    expect((doc.plan as { name: string }).name).toBe('mnist-cnn');
    expect(JSON.stringify(doc)).toContain('"fit"');
  });

  it('--schedule csv prints one row per fit step and per finetune stage step', async () => {
    const res = await runCli(['check', 'configs/mnist-mlp.yaml', '--schedule', 'csv', '--set', 'fit.epochs=2', '--set', 'fit.lr=3e-3']);
    expect(res.code, res.stderr).toBe(0);
    const rows = res.stdout.trim().split('\n');
    expect(rows[0]).toBe('phase,step,epoch,pos,lr_0,lr_1,mom');
    const fit = rows.filter((r) => r.startsWith('fit,'));
    expect(fit).toHaveLength(2 * 125);
    // first step: lr_max/div and mom 0.95 (semantics.md §4)
    expect(fit[0]).toBe('fit,0,0,0,0.00012,0.00012,0.95');
    expect(rows.some((r) => r.startsWith('finetune_frozen,'))).toBe(true);
    expect(rows.some((r) => r.startsWith('finetune_unfrozen,'))).toBe(true);
  });

  it('--schedule json is parseable', async () => {
    const res = await runCli(['check', 'configs/mnist-mlp.yaml', '--schedule', 'json']);
    expect(res.code, res.stderr).toBe(0);
    expect(() => JSON.parse(res.stdout) as unknown).not.toThrow();
  });
});

describe('fastlr check on bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fastlr-check-'));

  it('an unknown key on line 7, column 3 exits 2 with :7:3 and a suggestion, no stack trace', async () => {
    const res = await runCli(['check', 'test/fixtures/configs/unknown-key.yaml']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('test/fixtures/configs/unknown-key.yaml:7:3  model.lyers: unknown key; did you mean "layers"?');
    noStack(res.stderr);
  });

  it('all errors at once, then a count', async () => {
    const res = await runCli(['check', 'test/fixtures/configs/wrong-types.yaml']);
    expect(res.code).toBe(2);
    const lines = res.stderr.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^\d+ problems$/);
    expect(lines.filter((l) => /wrong-types\.yaml:\d+:\d+ {2}/.test(l)).length).toBeGreaterThan(3);
  });

  it('a missing file names the path', async () => {
    const res = await runCli(['check', join(dir, 'nope.yaml')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(join(dir, 'nope.yaml'));
    expect(res.stderr).toContain('no such file');
  });

  it('an empty file says so', async () => {
    const f = join(dir, 'empty.yaml');
    writeFileSync(f, '');
    const res = await runCli(['check', f]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/empty/);
  });

  it('--json on a bad config is still one document on stdout', async () => {
    const res = await runCli(['check', 'test/fixtures/configs/unknown-key.yaml', '--json']);
    expect(res.code).toBe(2);
    const doc = JSON.parse(res.stdout) as { ok: boolean; exit_code: number; error: { issues: { line: number; col: number }[] } };
    expect(doc.ok).toBe(false);
    expect(doc.exit_code).toBe(2);
    expect(doc.error.issues[0]).toMatchObject({ line: 7, col: 3 });
  });

  it('env overrides apply (default < env < flag) and a bad env value names the variable', async () => {
    const env = await runCli(['check', 'configs/mnist-mlp.yaml', '--json'], { env: { FASTLR_SEED: '7' } });
    expect((JSON.parse(env.stdout) as { plan: { seed: number } }).plan.seed).toBe(7);
    const flag = await runCli(['check', 'configs/mnist-mlp.yaml', '--json', '--seed', '9'], { env: { FASTLR_SEED: '7' } });
    expect((JSON.parse(flag.stdout) as { plan: { seed: number } }).plan.seed).toBe(9);
    const bad = await runCli(['check', 'configs/mnist-mlp.yaml'], { env: { FASTLR_BACKEND: 'gpu' } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('FASTLR_BACKEND=gpu  backend:');
  });

  it('--set overrides a key; a bad one names the flag', async () => {
    const ok = await runCli(['check', 'configs/mnist-mlp.yaml', '--json', '--set', 'fit.lr={lo: 1e-5, hi: 1e-3}']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { plan: { fit: { lr: unknown } } }).plan.fit.lr).toEqual({ lo: 1e-5, hi: 1e-3 });
    const bad = await runCli(['check', 'configs/mnist-mlp.yaml', '--set', 'fit.epohcs=2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--set fit.epohcs=2  fit.epohcs: unknown key; did you mean "epochs"?');
  });

  it('an unknown option is a usage error (exit 2)', async () => {
    const res = await runCli(['check', 'configs/mnist-mlp.yaml', '--frobnicate']);
    expect(res.code).toBe(2);
  });
});

describe('fastlr schema', () => {
  it('prints a JSON Schema that accepts every bundled config and rejects a bad one', async () => {
    const res = await runCli(['schema']);
    expect(res.code, res.stderr).toBe(0);
    const schema = JSON.parse(res.stdout) as Record<string, unknown>;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    for (const cfg of CONFIGS) {
      const doc = parse(readFileSync(resolve(ROOT, cfg), 'utf8')) as unknown;
      expect(validate(doc), `${cfg}: ${JSON.stringify(validate.errors)}`).toBe(true);
    }
    expect(validate(parse(readFileSync(resolve(ROOT, 'test/fixtures/configs/unknown-key.yaml'), 'utf8')))).toBe(false);
    expect(validate({ fit: { epochs: 0 } })).toBe(false);
  });

  it('docs/config.md is what `fastlr schema --markdown` prints (generated, not hand-kept)', async () => {
    const res = await runCli(['schema', '--markdown']);
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(readFileSync(resolve(ROOT, 'docs/config.md'), 'utf8'));
  });
});
