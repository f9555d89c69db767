#!/usr/bin/env node
// Generate docs/config.md (every config key: path, type, default, description) from the config schema.
//   npm run build && node scripts/gen-config-docs.mjs          write docs/config.md
//   node scripts/gen-config-docs.mjs --check                    exit 1 when docs/config.md is out of date
// Same text as `fastlr schema --markdown`.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'docs', 'config.md');

let configMarkdown;
try {
  ({ configMarkdown } = await import('../dist/plan/docs.js'));
} catch (e) {
  process.stderr.write(`gen-config-docs: cannot load dist/plan/docs.js (run \`npm run build\` first): ${e.message}\n`);
  process.exit(1);
}

const text = configMarkdown();
if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== text) {
    process.stderr.write('docs/config.md is out of date: run `npm run build && node scripts/gen-config-docs.mjs`\n');
    process.exit(1);
  }
  process.stdout.write('docs/config.md is up to date\n');
} else {
  await writeFile(target, text);
  process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
}
