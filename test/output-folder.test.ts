/**
 * The output folder is checked first, before the backend, the data or the model is loaded: a file in the way, a
 * read-only folder, a full disk, a too-long name, a kernel view (/proc) — exit 2 naming the path and what is wrong,
 * no run folder left behind. The errno mapping is tested with injected file-system errors (every code, whatever this
 * machine allows); the real cases run through the real binary, with a read-only bind mount and a tiny full tmpfs
 * when this process may mount (root in a container), skipped with the reason otherwise.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeFsError, NAME_MAX, outputFolderProblem, pathLengthProblem, virtualLocation, type OutputFs } from '../src/plan/output-folder.js';
import { FastlrError } from '../src/errors.js';
import { RunFolder } from '../src/report/run-folder.js';
import { runCli, tinyConfigYaml } from './helpers/cli.js';

const work = mkdtempSync(join(tmpdir(), 'fastlr-out-'));
const mounts: string[] = [];
afterAll(() => {
  for (const m of mounts.reverse()) spawnSync('umount', [m]);
  rmSync(work, { recursive: true, force: true });
});

const err = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected`), { code });

/** A file system where `root` exists (a folder) and every call can be made to fail; records what it did. */
function fakeFs(root: string, fail: Partial<Record<keyof OutputFs, string>> = {}, hang: (keyof OutputFs)[] = []): OutputFs & { made: string[]; removed: string[] } {
  const dirs = new Set([root]);
  const made: string[] = [];
  const removed: string[] = [];
  const call = async <T>(name: keyof OutputFs, ok: () => T): Promise<T> => {
    if (hang.includes(name)) return new Promise<T>(() => undefined);
    if (fail[name]) throw err(fail[name]!);
    return ok();
  };
  return {
    made,
    removed,
    stat: (p) => call('stat', () => {
      if (!dirs.has(p)) throw err('ENOENT');
      return { isDirectory: () => true };
    }),
    statfs: (p) => call('statfs', () => ({ type: p.startsWith('/proc') ? 0x9fa0 : 0x01021994 })),
    access: (p) => call('access', () => undefined),
    mkdir: (p) => call('mkdir', () => {
      dirs.add(p);
      made.push(p);
    }),
    writeFile: (p) => call('writeFile', () => undefined),
    unlink: (p) => call('unlink', () => undefined),
    rmdir: (p) => call('rmdir', () => {
      dirs.delete(p);
      removed.push(p);
    }),
  };
}

