import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { existsSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';
import { describeFsError } from '../plan/output-folder.js';

/** A timestamp safe in a folder name, UTC, to the millisecond: 20261125-181502-123. */
export function stamp(d = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}-${p(d.getUTCMilliseconds(), 3)}`;
}

/**
 * The scratch folder of the run folders under one output root: `<root>/.fastlr-tmp/`. Every in-flight write
 * of a run folder happens there and is renamed into place when complete, so the run folder itself only ever holds
 * whole files, even after a SIGKILL. Same file system as the run folders (rename needs that).
 */
export const SCRATCH = '.fastlr-tmp';

/**
 * Fault injection for the fault test (test/fault.test.ts): with `FASTLR_TEST_KILL_AT_WRITE=<n>` the process
 * SIGKILLs itself at the n-th write point, i.e. half-way through writing a file or between the steps of a folder
 * swap — the moments a non-atomic writer would leave a broken file. Unset (always, outside that test): no effect.
 */
let writePoints = 0;
function writePoint(): void {
  const at = process.env.FASTLR_TEST_KILL_AT_WRITE;
  if (at && ++writePoints === Number(at)) process.kill(process.pid, 'SIGKILL');
}

/**
 * Clock injection for the same-millisecond test (test/run-folder-unique.test.ts): `FASTLR_TEST_NOW=<ISO time>` makes
 * every run folder stamp that time, as two processes started in the same millisecond see. Unset: the real clock.
 */
function testClock(): Date | undefined {
  const at = process.env.FASTLR_TEST_NOW;
  const d = at ? new Date(at) : undefined;
  return d && Number.isFinite(d.getTime()) ? d : undefined;
}

/** A name in the scratch folder that says which process owns it: `<pid>-<random>-<what>`. */
function scratchName(what: string): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}-${what}`;
}

/**
 * Write `data` to `target` atomically: a temp file (in `scratch` when given, else next to the target as
 * `.<name>.<pid>-<random>.tmp`), flushed to disk, then renamed over the target. Readers see the old file or the
 * new one, never a part.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, scratch?: string): Promise<void> {
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  let tmp: string;
  if (scratch) {
    await mkdir(scratch, { recursive: true });
    tmp = join(scratch, scratchName(basename(target)));
  } else {
    tmp = join(dir, `.${basename(target)}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  }
  let fh;
  try {
    fh = await open(tmp, 'w');
  } catch (e) {
    // another process may have just removed the (empty) scratch folder: make it again, once
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await mkdir(dirname(tmp), { recursive: true });
    fh = await open(tmp, 'w');
  }
  try {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const half = bytes.byteLength >> 1;
    await fh.write(bytes.subarray(0, half));
    writePoint();
    await fh.write(bytes.subarray(half));
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, target);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove what dead processes left in a scratch folder (a killed run's half-written files). Best effort. */
export async function sweepScratch(scratch: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(scratch);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (n) => {
      const pid = Number(/^(\d+)-/.exec(n)?.[1] ?? NaN);
      if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) await rm(join(scratch, n), { recursive: true, force: true }).catch(() => undefined);
    }),
  );
}

/**
 * One command's output folder, `<root>/<command>-<timestamp>/`. Every file is written atomically
 * (temp file in `<root>/.fastlr-tmp/`, then rename), so a crash never leaves half a file in the run folder.
 */
export class RunFolder {
  private constructor(readonly dir: string) {}

  /**
   * A new run folder `<root>/<command>-<stamp>`, unique even when several processes start in the same millisecond:
   * the last component is made with an exclusive mkdir (never recursive), and a name taken (EEXIST) becomes
   * `<command>-<stamp>-2`, `-3`, … `now` is the clock (tests inject one).
   */
  static async create(root: string, command: string, o: { now?: () => Date } = {}): Promise<RunFolder> {
    const base = resolve(root);
    const makeBase = async (): Promise<void> => {
      try {
        await mkdir(base, { recursive: true });
      } catch (e) {
        throw writeError(e, base);
      }
    };
    await makeBase();
    const name = `${command}-${stamp(o.now?.() ?? testClock() ?? new Date())}`;
    for (let k = 1, retries = 0; ; k++) {
      const dir = join(base, k === 1 ? name : `${name}-${k}`);
      try {
        await mkdir(dir);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' && k < 10_000) continue;
        if (code === 'ENOENT' && retries++ < 3) {
          // the base folder was removed under us (another process's output probe, run at this moment): again
          await makeBase();
          k--;
          continue;
        }
        throw writeError(e, dir);
      }
      const run = new RunFolder(dir);
      await sweepScratch(run.scratch);
      return run;
    }
  }

