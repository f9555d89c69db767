import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FastlrError, type ConfigIssue } from '../src/errors.js';
import {
  annotationPath,
  appendStepSummary,
  configErrorAnnotations,
  escapeData,
  escapeProperty,
  findSummaryMarkdown,
  fitSummaryMarkdown,
  gateAnnotations,
  inGitHubActions,
  mdCell,
  mdCode,
  mdText,
  type FindSummaryDoc,
  type TrainSummaryDoc,
} from '../src/report/github.js';

/** Undo GitHub's escaping the way the runner does (ActionCommand.Unescape), to check round trips. */
function unescapeData(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
}
function unescapeProperty(s: string): string {
  return s.replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%25/g, '%');
}

/** Parse `::cmd k=v,k=v::data` as the runner does: split on the first `::` after the command, props on `,` and `=`. */
function parseCommand(line: string): { command: string; props: Record<string, string>; data: string } {
  expect(line.startsWith('::')).toBe(true);
  const end = line.indexOf('::', 2);
  expect(end).toBeGreaterThan(2);
  const head = line.slice(2, end);
  const data = line.slice(end + 2);
  const sp = head.indexOf(' ');
  const command = sp < 0 ? head : head.slice(0, sp);
  const props: Record<string, string> = {};
  if (sp >= 0) {
    for (const kv of head.slice(sp + 1).split(',')) {
      const eq = kv.indexOf('=');
      props[kv.slice(0, eq)] = unescapeProperty(kv.slice(eq + 1));
    }
  }
  return { command, props, data: unescapeData(data) };
}

describe('inGitHubActions', () => {
  it('is true only for GITHUB_ACTIONS=true', () => {
    expect(inGitHubActions({ GITHUB_ACTIONS: 'true' })).toBe(true);
    expect(inGitHubActions({ GITHUB_ACTIONS: 'false' })).toBe(false);
    expect(inGitHubActions({ GITHUB_ACTIONS: '' })).toBe(false);
    expect(inGitHubActions({})).toBe(false);
    expect(inGitHubActions({ CI: 'true' })).toBe(false);
  });
});

describe('workflow command escaping', () => {
  it('data: %, CR, LF (in that order, so %0A in the text survives)', () => {
    expect(escapeData('100% done\r\nnext %0A: a,b')).toBe('100%25 done%0D%0Anext %250A: a,b');
  });
  it('properties: also : and ,', () => {
    expect(escapeProperty('C:\\a,b%\n')).toBe('C%3A\\a%2Cb%25%0A');
  });
  it('round-trips through the runner rules', () => {
    const nasty = 'a%b:c,d\re\nf %25 %0A ::x::';
    expect(unescapeData(escapeData(nasty))).toBe(nasty);
    expect(unescapeProperty(escapeProperty(nasty))).toBe(nasty);
    expect(escapeProperty(nasty)).not.toMatch(/[:,\r\n]/);
    expect(escapeData(nasty)).not.toMatch(/[\r\n]/);
  });
});

