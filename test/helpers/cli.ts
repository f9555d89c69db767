import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../..');
/** the CLI under test; FASTLR_TEST_BIN points the CLI tests at another copy (the stand-in tfjs-node app) */
export const BIN = process.env.FASTLR_TEST_BIN ? resolve(process.env.FASTLR_TEST_BIN) : resolve(ROOT, 'bin/fastlr.js');

/**
 * What a CLI run from this test process must record: stock kernels and the op-path optimizer under
 * FASTLR_KERNELS=stock (npm run test:stock) or through the stand-in tfjs-node (FASTLR_TEST_BACKEND=tensorflow,
 * or tensorflow-gpu in scripts/gpu-smoke.sh: backends fastlr has no overrides for); fastlr's kernels and the fused Adam step otherwise.
 */
export function expectedRuntime(): { backend: string | undefined; kernels: string; optimizer_path: string } {
  const stock = process.env.FASTLR_KERNELS === 'stock' || process.env.FASTLR_TEST_BACKEND === 'tensorflow' || process.env.FASTLR_TEST_BACKEND === 'tensorflow-gpu';
  return {
    backend: process.env.FASTLR_TEST_BACKEND || undefined,
    kernels: stock ? 'stock' : 'fastlr',
    optimizer_path: stock ? 'ops' : 'fused',
  };
}
export const VECTORS = resolve(ROOT, 'test/fixtures/fastai');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI as a user does (`node bin/fastlr.js …`), off a TTY, with CI=true. */
export function runCli(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string; onSpawn?: (p: ReturnType<typeof spawn>) => void } = {},
): Promise<CliResult> {
  if (!existsSync(resolve(ROOT, 'dist/cli.js'))) throw new Error('dist/ is missing: run `npm run build` before the tests');
  return new Promise((done, fail) => {
    const p = spawn(process.execPath, [opts.bin ?? BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, CI: 'true', NO_COLOR: '1', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', fail);
    p.on('close', (code, signal) => done({ code, signal, stdout, stderr }));
    opts.onSpawn?.(p);
  });
}

/**
 * The smallest real experiment (96 synthetic rows, 4 features, 3 classes, one dense layer, on cpu) as YAML, for
 * tests about everything around training: `name`, then `extra` (whole lines, e.g. metrics: or output:) straight after
 * the model (line 11 on), then a fit of one epoch and a find of 10 iterations.
 */
export function tinyConfigYaml(name: string, extra = ''): string {
  return `name: ${name}
seed: 1
backend: cpu
data:
  source: synthetic
  batch_size: 16
  synthetic: { task: classification, n: 96, features: 4, classes: 3 }
model:
  input: [4]
  layers: [{ dense: 3 }]
${extra}fit: { epochs: 1, lr: 1.0e-2 }
find: { num_it: 10 }
`;
}
