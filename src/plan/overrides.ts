/**
 * Overrides on top of the config file: environment (FASTLR_BACKEND, FASTLR_OUT, FASTLR_SEED, FASTLR_THREADS), then
 * `--set key.path=value` flags in order, then the dedicated flags (--backend, --seed, --out, --threads). Each is applied to the
 * YAML document, so the schema validates the result once; problems in an override name the flag or variable.
 */
import { isCollection, isSeq, parseDocument, type Document } from 'yaml';
import type { ConfigIssue } from '../errors.js';
import { formatPath, type Seg } from './locate.js';

export interface Override {
  /** YAML path the value replaces */
  path: Seg[];
  value: unknown;
  /** how the user wrote it: `--set fit.lr=1e-3`, `FASTLR_SEED=7`, `--seed 7` */
  origin: string;
}

export interface FlagOverrides {
  backend?: string;
  seed?: number;
  out?: string;
  /** `auto` or a count; validated by the schema (a bad value is reported on the flag) */
  threads?: string | number;
}

function issue(origin: string, path: string, message: string): ConfigIssue {
  return { file: origin, line: 0, col: 0, path, message };
}

/** `a.b[0].c` or `a.b.0.c` → ['a', 'b', 0, 'c']; undefined when malformed. */
export function parseKeyPath(text: string): Seg[] | undefined {
  const segs: Seg[] = [];
  const re = /^(?:\.?([A-Za-z_][A-Za-z0-9_-]*)|\.(\d+)|\[(\d+)\])/;
  let rest = text.trim();
  if (rest === '' || rest.startsWith('.')) return undefined;
  while (rest !== '') {
    const m = re.exec(rest);
    if (!m) return undefined;
    if (m[1] !== undefined) segs.push(m[1]);
    else segs.push(Number(m[2] ?? m[3]));
    rest = rest.slice(m[0].length);
  }
  return segs;
}

/** Keys that would reach an object's prototype when the config becomes plain objects: never a config key. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** One `--set key.path=value`: the value is a YAML scalar or flow collection (`1e-3`, `[0, 1]`, `{hi: 1e-3}`). */
export function parseSetFlag(raw: string): { override?: Override; issue?: ConfigIssue } {
  const origin = `--set ${raw}`;
  const eq = raw.indexOf('=');
  if (eq < 0) return { issue: issue(origin, '', 'expected key.path=value, e.g. --set fit.lr=1e-3') };
  const keyText = raw.slice(0, eq);
  const path = parseKeyPath(keyText);
  if (!path) return { issue: issue(origin, '', `"${keyText}" is not a key path such as fit.lr or model.layers[0].dense`) };
  const bad = path.find((s) => typeof s === 'string' && FORBIDDEN_KEYS.has(s));
  if (bad !== undefined) return { issue: issue(origin, formatPath(path), `"${String(bad)}" is not a config key`) };
  const valueDoc = parseDocument(raw.slice(eq + 1));
  if (valueDoc.errors.length > 0) {
    const why = valueDoc.errors[0]!.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
    return { issue: issue(origin, formatPath(path), `cannot parse the value as YAML: ${why}`) };
  }
  return { override: { path, value: valueDoc.toJS(), origin } };
}

/** A count written as text (`4`) becomes a number; anything else stays text for the schema to judge. */
function countOrText(v: string): string | number {
  return /^\s*\d+\s*$/.test(v) ? Number(v) : v.trim();
}

/** FASTLR_BACKEND, FASTLR_OUT, FASTLR_SEED, FASTLR_THREADS (empty values are ignored). */
export function envOverrides(env: NodeJS.ProcessEnv): Override[] {
  const out: Override[] = [];
  const backend = env['FASTLR_BACKEND'];
  if (backend) out.push({ path: ['backend'], value: backend, origin: `FASTLR_BACKEND=${backend}` });
  const dir = env['FASTLR_OUT'];
  if (dir) out.push({ path: ['output'], value: dir, origin: `FASTLR_OUT=${dir}` });
  const seed = env['FASTLR_SEED'];
  if (seed) {
    // a number when it looks like one (negative and fractional too), so the schema's message is about its value
    const value = /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(seed) ? Number(seed) : seed;
    out.push({ path: ['seed'], value, origin: `FASTLR_SEED=${seed}` });
  }
  const threads = env['FASTLR_THREADS'];
  if (threads) out.push({ path: ['threads'], value: countOrText(threads), origin: `FASTLR_THREADS=${threads}` });
  return out;
}