describe('configErrorAnnotations', () => {
  const ws = path.resolve(os.tmpdir(), 'fastlr-ws');
  const ctx = { env: { GITHUB_WORKSPACE: ws }, cwd: ws };

  it('one ::error per issue with file relative to the workspace, line and col', () => {
    const issues: ConfigIssue[] = [
      { file: path.join(ws, 'configs', 'mnist.yaml'), line: 12, col: 5, path: 'fit.lr', message: 'must be > 0, got -1' },
      { file: 'configs/mnist.yaml', line: 3, col: 1, path: 'optimiser', message: 'unknown key "optimiser"; did you mean "optimizer"?' },
    ];
    const lines = configErrorAnnotations(issues, ctx);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe('::error file=configs/mnist.yaml,line=12,col=5,title=fastlr config::fit.lr: must be > 0, got -1');
    const p = parseCommand(lines[1]!);
    expect(p.command).toBe('error');
    expect(p.props).toEqual({ file: 'configs/mnist.yaml', line: '3', col: '1', title: 'fastlr config' });
    expect(p.data).toBe('optimiser: unknown key "optimiser"; did you mean "optimizer"?');
  });

  it('line 0 gives no line/col; an empty path gives the bare message; multi-line messages escaped', () => {
    const lines = configErrorAnnotations(
      [
        { file: path.join(ws, 'c.yaml'), line: 0, col: 0, path: '', message: 'cannot read the config file: ENOENT' },
        { file: path.join(ws, 'c.yaml'), line: 4, col: 0, path: 'seed', message: 'no column' },
        { file: 'c.yaml', line: 2, col: 3, path: 'fit.epochs', message: 'not a number: "x"\nexpected an integer, 100% sure' },
      ],
      ctx,
    );
    expect(lines[0]).toBe('::error file=c.yaml,title=fastlr config::cannot read the config file: ENOENT');
    expect(lines[1]).toBe('::error file=c.yaml,line=4,title=fastlr config::seed: no column');
    const p = parseCommand(lines[2]!);
    expect(p.props).toEqual({ file: 'c.yaml', line: '2', col: '3', title: 'fastlr config' });
    expect(p.data).toBe('fit.epochs: not a number: "x"\nexpected an integer, 100% sure');
    expect(lines[2]).not.toContain('\n');
    expect(lines[2]).toContain('%0A');
    expect(lines[2]).toContain('100%25 sure');
  });

  it('issues from --set, --seed or FASTLR_* overrides name the origin in the message and carry no file', () => {
    const lines = configErrorAnnotations(
      [
        { file: '--set fit.lr=-1', line: 0, col: 0, path: 'fit.lr', message: 'must be > 0' },
        { file: 'FASTLR_SEED=abc', line: 0, col: 0, path: 'seed', message: 'expected a number' },
        { file: '--backend gpu', line: 0, col: 0, path: 'backend', message: 'unknown backend' },
      ],
      ctx,
    );
    expect(lines).toEqual([
      '::error title=fastlr config::--set fit.lr=-1: fit.lr: must be > 0',
      '::error title=fastlr config::FASTLR_SEED=abc: seed: expected a number',
      '::error title=fastlr config::--backend gpu: backend: unknown backend',
    ]);
  });

  it('escapes : and , in file names', () => {
    const [line] = configErrorAnnotations([{ file: 'odd:name,v2.yaml', line: 2, col: 3, path: 'a', message: 'b' }], ctx);
    expect(line).toBe('::error file=odd%3Aname%2Cv2.yaml,line=2,col=3,title=fastlr config::a: b');
    expect(parseCommand(line!).props.file).toBe('odd:name,v2.yaml');
  });

  it('paths: relative inside the workspace, unchanged outside it; cwd when GITHUB_WORKSPACE is unset', () => {
    expect(annotationPath(path.join(ws, 'a', 'b.yaml'), ctx)).toBe('a/b.yaml');
    expect(annotationPath('sub/../x.yaml', ctx)).toBe('x.yaml');
    const outside = path.resolve(os.tmpdir(), 'elsewhere', 'c.yaml');
    expect(annotationPath(outside, ctx)).toBe(outside);
    expect(annotationPath('../up.yaml', ctx)).toBe('../up.yaml');
    expect(annotationPath(path.join(ws, 'sub', 'c.yaml'), { env: {}, cwd: path.join(ws, 'sub') })).toBe('c.yaml');
    // cwd below the workspace: still relative to the workspace root
    expect(annotationPath('c.yaml', { env: { GITHUB_WORKSPACE: ws }, cwd: path.join(ws, 'sub') })).toBe('sub/c.yaml');
  });
});

describe('gateAnnotations', () => {
  it('one ::error per failed gate, none for passed gates', () => {
    const lines = gateAnnotations([
      { name: 'valid_accuracy', expect: '>= 0.97', actual: 0.9512345678, pass: false },
      { name: 'valid_loss', expect: '< 0.5', actual: 0.2, pass: true },
      { name: 'error_rate', expect: ' <= 0.1 ', actual: null, pass: false },
    ]);
    expect(lines).toEqual([
      '::error title=fastlr gate::expect valid_accuracy >= 0.97 missed: got 0.951235',
      '::error title=fastlr gate::expect error_rate <= 0.1 missed: got no value',
    ]);
    expect(gateAnnotations([{ name: 'a', expect: '> 1', actual: 2, pass: true }])).toEqual([]);
    expect(gateAnnotations([])).toEqual([]);
  });
  it('a NaN actual reads as no value; a % in the expectation is escaped', () => {
    const [line] = gateAnnotations([{ name: 'x', expect: '>= 50%', actual: NaN, pass: false }]);
    expect(line).toBe('::error title=fastlr gate::expect x >= 50%25 missed: got no value');
  });
});

