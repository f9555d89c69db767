import { mkdir, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** A timestamp safe in a folder name, UTC, to the millisecond: 20261125-181502-123. */
export function stamp(d = new Date()): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}-${p(d.getUTCMilliseconds(), 3)}`;
}

/**
 * One command's output folder, `<root>/<command>-<timestamp>/`. Every file is written atomically
 * (temp file in the same folder, then rename), so a crash never leaves half a file.
 */
export class RunFolder {
  private constructor(readonly dir: string) {}

  static async create(root: string, command: string): Promise<RunFolder> {
    const dir = resolve(root, `${command}-${stamp()}`);
    await mkdir(dir, { recursive: true });
    return new RunFolder(dir);
  }

  /** An existing folder (resume, report). */
  static at(dir: string): RunFolder {
    return new RunFolder(resolve(dir));
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  async writeText(name: string, text: string | Uint8Array): Promise<string> {
    const p = this.path(name);
    await mkdir(join(p, '..'), { recursive: true });
    await writeFileAtomic(p, typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength));
    return p;
  }

  async writeJson(name: string, doc: unknown): Promise<string> {
    return this.writeText(name, JSON.stringify(doc, jsonReplacer, 2) + '\n');
  }
}

/** JSON has no NaN/Infinity: write them as null (their meaning is carried by the fields around them). */
export function jsonReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isFinite(v) ? null : v;
}

/** Replace a whole folder atomically: write into `<dir>.tmp-<pid>`, then swap it in with renames. */
export async function replaceDirAtomic(dir: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = `${dir}.tmp-${process.pid}`;
  const old = `${dir}.old-${process.pid}`;
  await mkdir(tmp, { recursive: true });
  await fill(tmp);
  let hadOld = false;
  try {
    await rename(dir, old);
    hadOld = true;
  } catch {
    /* no previous folder */
  }
  await rename(tmp, dir);
  if (hadOld) await rm(old, { recursive: true, force: true });
}
