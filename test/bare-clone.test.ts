/**
 * A clone is enough: what a user gets from GitHub (a git clone of this commit, nothing beside it) holds every file
 * the tests read. Cheap by design (no second `npm ci`): the clone borrows this checkout's node_modules and runs two
 * test files that read the vendored fastai vectors; no source, test, script or CI file names a path outside the
 * repository (the sibling "shared" folder the vectors once came from, or an absolute path on the machine the
 * project was built on); and every fixture of this checkout is committed (present in the clone, not left untracked).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/cli.js';

const git = (args: string[], cwd = ROOT) => spawnSync('git', args, { cwd, encoding: 'utf8' });
const head = git(['rev-parse', 'HEAD']);
const isCheckout = head.status === 0;

const base = mkdtempSync(join(tmpdir(), 'fastlr-clone-'));
const clone = join(base, 'fastlr');
afterAll(() => rmSync(base, { recursive: true, force: true }));

/** Every file under `dir` (relative to `root`). */
function filesUnder(root: string, dir: string): string[] {
  const abs = join(root, dir);
  if (!existsSync(abs)) return [];
  const out: string[] = [];
  for (const e of readdirSync(abs, { withFileTypes: true })) {
    const p = join(abs, e.name);
    if (e.isDirectory()) out.push(...filesUnder(root, relative(root, p)));
    else out.push(relative(root, p));
  }
  return out;
}

describe.skipIf(!isCheckout)('a bare clone of this commit', () => {
  beforeAll(() => {
    const c = git(['clone', '-q', '--no-hardlinks', ROOT, clone], base);
    expect(c.status, c.stderr).toBe(0);
    // the checked-out commit, whatever the clone's default branch is
    const f = git(['fetch', '-q', ROOT, 'HEAD'], clone);
    expect(f.status, f.stderr).toBe(0);
    const co = git(['checkout', '-q', '--detach', 'FETCH_HEAD'], clone);
    expect(co.status, co.stderr).toBe(0);
    expect(git(['rev-parse', 'HEAD'], clone).stdout.trim()).toBe(head.stdout.trim());
  });

  it('has nothing beside it, and every fixture of this checkout is committed', () => {
    expect(readdirSync(base)).toEqual(['fastlr']);
    const here = filesUnder(ROOT, 'test/fixtures');
    expect(here.length).toBeGreaterThan(10);
    const missing = here.filter((f) => !existsSync(join(clone, f)));
    expect(missing, 'fixtures not committed (a clone would not have them)').toEqual([]);
  });

  it('no test, source, script or CI file reads outside the repository', () => {
    // patterns written so this file does not match itself
    const outside = [new RegExp(['\\.\\.', 'shared'].join('[\\\\/]')), new RegExp(['', 'work', ''].join('/'))];
    const tracked = git(['ls-files', '-z'], clone).stdout.split('\0').filter(Boolean);
    const scanned = tracked.filter((f) => /^(src|test|scripts|bench|\.ci|\.github|bin)\/|^(package\.json|vitest\.config\.ts|tsconfig\.json)$/.test(f));
    expect(scanned.length).toBeGreaterThan(50);
    const hits: string[] = [];
    for (const f of scanned) {
      const p = join(clone, f);
      if (!statSync(p).isFile() || statSync(p).size > 2_000_000) continue;
      const text = readFileSync(p, 'utf8');
      text.split('\n').forEach((line, i) => {
        if (outside.some((re) => re.test(line))) hits.push(`${f}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it('runs tests that read the vendored fastai vectors from inside the clone', () => {
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    const vitest = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');
    const r = spawnSync(process.execPath, [vitest, 'run', 'test/optim-fidelity.test.ts', 'test/model-groups.test.ts'], {
      cwd: clone,
      encoding: 'utf8',
      env: { ...process.env, CI: 'true', NO_COLOR: '1' },
      timeout: 120_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/Test Files +2 passed/);
  });
});
