/**
 * Can the run folders be written under a plan's `output`? Checked before anything is loaded (the backend, the data,
 * the model), so a folder problem is a message naming the path and what is wrong (exit 2), never an error from deep
 * inside a write after minutes of loading. `check` makes the same checks without writing anything; the training
 * commands also create the folder and write (then remove) a probe file, which is what finds a full disk or a
 * read-only mount whatever the user's privileges (root passes every permission test).
 */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import path from 'node:path';

/** The file-system calls the check makes: injectable so every errno can be tested without the disk in that state. */
export interface OutputFs {
  stat(p: string): Promise<{ isDirectory(): boolean }>;
  statfs(p: string): Promise<{ type: number }>;
  access(p: string, mode: number): Promise<void>;
  mkdir(p: string): Promise<unknown>;
  writeFile(p: string, data: Uint8Array): Promise<void>;
  unlink(p: string): Promise<void>;
  rmdir(p: string): Promise<void>;
}

export const nodeOutputFs: OutputFs = {
  stat: (p) => fsp.stat(p),
  statfs: (p) => fsp.statfs(p),
  access: (p, mode) => fsp.access(p, mode),
  mkdir: (p) => fsp.mkdir(p), // never recursive: Node's recursive mkdir spins forever on /proc/<missing>/…
  writeFile: (p, data) => fsp.writeFile(p, data, { flag: 'wx' }),
  unlink: (p) => fsp.unlink(p),
  rmdir: (p) => fsp.rmdir(p),
};

/** Longest name of one path component on Linux/macOS file systems (bytes). */
export const NAME_MAX = 255;
/** Longest path the kernel accepts (bytes, with the terminating NUL). */
export const PATH_MAX = 4096;
/** What fastlr appends below `output` at most: `/finetune-20261207-083843-745-99/unfrozen/ckpt/last/.fastlr-tmp/<pid>-<hex>-weights.bin` */
export const RUN_SUFFIX_MAX = 120;

/**
 * File systems whose files are not files (the kernel's views of processes, devices, cgroups, …): writing a run there
 * hangs, fails oddly or changes the system. statfs(2) f_type magic numbers (linux/magic.h).
 */
export const VIRTUAL_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x65735543, 'fusectl'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
  [0x19800202, 'mqueue'],
  [0x42494e4d, 'binfmt_misc'],
  [0xf97cff8c, 'selinuxfs'],
  [0x6e736673, 'nsfs'],
]);

/** Kernel views by location, for systems without statfs types (and /dev, a tmpfs like any other by type). */
const VIRTUAL_PREFIXES: readonly { dir: string; what: string }[] = [
  { dir: '/proc', what: 'proc' },
  { dir: '/sys', what: 'sysfs' },
  { dir: '/dev', what: 'the device folder' },
];
const REAL_UNDER_DEV = ['/dev/shm'];

const within = (p: string, dir: string): boolean => p === dir || p.startsWith(dir + '/');

/** A path under a kernel view (/proc, /sys, /dev except /dev/shm): its name, else undefined. Pure. */
export function virtualLocation(abs: string): string | undefined {
  if (REAL_UNDER_DEV.some((d) => within(abs, d))) return undefined;
  return VIRTUAL_PREFIXES.find((v) => within(abs, v.dir))?.what;
}

/**
 * What an errno from creating or writing `p` means for the user, in words; the code is kept in parentheses.
 * Pure (tested for every code fastlr maps).
 */
export function describeFsError(code: string | undefined, p: string, fallback = ''): string {
  switch (code) {
    case 'EROFS':
      return `${p} is on a read-only file system (EROFS)`;
    case 'EACCES':
    case 'EPERM':
      return `${p} is not writable: permission denied (${code})`;
    case 'ENOTDIR':
    case 'EEXIST':
      return `${p} is a file, not a folder: a file is in the way of the output folder (${code})`;
    case 'ENAMETOOLONG':
      return `${p}: a file name is longer than the file system allows (ENAMETOOLONG); use a shorter name or output`;
    case 'ENOSPC':
      return `no space left on the device holding ${p} (ENOSPC)`;
    case 'EDQUOT':
      return `disk quota exceeded on the device holding ${p} (EDQUOT)`;
    case 'ENOENT':
      return `${p} does not exist and cannot be created (ENOENT: a missing or dangling parent folder?)`;
    case 'ELOOP':
      return `${p}: too many levels of symbolic links (ELOOP)`;
    case 'EIO':
      return `${p}: input/output error from the device (EIO)`;
    case 'ETIMEDOUT':
      return `${p} did not answer a small test write in time: not a usable folder`;
    default:
      return `${p}: cannot be written${code ? ` (${code})` : ''}${fallback ? `: ${fallback}` : ''}`;
  }
}

export type OutputProblemKind = 'name_too_long' | 'virtual' | 'not_a_folder' | 'not_writable';

export interface OutputProblem {
  kind: OutputProblemKind;
  /** names the path and says what is wrong */
  message: string;
  /** the path component at fault, for name_too_long */
  component?: string;
}

