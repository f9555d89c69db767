/**
 * Config fuzzing: ≥ 200 seeded mutations of the bundled configs (wrong types, deleted keys, garbage values, broken
 * indentation, huge numbers, negative sizes, unicode, truncation, duplicated lines). Each must end with exit 0 (still
 * valid) or 2 (a config error naming the place) and never with an unexpected error or a stack trace. Most run the
 * CLI's `main()` in-process (`fastlr check`); a seeded sample runs the real binary, `check` and a short `find`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { ROOT, runCli } from './helpers/cli.js';

type Rng = () => number;
const pick = <T>(rng: Rng, a: readonly T[]): T => a[Math.floor(rng() * a.length)]!;

const KEY_LINE = /^(\s*(?:-\s+)?)([A-Za-z_][\w]*):(\s*)(.*)$/;
const NUMBER = /(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])/gi;

const WRONG_TYPES = ['"text"', '[1, 2]', '{ a: 1 }', 'true', 'null', '~', '3.5', '-7', '[]', '{}', "'0.1'", 'yes', '[[1]]'];
const GARBAGE = ['@@', '*alias', '&anchor x', '!!binary AAAA', '{[}]', '"unterminated', "'", '|', '>-', '%YAML 1.2', '? complex', ':::', '- - -', '`tick`', '\\x00'];
const HUGE = ['1e308', '1e309', '-1e308', '9007199254740993', '1e-400', '.inf', '-.inf', '.nan', '99999999999', '0x7fffffff', '1e9', '123456789012345678901234567890'];
const NEGATIVE = ['-1', '0', '-64', '-0.5', '-0', '-1e9'];
const UNICODE = ['é', '🔥', '\u200b', '\u202e', '日本語', '\u0000', '\ufeff', 'Ω', '\u00a0', '\ud83d', 'ﬁ', '\u2028'];

interface Mutator {
  kind: string;
  apply(lines: string[], rng: Rng): string[];
}

function keyLines(lines: string[]): number[] {
  return lines.flatMap((l, i) => (KEY_LINE.test(l) && !l.trimStart().startsWith('#') ? [i] : []));
}

function replaceValue(lines: string[], rng: Rng, values: readonly string[]): string[] {
  const idx = keyLines(lines);
  if (!idx.length) return lines;
  const i = pick(rng, idx);
  const m = KEY_LINE.exec(lines[i]!)!;
  const out = [...lines];
  out[i] = `${m[1]}${m[2]}: ${pick(rng, values)}`;
  return out;
}

function replaceNumber(lines: string[], rng: Rng, values: readonly string[]): string[] {
  const spots = lines.flatMap((l, i) => (l.trimStart().startsWith('#') ? [] : [...l.matchAll(NUMBER)].map((m) => ({ i, at: m.index, len: m[0].length }))));
  if (!spots.length) return lines;
  const s = pick(rng, spots);
  const out = [...lines];
  const l = out[s.i]!;
  out[s.i] = l.slice(0, s.at) + pick(rng, values) + l.slice(s.at + s.len);
  return out;
}

const MUTATORS: Mutator[] = [
  { kind: 'wrong type', apply: (l, r) => replaceValue(l, r, WRONG_TYPES) },
  { kind: 'wrong type in a flow map', apply: (l, r) => replaceNumber(l, r, WRONG_TYPES) },
  {
    kind: 'deleted key',
    apply: (lines, rng) => {
      const idx = keyLines(lines);
      if (!idx.length) return lines;
      const i = pick(rng, idx);
      const indent = /^\s*/.exec(lines[i]!)![0].length;
      let j = i + 1;
      while (j < lines.length && (lines[j]!.trim() === '' || /^\s*/.exec(lines[j]!)![0].length > indent)) j++;
      return [...lines.slice(0, i), ...lines.slice(j)];
    },
  },
  { kind: 'garbage value', apply: (l, r) => replaceValue(l, r, GARBAGE) },
  {
    kind: 'broken indentation',
    apply: (lines, rng) => {
      const i = Math.floor(rng() * lines.length);
      const out = [...lines];
      const l = out[i]!;
      const how = pick(rng, ['+1', '-1', '+2', 'tab', 'none']);
      out[i] = how === '+1' ? ` ${l}` : how === '+2' ? `  ${l}` : how === 'tab' ? `\t${l}` : how === '-1' ? l.replace(/^ /, '') : l.trimStart();
      return out;
    },
  },
  { kind: 'huge number', apply: (l, r) => replaceNumber(l, r, HUGE) },
  { kind: 'negative size', apply: (l, r) => replaceNumber(l, r, NEGATIVE) },
  {
    kind: 'unicode',
    apply: (lines, rng) => {
      const i = Math.floor(rng() * lines.length);
      const out = [...lines];
      const l = out[i]!;
      const at = Math.floor(rng() * (l.length + 1));
      out[i] = l.slice(0, at) + pick(rng, UNICODE) + l.slice(at);
      return out;
    },
  },
  {
    kind: 'truncated',
    apply: (lines, rng) => {
      const text = lines.join('\n');
      return text.slice(0, Math.floor(rng() * text.length)).split('\n');
    },
  },
  {
    kind: 'duplicated line',
    apply: (lines, rng) => {
      const i = Math.floor(rng() * lines.length);
      return [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)];
    },
  },
];