  /** An existing folder (resume, report). */
  static at(dir: string): RunFolder {
    return new RunFolder(resolve(dir));
  }

  /** Where this run's in-flight writes go (beside the run folder, never inside it). */
  get scratch(): string {
    return join(dirname(this.dir), SCRATCH);
  }

  /** At the end of a command: remove the scratch folder if nothing is in flight there (errors ignored). */
  async tidy(): Promise<void> {
    await rmdir(this.scratch).catch(() => undefined);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  async writeText(name: string, text: string | Uint8Array): Promise<string> {
    const p = this.path(name);
    try {
      try {
        await writeFileAtomic(p, text, this.scratch);
      } catch (e) {
        // a scratch folder that cannot be made (read-only parent): fall back to a temp file beside the target
        if ((e as NodeJS.ErrnoException).path !== this.scratch) throw e;
        await writeFileAtomic(p, text);
      }
    } catch (e) {
      throw writeError(e, p);
    }
    return p;
  }

  async writeJson(name: string, doc: unknown): Promise<string> {
    return this.writeText(name, JSON.stringify(doc, jsonReplacer, 2) + '\n');
  }

  /** Replace the folder `name` of the run atomically (see replaceDirAtomic), building it in the scratch folder. */
  async replaceDir(name: string, fill: (tmp: string) => Promise<void>): Promise<string> {
    const p = this.path(name);
    try {
      await replaceDirAtomic(p, fill, this.scratch);
    } catch (e) {
      throw writeError(e, p);
    }
    return p;
  }
}

/**
 * A file-system error from writing the run folder (a disk that filled up mid-run, a folder made read-only) as a
 * FastlrError naming the path and what is wrong (exit 2); any other error unchanged.
 */
export function writeError(e: unknown, target: string): unknown {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (e instanceof FastlrError || typeof code !== 'string' || !/^E[A-Z]+$/.test(code)) return e;
  return new FastlrError(`cannot write the run folder: ${describeFsError(code, target, (e as Error).message)}`, ExitCode.usage);
}

/** JSON has no NaN/Infinity: write them as null (their meaning is carried by the fields around them). */
export function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

/** Where replaceDirAtomic keeps the previous folder during a swap: `.<name>.old` beside it (a whole folder). */
export function previousDir(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.old`);
}

/**
 * A folder replaced by replaceDirAtomic may be missing if the process died between its two renames; its previous
 * version is then whole at previousDir(dir): put it back. Returns whether `dir` exists afterwards.
 */
export function recoverDir(dir: string): boolean {
  if (existsSync(dir)) return true;
  const old = previousDir(dir);
  if (!existsSync(old)) return false;
  try {
    renameSync(old, dir);
  } catch {
    return existsSync(dir);
  }
  return true;
}

/**
 * Replace a whole folder atomically: fill a temp folder (in `scratch` when given, else `<dir>.tmp-<pid>`), move
 * the previous folder aside to `.<name>.old`, rename the new one in, delete the old one. At every moment the target
 * is the complete old folder, the complete new one, or absent with the complete old one at `.<name>.old`
 * (recoverDir puts it back).
 */
export async function replaceDirAtomic(dir: string, fill: (tmp: string) => Promise<void>, scratch?: string): Promise<void> {
  if (scratch) await mkdir(scratch, { recursive: true });
  const tmp = scratch ? join(scratch, scratchName(basename(dir))) : `${dir}.tmp-${process.pid}`;
  const old = previousDir(dir);
  recoverDir(dir);
  await rm(old, { recursive: true, force: true });
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  writePoint();
  await mkdir(dirname(dir), { recursive: true });
  let hadOld = false;
  try {
    await rename(dir, old);
    hadOld = true;
  } catch {
    /* no previous folder */
  }
  writePoint();
  await rename(tmp, dir);
  if (hadOld) await rm(old, { recursive: true, force: true });
}
