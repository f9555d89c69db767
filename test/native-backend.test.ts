// The native backends' JS path, through stand-ins for @tensorflow/tfjs-node(-gpu) in a scratch node_modules
// (test/helpers/native-standin.ts): `backend: auto` picks them, records them, runs stock kernels, reproduces the
// fidelity numbers; the loader tells the truth about the GPU, stays quiet when a package fails half-way, sets
// NVIDIA_TF32_OVERRIDE=0 unless `precision: tf32`, and polyfills the util.is* helpers Node 23 removed.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, runCli } from './helpers/cli.js';
import { standInApp } from './helpers/native-standin.js';
import { polyfillLegacyUtil, prepareNativeEnv } from '../src/backend/native-env.js';
import { NO_GPU_WARNING } from '../src/backend/loaders.js';

const base = mkdtempSync(join(tmpdir(), 'fastlr-native-'));

function config(name: string, extra = ''): string {
  const f = join(base, `${name}.yaml`);
  writeFileSync(
    f,
    `name: ${name}
seed: 1
data:
  source: synthetic
  batch_size: 32
  synthetic: { task: classification, n: 256, features: 6, classes: 3, noise: 0.5 }
model:
  input: [6]
  layers: [{ dense: { units: 8, activation: relu } }, { dense: 3 }]
find: { num_it: 20 }
output: ${join(base, 'runs', name)}
${extra}`,
  );
  return f;
}

interface Doc {
  backend: string;
  backend_skipped: { name: string; reason: string }[];
  device: string;
  backend_warnings: string[];
  kernels: string;
  optimizer_path: string;
  run_dir: string;
}

async function find(bin: string, name: string, extra = ''): Promise<{ doc: Doc; plan: Doc & { backend_used: string; precision: string }; stderr: string }> {
  // backend comes from the config (none: auto); NVIDIA_TF32_OVERRIDE unset so the stand-in shows what fastlr set
  const res = await runCli(['find', config(name, extra), '--json'], { bin, env: { NVIDIA_TF32_OVERRIDE: undefined } });
  expect(res.code, res.stderr).toBe(0);
  const doc = JSON.parse(res.stdout) as Doc;
  const plan = JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8')) as Doc & { backend_used: string; precision: string };
  return { doc, plan, stderr: res.stderr };
}

describe('a stand-in @tensorflow/tfjs-node (stock cpu backend registered as "tensorflow")', () => {
  const bin = standInApp([{ name: '@tensorflow/tfjs-node' }]);

  it('backend auto picks it and records it: backend tensorflow, stock kernels, optimizer on ops; TF32 off', async () => {
    const { doc, plan, stderr } = await find(bin, 'node');
    expect(doc.backend).toBe('tensorflow');
    expect(plan.backend_used).toBe('tensorflow');
    expect(doc.backend_skipped.map((s) => s.name)).toEqual(['tensorflow-gpu']);
    expect(doc.backend_skipped[0]!.reason).toMatch(/tfjs-node-gpu is not installed/);
    for (const d of [doc, plan]) expect([d.kernels, d.optimizer_path, d.device]).toEqual(['stock', 'ops', 'cpu']);
    expect(doc.backend_warnings).toEqual([]);
    expect(plan.precision).toBe('fp32');
    expect(stderr).toMatch(/stand-in @tensorflow\/tfjs-node: NVIDIA_TF32_OVERRIDE=0/);
  });

  it('precision: tf32 leaves NVIDIA_TF32_OVERRIDE alone', async () => {
    const { plan, stderr } = await find(bin, 'tf32', 'precision: tf32\n');
    expect(plan.precision).toBe('tf32');
    expect(stderr).toMatch(/NVIDIA_TF32_OVERRIDE=undefined/);
  });

  it("reproduces fastai's numbers: the fidelity tests, run through it", () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', 'test/fidelity-find.test.ts', 'test/fidelity-fit.test.ts'], {
      cwd: ROOT,
      env: { ...process.env, FASTLR_TEST_BIN: bin, FASTLR_TEST_BACKEND: 'tensorflow', FASTLR_KERNELS: '', NO_COLOR: '1', FORCE_COLOR: '0' },
      encoding: 'utf8',
    });
    const out = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    expect(r.status, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/lr_find run 0 on tensorflow: max rel err/);
    expect(out).toMatch(/Tests\s+3 passed/);
  }, 240_000);
});

describe('loader honesty', () => {
  it('tensorflow-gpu that registers everything then fails to load: skipped with its reason, no "already registered" flood, tensorflow used', async () => {
    const bin = standInApp([
      { name: '@tensorflow/tfjs-node-gpu', throws: 'libcudart.so.11.0: cannot open shared object file: No such file or directory' },
      { name: '@tensorflow/tfjs-node' },
    ]);
    const { doc, stderr } = await find(bin, 'gpufails');
    expect(doc.backend).toBe('tensorflow');
    expect(doc.backend_skipped[0]!.name).toBe('tensorflow-gpu');
    expect(doc.backend_skipped[0]!.reason).toMatch(/failed to load: libcudart\.so\.11\.0/);
    expect(stderr).not.toMatch(/already registered/);
  });

  it('tensorflow-gpu that finds no GPU says so on stderr and records device cpu with the warning', async () => {
    const bin = standInApp([{ name: '@tensorflow/tfjs-node-gpu', gpu: false }]);
    const { doc, plan, stderr } = await find(bin, 'nogpu');
    expect(doc.backend).toBe('tensorflow-gpu');
    expect(NO_GPU_WARNING).toBe('tensorflow-gpu loaded but found no GPU (CUDA 11.2 / cuDNN 8.1 needed): running on CPU');
    expect(stderr).toContain(NO_GPU_WARNING);
    for (const d of [doc, plan]) {
      expect(d.device).toBe('cpu');
      expect(d.backend_warnings).toEqual([NO_GPU_WARNING]);
    }
  });

  it('tensorflow-gpu on a GPU: device gpu, no warning', async () => {
    const bin = standInApp([{ name: '@tensorflow/tfjs-node-gpu', gpu: true }]);
    const { doc, stderr } = await find(bin, 'gpu');
    expect([doc.backend, doc.device]).toEqual(['tensorflow-gpu', 'gpu']);
    expect(doc.backend_warnings).toEqual([]);
    expect(stderr).not.toContain('found no GPU');
  });

  it('Node >= 23 removed util.isNullOrUndefined (tfjs-node 4.22 calls it): put back before a native package loads', async () => {
    const util = (await import('node:util')).default as unknown as Record<string, unknown>;
    const saved = util.isNullOrUndefined;
    delete util.isNullOrUndefined; // as on Node 23
    try {
      const env: NodeJS.ProcessEnv = {};
      prepareNativeEnv('fp32', env);
      expect(typeof util.isNullOrUndefined).toBe('function');
      const f = util.isNullOrUndefined as (v: unknown) => boolean;
      expect([f(null), f(undefined), f(0), f('')]).toEqual([true, true, false, false]);
      expect(env.NVIDIA_TF32_OVERRIDE).toBe('0');
    } finally {
      util.isNullOrUndefined = saved;
    }
    const bare: Record<string, unknown> = { isArray: Array.isArray };
    expect(polyfillLegacyUtil(bare)).toContain('isNullOrUndefined');
    expect(polyfillLegacyUtil(bare)).toEqual([]);
  });
});