const CONFIGS = readdirSync(join(ROOT, 'configs'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => ({ name: f, text: readFileSync(join(ROOT, 'configs', f), 'utf8') }));

interface Case {
  id: number;
  config: string;
  kinds: string[];
  text: string;
}

/** `n` seeded cases, spread over the bundled configs, 1–3 mutations each, every mutator used. */
function cases(n: number, seed: string): Case[] {
  const rng = seedrandom(seed);
  const out: Case[] = [];
  for (let id = 0; id < n; id++) {
    const base = CONFIGS[id % CONFIGS.length]!;
    let lines = base.text.split('\n');
    const kinds: string[] = [];
    const count = 1 + Math.floor(rng() * 3);
    for (let k = 0; k < count; k++) {
      const m = k === 0 ? MUTATORS[id % MUTATORS.length]! : pick(rng, MUTATORS);
      lines = m.apply(lines, rng);
      kinds.push(m.kind);
    }
    out.push({ id, config: base.name, kinds, text: lines.join('\n') });
  }
  return out;
}

const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;
const work = mkdtempSync(join(tmpdir(), 'fastlr-fuzz-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sink(): { write(s: string): boolean; text: string } {
  const s = { text: '', write: (c: string) => ((s.text += c), true) };
  return s;
}

/** What is wrong with how a case ended ('' when it ended well). */
function verdict(code: number | null, stderr: string): string {
  if (code !== 0 && code !== 2) return `exit ${code}`;
  if (STACK.test(stderr)) return 'stack trace';
  if (/unexpected error/i.test(stderr)) return 'unexpected error';
  if (code === 2 && stderr.trim() === '') return 'exit 2 without a message';
  return '';
}

const N = 240;

describe(`config fuzzing: ${N} seeded mutations of ${CONFIGS.map((c) => c.name).join(', ')}`, () => {
  const all = cases(N, 'fastlr-fuzz-1');

  it('covers every kind of mutation, and mutates every case', () => {
    expect(new Set(all.flatMap((c) => c.kinds))).toEqual(new Set(MUTATORS.map((m) => m.kind)));
    const same = all.filter((c) => CONFIGS.some((b) => b.text === c.text));
    expect(same.length).toBeLessThan(N / 10);
  });

  it('fastlr check (in-process main): every case ends with exit 0 or 2, a message, never a stack trace', async () => {
    const bad: string[] = [];
    const codes = new Map<number, number>();
    for (const c of all) {
      const file = join(work, `case-${c.id}.yaml`);
      writeFileSync(file, c.text);
      const stdout = sink();
      const stderr = sink();
      const env = { ...process.env, NO_COLOR: '1', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', GITHUB_ACTIONS: '' };
      const code = await main(['node', 'fastlr', 'check', file, '--quiet'], { stdout, stderr, env, cwd: ROOT });
      codes.set(code, (codes.get(code) ?? 0) + 1);
      const why = verdict(code, stderr.text);
      if (why) bad.push(`case ${c.id} (${c.config}: ${c.kinds.join(' + ')}): ${why}\n${stderr.text.slice(0, 400)}`);
    }
    expect(bad, bad.slice(0, 5).join('\n---\n')).toEqual([]);
    // the mutations really break configs, and some stay valid
    expect(codes.get(2) ?? 0).toBeGreaterThan(N / 2);
    expect(codes.get(0) ?? 0).toBeGreaterThan(0);
  }, 60_000);

  it('every number of every bundled config replaced by each huge, tiny, negative or non-finite value: exit 0 or 2', async () => {
    const bad: string[] = [];
    let n = 0;
    for (const base of CONFIGS) {
      const lines = base.text.split('\n');
      for (const [i, l] of lines.entries()) {
        if (l.trimStart().startsWith('#')) continue;
        for (const m of l.matchAll(NUMBER)) {
          for (const v of [...HUGE, ...NEGATIVE]) {
            const out = [...lines];
            out[i] = l.slice(0, m.index) + v + l.slice(m.index + m[0].length);
            const file = join(work, 'edge.yaml');
            writeFileSync(file, out.join('\n'));
            const stderr = sink();
            const env = { ...process.env, NO_COLOR: '1', FASTLR_BACKEND: '', FASTLR_OUT: '', FASTLR_SEED: '', GITHUB_ACTIONS: '' };
            const code = await main(['node', 'fastlr', 'check', file, '--quiet'], { stdout: sink(), stderr, env, cwd: work }); // not ROOT: a data/ folder there (the README example's imported MobileNetV2) would be inspected for every case
            n++;
            const why = verdict(code, stderr.text);
            if (why) bad.push(`${base.name}:${i + 1} ${JSON.stringify(out[i]!.trim())}: ${why}\n${stderr.text.slice(0, 300)}`);
          }
        }
      }
    }
    expect(n).toBeGreaterThan(200);
    expect(bad, bad.slice(0, 5).join('\n---\n')).toEqual([]);
  }, 120_000); // ~250 in-process checks: 50 s on a loaded 2-core machine

  it('the real binary on a seeded sample: check, and find on what check accepts or rejects', async () => {
    const rng = seedrandom('fastlr-fuzz-sample');
    const sample = Array.from({ length: 8 }, () => pick(rng, all));
    const bad: string[] = [];
    let trained = 0;
    for (const c of sample) {
      const file = join(work, `bin-${c.id}.yaml`);
      writeFileSync(file, c.text);
      const chk = await runCli(['check', file, '--quiet']);
      const why = verdict(chk.code, chk.stderr);
      if (why) bad.push(`check case ${c.id} (${c.kinds.join(' + ')}): ${why}\n${chk.stderr.slice(0, 400)}`);
      if (chk.code === 0 && trained >= 3) continue;
      if (chk.code === 0) trained++;
      const find = await runCli(['find', file, '--quiet', '--out', join(work, 'runs'), '--set', 'find.num_it=8', '--set', 'data.mnist.limit=400']);
      const fwhy = find.code === 3 ? '' : verdict(find.code, find.stderr);
      if (fwhy) bad.push(`find case ${c.id} (${c.kinds.join(' + ')}): ${fwhy}\n${find.stderr.slice(0, 400)}`);
    }
    expect(bad, bad.join('\n---\n')).toEqual([]);
    expect(trained, 'the sample holds a mutation check accepts, and find ran on it').toBeGreaterThan(0);
  }, 120_000);
});
