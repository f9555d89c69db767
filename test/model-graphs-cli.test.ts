/**
 * The models people bring, through the real CLI on the default backend: graphs built with the tfjs layers API and
 * saved to a temp folder (test/helpers/graphs.ts) — a functional MobileNetV2 shape (residual Add, ZeroPadding2D,
 * DepthwiseConv2D, BN, ReLU6), an Inception-like block (Concatenate) with a squeeze-excite Multiply, a MobileNet-v1
 * chain (depthwise-separable convs), a Teachable-Machine-style nested export, a Keras 3 model.json and quantised
 * weights — each through find, fit, finetune and finetune --unfreeze; check's model validation; BatchNorm under
 * freezing; no-weights and reinit. Data: 24 seeded synthetic samples of 16×16×3 (2 training batches), so every run
 * takes a few seconds.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir, saveModelDir } from '../src/model/index.js';
import { runCli, type CliResult } from './helpers/cli.js';
import { inceptionSeLike, mobileNetV1Like, mobileNetV2Like, perturb, quantiseFolder, teachableMachineLike, toKeras3, type QuantDtype } from './helpers/graphs.js';

interface StageDoc {
  command: string;
  stage: 'frozen' | 'unfrozen';
  groups: string[][];
  exit_code: number;
  run_dir: string;
  final: Record<string, number>;
}

let root: string;
const dirs: Record<string, string> = {};

/** name → raw float32 bytes of every weight of a saved model folder, read without tfjs (manifest order). */
function savedWeights(dir: string): Map<string, Buffer> {
  const j = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; quantization?: unknown }[] }[] };
  const out = new Map<string, Buffer>();
  for (const g of j.weightsManifest) {
    const buf = Buffer.concat(g.paths.map((p) => readFileSync(join(dir, p))));
    let off = 0;
    for (const w of g.weights) {
      if (w.quantization) throw new Error('savedWeights reads float32 folders only');
      const n = 4 * w.shape.reduce((a, b) => a * b, 1);
      out.set(w.name, buf.subarray(off, off + n));
      off += n;
    }
  }
  return out;
}

const isBnStat = (name: string): boolean => /moving_(mean|variance)$/.test(name);
const isBnParam = (name: string): boolean => /_(BN|bn)[^/]*\/(gamma|beta)$/.test(name) || /bn_Conv1\/(gamma|beta)$/.test(name);

/** The weights of `after` whose bytes equal those of `before` (same names), and those that differ. */
function compare(before: Map<string, Buffer>, after: Map<string, Buffer>): { same: string[]; changed: string[] } {
  const same: string[] = [];
  const changed: string[] = [];
  for (const [k, v] of after) {
    const b = before.get(k);
    if (b) (b.equals(v) ? same : changed).push(k);
  }
  return { same, changed };
}

function config(name: string, model: string, extra = ''): string {
  const path = join(root, `${name}.yaml`);
  writeFileSync(
    path,
    `name: ${name}
seed: 5
data:
  source: synthetic
  valid_pct: 0.25
  batch_size: 8
  synthetic: { n: 24, features: 768, classes: 3, noise: 0.5 }
model:
${model}
find: { num_it: 8 }
fit: { epochs: 1, lr: 1e-3 }
finetune: { freeze_epochs: 1, epochs: 1, base_lr: 1e-3 }
output: ${JSON.stringify(join(root, 'runs', name))}
${extra}`,
  );
  return path;
}

async function run(args: string[], code = 0): Promise<CliResult> {
  const res = await runCli(args);
  expect(res.code, `${args.join(' ')}\n${res.stderr}`).toBe(code);
  return res;
}
const doc = async <T>(args: string[]): Promise<T> => JSON.parse((await run([...args, '--json'])).stdout) as T;

/** A saved model folder `name` holding `m` with perturbed weights. */
async function save(name: string, m: tf.LayersModel): Promise<string> {
  perturb(m);
  const dir = join(root, name);
  await saveModelDir(m, dir);
  m.dispose();
  return dir;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'fastlr-graphs-'));
  dirs['v2'] = await save('mnv2', mobileNetV2Like());
  dirs['inception'] = await save('inception', inceptionSeLike());
  dirs['v1'] = await save('mnv1', mobileNetV1Like());
  dirs['tm'] = await save('tm', teachableMachineLike());
  // Keras 3: the MobileNetV2 shape's model.json rewritten as Keras 3 writes it, same weights
  dirs['keras3'] = join(root, 'keras3');
  cpSync(dirs['v2'], dirs['keras3'], { recursive: true });
  const k3 = toKeras3(JSON.parse(readFileSync(join(dirs['v2'], 'model.json'), 'utf8')));
  writeFileSync(join(dirs['keras3'], 'model.json'), JSON.stringify(k3));
});

