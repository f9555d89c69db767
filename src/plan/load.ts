/**
 * Config file → resolved Plan. Precedence: schema defaults < config file < environment (FASTLR_*) < flags
 * (`--set`, then --backend/--seed/--out). Every problem is collected and thrown at once as a ConfigError.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { isMap, isSeq } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { checkPlanRules, defaultMetrics } from './cross-checks.js';
import { placeIssue, rawToConfigIssues, zodToConfigIssues, type IssueContext, type RawIssue } from './issues.js';
import { Locator } from './locate.js';
import { applyOverrides, envOverrides, flagOverrides, parseSetFlag, type FlagOverrides, type Override } from './overrides.js';
import { configSchema, type ParsedConfig, type Plan } from './schema.js';
import { isIntegerAt, knownKeysAt } from './schema-walk.js';
import { parseConfigYaml, readConfigText } from './yaml-source.js';

export interface LoadPlanOptions {
  /** raw `--set key.path=value` strings, applied in order */
  set?: readonly string[];
  /** where FASTLR_BACKEND / FASTLR_OUT / FASTLR_SEED are read; default process.env ({} to ignore them) */
  env?: NodeJS.ProcessEnv;
  /** dedicated flags: win over everything else */
  overrides?: FlagOverrides;
}

export interface LoadedPlan {
  plan: Plan;
  /** the config file's text as read */
  source: string;
  /** sha256 (hex) of the resolved plan, canonical JSON: same plan, same hash, whatever the formatting */
  hash: string;
}

/** Read, validate and resolve a config file. Throws ConfigError (exit code 2) listing every problem. */
export async function loadPlan(configPath: string, opts: LoadPlanOptions = {}): Promise<LoadedPlan> {
  const text = await readConfigText(configPath);
  return resolvePlan(text, configPath, opts);
}

function fileIssue(file: string, message: string): ConfigIssue {
  return { file, line: 0, col: 0, path: '', message };
}

/** Default run name: the config file name without extension, made safe for a folder name. */
export function defaultName(file: string): string {
  const base = path.basename(file, path.extname(file)).replace(/[^A-Za-z0-9_.-]+/g, '-');
  return /^[A-Za-z0-9]/.test(base) ? base : `run${base}`;
}

/** Fill the defaults that depend on the file name and the loss. */
function finish(c: ParsedConfig, file: string): Plan {
  const name = c.name ?? defaultName(file);
  const filled: Plan = { ...c, name, metrics: c.metrics ?? defaultMetrics(c.loss), output: c.output ?? `runs/${name}` };
  // keys in schema order, as plan.json shows them
  const ordered = Object.fromEntries(
    Object.keys(configSchema.shape)
      .filter((k) => filled[k as keyof Plan] !== undefined)
      .map((k) => [k, filled[k as keyof Plan]]),
  );
  return ordered as Plan;
}

/** JSON with sorted keys, for hashing. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

export function planHash(plan: Plan): string {
  return createHash('sha256').update(canonical(plan)).digest('hex');
}

/** File issues in file order, then the environment's and the flags' in the order they apply. */
function ordered(issues: ConfigIssue[], file: string, origins: readonly string[] = []): ConfigIssue[] {
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const k = `${i.file}\0${i.line}\0${i.col}\0${i.path}\0${i.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  const rank = (i: ConfigIssue): number => (i.file === file ? 0 : 1 + Math.max(0, origins.indexOf(i.file)));
  return unique
    .map((i, k) => ({ i, k }))
    .sort((a, b) => rank(a.i) - rank(b.i) || a.i.line - b.i.line || a.i.col - b.i.col || a.k - b.k)
    .map((x) => x.i);
}

/** Validate and resolve config text (`file` is used in messages and for the default name). */
export function resolvePlan(text: string, file: string, opts: LoadPlanOptions = {}): LoadedPlan {
  const { plan, source, hash } = resolvePlanLocated(text, file, opts);
  return { plan, source, hash };
}

export interface LocatedPlan extends LoadedPlan {
  /** place further problems (found by `check`) in the config file or on the flag that set them */
  place(issues: readonly RawIssue[]): ConfigIssue[];
  /** the key at `path` was written in the config file or set by the environment or a flag (not a default) */
  given(path: readonly PropertyKey[]): boolean;
}

/** resolvePlan, keeping the means to locate later problems (paths) in the source. */
export function resolvePlanLocated(text: string, file: string, opts: LoadPlanOptions = {}): LocatedPlan {
  if (text.trim() === '') throw new ConfigError([fileIssue(file, 'the config file is empty')]);
  const parsed = parseConfigYaml(text, file);
  if (parsed.fatal) throw new ConfigError(parsed.issues);
  const { doc } = parsed;
  const locator = new Locator(doc, parsed.lineCounter);
  if (doc.contents === null) throw new ConfigError([fileIssue(file, 'the config file is empty (only comments)')]);
  if (!isMap(doc.contents)) {
    const loc = locator.locate([]);
    const what = isSeq(doc.contents) ? 'a list' : 'a single value';
    throw new ConfigError([
      { file, line: loc.line, col: loc.col, path: '', message: `expected config keys (key: value) at the top level, got ${what}` },
    ]);
  }

  const issues: ConfigIssue[] = [...parsed.issues];
  const overrides: Override[] = envOverrides(opts.env ?? process.env);
  const origins = overrides.map((o) => o.origin);
  for (const s of opts.set ?? []) {
    const r = parseSetFlag(s);
    if (r.override) overrides.push(r.override);
    if (r.issue) issues.push(r.issue);
    origins.push(`--set ${s}`);
  }
  const flags = flagOverrides(opts.overrides ?? {});
  overrides.push(...flags);
  origins.push(...flags.map((o) => o.origin));
  issues.push(...applyOverrides(doc, overrides));

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new ConfigError([...issues, fileIssue(file, `cannot read the YAML: ${(e as Error).message}`)]);
  }
  const ctx: IssueContext = {
    file,
    locator,
    overrides,
    knownKeys: (p) => knownKeysAt(configSchema, p, raw),
    expectsInteger: (p) => isIntegerAt(configSchema, p, raw),
  };
  const result = configSchema.safeParse(raw, { reportInput: true });
  if (!result.success) issues.push(...zodToConfigIssues(result.error.issues, ctx));
  issues.push(...rawToConfigIssues(checkPlanRules(raw), ctx));
  if (issues.length > 0 || !result.success) {
    if (issues.length === 0) issues.push(placeIssue(ctx, [], 'value', 'invalid config'));
    throw new ConfigError(ordered(issues, file, origins));
  }
  const plan = finish(result.data, file);
  return { plan, source: text, hash: planHash(plan), place: (more) => ordered(rawToConfigIssues(more, ctx), file, origins),
    given: (p) => doc.hasIn(p.map((k) => (typeof k === 'number' ? k : String(k)))),
  };
}