describe('errno mapping (injected errors)', () => {
  it('names the path and says what is wrong for every code it maps', () => {
    const p = '/data/runs/x';
    const cases: [string, RegExp][] = [
      ['EROFS', /read-only file system/],
      ['EACCES', /not writable: permission denied/],
      ['EPERM', /not writable: permission denied/],
      ['ENOTDIR', /is a file, not a folder/],
      ['EEXIST', /is a file, not a folder/],
      ['ENAMETOOLONG', /longer than the file system allows/],
      ['ENOSPC', /no space left on the device/],
      ['EDQUOT', /disk quota exceeded/],
      ['ENOENT', /does not exist/],
      ['ELOOP', /symbolic links/],
      ['EIO', /input\/output error/],
      ['EWEIRD', /cannot be written \(EWEIRD\)/],
    ];
    for (const [code, what] of cases) {
      const m = describeFsError(code, p);
      expect(m, code).toContain(p);
      expect(m, code).toMatch(what);
    }
  });

  it.each([
    ['mkdir', 'EROFS', /\/w\/out is on a read-only file system/],
    ['mkdir', 'EACCES', /\/w\/out is not writable/],
    ['writeFile', 'ENOSPC', /no space left on the device holding \/w\/out/],
    ['writeFile', 'EDQUOT', /disk quota exceeded on the device holding \/w\/out/],
    ['mkdir', 'ENOTDIR', /\/w\/out is a file, not a folder/],
  ] as const)('%s failing with %s', async (call, code, what) => {
    const fs = fakeFs('/w', { [call]: code });
    const p = await outputFolderProblem('/w/out', { write: true, fs });
    expect(p?.message).toMatch(what);
    expect(fs.made.filter((d) => !fs.removed.includes(d))).toEqual([]); // nothing left behind
  });

  it('a folder that never answers the probe write is refused after the timeout', async () => {
    const fs = fakeFs('/w', {}, ['writeFile']);
    const p = await outputFolderProblem('/w/a/b', { write: true, fs, timeoutMs: 50 });
    expect(p?.message).toMatch(/\/w\/a\/b did not answer a small test write in time/);
    expect(fs.removed).toEqual(['/w/a/b', '/w/a']);
  });

  it('the probe creates the missing folders one by one, never recursively, and removes them again', async () => {
    const fs = fakeFs('/w');
    expect(await outputFolderProblem('/w/a/b/c', { write: true, fs })).toBeUndefined();
    expect(fs.made).toEqual(['/w/a', '/w/a/b', '/w/a/b/c']);
    expect(fs.removed).toEqual(['/w/a/b/c', '/w/a/b', '/w/a']);
  });

  it('many probes of one missing folder at once (commands started together): every one succeeds, no probe file is left', async () => {
    // each probe creates the folders, writes, and removes what it made, so the others see folders appear and vanish
    // between their steps (the real file system, interleaved at every await)
    const base = mkdtempSync(join(tmpdir(), 'fastlr-probe-race-'));
    const target = join(base, 'a', 'b', 'runs');
    for (let round = 0; round < 20; round++) {
      const got = await Promise.all(Array.from({ length: 40 }, () => outputFolderProblem(target, { write: true })));
      expect(got.map((p) => p?.message)).toEqual(Array.from({ length: 40 }, () => undefined));
      // no probe file anywhere; at most empty folders (a probe that made a parent cannot remove it while another
      // probe's child folder is inside it)
      expect(readdirSync(base, { recursive: true, withFileTypes: true }).filter((e) => !e.isDirectory()).map((e) => e.name)).toEqual([]);
      rmSync(join(base, 'a'), { recursive: true, force: true });
    }
    rmSync(base, { recursive: true, force: true });
  });

  it('a folder another process made meanwhile (EEXIST of a folder) is used, not called a file in the way', async () => {
    const fs = fakeFs('/w', { mkdir: 'EEXIST' });
    const stat = fs.stat;
    let calls = 0; // the first stat: missing; after the other process's mkdir: a folder
    fs.stat = async (p) => (p === '/w/a' && calls++ > 0 ? { isDirectory: () => true } : stat(p));
    expect(await outputFolderProblem('/w/a', { write: true, fs })).toBeUndefined();
    expect(fs.removed).toEqual([]); // not ours to remove
  });

  it('check (write: false) looks only: access() decides, nothing is created', async () => {
    const fs = fakeFs('/w', { access: 'EROFS' });
    expect((await outputFolderProblem('/w/out', { write: false, fs }))?.message).toMatch(/\/w is on a read-only file system/);
    expect(fs.made).toEqual([]);
  });

  it('a proc-like file system (statfs type) is refused before any write', async () => {
    const fs = fakeFs('/proc');
    const p = await outputFolderProblem('/proc/x', { write: true, fs });
    expect(p?.kind).toBe('virtual');
    expect(fs.made).toEqual([]);
  });

  it('kernel views by location; /dev/shm is a real folder', () => {
    expect(virtualLocation('/proc/x')).toBe('proc');
    expect(virtualLocation('/proc')).toBe('proc');
    expect(virtualLocation('/sys/fs/x')).toBe('sysfs');
    expect(virtualLocation('/dev/x')).toBeDefined();
    expect(virtualLocation('/dev/shm/runs')).toBeUndefined();
    expect(virtualLocation('/processed/runs')).toBeUndefined();
  });

  it('a path component over NAME_MAX bytes is too long; NAME_MAX is fine', () => {
    expect(pathLengthProblem(`/w/${'a'.repeat(NAME_MAX)}`)).toBeUndefined();
    const p = pathLengthProblem(`/w/${'a'.repeat(NAME_MAX + 1)}`);
    expect(p?.kind).toBe('name_too_long');
    expect(p?.message).toMatch(/^\/w\/a{20}…: a folder name of 256 bytes; file systems allow 255 \(ENAMETOOLONG\)/);
    expect(pathLengthProblem(`/w/${'é'.repeat(128)}`)?.kind).toBe('name_too_long'); // 256 bytes in UTF-8
    expect(pathLengthProblem('/w' + '/abcdefgh'.repeat(500))?.kind).toBe('name_too_long');
  });
});

// ------------------------------------------------------------------------------------------------ the real binary
const CONFIG = (out: string | null, name = 'out') => tinyConfigYaml(name, out === null ? '' : `output: ${out}\n`);

function config(dir: string, text: string, file = 'c.yaml'): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), text);
  return file;
}

/** exit 2, the message names `path` and matches `what`, no stack trace, and it came before the backend line. */
function expectRefused(r: { code: number | null; stderr: string }, path: string, what: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toContain(path);
  expect(r.stderr).toMatch(what);
  expect(r.stderr).not.toMatch(/unexpected error|^\s+at |^backend:/m);
}

