/**
 * Hostile config input: files far too big (a 5-million-item list once ended in a V8 heap out of memory, exit 134),
 * maps with 100,000 unknown keys (once over 120 s: a quadratic duplicate-key check and key lookup), and `--set` /
 * FASTLR_* overrides that cannot apply. Each gives exit 2 with a located message, in linear time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, formatIssue } from '../src/errors.js';
import { loadPlan, resolvePlan, type LoadPlanOptions } from '../src/plan/index.js';
import { MAX_COLLECTION_ITEMS, MAX_CONFIG_BYTES } from '../src/plan/yaml-source.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-hostile-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const BASE = `name: base
seed: 1
data:
  source: synthetic
  batch_size: 16
  synthetic: { task: classification, n: 200, features: 4, classes: 3 }
model:
  input: [4]
  layers: [{ dense: { units: 8, activation: relu } }, { dense: 3 }]
fit: { epochs: 1, lr: 1.0e-2 }
`;

function problems(text: string, opts: LoadPlanOptions = {}): string[] {
  try {
    resolvePlan(text, 'c.yaml', { env: {}, ...opts });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.issues.map(formatIssue);
  }
  throw new Error('accepted');
}

describe('size limits', () => {
  it('a 5-million-item list is refused at the place the byte limit is crossed, without parsing it', async () => {
    const file = join(work, 'big-list.yaml');
    writeFileSync(file, `${BASE}metrics: [${Array(5_000_000).fill('1').join(', ')}]\n`);
    let err: unknown;
    await loadPlan(file, { env: {} }).catch((e: unknown) => (err = e));
    expect(err).toBeInstanceOf(ConfigError);
    const lines = (err as ConfigError).issues.map(formatIssue);
    expect(lines).toHaveLength(1);
    // the list starts on line 11; the limit is crossed inside it
    expect(lines[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:11:\\d+  the config file is [\\d,]+ bytes: fastlr reads at most 1,048,576`));
  });

  it('text just over the limit (given directly, not read from a file) is located too', () => {
    const lines = problems(`${BASE}# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`);
    expect(lines).toEqual([expect.stringMatching(/^c\.yaml:11:\d+  the config file is [\d,]+ bytes/)]);
  });

  it('100,000 unknown keys: one located error at the first key past the limit, quickly', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i}: 1`).join('\n');
    const text = `${BASE}${keys}\n`;
    expect(Buffer.byteLength(text)).toBeLessThan(MAX_CONFIG_BYTES); // the item limit, not the byte limit, stops it
    const lines = problems(text);
    // BASE has 5 top-level keys, so the 10,001st key is k9995, on line 11 + 9995
    expect(lines).toEqual([
      `c.yaml:${11 + MAX_COLLECTION_ITEMS - 5}:1  more than 10,000 keys (100,005): fastlr reads at most 10,000 per mapping or list`,
    ]);
  });

  it('9,000 unknown keys are each reported at their line (linear: no pairwise key comparison)', () => {
    const keys = Array.from({ length: 9_000 }, (_, i) => `unknown_key_${i}: 1`).join('\n');
    const lines = problems(`${BASE}${keys}\n`);
    expect(lines).toHaveLength(9_000);
    expect(lines[0]).toMatch(/^c\.yaml:11:1  unknown_key_0: unknown key/);
    expect(lines[8_999]).toMatch(/^c\.yaml:9010:1  unknown_key_8999: unknown key/);
  }, 60_000);

  it('duplicate keys are still reported at the second one', () => {
    expect(problems(`${BASE}seed: 2\n`)).toEqual(['c.yaml:11:1  seed: duplicate key (first set on line 2)']);
  });
});

describe('overrides that cannot apply name the flag or variable', () => {
  it('--set a.b.c=1 (a key that does not exist, made by the override)', () => {
    expect(problems(BASE, { set: ['a.b.c=1'] })).toEqual([expect.stringMatching(/^--set a\.b\.c=1  a: unknown key/)]);
  });

  it('--set model.layers[99].dense=3 (past the end of the list)', () => {
    expect(problems(BASE, { set: ['model.layers[99].dense=3'] })).toEqual([
      '--set model.layers[99].dense=3  model.layers[99].dense: cannot set this key: model.layers has 2 items: index 99 is past its end ([0]..[1] change one, [2] adds one)',
    ]);
  });

  it('--set model.layers[2].dense=3 appends a layer', () => {
    const { plan } = resolvePlan(BASE, 'c.yaml', { env: {}, set: ['model.layers[2].dense=3'] });
    expect(plan.model.layers).toHaveLength(3);
  });

  it('--set __proto__.x=1 is refused, and nothing reaches Object.prototype', () => {
    expect(problems(BASE, { set: ['__proto__.x=1'] })).toEqual(['--set __proto__.x=1  __proto__.x: "__proto__" is not a config key']);
    expect(problems(BASE, { set: ['fit.constructor.x=1'] })).toEqual([
      '--set fit.constructor.x=1  fit.constructor.x: "constructor" is not a config key',
    ]);
    expect(({} as Record<string, unknown>)['x']).toBeUndefined();
  });

  it('FASTLR_SEED=-1 says the seed must not be negative (not "expected an integer")', () => {
    expect(problems(BASE, { env: { FASTLR_SEED: '-1' } })).toEqual(['FASTLR_SEED=-1  seed: must be ≥ 0, got -1']);
    expect(problems(BASE, { env: { FASTLR_SEED: 'abc' } })).toEqual(['FASTLR_SEED=abc  seed: expected an integer, got "abc"']);
    expect(resolvePlan(BASE, 'c.yaml', { env: { FASTLR_SEED: '7' } }).plan.seed).toBe(7);
  });
});
