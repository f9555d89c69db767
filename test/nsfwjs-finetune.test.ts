/**
 * The real pretrained network of the README example: nsfwjs 4.4.0's Keras MobileNetV2 (162 layers, 2.6 M params),
 * imported by scripts/import-nsfwjs.mjs into a temp folder, cut at out_relu with a new head, through `fastlr check` and
 * a very short frozen `fastlr finetune` on wasm (4 training images of 224×224 RGB from export-digits, batch 2, one
 * epoch). The frozen stage must leave the body exactly as imported: with bn_freeze + train_bn false every body
 * weight bit-identical, BatchNorm running statistics included; with train_bn (bn_freeze false) the body's BatchNorm
 * gamma/beta and running statistics move while every conv kernel stays bit-identical. And in process: the conv +
 * BatchNorm (+ ReLU6) fold (src/kernels/conv-bn-fold.ts) folds all 52 BNs of the real network, predictions equal to
 * the unfused ones to rounding.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ROOT, runCli } from './helpers/cli.js';
import { initBackend } from '../src/backend/index.js';
import { loadModelDir } from '../src/model/io.js';
import { foldPlanOf, setConvBnFold } from '../src/kernels/conv-bn-fold.js';
import { relErr, values } from './helpers/kernels.js';

let cwd: string;
const MODEL = 'mnv2';

/** name → raw float32 bytes of every weight of a saved model folder (manifest order), read without tfjs. */
function savedWeights(dir: string): Map<string, Buffer> {
  const j = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[] }[] };
  const out = new Map<string, Buffer>();
  for (const g of j.weightsManifest) {
    const buf = Buffer.concat(g.paths.map((p) => readFileSync(join(dir, p))));
    let off = 0;
    for (const w of g.weights) {
      if (w.quantization || w.dtype !== 'float32') throw new Error('savedWeights reads float32 folders only');
      const n = 4 * w.shape.reduce((a, b) => a * b, 1);
      out.set(w.name, buf.subarray(off, off + n));
      off += n;
    }
  }
  return out;
}

function config(name: string, bn: string): string {
  const file = join(cwd, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 3
backend: wasm
data:
  source: images
  images: { path: digits, size: [224, 224], channels: 3, scale: [0, 1] }
  batch_size: 2
model:
  from: ${MODEL}
  cut: out_relu
  head: [global_avgpool, { dense: 2 }]
${bn}
finetune: { freeze_epochs: 1, epochs: 1, base_lr: 1.0e-2 }
output: runs/${name}
`,
  );
  return file;
}

interface StageDoc {
  stage: string;
  exit_code: number;
  run_dir: string;
  groups: string[][];
}

/** The frozen stage's saved model compared with the imported one: the body's weights that kept their bytes and those that changed. */
async function frozenStage(name: string, bn: string): Promise<{ doc: StageDoc; same: string[]; changed: string[]; headNew: string[] }> {
  const cfg = config(name, bn);
  const r = await runCli(['finetune', cfg, '--json'], { cwd });
  expect(r.code, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout) as StageDoc;
  const before = savedWeights(join(cwd, MODEL));
  const after = savedWeights(resolve(cwd, doc.run_dir, 'frozen', 'model'));
  const same: string[] = [];
  const changed: string[] = [];
  const headNew: string[] = [];
  for (const [k, v] of after) {
    const b = before.get(k);
    if (!b) headNew.push(k);
    else (b.equals(v) ? same : changed).push(k);
  }
  return { doc, same, changed, headNew };
}

const isBnStat = (k: string): boolean => /\/moving_(mean|variance)$/.test(k);
const isBnParam = (k: string): boolean => /(_BN|_bn|bn_Conv1)\/(gamma|beta)$/.test(k);

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'fastlr-nsfwjs-ft-'));
  execFileSync(process.execPath, [resolve(ROOT, 'scripts/import-nsfwjs.mjs'), MODEL], { cwd, stdio: 'pipe' });
  const exp = await runCli(['export-digits', 'digits', '--digits', '5,6', '--per-class', '2', '--valid-per-class', '1', '--size', '224', '--channels', '3', '--quiet'], { cwd });
  expect(exp.code, exp.stderr).toBe(0);
});

afterAll(() => rmSync(cwd, { recursive: true, force: true }));

describe('nsfwjs MobileNetV2 (the real pretrained network): check and a frozen finetune on wasm', () => {
  it('check: body Conv1_pad … out_relu, head global_avgpool + dense', async () => {
    const r = await runCli(['check', config('check', '  train_bn: false\n  bn_freeze: true'), '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { groups: { layers: { name: string }[]; trained_when_frozen: string }[] };
    expect(doc.groups).toHaveLength(2);
    const body = doc.groups[0]!.layers.map((l) => l.name);
    expect(body[0]).toBe('Conv1_pad');
    expect(body[body.length - 1]).toBe('out_relu');
    expect(body).toHaveLength(154);
    expect(doc.groups[0]!.trained_when_frozen).toBe('none');
    expect(doc.groups[1]!.layers.map((l) => l.name)).toEqual(['l154_global_avgpool', 'l155_dense']);
  });

  it('bn_freeze + train_bn false: every body weight bit-identical after the frozen stage, running statistics too; the head trained', async () => {
    const { doc, same, changed, headNew } = await frozenStage('frozen', '  train_bn: false\n  bn_freeze: true');
    expect(doc).toMatchObject({ stage: 'frozen', exit_code: 0 });
    expect(changed).toEqual([]);
    expect(same.length).toBe(52 + 52 * 4); // 52 conv kernels (no biases) and 52 BatchNorm layers × gamma, beta, moving mean, moving variance
    expect(same.filter(isBnStat).length).toBe(104);
    expect(headNew.sort()).toEqual(['l155_dense/bias', 'l155_dense/kernel']);
  });

  it('train_bn, bn_freeze false: the body BatchNorm trains (gamma/beta, running statistics move), every conv kernel bit-identical', async () => {
    const { changed, same } = await frozenStage('train-bn', '  train_bn: true\n  bn_freeze: false');
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.every((k) => isBnStat(k) || isBnParam(k)), changed.filter((k) => !isBnStat(k) && !isBnParam(k)).join(', ')).toBe(true);
    expect(changed.filter(isBnStat).length).toBe(104);
    expect(same.filter((k) => /kernel$/.test(k)).length).toBe(52);
  });

  it('the conv + BatchNorm + ReLU6 fold on the real network: every BN folded, predictions the unfused ones to rounding', async () => {
    await initBackend('wasm');
    await tf.setBackend('wasm');
    const model = await loadModelDir(join(cwd, MODEL));
    const plan = foldPlanOf(model);
    const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length;
    expect(bns).toBe(52);
    expect(plan.size).toBe(52);
    // 35 of them with their ReLU6 (the project convs' BN feeds an Add or the next block)
    expect([...plan.values()].filter((f) => f.act !== null).length).toBe(35);
    const x = tf.tensor4d(values(2 * 224 * 224 * 3, 17).map((v) => (v + 1) / 2), [2, 224, 224, 3]);
    const predict = (): Float32Array => tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync().slice() as Float32Array);
    const was = setConvBnFold(false);
    const ref = predict();
    setConvBnFold(was);
    const got = predict();
    expect(relErr(got, ref)).toBeLessThan(1e-4);
    const prof = await tf.profile(() => model.predict(x) as tf.Tensor);
    tf.dispose(prof.result as tf.Tensor);
    expect(prof.kernels.filter((k) => k.name === 'FusedBatchNorm').length).toBe(0);
    x.dispose();
    model.dispose();
  }, 120_000);
});