/** The four commands on one saved graph; the frozen stage leaves every non-BN body weight bit for bit as loaded. */
const GRAPHS: [string, string, string, RegExp][] = [
  ['v2', 'functional MobileNetV2 shape (Add, ZeroPadding2D, DepthwiseConv2D, BN, ReLU6): cut by name, concat_pool head', '  cut: out_relu\n  head: [concat_pool, { dense: 3 }]', /^Conv1_pad$/],
  ['inception', 'Inception block (Concatenate) + squeeze-excite (Multiply): global_maxpool head', '  cut: mixed0_bn\n  head: [global_maxpool, { dense: 3 }]', /^stem$/],
  ['v1', 'MobileNet-v1 chain (depthwise + pointwise convs, BN, relu6): global_avgpool head', '  cut: conv_pw_3_relu\n  head: [global_avgpool, { dense: 3 }]', /^conv1$/],
  ['tm', 'Teachable Machine nested export Sequential[Sequential[functional, GAP], Sequential[dense, dense]]: the default cut drops its head', '  head: [{ dense: 3 }]', /^Conv1_pad$/],
  ['keras3', 'a Keras 3 model.json (batch_shape, DTypePolicy, args/kwargs nodes)', `  cut: out_relu\n  head: [global_avgpool, { dense: 3 }]`, /^Conv1_pad$/],
];

describe('find, fit, finetune, finetune --unfreeze on graphs users bring (default backend)', () => {
  it.each(GRAPHS)('%s: %s', async (key, _what, model, firstLayer) => {
    const dir = dirs[key]!;
    const cfg = config(`g-${key}`, `  from: ${JSON.stringify(dir)}\n${model}`);
    const source = savedWeights(dir);

    const find = await doc<{ command: string; suggestions: Record<string, number>; lrs: number[] }>(['find', cfg]);
    expect(find.command).toBe('find');
    expect(find.lrs.length).toBeGreaterThan(0);
    await run(['fit', cfg]);

    const s1 = await doc<StageDoc>(['finetune', cfg]);
    expect(s1).toMatchObject({ stage: 'frozen', exit_code: 0 });
    expect(s1.groups).toHaveLength(2); // fastai's default split with a new head: body | head
    expect(s1.groups[0]![0]).toMatch(firstLayer);
    const frozen = savedWeights(join(s1.run_dir, 'frozen', 'model'));
    const c1 = compare(source, frozen);
    // every body weight but BatchNorm's (train_bn: gamma/beta train, batch statistics move the running ones)
    const bodyNonBn = c1.same.concat(c1.changed).filter((k) => !isBnStat(k) && !isBnParam(k));
    expect(bodyNonBn.length).toBeGreaterThan(2);
    for (const k of bodyNonBn) expect(c1.same, `${k} frozen`).toContain(k);
    if (key !== 'inception') expect(c1.changed.filter(isBnStat).length, 'running statistics moved (train_bn)').toBeGreaterThan(0);

    const s2 = await doc<StageDoc>(['finetune', cfg, '--unfreeze']);
    expect(s2).toMatchObject({ stage: 'unfrozen', exit_code: 0, run_dir: s1.run_dir });
    const unfrozenDir = join(s1.run_dir, 'unfrozen', 'model');
    const c2 = compare(frozen, savedWeights(unfrozenDir));
    expect(c2.changed.filter((k) => !isBnStat(k) && !isBnParam(k)).length, 'stage 2 trains the body').toBeGreaterThan(2);

    // the saved model loads with plain tf.loadLayersModel (no fastlr handler) and gives what fastlr's loader gives
    const json = JSON.parse(readFileSync(join(unfrozenDir, 'model.json'), 'utf8'));
    const bin = readFileSync(join(unfrozenDir, json.weightsManifest[0].paths[0]));
    const plain = await tf.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) }),
    );
    const ours = await loadModelDir(unfrozenDir);
    const x = tf.randomUniform([2, 16, 16, 3], 0, 1, 'float32', 1);
    expect(Array.from((plain.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((ours.predict(x) as tf.Tensor).dataSync()));
    expect(plain.outputs[0]!.shape).toEqual([null, 3]);
    tf.dispose([x, plain, ours] as unknown as tf.Tensor[]);
  }, 240_000);

  it('a fine-tuned model is a model.from again (its run folder, no head: kept whole)', async () => {
    const first = config('again-1', `  from: ${JSON.stringify(dirs['v2'])}\n  cut: out_relu\n  head: [global_avgpool, { dense: 3 }]`);
    const s1 = await doc<StageDoc>(['finetune', first]);
    const second = config('again-2', `  from: ${JSON.stringify(join(s1.run_dir, 'frozen', 'model', 'model.json'))}`);
    const fit = await doc<{ command: string; exit_code: number }>(['fit', second]);
    expect(fit).toMatchObject({ command: 'fit', exit_code: 0 });
  }, 120_000);
});

