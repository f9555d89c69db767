/** zod issues → ConfigIssues: one readable message each, placed at the YAML value (or key) it is about. */
import type { z } from 'zod';
import type { ConfigIssue } from '../errors.js';
import { didYouMean } from './did-you-mean.js';
import { isLayerList, LAYER_TYPES, NO_SHORTHAND_KEY } from './layers.js';
import { formatPath, type Locator, type Seg } from './locate.js';
import { overrideFor, type Override } from './overrides.js';

type ZIssue = z.core.$ZodIssue;

/** A problem found by fastlr itself (plan-level checks), in the same terms as a zod issue. */
export interface RawIssue {
  path: PropertyKey[];
  message: string;
  /** point at the key (unknown keys) rather than the value */
  at?: 'key' | 'value';
}

export interface IssueContext {
  file: string;
  locator: Locator;
  overrides: readonly Override[];
  /** keys the object at `path` accepts (for "did you mean") */
  knownKeys(path: readonly PropertyKey[]): string[];
  /** the value at `path` must be an integer (zod reports "expected number" for a string there) */
  expectsInteger(path: readonly PropertyKey[]): boolean;
}

/** How a value reads in a message: strings quoted, collections by kind. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return v.length <= 6 && v.every((x) => typeof x !== 'object') ? `[${v.map(show).join(', ')}]` : 'a list';
  if (typeof v === 'object') return 'a mapping';
  return String(v);
}

const TYPE_NAMES: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  tuple: 'a list',
  object: 'a mapping (key: value)',
  record: 'a mapping (key: value)',
};

function hasInput(i: ZIssue): i is ZIssue & { input: unknown } {
  return 'input' in i && i.input !== undefined;
}
const got = (i: ZIssue): string => (hasInput(i) ? `, got ${show(i.input)}` : '');

/** A branch of a union that failed on the kind of value (not inside it). */
function isKindMismatch(branch: readonly ZIssue[]): boolean {
  return branch.some(
    (b) => b.path.length === 0 && (b.code === 'invalid_type' || b.code === 'invalid_value' || b.code === 'invalid_union'),
  );
}

interface Leaf {
  issue: ZIssue;
  path: PropertyKey[];
}

/** Replace a union failure by the issues of the one branch that matched the value's kind, when there is one. */
function expand(issue: ZIssue, base: readonly PropertyKey[]): Leaf[] {
  const path = [...base, ...issue.path];
  if (issue.code !== 'invalid_union' || 'note' in issue || issue.errors.length === 0) return [{ issue, path }];
  const viable = issue.errors.filter((b) => !isKindMismatch(b));
  if (viable.length === 1) return viable[0]!.flatMap((i) => expand(i, path));
  const values = issue.errors.flatMap((b) => b.filter((i) => i.code === 'invalid_value').flatMap((i) => i.values));
  if (issue.errors.every((b) => b.length === 1 && b[0]!.code === 'invalid_value' && b[0]!.path.length === 0)) {
    const merged = { ...issue.errors[0]![0]!, values } as ZIssue;
    return [{ issue: merged, path }];
  }
  return [{ issue, path }];
}

function bound(sym: string, n: number | bigint): string {
  return `${sym} ${String(n)}`;
}

const NOT_A_LAYER = `not a layer: write \`- flatten\`, \`- dense: 10\` or \`- dense: { units: 10, activation: relu }\` (layer types: ${LAYER_TYPES.join(', ')})`;

interface Described {
  message: string;
  missing: boolean;
  /** where to report it, when not the issue's own path */
  path?: PropertyKey[];
}

