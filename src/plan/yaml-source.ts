/** Read and parse a config file into a YAML Document, turning every YAML problem into a located ConfigIssue. */
import { open } from 'node:fs/promises';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair } from 'yaml';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { formatPath, type Seg } from './locate.js';

export interface ParsedYaml {
  doc: Document;
  lineCounter: LineCounter;
  issues: ConfigIssue[];
  /** syntax errors: the document cannot be trusted for schema checks */
  fatal: boolean;
}

/** The text of a config file; a missing, unreadable or empty file is a ConfigError naming the path. */
export async function readConfigText(file: string): Promise<string> {
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_CONFIG_BYTES) {
        // never read a huge file whole: the first MAX_CONFIG_BYTES are enough to say where the limit is crossed
        const head = Buffer.alloc(MAX_CONFIG_BYTES);
        const { bytesRead } = await fh.read(head, 0, MAX_CONFIG_BYTES, 0);
        throw new ConfigError([oversize(head.subarray(0, bytesRead).toString('utf8'), file, size)]);
      }
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EISDIR'
          ? 'is a directory, not a config file'
          : err.code === 'EACCES' || err.code === 'EPERM'
            ? 'permission denied'
            : err.message;
    throw new ConfigError([{ file, line: 0, col: 0, path: '', message: `cannot read the config file: ${why}` }]);
  }
  return text;
}

/** yaml's message without its " at line L, column C:" suffix and code frame (we print our own position). */
function shortMessage(message: string): string {
  return message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').trim();
}

/**
 * Sizes a config file may have. A config is a few KiB; these bound the work (and memory) a hostile or mistaken
 * file can cause: the text is refused before it is parsed, collections before they are validated.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Entries of one mapping or items of one list. */
export const MAX_COLLECTION_ITEMS = 10_000;

const n = (v: number): string => v.toLocaleString('en-US');

/** 1-based line and column of a character offset, in one pass (no LineCounter: the text is not parsed). */
function offsetPos(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1 };
}

/** The located issue for a config text over MAX_CONFIG_BYTES (`text` holds at least its first MAX_CONFIG_BYTES). */
function oversize(text: string, file: string, bytes: number): ConfigIssue {
  // where the limit is crossed (a character offset: close enough to find the place)
  const pos = offsetPos(text, Math.min(text.length, MAX_CONFIG_BYTES));
  return {
    file,
    ...pos,
    path: '',
    message: `the config file is ${n(bytes)} bytes: fastlr reads at most ${n(MAX_CONFIG_BYTES)} (1 MiB; a config is a few KiB)`,
  };
}

function keyName(k: unknown): string | undefined {
  if (isScalar(k)) return k.value === null ? undefined : String(k.value);
  return undefined;
}

/**
 * One pass over the parsed document: duplicate keys (reported at the second key; yaml's own check compares every
 * pair of keys, quadratic in a map's size) and collections over MAX_COLLECTION_ITEMS (fatal, at the first item
 * past the limit).
 */
function walk(node: unknown, path: Seg[], file: string, lc: LineCounter, issues: ConfigIssue[]): boolean {
  const at = (off: number | undefined): { line: number; col: number } => (off === undefined ? { line: 1, col: 1 } : lc.linePos(off));
  if (isMap(node) || isSeq(node)) {
    const items = node.items as unknown[];
    if (items.length > MAX_COLLECTION_ITEMS) {
      const extra = items[MAX_COLLECTION_ITEMS];
      const off = isPair(extra) ? (extra.key as { range?: [number] } | null)?.range?.[0] : (extra as { range?: [number] } | null)?.range?.[0];
      const what = isMap(node) ? 'keys' : 'items';
      issues.push({
        file,
        ...at(off),
        path: formatPath(path),
        message: `more than ${n(MAX_COLLECTION_ITEMS)} ${what} (${n(items.length)}): fastlr reads at most ${n(MAX_COLLECTION_ITEMS)} per mapping or list`,
      });
      return false;
    }
  }
  if (isMap(node)) {
    const first = new Map<string, number | undefined>();
    for (const p of node.items as Pair[]) {
      const name = keyName(p.key) ?? '?';
      const off = (p.key as { range?: [number] } | null)?.range?.[0];
      if (first.has(name)) {
        const f = first.get(name);
        const line = at(off).line;
        const firstLine = f !== undefined ? lc.linePos(f).line : undefined;
        issues.push({
          file,
          ...at(off),
          path: formatPath([...path, name]),
          message: firstLine !== undefined && firstLine !== line ? `duplicate key (first set on line ${firstLine})` : 'duplicate key',
        });
      } else {
        first.set(name, off);
      }
      if (!walk(p.value, [...path, name], file, lc, issues)) return false;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) if (!walk(node.items[i], [...path, i], file, lc, issues)) return false;
  }
  return true;
}

/**
 * Parse YAML text. Duplicate keys are reported (at the second key) but do not stop schema validation. A text over
 * MAX_CONFIG_BYTES or a collection over MAX_COLLECTION_ITEMS is a fatal, located issue (linear time throughout).
 */
export function parseConfigYaml(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) {
    return { doc: parseDocument('', { lineCounter }), lineCounter, issues: [oversize(text, file, bytes)], fatal: true };
  }
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const issues: ConfigIssue[] = [];
  let fatal = false;
  for (const e of doc.errors) {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    fatal = true;
    issues.push({ file, line, col, path: '', message: `YAML syntax error: ${shortMessage(e.message)}` });
  }
  if (!fatal && !walk(doc.contents, [], file, lineCounter, issues)) fatal = true;
  return { doc, lineCounter, issues, fatal };
}