describe('BatchNorm in frozen groups, groups by name prefix', () => {
  it('bn_freeze + train_bn false: the frozen groups are bit for bit the loaded model, running statistics included; prefixes open groups', async () => {
    const dir = dirs['v2']!;
    const cfg = config(
      'bn-freeze',
      `  from: ${JSON.stringify(dir)}\n  cut: out_relu\n  head: [concat_pool, { dense: 3 }]\n  groups: [block_2, l34]\n  train_bn: false\n  bn_freeze: true`,
    );
    const s1 = await doc<StageDoc>(['finetune', cfg]);
    expect(s1.groups).toHaveLength(3);
    expect(s1.groups[0]!.at(-1)).toBe('block_1_add');
    expect(s1.groups[1]![0]).toBe('block_2_expand');
    expect(s1.groups[1]!.at(-1)).toBe('out_relu');
    expect(s1.groups[2]![0]).toBe('l34_concat_pool_max');
    const c = compare(savedWeights(dir), savedWeights(join(s1.run_dir, 'frozen', 'model')));
    expect(c.changed).toEqual([]);
    expect(c.same.filter(isBnStat).length).toBeGreaterThan(10);
  }, 120_000);
});

describe('quantised weights are dequantised on load', () => {
  it.each(['uint8', 'uint16', 'float16'] as QuantDtype[])('%s: loaded values = the dequantised codes; finetune trains from them', async (dtype) => {
    const dir = join(root, `q-${dtype}`);
    cpSync(dirs['inception']!, dir, { recursive: true });
    const want = quantiseFolder(dir, dtype, { readFileSync, writeFileSync });
    const m = await loadModelDir(dir);
    for (const w of m.weights) {
      const got = w.read().dataSync() as Float32Array;
      expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(want.get(w.originalName)!.buffer)), w.originalName).toBe(true);
    }
    m.dispose();
    if (dtype !== 'uint8') return;
    const cfg = config(`q-${dtype}`, `  from: ${JSON.stringify(dir)}\n  cut: mixed0_bn\n  head: [global_avgpool, { dense: 3 }]`);
    const s1 = await doc<StageDoc>(['finetune', cfg]);
    const frozen = savedWeights(join(s1.run_dir, 'frozen', 'model'));
    expect(Buffer.from(want.get('stem/kernel')!.buffer).equals(frozen.get('stem/kernel')!)).toBe(true);
  }, 120_000);
});

describe('no weights, reinit, unbuildable layers', () => {
  it('a model.json with no weightsManifest: finetune and check exit 2 naming it; model.reinit: true trains fresh seeded weights', async () => {
    const dir = join(root, 'noweights');
    cpSync(dirs['v1']!, dir, { recursive: true });
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    delete json.weightsManifest;
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    rmSync(join(dir, 'weights.bin'));
    const model = `  cut: conv_pw_3_relu\n  head: [global_avgpool, { dense: 3 }]`;
    const cfg = config('noweights', `  from: ${JSON.stringify(dir)}\n${model}`);
    for (const cmd of ['finetune', 'check']) {
      const r = await run([cmd, cfg], 2);
      expect(r.stderr).toContain(join(dir, 'model.json'));
      expect(r.stderr).toMatch(/no weights.*model\.reinit: true/);
    }
    // reinit: the same weights from the weightless file and from the full folder (seeded, the saved ones never read)
    const a = await doc<StageDoc>(['finetune', cfg, '--set', 'model.reinit=true']);
    const full = config('reinit-full', `  from: ${JSON.stringify(dirs['v1'])}\n${model}\n  reinit: true`);
    const b = await doc<StageDoc>(['finetune', full]);
    const wa = savedWeights(join(a.run_dir, 'frozen', 'model'));
    const wb = savedWeights(join(b.run_dir, 'frozen', 'model'));
    expect(compare(wa, wb).changed).toEqual([]);
    expect(compare(savedWeights(dirs['v1']!), wa).same.filter((k) => k.endsWith('kernel'))).toEqual([]);
  }, 120_000);

  it('a layer class tfjs cannot build: exit 2 naming the layer, its class and the file (finetune and check)', async () => {
    const dir = join(root, 'unbuildable');
    cpSync(dirs['v2']!, dir, { recursive: true });
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const add = json.modelTopology.config.layers.find((l: { name: string }) => l.name === 'block_1_add');
    add.class_name = 'TFOpLambda';
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    const cfg = config('unbuildable', `  from: ${JSON.stringify(dir)}\n  cut: out_relu\n  head: [global_avgpool, { dense: 3 }]`);
    for (const cmd of ['finetune', 'check']) {
      const r = await run([cmd, cfg], 2);
      expect(r.stderr).toContain(join(dir, 'model.json'));
      expect(r.stderr).toMatch(/layer "block_1_add" has class TFOpLambda, which tfjs-layers 4\.22\.0 cannot build/);
    }
  }, 60_000);
});