describe('markdown helpers', () => {
  it('escape pipes, newlines and markdown punctuation; keep intraword underscores', () => {
    expect(mdCell('a|b\nc')).toBe('a\\|b c');
    expect(mdText('valid_loss *x* _y_ a|b [l](u) <b> #1')).toBe('valid_loss \\*x\\* \\_y\\_ a\\|b \\[l\\](u) \\<b\\> \\#1');
    expect(mdCode('runs/a b')).toBe('`runs/a b`');
    expect(mdCode('we`ird')).toBe('`` we`ird ``');
  });
});

function findDoc(over: Partial<FindSummaryDoc> = {}): FindSummaryDoc {
  return {
    name: 'mnist-mlp',
    backend: 'wasm',
    seed: 42,
    num_it: 100,
    unfrozen: false,
    stop: { reason: 'diverged', iteration: 87 },
    suggestions: {
      valley: { lr: 0.0014454397, loss: 0.523 },
      slide: { lr: 0.0030199517, loss: 0.61 },
      steep: { error: 'fewer than 2 finite losses | odd' },
      minimum: { lr: 0.02, loss: 0.4 },
    },
    suggest: 'valley',
    suggested: 0.0014454397,
    seconds: 12.345,
    run_dir: 'runs/mnist-mlp/find-20260101-000000-000',
    ...over,
  };
}

function tableRows(md: string, header: string): string[][] {
  const lines = md.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`| ${header}`));
  expect(start).toBeGreaterThanOrEqual(0);
  expect(lines[start + 1]).toMatch(/^\|( -+:? \|)+$/);
  const rows: string[][] = [];
  for (let i = start + 2; i < lines.length && lines[i]!.startsWith('|'); i++) {
    rows.push(lines[i]!.slice(2, -2).split(/ (?<!\\)\| /));
  }
  return rows;
}

describe('findSummaryMarkdown', () => {
  it('suggestions table in exponent form with the configured method marked, stop reason, backend, seconds', () => {
    const md = findSummaryMarkdown(findDoc());
    expect(md).toContain('### ✅ fastlr find · mnist-mlp');
    expect(md).toContain('Suggested learning rate (**valley**): **1.45e-3**');
    const rows = tableRows(md, 'method');
    expect(rows).toEqual([
      ['**valley** ◀ configured', '**1.45e-3**', '0.523', ''],
      ['slide', '3.02e-3', '0.61', ''],
      ['steep', '—', '—', 'no suggestion: fewer than 2 finite losses \\| odd'],
      ['minimum', '2.00e-2', '0.4', ''],
    ]);
    expect(md).toContain('stopped at iteration 87 of 100: the loss diverged · backend `wasm` · 12.3 s · seed 42');
    expect(md).toContain('Run folder: `runs/mnist-mlp/find-20260101-000000-000`');
    expect(md.endsWith('\n')).toBe(true);
  });

  it('another configured method is the one marked; a full run; no suggestion gives ❌', () => {
    const md = findSummaryMarkdown(findDoc({ suggest: 'steep', suggested: null, stop: { reason: 'num_it', iteration: 100 }, seconds: 3.21 }));
    expect(md).toContain('### ❌ fastlr find');
    expect(md).toContain('No **steep** suggestion.');
    const rows = tableRows(md, 'method');
    expect(rows[0]![0]).toBe('valley');
    expect(rows[2]![0]).toBe('**steep** ◀ configured');
    expect(md).toContain('ran all 100 iterations · backend `wasm` · 3.21 s');
  });

  it('accepts a doc read back from JSON (NaN written as null) and marks an unfrozen test', () => {
    const md = findSummaryMarkdown(
      findDoc({ unfrozen: true, suggestions: { valley: { lr: null, loss: null } }, seconds: null, stop: { reason: 'non_finite', iteration: 5 } }),
    );
    expect(md).toContain('(unfrozen)');
    expect(tableRows(md, 'method')).toEqual([['**valley** ◀ configured', '**—**', '—', '']]);
    expect(md).toContain('the loss became NaN/infinite');
  });
});

