// FASTLR_KERNELS=stock: no fastlr kernel override registered, the optimizer on its op path (what tfjs-node users
// run), recorded as `kernels` / `optimizer_path` in every JSON document and in plan.json.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { runCli } from './helpers/cli.js';
import { initBackend } from '../src/backend/index.js';

const base = mkdtempSync(join(tmpdir(), 'fastlr-kmode-'));

function config(name: string, optimizer = 'adam'): string {
  const f = join(base, `${name}.yaml`);
  writeFileSync(
    f,
    `name: ${name}
seed: 3
backend: cpu
data:
  source: synthetic
  batch_size: 32
  synthetic: { task: classification, n: 256, features: 6, classes: 3, noise: 0.5 }
model:
  input: [6]
  layers: [{ dense: { units: 8, activation: relu } }, { dense: 3 }]
optimizer: { type: ${optimizer} }
find: { num_it: 30 }
fit: { epochs: 1, lr: 0.01 }
output: ${join(base, 'runs', name)}
`,
  );
  return f;
}

interface Doc {
  kernels: string;
  optimizer_path: string;
  losses?: number[];
  run_dir: string;
}

async function find(name: string, kernels: string, optimizer = 'adam'): Promise<{ doc: Doc; plan: Doc; file: Doc; stderr: string }> {
  const res = await runCli(['find', config(name, optimizer), '--json'], { env: { FASTLR_KERNELS: kernels } });
  expect(res.code, res.stderr).toBe(0);
  const doc = JSON.parse(res.stdout) as Doc;
  const plan = JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8')) as Doc;
  const file = JSON.parse(readFileSync(join(doc.run_dir, 'find.json'), 'utf8')) as Doc;
  return { doc, plan, file, stderr: res.stderr };
}

describe('FASTLR_KERNELS', () => {
  it('stock: find records kernels "stock" and optimizer_path "ops" (document, find.json, plan.json) and matches fastlr kernels to float rounding', async () => {
    const stock = await find('stock', 'stock');
    const ours = await find('ours', '');
    for (const d of [stock.doc, stock.plan, stock.file]) expect([d.kernels, d.optimizer_path]).toEqual(['stock', 'ops']);
    for (const d of [ours.doc, ours.plan, ours.file]) expect([d.kernels, d.optimizer_path]).toEqual(['fastlr', 'fused']);
    expect(stock.stderr).toMatch(/kernels: stock/);
    const a = stock.doc.losses!;
    const b = ours.doc.losses!;
    expect(a.length).toBe(b.length);
    a.forEach((x, i) => expect(Math.abs(x - b[i]!) / Math.abs(b[i]!)).toBeLessThan(1e-4));
  });

  it('sgd always takes the op path; fit records both fields too', async () => {
    const sgd = await find('sgd', '', 'sgd');
    expect([sgd.doc.kernels, sgd.doc.optimizer_path]).toEqual(['fastlr', 'ops']);
    const res = await runCli(['fit', config('fitstock'), '--json'], { env: { FASTLR_KERNELS: 'stock' } });
    expect(res.code, res.stderr).toBe(0);
    const doc = JSON.parse(res.stdout) as Doc;
    expect([doc.kernels, doc.optimizer_path]).toEqual(['stock', 'ops']);
    const plan = JSON.parse(readFileSync(join(doc.run_dir, 'plan.json'), 'utf8')) as Doc;
    expect([plan.kernels, plan.optimizer_path]).toEqual(['stock', 'ops']);
  });

  it('an unknown value is a usage error naming the variable', async () => {
    const res = await runCli(['find', config('bad'), '--json'], { env: { FASTLR_KERNELS: 'fast' } });
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/FASTLR_KERNELS="fast": expected fastlr or stock/);
  });

  it('stock registers none of the overrides (in process)', async () => {
    const before = process.env.FASTLR_KERNELS;
    process.env.FASTLR_KERNELS = 'stock';
    try {
      const info = await initBackend('cpu');
      expect(info.kernelMode).toBe('stock');
      expect(info.kernels).toEqual([]);
      expect(tf.getKernel('FastlrAdamStep', 'cpu')).toBeUndefined();
      expect(tf.getKernel('FastlrReluGrad', 'cpu')).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.FASTLR_KERNELS;
      else process.env.FASTLR_KERNELS = before;
    }
  });
});