describe('fastlr check validates a model.from fine-tune against the saved model', () => {
  const where = (cfg: string, needle: string): string => {
    const lines = readFileSync(cfg, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes(needle));
    return `${cfg}:${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
  };

  it('prints every group with its first and last layers and parameter count', async () => {
    const cfg = config('check-ok', `  from: ${JSON.stringify(dirs['v2'])}\n  cut: out_relu\n  groups: [block_2, l34]\n  head: [concat_pool, { dense: 3 }]`);
    const r = await run(['check', cfg]);
    // the params are tfjs's own count of the built layers
    const m = await loadModelDir(dirs['v2']!);
    const upTo = (name: string) => m.layers.slice(0, m.layers.findIndex((l) => l.name === name) + 1).reduce((a, l) => a + l.countParams(), 0);
    const g0 = upTo('block_1_add');
    const g1 = upTo('out_relu') - g0;
    m.dispose();
    expect(r.stdout).toContain(`group 0 (body)  ${g0.toLocaleString('en-US')} params`);
    expect(r.stdout).toMatch(/Conv1_pad … block_1_add \(13 layers\)/);
    expect(r.stdout).toContain(`group 1 (body)  ${g1.toLocaleString('en-US')} params`);
    expect(r.stdout).toMatch(/block_2_expand … out_relu \(21 layers\)/);
    expect(r.stdout).toContain(`group 2 (head)  ${(16 * 2 * 3 + 3).toLocaleString('en-US')} params`);
    expect(r.stdout).toMatch(/l34_concat_pool_max … l35_dense \(4 layers\)/);
  }, 60_000);

  it('a cut or split point naming no layer is an error at its line:col with a did-you-mean', async () => {
    const bad = config('check-cut', `  from: ${JSON.stringify(dirs['v2'])}\n  cut: out_rlu\n  head: [global_avgpool, { dense: 3 }]`);
    const r = await run(['check', bad], 2);
    expect(r.stderr).toContain(`${where(bad, 'out_rlu')}  model.cut: no layer named "out_rlu" in the loaded model; did you mean "out_relu"?`);
    // nested models are searched too (the Teachable Machine export's functional body)
    const nested = config('check-nested', `  from: ${JSON.stringify(dirs['tm'])}\n  cut: out_rellu\n  head: [global_avgpool, { dense: 3 }]`);
    expect((await run(['check', nested], 2)).stderr).toContain(`${where(nested, 'out_rellu')}  model.cut: no layer named "out_rellu" in the loaded model; did you mean "out_relu"?`);
    const groups = config('check-groups', `  from: ${JSON.stringify(dirs['v2'])}\n  cut: out_relu\n  groups: [blokc_2]\n  head: [global_avgpool, { dense: 3 }]`);
    const g = await run(['check', groups], 2);
    expect(g.stderr).toMatch(new RegExp(`${where(groups, 'blokc_2').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  model\\.groups\\[0\\]: .*no layer named "blokc_2" or starting with it; did you mean "block_\\d`));
  }, 60_000);

  it('the model folder files: truncated weights, a path leaving the folder, a corrupt model.json → exit 2 naming the file', async () => {
    const cases: [string, (dir: string) => void, (dir: string) => string, RegExp][] = [
      ['truncated', (d) => writeFileSync(join(d, 'weights.bin'), readFileSync(join(d, 'weights.bin')).subarray(0, 100)), (d) => join(d, 'weights.bin'), /truncated: 100 bytes/],
      [
        'escaping',
        (d) => {
          const j = JSON.parse(readFileSync(join(d, 'model.json'), 'utf8'));
          j.weightsManifest[0].paths = ['../mnv2/weights.bin'];
          writeFileSync(join(d, 'model.json'), JSON.stringify(j));
        },
        (d) => join(d, 'model.json'),
        /points outside the model folder/,
      ],
      ['corrupt', (d) => writeFileSync(join(d, 'model.json'), '{"modelTopology": {'), (d) => join(d, 'model.json'), /malformed JSON/],
    ];
    for (const [name, damage, file, why] of cases) {
      const dir = join(root, `broken-${name}`);
      cpSync(dirs['v2']!, dir, { recursive: true });
      damage(dir);
      const cfg = config(`broken-${name}`, `  from: ${JSON.stringify(dir)}\n  cut: out_relu\n  head: [global_avgpool, { dense: 3 }]`);
      const r = await run(['check', cfg], 2);
      expect(r.stderr, name).toContain(file(dir));
      expect(r.stderr, name).toMatch(why);
      expect(r.stderr, name).toContain('model.from');
    }
  }, 60_000);
});