function fitDoc(over: Partial<TrainSummaryDoc> = {}): TrainSummaryDoc {
  return {
    command: 'fit',
    name: 'mnist-mlp',
    backend: 'tensorflow',
    seed: 7,
    lr_source: { method: 'valley', value: 0.0014454397, find_json: 'runs/x/find.json' },
    epochs: [
      { epoch: 0, train_loss: 0.61234, valid_loss: 0.41, metrics: { accuracy: 0.9, error_rate: 0.1 }, seconds: 4.5 },
      { epoch: 1, train_loss: 0.30001, valid_loss: 0.25, metrics: { accuracy: 0.95, error_rate: 0.05 }, seconds: 12.25 },
    ],
    final: { train_loss: 0.30001, valid_loss: 0.25, valid_accuracy: 0.95, accuracy: 0.95, valid_error_rate: 0.05, error_rate: 0.05 },
    best: { monitor: 'valid_loss', value: 0.25, epoch: 1 },
    gates: [
      { name: 'valid_accuracy', expect: '>= 0.97', actual: 0.95, pass: false },
      { name: 'valid_loss', expect: '< 0.5', actual: 0.25, pass: true },
    ],
    stop: { reason: 'completed', iteration: 200 },
    exit_code: 4,
    run_dir: 'runs/mnist-mlp/fit-1',
    seconds: 16.75,
    ...over,
  };
}

describe('fitSummaryMarkdown', () => {
  it('per-epoch table, final metrics (no duplicates), gates with ✅/❌, lr source, outcome', () => {
    const md = fitSummaryMarkdown(fitDoc());
    expect(md).toContain('### ❌ fastlr fit · mnist-mlp');
    expect(md).toContain('completed 2 epochs · backend `tensorflow` · 16.8 s · seed 7 · exit code 4');
    expect(md).toContain('Learning rate **1.45e-3**: the **valley** suggestion of the LR range test (`lr: auto`)');
    expect(md).toContain('**Quality gates missed:** `valid_accuracy >= 0.97`');
    expect(tableRows(md, 'epoch')).toEqual([
      ['0', '0.6123', '0.41', '0.9', '0.1', '4.50 s'],
      ['1', '0.3', '0.25', '0.95', '0.05', '12.3 s'],
    ]);
    expect(md).toContain('| epoch | train_loss | valid_loss | accuracy | error_rate | time |');
    expect(tableRows(md, 'metric')).toEqual([
      ['train_loss', '0.3'],
      ['valid_loss', '0.25'],
      ['valid_accuracy', '0.95'],
      ['valid_error_rate', '0.05'],
    ]);
    expect(md).toContain('Best valid_loss: 0.25 (epoch 1)');
    expect(tableRows(md, 'gate')).toEqual([
      ['valid_accuracy', '`>= 0.97`', '0.95', '❌'],
      ['valid_loss', '`< 0.5`', '0.25', '✅'],
    ]);
    expect(md).toContain('Run folder: `runs/mnist-mlp/fit-1`');
  });

  it('all gates passed and exit 0 gives ✅; a configured lr; a range lr; no gates section without gates', () => {
    const gates = fitDoc().gates.map((g) => ({ ...g, pass: true }));
    const md = fitSummaryMarkdown(fitDoc({ gates, exit_code: 0, lr_source: { method: 'config', value: { lo: 1e-5, hi: 1e-3 } } }));
    expect(md).toContain('### ✅ fastlr fit');
    expect(md).not.toContain('Quality gates missed');
    expect(md).toContain('Learning rate **1.00e-5 … 1.00e-3** from the config (`fit.lr`)');
    expect(tableRows(md, 'gate').map((r) => r[3])).toEqual(['✅', '✅']);
    const none = fitSummaryMarkdown(fitDoc({ gates: [], exit_code: 0, lr_source: { method: 'config', value: [1e-4, 1e-3] } }));
    expect(none).not.toContain('#### Gates');
    expect(none).toContain('Learning rate **1.00e-4, 1.00e-3** from the config');
  });

  it('without exit_code the outcome follows stop reason and gates; divergence and interruption are ❌', () => {
    const ok = fitSummaryMarkdown(fitDoc({ exit_code: undefined, gates: [] }));
    expect(ok).toContain('### ✅');
    expect(ok).not.toContain('exit code');
    const div = fitSummaryMarkdown(fitDoc({ exit_code: 3, gates: [], final: {}, epochs: [], stop: { reason: 'non_finite', iteration: 17 } }));
    expect(div).toContain('### ❌');
    expect(div).toContain('diverged: the loss became NaN/infinite at step 17');
    expect(div).not.toContain('#### Epochs');
    expect(div).not.toContain('#### Final metrics');
    const intr = fitSummaryMarkdown(fitDoc({ exit_code: undefined, gates: [], stop: { reason: 'interrupted', iteration: 150 } }));
    expect(intr).toContain('### ❌');
    expect(intr).toContain('interrupted after 2 epochs (step 150)');
  });

  it('finetune docs: stage in the title, the frozen stage that ran first, no lr source, nulls from JSON', () => {
    const md = fitSummaryMarkdown(
      fitDoc({
        command: 'finetune',
        stage: 'unfrozen',
        lr_source: undefined,
        frozen_stage: { epochs: [fitDoc().epochs[0]!], final: { train_loss: 0.6, valid_loss: 0.41, valid_accuracy: 0.9, accuracy: 0.9 } },
        epochs: [{ epoch: 0, train_loss: null, valid_loss: 0.3, metrics: { accuracy: null }, seconds: null }],
        final: { valid_loss: 0.3 },
        gates: [],
        exit_code: 0,
      }),
    );
    expect(md).toContain('### ✅ fastlr finetune (unfrozen stage) · mnist-mlp');
    expect(md).toContain('Ran the frozen stage first (1 epoch; train_loss 0.6, valid_loss 0.41, valid_accuracy 0.9).');
    expect(md).not.toContain('Learning rate');
    expect(tableRows(md, 'epoch')).toEqual([['0', '—', '0.3', '—', '—']]);
  });

  it('long runs list the last 100 epochs and say so', () => {
    const epochs = Array.from({ length: 130 }, (_, i) => ({ epoch: i, train_loss: 1 / (i + 1), valid_loss: 1, metrics: {}, seconds: 1 }));
    const md = fitSummaryMarkdown(fitDoc({ epochs, gates: [] }));
    const rows = tableRows(md, 'epoch');
    expect(rows).toHaveLength(100);
    expect(rows[0]![0]).toBe('30');
    expect(md).toContain('(the last 100 of 130 epochs; all are in metrics.csv)');
  });
});