describe('through the binary', () => {
  it('a file in the way (ENOTDIR): fit and find exit 2 naming it, at the output key', async () => {
    const dir = join(work, 'file');
    const cfg = config(dir, CONFIG('blocker/runs'));
    writeFileSync(join(dir, 'blocker'), 'not a folder\n');
    for (const cmd of ['fit', 'find']) {
      const r = await runCli([cmd, cfg], { cwd: dir });
      expectRefused(r, join(dir, 'blocker'), /c\.yaml:\d+:\d+ +output: .*is a file, not a folder.*ENOTDIR/);
    }
    const viaFlag = await runCli(['fit', cfg, '--out', 'blocker'], { cwd: dir });
    expectRefused(viaFlag, join(dir, 'blocker'), /^--out blocker +output: /m);
  });

  it('a too-long name: check and fit exit 2 at the name key (the run folder would be runs/<name>)', async () => {
    const dir = join(work, 'long');
    const cfg = config(dir, CONFIG(null, 'n'.repeat(300)));
    for (const cmd of ['check', 'fit']) {
      const r = await runCli([cmd, cfg], { cwd: dir });
      expectRefused(r, join(dir, 'runs'), /c\.yaml:1:7 +name: .*300 bytes; file systems allow 255 \(ENAMETOOLONG\)/);
    }
    expect(existsSync(join(dir, 'runs'))).toBe(false);
  });

  it('--out /proc/x is refused at once (it used to hang at full CPU)', async () => {
    const dir = join(work, 'proc');
    const cfg = config(dir, CONFIG('runs'));
    const t0 = Date.now();
    const r = await runCli(['fit', cfg, '--out', '/proc/fastlr-x'], { cwd: dir });
    expectRefused(r, '/proc/fastlr-x', /kernel view/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });
});

/** Mount a file system for the test (root in a container can); the reason it cannot otherwise. */
function tryMount(args: string[], at: string): string | null {
  mkdirSync(at, { recursive: true });
  const r = spawnSync('mount', [...args, at], { encoding: 'utf8' });
  if (r.status !== 0) return (r.stderr || r.error?.message || 'mount failed').trim();
  mounts.push(at);
  return null;
}
const canMount = process.platform === 'linux' && tryMount(['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs'], join(work, 'probe-mount')) === null;

describe.skipIf(!canMount)('real read-only and full file systems (mounts)', () => {
  it('a read-only folder (bind mount, ro): exit 2 naming it with EROFS, not a misleading ENOENT', async () => {
    const src = join(work, 'ro-src');
    const cfg = config(src, CONFIG('runs'));
    const ro = join(work, 'ro');
    expect(tryMount(['--bind', '-o', 'ro', src], ro)).toBeNull();
    spawnSync('mount', ['-o', 'remount,bind,ro', ro]);
    for (const cmd of ['fit', 'find']) {
      const r = await runCli([cmd, cfg], { cwd: ro });
      expectRefused(r, join(ro, 'runs'), /read-only file system \(EROFS\)/);
    }
    const check = await runCli(['check', cfg], { cwd: ro });
    expectRefused(check, ro, /c\.yaml:\d+:\d+ +output: .*read-only file system/);
  });

  it('a full disk (64 KiB tmpfs, filled): exit 2 naming the path with ENOSPC, nothing left behind', async () => {
    const full = join(work, 'full');
    expect(tryMount(['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs'], full)).toBeNull();
    const cfg = config(full, CONFIG('runs/deep'));
    writeFileSync(join(full, 'fill'), Buffer.alloc(64 * 1024 - 8192)); // whatever fits
    spawnSync('sh', ['-c', `cat /dev/zero > ${join(full, 'fill2')} 2>/dev/null`]);
    const r = await runCli(['fit', cfg], { cwd: full });
    expectRefused(r, join(full, 'runs', 'deep'), /no space left on the device.*\(ENOSPC\)/);
    expect(readdirSync(full).sort()).toEqual(['c.yaml', 'fill', 'fill2']);
  });

  it('a disk that fills up mid-run: the run folder write names the file (ENOSPC)', async () => {
    const mid = join(work, 'mid');
    expect(tryMount(['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs'], mid)).toBeNull();
    const run = await RunFolder.create(mid, 'fit');
    spawnSync('sh', ['-c', `cat /dev/zero > ${join(mid, 'fill')} 2>/dev/null`]);
    const e = await run.writeText('report.json', 'x'.repeat(20_000)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(FastlrError);
    expect((e as FastlrError).exitCode).toBe(2);
    expect((e as Error).message).toMatch(new RegExp(`no space left on the device holding ${run.path('report.json').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(ENOSPC\\)`));
  });
});
