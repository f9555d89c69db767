/** Markdown reference of every config key (path, type, default, description), generated from the schema. */
import { z } from 'zod';
import { planJsonSchema, tidy } from './json-schema.js';
import { LAYER_SHORTHAND, LAYER_TYPES, type LayerType } from './layers.js';
import { layerVariants } from './schema.js';

type Json = Record<string, unknown>;

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function num(v: unknown): string {
  return typeof v === 'number' && (Math.abs(v) >= 1e5 || (v !== 0 && Math.abs(v) < 1e-3)) ? v.toExponential().replace('e+', 'e') : String(v);
}

function flowValue(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'number') return num(v);
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(flowValue).join(', ')}]`;
  if (typeof v === 'object') {
    const e = Object.entries(v as Json);
    return e.length === 0 ? '{}' : `{ ${e.map(([k, x]) => `${k}: ${flowValue(x)}`).join(', ')} }`;
  }
  return String(v);
}

function bounds(s: Json): string {
  const lo = s['minimum'] !== undefined ? { v: s['minimum'], incl: true } : s['exclusiveMinimum'] !== undefined ? { v: s['exclusiveMinimum'], incl: false } : undefined;
  const hi = s['maximum'] !== undefined ? { v: s['maximum'], incl: true } : s['exclusiveMaximum'] !== undefined ? { v: s['exclusiveMaximum'], incl: false } : undefined;
  if (lo && hi) return ` in ${lo.incl ? '[' : '('}${num(lo.v)}, ${num(hi.v)}${hi.incl ? ']' : ')'}`;
  if (lo) return ` ${lo.incl ? '≥' : '>'} ${num(lo.v)}`;
  if (hi) return ` ${hi.incl ? '≤' : '<'} ${num(hi.v)}`;
  return '';
}

/** A short human type: `integer ≥ 1`, `adam \| sgd`, `list of number > 0`, `{ lo?, hi }`. */
export function typeOf(s: Json): string {
  if (Array.isArray(s['enum'])) return (s['enum'] as unknown[]).map(String).join(' | ');
  if (s['const'] !== undefined) return JSON.stringify(s['const']);
  const any = (s['anyOf'] ?? s['oneOf']) as Json[] | undefined;
  if (any) {
    const consts = any.filter((a) => a['const'] !== undefined);
    if (consts.length === any.length) return consts.map((a) => String(a['const'])).join(' | ');
    return any.map(typeOf).join(' or ');
  }
  switch (s['type']) {
    case 'integer':
      return `integer${bounds(s)}`;
    case 'number':
      return `number${bounds(s)}`;
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'null':
      return 'null';
    case 'array': {
      if (Array.isArray(s['prefixItems'])) return `[${(s['prefixItems'] as Json[]).map(typeOf).join(', ')}]`;
      const items = s['items'] as Json | undefined;
      return items ? `list of ${typeOf(items)}` : 'list';
    }
    case 'object': {
      const props = s['properties'] as Json | undefined;
      if (!props) return 'mapping';
      const req = new Set((s['required'] as string[] | undefined) ?? []);
      return `{ ${Object.keys(props).map((k) => (req.has(k) ? k : `${k}?`)).join(', ')} }`;
    }
    default:
      return 'any';
  }
}

interface Row {
  path: string;
  type: string;
  def: string;
  desc: string;
}

function walk(s: Json, prefix: string, rows: Row[]): void {
  const props = (s['properties'] ?? {}) as Record<string, Json>;
  for (const [k, p] of Object.entries(props)) {
    const path = prefix ? `${prefix}.${k}` : k;
    const desc = typeof p['description'] === 'string' ? p['description'] : '';
    const isSection = p['type'] === 'object' && p['properties'] !== undefined;
    if (isSection) {
      if (desc) rows.push({ path, type: 'section', def: '', desc });
      walk(p, path, rows);
      continue;
    }
    const isLayers = path === 'model.layers' || path === 'model.head';
    rows.push({
      path,
      type: isLayers ? 'list of layers (below)' : typeOf(p),
      def: 'default' in p ? flowValue(p['default']) : '',
      desc,
    });
  }
}

function renderTable(rows: Row[]): string[] {
  const out = ['| key | type | default | description |', '|---|---|---|---|'];
  for (const r of rows) out.push(`| \`${r.path}\` | ${cell(r.type)} | ${r.def ? `\`${cell(r.def)}\`` : ''} | ${cell(r.desc)} |`);
  return out;
}

function layerRows(): string[] {
  const out = ['| layer | option | type | default | description |', '|---|---|---|---|---|'];
  for (const t of LAYER_TYPES) {
    const js = z.toJSONSchema(layerVariants[t as LayerType] as z.ZodType, { io: 'input' }) as Json;
    tidy(js);
    const props = js['properties'] as Record<string, Json>;
    const req = new Set((js['required'] as string[] | undefined) ?? []);
    const short = LAYER_SHORTHAND[t as LayerType];
    let first = true;
    for (const [k, p] of Object.entries(props)) {
      if (k === 'type') continue;
      const type = typeOf(p);
      const def = 'default' in p ? `\`${cell(flowValue(p['default']))}\`` : req.has(k) ? 'required' : '';
      const notes = [typeof p['description'] === 'string' ? p['description'] : '', short === k ? `shorthand: \`- ${t}: <${k}>\`` : '']
        .filter(Boolean)
        .join('; ');
      out.push(`| ${first ? `\`${t}\`` : ''} | \`${k}\` | ${cell(type)} | ${def} | ${cell(notes)} |`);
      first = false;
    }
  }
  return out;
}

/** The whole reference page (docs/config.md). */
export function configMarkdown(): string {
  const rows: Row[] = [];
  walk(planJsonSchema(), '', rows);
  return [
    '# fastlr config reference',
    '',
    '<!-- generated from the config schema (src/plan/schema.ts) by `node scripts/gen-config-docs.mjs`; do not edit -->',
    '',
    'Every key is optional unless marked required; unknown keys are errors. Override any key on the command line',
    'with `--set key.path=value` (the value is YAML: `--set fit.lr=1e-3`, `--set "fit.lr={lo: 1e-5, hi: 1e-3}"`,',
    '`--set data.mnist.digits=[0,1]`). Precedence: defaults < config file < `FASTLR_BACKEND` / `FASTLR_OUT` /',
    '`FASTLR_SEED` / `FASTLR_THREADS` < flags. `fastlr schema` prints the JSON Schema for editor completion.',
    '',
    'Learning rates (`fit.lr`, `finetune.lr`) take a number (every group), a list with one value per parameter',
    'group (`model.groups` split points + 1), or a range `{ lo, hi }` (geometric from the first group to the last)',
    '/ `{ hi }` (last group `hi`, the others `hi/10`), as fastai\'s `slice`.',
    '',
    '## Keys',
    '',
    ...renderTable(rows),
    '',
    '## Layers',
    '',
    'A layer in `model.layers` / `model.head` is written `- flatten`, `- dense: 10` (the shorthand option),',
    '`- dense: { units: 10, activation: relu }` or `- { type: dense, units: 10 }`. Layers are named `l<index>_<type>`',
    'unless given a `name`; `model.groups` split points may use either.',
    '',
    ...layerRows(),
    '',
  ].join('\n');
}
