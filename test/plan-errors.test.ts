/**
 * Config errors: each bad YAML file in test/fixtures/configs gives exactly these `file:LINE:COL  key.path: message`
 * lines, all at once, in file order.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, ExitCode, formatIssue } from '../src/errors.js';
import { loadPlan, type LoadPlanOptions } from '../src/plan/index.js';

const dir = path.resolve(__dirname, 'fixtures/configs');
const fixture = (name: string): string => path.join(dir, name);

/** The formatted issues of a config that must fail. */
async function problems(name: string, opts: LoadPlanOptions = {}): Promise<string[]> {
  try {
    await loadPlan(fixture(name), { env: {}, ...opts });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    expect(e.exitCode).toBe(ExitCode.usage);
    expect(e.message).toBe(e.issues.map(formatIssue).join('\n'));
    return e.issues.map(formatIssue);
  }
  throw new Error(`${name} was accepted`);
}

/** `7:3  key: message` → `<file>:7:3  key: message`; a line starting with two spaces is file-level. */
const at = (name: string, lines: string[]): string[] =>
  lines.map((l) => (l.startsWith('  ') ? `${fixture(name)}${l}` : `${fixture(name)}:${l}`));

const TABLE: [string, string[]][] = [
  ['unknown-key.yaml', ['7:3  model.lyers: unknown key; did you mean "layers"?']],
  ['syntax-error.yaml', ['4:1  YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]']],
  ['tabs.yaml', ['3:1  YAML syntax error: Tabs are not allowed as indentation']],
  ['duplicate-key.yaml', ['7:3  fit.epochs: duplicate key (first set on line 5)']],
  [
    'wrong-types.yaml',
    [
      '2:7  seed: expected an integer, got "forty-two"',
      '4:12  data.shuffle: expected true or false, got "yes please"',
      '5:15  data.batch_size: expected an integer, got 32.5',
      '7:11  model.layers: expected a list, got "flatten"',
      '9:11  fit.epochs: expected an integer, got "three"',
      '10:9  fit.moms: needs at least 3 items, got [0.95, 0.85]',
    ],
  ],
  [
    'out-of-range.yaml',
    [
      '3:14  data.valid_pct: must be < 1, got 1.5',
      '4:15  data.batch_size: must be ≥ 1, got 0',
      '7:19  optimizer.mom: must be ≥ 0, got -0.1',
      '7:30  optimizer.eps: must be > 0, got 0',
      '8:19  fit.pct_start: must be < 1, got 1',
      '8:26  fit.lr: must be > 0, got -0.003',
    ],
  ],
  [
    'bad-values.yaml',
    [
      '2:10  backend: expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu, got "tensorflow_gpu"; did you mean "tensorflow-gpu"?',
      '3:7  loss: expected one of cross_entropy, binary_cross_entropy, mse, got "cross_entopy"; did you mean "cross_entropy"?',
      '4:11  metrics[0]: expected one of accuracy, error_rate, mae, rmse, got "acuracy"; did you mean "accuracy"?',
      '7:20  data.mnist.digits: digits must not repeat',
      '7:30  data.mnist.digits[3]: must be ≤ 9, got 12',
      '10:18  find.suggest: expected one of valley, slide, steep, minimum, got "valey"; did you mean "valley"?',
    ],
  ],
  [
    'layers.yaml',
    [
      '5:30  model.layers[0].conv2d.kernal: unknown key; did you mean "kernel"?',
      '6:7  model.layers[1].maxpol: unknown layer type "maxpol"; did you mean "maxpool"?',
      '7:16  model.layers[2].dropout: expected a number, got "lots"',
      '8:16  model.layers[3].flatten: this layer type takes no value here: write it alone, e.g. `- flatten`',
      '9:7  model.layers[4].dense: missing required key "units" (an integer)',
      '10:7  model.layers[5]: a layer item has one key, its type: put the other options inside, e.g. `- dense: { ... }`',
      '11:7  model.layers[6]: not a layer: write `- flatten`, `- dense: 10` or `- dense: { units: 10, activation: relu }` (layer types: dense, conv2d, maxpool, avgpool, flatten, dropout, batchnorm, activation, global_avgpool, global_maxpool, concat_pool), got 42',
    ],
  ],
  [
    'lr-specs.yaml',
    [
      '9:7  fit.lr: 3 learning rates for 2 parameter groups (model.groups has 1 split point): give 2, one number, or a range { lo, hi }',
      '11:13  finetune.lr.lo: lo must not be larger than hi',
    ],
  ],
  ['lr-specs-2.yaml', ['5:13  fit.lr.hi: expected a number, got "fast"', '7:9  finetune.lr.low: unknown key; did you mean "lo"?']],
  [
    'plan-rules.yaml',
    [
      '3:11  data.source: source csv needs a data.csv section, e.g. csv: { path: data/train.csv, target: label }',
      '5:11  metrics[0]: accuracy needs a classification loss (cross_entropy or binary_cross_entropy); loss is mse',
      '10:32  model.layers[1].dense.name: layer name "body" is already used by model.layers[0]',
      '11:12  model.groups[0]: no layer named "nope" or starting with it (layers: body, body)',
      '11:18  model.groups[1]: split point 5 is outside the model (it has 2 layers: use 1..1, or -1..-1 from the end)',
      '13:12  fit.monitor: unknown metric "valid_acc"; did you mean "valid_mae"?',
      '15:3  expect.valid_mea: unknown metric "valid_mea"; did you mean "valid_mae"?',
      '16:14  expect.valid_mae: expected a comparison such as ">= 0.95" (>=, <=, >, <, ==), got "about 0.5"',
    ],
  ],
  ['no-model.yaml', ['1:1  model: needs layers (a list of layers) or from (a saved model folder)']],
  ['top-level-list.yaml', ['1:1  expected config keys (key: value) at the top level, got a list']],
  ['empty.yaml', ['  the config file is empty']],
  ['comments-only.yaml', ['  the config file is empty (only comments)']],
];

