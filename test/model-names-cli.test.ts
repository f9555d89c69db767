/**
 * A wrong layer name in model.cut, model.groups or a model.head that cannot apply is the same located error in
 * find, fit and finetune as in `check`: exit 2, every wrong name at its file:line:col with a "did you mean", nothing
 * trained and no run folder made. Through the real binary, on a small functional graph (Add + Concatenate) built and
 * saved here.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saveModelDir } from '../src/model/index.js';
import { runCli } from './helpers/cli.js';

let root: string;
let modelDir: string;

/** input 8×8×3 → stem_conv → [branch_a, branch_b] → block_add; concatenate(block_add, stem_conv) → out_relu → gap → logits */
function graph(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: 'inp' });
  const stem = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'stem_conv' }).apply(input) as tf.SymbolicTensor;
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 1, name: 'branch_a' }).apply(stem) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'branch_b' }).apply(stem) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'block_add' }).apply([a, b]) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'block_concat' }).apply([sum, stem]) as tf.SymbolicTensor;
  const r = tf.layers.reLU({ name: 'out_relu' }).apply(cat) as tf.SymbolicTensor;
  const g = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(r) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 5, name: 'logits' }).apply(g) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** A config on the saved graph; `model` are the lines after `from:`. */
function config(name: string, model: string): string {
  const file = join(root, `${name}.yaml`);
  writeFileSync(
    file,
    `name: ${name}
seed: 1
backend: cpu
data:
  source: synthetic
  batch_size: 8
  synthetic: { n: 24, features: 192, classes: 3 }
model:
  from: ${JSON.stringify(modelDir)}
${model}
fit: { epochs: 1, lr: 1.0e-3 }
find: { num_it: 5 }
finetune: { freeze_epochs: 1, epochs: 1, base_lr: 1.0e-3 }
output: ${JSON.stringify(join(root, 'runs', name))}
`,
  );
  return file;
}

/** `file:line:col` of the first occurrence of `needle` in the file (1-based, as fastlr places issues). */
function at(file: string, needle: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in ${file}`);
  return `${file}:${i + 1}:${lines[i]!.indexOf(needle) + 1}`;
}

/** The issue lines of a ConfigError on stderr (those starting with the config's path). */
const issueLines = (stderr: string, file: string): string[] => stderr.split('\n').filter((l) => l.startsWith(`${file}:`));

/** Each command exits 2 with exactly `expected` as its issue lines, and makes no run folder. */
async function expectSameErrors(file: string, commands: string[], expected: string[]): Promise<void> {
  const results = await Promise.all(commands.map((c) => runCli([c, file])));
  results.forEach((r, i) => {
    const what = `${commands[i]}\n${r.stderr}`;
    expect(r.code, what).toBe(2);
    expect(issueLines(r.stderr, file), what).toEqual(expected);
    expect(r.stderr, what).not.toMatch(/unexpected error|\n\s+at /);
  });
  const runs = join(root, 'runs', readFileSync(file, 'utf8').match(/^name: (\S+)/)![1]!);
  expect(existsSync(runs) ? readdirSync(runs).filter((d) => !d.startsWith('.')) : []).toEqual([]);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  root = mkdtempSync(join(tmpdir(), 'fastlr-names-'));
  modelDir = join(root, 'model');
  const m = graph();
  await saveModelDir(m, modelDir);
  m.dispose();
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('wrong model names: find, fit and finetune give check\'s located errors', () => {
  it('a misspelt cut and two misspelt split points: each at its line:col with a did-you-mean, in every command', async () => {
    const file = config('names3', '  cut: out_rellu\n  groups: [brnch_a, l9_dense, gapp]\n  head: [global_avgpool, { dense: 3 }]');
    const expected = [
      `${at(file, 'out_rellu')}  model.cut: no layer named "out_rellu" in the loaded model; did you mean "out_relu"?`,
      `${at(file, 'brnch_a')}  model.groups[0]: no layer named "brnch_a" or starting with it; did you mean "branch_a"?`,
      // l9_dense may be a head layer (numbered after the cut): it is checked once the cut is right
      `${at(file, 'gapp')}  model.groups[2]: no layer named "gapp" or starting with it; did you mean "gap"?`,
    ];
    await expectSameErrors(file, ['check', 'find', 'fit', 'finetune'], expected);
  }, 120_000);

  it('a right cut, wrong split points (a body layer and a head layer): both listed', async () => {
    const file = config('groups2', '  cut: out_relu\n  groups: [brnch_a, l9_dense]\n  head: [global_avgpool, { dense: 3 }]');
    const expected = [
      `${at(file, 'brnch_a')}  model.groups[0]: no layer named "brnch_a" or starting with it; did you mean "branch_a"?`,
      `${at(file, 'l9_dense')}  model.groups[1]: no layer named "l9_dense" or starting with it; did you mean "l7_dense"?`,
    ];
    await expectSameErrors(file, ['check', 'fit', 'finetune'], expected);
  }, 120_000);

  it('a head that cannot apply to the cut (concat_pool after the pooling): at that head entry', async () => {
    const file = config('head', '  cut: gap\n  head: [concat_pool, { dense: 3 }]');
    const expected = [`${at(file, 'concat_pool')}  model.head[0]: concat_pool: needs an input [height, width, channels]; its input is [8]`];
    await expectSameErrors(file, ['check', 'find', 'finetune'], expected);
  }, 120_000);
});