export function flagOverrides(f: FlagOverrides): Override[] {
  const out: Override[] = [];
  if (f.backend !== undefined) out.push({ path: ['backend'], value: f.backend, origin: `--backend ${f.backend}` });
  if (f.seed !== undefined) out.push({ path: ['seed'], value: f.seed, origin: `--seed ${f.seed}` });
  if (f.out !== undefined) out.push({ path: ['output'], value: f.out, origin: `--out ${f.out}` });
  if (f.threads !== undefined) {
    const value = typeof f.threads === 'number' ? f.threads : countOrText(f.threads);
    out.push({ path: ['threads'], value, origin: `--threads ${f.threads}` });
  }
  return out;
}

/** Numeric segments index lists; inside a mapping they are keys. */
function docPath(doc: Document, path: Seg[]): Seg[] {
  const out: Seg[] = [];
  let node: unknown = doc.contents;
  for (const seg of path) {
    const key = isSeq(node) ? Number(seg) : String(seg);
    out.push(key);
    node = isCollection(node) ? node.get(key, true) : undefined;
  }
  return out;
}

/** The first proper prefix of `path` holding a value that is not a mapping or list, if any. */
function blockingPrefix(doc: Document, path: Seg[]): Seg[] | undefined {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length - 1; i++) {
    node = isCollection(node) ? node.get(path[i], true) : undefined;
    if (node === undefined || node === null) return undefined; // missing: setIn creates it
    if (!isCollection(node)) return path.slice(0, i + 1);
  }
  return undefined;
}

/**
 * A list index in `path` past the end of its list (one past is allowed: it appends), as a message; setIn would
 * otherwise pad the list with empty items.
 */
function indexPastEnd(doc: Document, path: Seg[]): string | undefined {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    if (isSeq(node) && typeof seg === 'number' && seg > node.items.length) {
      const n = node.items.length;
      const list = formatPath(path.slice(0, i));
      return `${list} has ${n} item${n === 1 ? '' : 's'}: index ${seg} is past its end (${n === 0 ? '' : `[0]..[${n - 1}] change one, `}[${n}] adds one)`;
    }
    node = isCollection(node) ? node.get(seg, true) : undefined;
    if (node === undefined || node === null) return undefined;
  }
  return undefined;
}

/** Apply overrides in order; an override that cannot be applied becomes an issue naming it. */
export function applyOverrides(doc: Document, overrides: Override[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const o of overrides) {
    const path = docPath(doc, o.path);
    const blocked = blockingPrefix(doc, path);
    if (blocked) {
      issues.push(issue(o.origin, formatPath(o.path), `cannot set this key: ${formatPath(blocked)} is a single value, not a mapping or list`));
      continue;
    }
    const past = indexPastEnd(doc, path);
    if (past) {
      issues.push(issue(o.origin, formatPath(o.path), `cannot set this key: ${past}`));
      continue;
    }
    try {
      doc.setIn(path, doc.createNode(o.value));
    } catch (e) {
      issues.push(issue(o.origin, formatPath(o.path), `cannot set this key: ${(e as Error).message}`));
    }
  }
  return issues;
}

/**
 * The override a key path comes from (the last one covering it), if any. With `created` (the path's node is not in
 * the file), also an override below it: `--set a.b.c=1` made the mapping `a` that the schema then refuses.
 */
export function overrideFor(overrides: readonly Override[], path: readonly Seg[], created = false): Override | undefined {
  const same = (a: readonly Seg[], b: readonly Seg[], n: number): boolean => a.slice(0, n).every((s, j) => String(s) === String(b[j]));
  for (let k = overrides.length - 1; k >= 0; k--) {
    const o = overrides[k]!;
    if (o.path.length <= path.length && same(o.path, path, o.path.length)) return o;
  }
  if (created) {
    for (let k = overrides.length - 1; k >= 0; k--) {
      const o = overrides[k]!;
      if (o.path.length > path.length && same(path, o.path, path.length)) return o;
    }
  }
  return undefined;
}
