/**
 * Check that every file of a run folder is whole: JSON parses, CSVs have a header and rows of its width with
 * numeric cells, model folders load with tfjs (model.json + weights of the size it declares), checkpoints load,
 * SVG and HTML documents are complete. Returns one line per problem ([] when the folder is sound).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { loadModelDir } from '../../src/model/index.js';
import { loadCheckpoint } from '../../src/phases/checkpoint.js';

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? [p + '/', ...walk(p)] : [p];
  });
}

function checkCsv(text: string): string | null {
  const rows = parseCsv(text, { relax_column_count: true }) as string[][];
  if (rows.length === 0) return 'empty';
  const width = rows[0]!.length;
  for (const [i, r] of rows.entries()) {
    if (r.length !== width) return `row ${i} has ${r.length} cells, the header ${width}`;
    if (i > 0) for (const c of r) if (c !== '' && !Number.isFinite(Number(c))) return `row ${i}: '${c}' is not a number`;
  }
  if (!text.endsWith('\n')) return 'no final newline (cut short?)';
  return null;
}

export interface RunFolderCheck {
  files: string[];
  problems: string[];
  /** what was checked how, for the test's own assertions */
  checked: { json: number; csv: number; models: number; checkpoints: number };
}

export async function checkRunFolder(dir: string): Promise<RunFolderCheck> {
  const all = walk(dir);
  const problems: string[] = [];
  const checked = { json: 0, csv: 0, models: 0, checkpoints: 0 };
  const rel = (p: string): string => relative(dir, p);
  const covered = new Set<string>();
  for (const p of all.filter((f) => f.endsWith('/'))) {
    const d = p.slice(0, -1);
    const names = readdirSync(d);
    if (names.includes('model.json') || (names.includes('weights.bin') && !names.includes('state.json'))) {
      covered.add(join(d, 'model.json')).add(join(d, 'weights.bin'));
      try {
        const m = await loadModelDir(d);
        m.dispose();
        checked.models++;
      } catch (e) {
        problems.push(`${rel(d)}/: model does not load: ${(e as Error).message}`);
      }
    }
    if (names.includes('state.json') || names.includes('optimizer.bin')) {
      for (const n of ['state.json', 'weights.bin', 'optimizer.bin']) covered.add(join(d, n));
      try {
        await loadCheckpoint(d);
        checked.checkpoints++;
      } catch (e) {
        problems.push(`${rel(d)}/: checkpoint does not load: ${(e as Error).message}`);
      }
    }
  }
  for (const p of all.filter((f) => !f.endsWith('/'))) {
    const text = (): string => readFileSync(p, 'utf8');
    try {
      if (p.endsWith('.json')) {
        JSON.parse(text());
        checked.json++;
      } else if (p.endsWith('.csv')) {
        const why = checkCsv(text());
        if (why) problems.push(`${rel(p)}: ${why}`);
        checked.csv++;
      } else if (p.endsWith('.svg')) {
        if (!/^<svg[\s\S]*<\/svg>\s*$/.test(text())) problems.push(`${rel(p)}: not a whole SVG document`);
      } else if (p.endsWith('.html')) {
        if (!/^<!doctype html>[\s\S]*<\/html>\s*$/i.test(text())) problems.push(`${rel(p)}: not a whole HTML document`);
      } else if (!covered.has(p)) {
        problems.push(`${rel(p)}: a file no fastlr command writes (a temporary file left behind?)`);
      }
    } catch (e) {
      problems.push(`${rel(p)}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { files: all.map(rel), problems, checked };
}