describe('appendStepSummary', () => {
  it('appends to the GITHUB_STEP_SUMMARY file, keeping what was there', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-gh-'));
    const file = path.join(dir, 'step_summary');
    writeFileSync(file, '# earlier step\n');
    const env = { GITHUB_STEP_SUMMARY: file };
    await appendStepSummary(findSummaryMarkdown(findDoc()), env);
    await appendStepSummary('no trailing newline', env);
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('# earlier step\n### ✅ fastlr find · mnist-mlp\n')).toBe(true);
    expect(text.endsWith('\nno trailing newline\n\n')).toBe(true);
    expect(text.split('fastlr find').length).toBe(2);
  });

  it('creates the file when it is missing (as the runner would have)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-gh-'));
    const file = path.join(dir, 'new_summary');
    await appendStepSummary('hello', { GITHUB_STEP_SUMMARY: file });
    expect(readFileSync(file, 'utf8')).toBe('hello\n\n');
  });

  it('does nothing without the variable, and never throws for it', async () => {
    await expect(appendStepSummary('x', {})).resolves.toBeUndefined();
    await expect(appendStepSummary('x', { GITHUB_STEP_SUMMARY: '' })).resolves.toBeUndefined();
  });

  it('an unwritable target rejects with a FastlrError naming the file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fastlr-gh-'));
    const bad = path.join(dir, 'no-such-dir', 'summary');
    const err = await appendStepSummary('x', { GITHUB_STEP_SUMMARY: bad }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FastlrError);
    expect((err as FastlrError).exitCode).toBe(1);
    expect((err as Error).message).toContain(bad);
  });
});