/** Too long a component or path, before any file-system call. Pure. */
export function pathLengthProblem(abs: string): OutputProblem | undefined {
  const parts = abs.split('/');
  for (let i = 0; i < parts.length; i++) {
    const c = parts[i]!;
    const bytes = Buffer.byteLength(c, 'utf8');
    if (bytes > NAME_MAX) {
      const shown = `${parts.slice(0, i).join('/')}/${c.slice(0, 20)}…`;
      return { kind: 'name_too_long', component: c, message: `${shown}: a folder name of ${bytes} bytes; file systems allow ${NAME_MAX} (ENAMETOOLONG)` };
    }
  }
  const total = Buffer.byteLength(abs, 'utf8') + RUN_SUFFIX_MAX;
  if (total >= PATH_MAX) {
    return { kind: 'name_too_long', message: `the output path is ${Buffer.byteLength(abs, 'utf8')} bytes; with the run folders below it, paths pass the ${PATH_MAX}-byte limit (ENAMETOOLONG)` };
  }
  return undefined;
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

/** Reject after `ms` (the probe of a folder that never answers). */
function withTimeout<T>(p: Promise<T>, ms: number, where: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`timed out: ${where}`), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export interface OutputCheckOptions {
  /** create the folder and write a probe file (the training commands); false: look only (`check`) */
  write: boolean;
  fs?: OutputFs;
  /** how long the probe may take (ms) */
  timeoutMs?: number;
}

/** Remove the folders the probe created (deepest first), each only if still empty. */
async function removeCreated(created: readonly string[], fs: OutputFs = nodeOutputFs): Promise<void> {
  for (const dir of [...created].reverse()) await fs.rmdir(dir).catch(() => undefined);
}

/**
 * The problem with writing run folders under `root` (resolved against the working directory), or undefined. With
 * `write`, the missing folders are created (one component at a time, never recursively), a probe file is written,
 * and both are removed again: the folder exists afterwards only if it did before, so a command that stops at a later
 * check leaves nothing behind (RunFolder.create makes the folders for the run).
 */
export async function outputFolderProblem(root: string, o: OutputCheckOptions): Promise<OutputProblem | undefined> {
  const fs = o.fs ?? nodeOutputFs;
  const abs = path.resolve(root);
  const long = pathLengthProblem(abs);
  if (long) return long;
  const where = virtualLocation(abs);
  if (where) return { kind: 'virtual', message: `${abs} is under ${where}, a kernel view, not a folder for files: choose another output` };

  // the nearest folder that exists; every missing component below it is created by the run
  const missing: string[] = [];
  let existing = abs;
  for (;;) {
    try {
      const st = await fs.stat(existing);
      if (!st.isDirectory()) return { kind: 'not_a_folder', message: describeFsError('ENOTDIR', existing) };
      break;
    } catch (e) {
      const code = errno(e);
      if (code === 'ENOTDIR') {
        // a component above is a file: find it on the way up
        missing.unshift(existing);
        existing = path.dirname(existing);
        continue;
      }
      if (code !== 'ENOENT') return { kind: code === 'ENAMETOOLONG' ? 'name_too_long' : 'not_writable', message: describeFsError(code, existing, (e as Error).message) };
      const up = path.dirname(existing);
      if (up === existing) return { kind: 'not_writable', message: describeFsError('ENOENT', abs) };
      missing.unshift(existing);
      existing = up;
    }
  }
  try {
    const { type } = await fs.statfs(existing);
    const virtual = VIRTUAL_FS.get(type);
    if (virtual) return { kind: 'virtual', message: `${abs} is on ${virtual}, a kernel view, not a folder for files: choose another output` };
  } catch {
    // no statfs here: the probe below decides
  }
  if (!o.write) {
    try {
      await fs.access(existing, fsConstants.W_OK);
    } catch (e) {
      return { kind: 'not_writable', message: describeFsError(errno(e), existing, (e as Error).message) };
    }
    return undefined;
  }
  const created: string[] = [];
  let at = existing;
  const file = path.join(abs, `.fastlr-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  let wrote = false;
  const isDir = (p: string): Promise<boolean> => fs.stat(p).then((st) => st.isDirectory(), () => false);
  const probe = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        for (const dir of missing) {
          at = dir;
          try {
            await fs.mkdir(dir);
            created.push(dir);
          } catch (e) {
            if (errno(e) !== 'EEXIST' || !(await isDir(dir))) throw e; // EEXIST of a folder: a process beside this one made it
          }
        }
        at = abs;
        // a block's worth: enough for a full disk to say so, nothing a user would notice
        wrote = true; // a failed write may still have created the file
        await fs.writeFile(file, new Uint8Array(4096));
        return;
      } catch (e) {
        // a process starting beside this one removed the folder its own probe made, between two of our steps: try
        // again after a short random pause, so processes started together stop taking turns at the same instants
        if (errno(e) !== 'ENOENT' || attempt >= 20) throw e;
        await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 10));
      }
    }
  };
  try {
    await withTimeout(probe(), o.timeoutMs ?? 10_000, abs);
  } catch (e) {
    const code = errno(e);
    if (wrote) await fs.unlink(file).catch(() => undefined);
    await removeCreated(created, fs);
    return { kind: code === 'ENOTDIR' || code === 'EEXIST' ? 'not_a_folder' : code === 'ENAMETOOLONG' ? 'name_too_long' : 'not_writable', message: describeFsError(code, at, (e as Error).message) };
  }
  await fs.unlink(file).catch(() => undefined);
  await removeCreated(created, fs);
  return undefined;
}
