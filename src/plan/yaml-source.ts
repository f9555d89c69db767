/** Read and parse a config file into a YAML Document, turning every YAML problem into a located ConfigIssue. */
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair } from 'yaml';
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
    text = await readFile(file, 'utf8');
  } catch (e) {
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

interface KeyHit {
  path: Seg[];
  first?: number;
}

/** The path of the key starting at `offset`, and where the same key first appeared in that map (duplicates). */
function findKeyAt(node: unknown, offset: number, path: Seg[] = []): KeyHit | undefined {
  if (isMap(node)) {
    for (const p of node.items as Pair[]) {
      const k = p.key;
      if (isScalar(k) && k.range?.[0] === offset) {
        const name = String(k.value);
        const first = (node.items as Pair[]).find((q) => isScalar(q.key) && String(q.key.value) === name);
        return { path: [...path, name], first: isScalar(first?.key) ? first.key.range?.[0] : undefined };
      }
      const key = isScalar(k) ? String(k.value) : '?';
      const hit = findKeyAt(p.value, offset, [...path, key]);
      if (hit) return hit;
    }
  } else if (isSeq(node)) {
    for (let i = 0; i < node.items.length; i++) {
      const hit = findKeyAt(node.items[i], offset, [...path, i]);
      if (hit) return hit;
    }
  }
  return undefined;
}

/** Parse YAML text. Duplicate keys are reported (at the second key) but do not stop schema validation. */
export function parseConfigYaml(text: string, file: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const issues: ConfigIssue[] = [];
  let fatal = false;
  for (const e of doc.errors) {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    if (e.code === 'DUPLICATE_KEY') {
      const hit = findKeyAt(doc.contents, e.pos[0]);
      const firstLine = hit?.first !== undefined ? lineCounter.linePos(hit.first).line : undefined;
      issues.push({
        file,
        line,
        col,
        path: hit ? formatPath(hit.path) : '',
        message: firstLine !== undefined && firstLine !== line ? `duplicate key (first set on line ${firstLine})` : 'duplicate key',
      });
    } else {
      fatal = true;
      issues.push({ file, line, col, path: '', message: `YAML syntax error: ${shortMessage(e.message)}` });
    }
  }
  return { doc, lineCounter, issues, fatal };
}