function describeIssue(issue: ZIssue, ctx: IssueContext, path: PropertyKey[]): Described {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = issue.expected === 'number' && ctx.expectsInteger(path) ? 'int' : issue.expected;
      if (!hasInput(issue)) {
        const key = path.length > 0 ? String(path[path.length - 1]) : '';
        return { message: `missing required key "${key}" (${TYPE_NAMES[expected] ?? expected})`, missing: true };
      }
      if (issue.expected === 'object' && path.length === 3 && isLayerList(path.slice(0, 2) as Seg[])) {
        return { message: `${NOT_A_LAYER}${got(issue)}`, missing: false };
      }
      return { message: `expected ${TYPE_NAMES[expected] ?? expected}${got(issue)}`, missing: false };
    }
    case 'too_small': {
      const n = issue.minimum;
      if (issue.origin === 'array' || issue.origin === 'set') {
        return { message: `needs at least ${String(n)} item${Number(n) === 1 ? '' : 's'}${got(issue)}`, missing: false };
      }
      if (issue.origin === 'string') return { message: 'must not be empty', missing: false };
      return { message: `must be ${bound(issue.inclusive ? '≥' : '>', n)}${got(issue)}`, missing: false };
    }
    case 'too_big': {
      const n = issue.maximum;
      if (issue.origin === 'array' || issue.origin === 'set') {
        return { message: `takes at most ${String(n)} item${Number(n) === 1 ? '' : 's'}${got(issue)}`, missing: false };
      }
      return { message: `must be ${bound(issue.inclusive ? '≤' : '<', n)}${got(issue)}`, missing: false };
    }
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' ? v : String(v)));
      const expected = values.length === 1 ? `expected ${show(issue.values[0])}` : `expected one of ${values.join(', ')}`;
      const hint = hasInput(issue) && typeof issue.input === 'string' ? didYouMean(issue.input, values) : '';
      return { message: `${expected}${got(issue)}${hint}`, missing: false };
    }
    case 'invalid_union': {
      if ('note' in issue && issue.note === 'No matching discriminator') {
        const input = hasInput(issue) ? issue.input : undefined;
        const type = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)['type'] : undefined;
        if (typeof type === 'string') {
          const hint = didYouMean(type, LAYER_TYPES) || ` (layer types: ${LAYER_TYPES.join(', ')})`;
          return { message: `unknown layer type "${type}"${hint}`, missing: false };
        }
        const keys = typeof input === 'object' && input !== null ? Object.keys(input) : [];
        const types = keys.filter((k) => (LAYER_TYPES as readonly string[]).includes(k));
        if (types.length === 1) {
          return {
            message: `a layer item has one key, its type: put the other options inside, e.g. \`- ${types[0]}: { ... }\``,
            missing: false,
            path: path.slice(0, -1),
          };
        }
        return {
          path: path.slice(0, -1),
          message: NOT_A_LAYER,
          missing: false,
        };
      }
      return { message: `${issue.message}${got(issue)}`, missing: false };
    }
    case 'invalid_format':
      return { message: `${issue.message}${got(issue)}`, missing: false };
    default:
      return { message: issue.message, missing: false };
  }
}

/** Place an issue: overrides are named by their flag, file issues get line:column. */
export function placeIssue(ctx: IssueContext, path: readonly PropertyKey[], at: 'key' | 'value', message: string): ConfigIssue {
  const loc = ctx.locator.locate(path, at);
  const o = overrideFor(ctx.overrides, loc.path, loc.line === 0);
  const shown = formatPath(loc.path);
  if (o) return { file: o.origin, line: 0, col: 0, path: shown, message };
  if (loc.line === 0) return { file: ctx.file, line: 1, col: 1, path: shown, message };
  return { file: ctx.file, line: loc.line, col: loc.col, path: shown, message };
}

/** Every zod issue as located ConfigIssues (an unknown-keys issue becomes one per key). */
export function zodToConfigIssues(issues: readonly ZIssue[], ctx: IssueContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const { issue, path } of issues.flatMap((i) => expand(i, []))) {
    if (issue.code === 'unrecognized_keys') {
      const known = ctx.knownKeys(path);
      for (const key of issue.keys) {
        if (key === NO_SHORTHAND_KEY) {
          out.push(placeIssue(ctx, [...path, key], 'value', 'this layer type takes no value here: write it alone, e.g. `- flatten`'));
          continue;
        }
        const hint = didYouMean(key, known) || (known.length > 0 ? ` (known keys: ${known.join(', ')})` : '');
        out.push(placeIssue(ctx, [...path, key], 'key', `unknown key${hint}`));
      }
      continue;
    }
    const d = describeIssue(issue, ctx, path);
    out.push(placeIssue(ctx, d.path ?? path, 'value', d.message));
  }
  return out;
}

/** Plan-level issues (already phrased) → ConfigIssues. */
export function rawToConfigIssues(issues: readonly RawIssue[], ctx: IssueContext): ConfigIssue[] {
  return issues.map((i) => placeIssue(ctx, i.path, i.at ?? 'value', i.message));
}

export type { Seg };