describe('config errors: exact file:line:col and message', () => {
  it.each(TABLE)('%s', async (name, lines) => {
    expect(await problems(name)).toEqual(at(name, lines));
  });

  it('a missing file names its path', async () => {
    expect(await problems('no-such-file.yaml')).toEqual(at('no-such-file.yaml', ['  cannot read the config file: no such file']));
  });

  it('a folder is not a config file', async () => {
    try {
      await loadPlan(dir, { env: {} });
      throw new Error('accepted a folder');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues.map(formatIssue)).toEqual([`${dir}  cannot read the config file: is a directory, not a config file`]);
    }
  });
});

describe('errors in overrides name the flag or variable', () => {
  it('--set problems', async () => {
    const lines = await problems('good-minimal.yaml', {
      set: ['fit.lr', 'fit.lr=[1', 'fit.lrr=1', 'fit.epochs=0', 'model.layers[0].type=flaten', 'seed=1', 'seed.x=1'],
    });
    // one line per problem, in the order the flags were given; a good flag (seed=1) says nothing
    expect(lines).toEqual([
      '--set fit.lr  expected key.path=value, e.g. --set fit.lr=1e-3',
      '--set fit.lr=[1  fit.lr: cannot parse the value as YAML: Flow sequence must end with a ]',
      '--set fit.lrr=1  fit.lrr: unknown key; did you mean "lr"?',
      '--set fit.epochs=0  fit.epochs: must be ≥ 1, got 0',
      '--set model.layers[0].type=flaten  model.layers[0].type: cannot set this key: model.layers[0] is a single value, not a mapping or list',
      '--set seed.x=1  seed.x: cannot set this key: seed is a single value, not a mapping or list',
    ]);
    expect(lines.some((l) => l.includes('seed=1'))).toBe(false);
  });

  it('environment values', async () => {
    const lines = await problems('good-minimal.yaml', { env: { FASTLR_SEED: 'abc', FASTLR_BACKEND: 'gpu' } });
    expect(lines).toEqual([
      'FASTLR_BACKEND=gpu  backend: expected one of auto, tensorflow-gpu, tensorflow, wasm, cpu, got "gpu"; did you mean "cpu"?',
      'FASTLR_SEED=abc  seed: expected an integer, got "abc"',
    ]);
  });

  it('a flag overriding a bad env value wins and hides it', async () => {
    const { plan } = await loadPlan(fixture('good-minimal.yaml'), { env: { FASTLR_SEED: 'abc' }, overrides: { seed: 5 } });
    expect(plan.seed).toBe(5);
  });

  it('file errors and flag errors come together', async () => {
    const lines = await problems('unknown-key.yaml', { set: ['fit.epochs=-1'] });
    expect(lines).toEqual([
      `${fixture('unknown-key.yaml')}:7:3  model.lyers: unknown key; did you mean "layers"?`,
      '--set fit.epochs=-1  fit.epochs: must be ≥ 1, got -1',
    ]);
  });
});
