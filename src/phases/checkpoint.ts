import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Learner, LearnerSnapshot, LoopPosition, EpochSummary } from '../engine/learner.js';
import { decodeState, encodeState } from '../optim/index.js';
import { saveModelDir } from '../model/index.js';
import { recoverDir, replaceDirAtomic } from '../report/run-folder.js';
import { ExitCode, FastlrError } from '../errors.js';

/** What `ckpt/<name>/state.json` holds besides the binary weights and optimizer state. */
export interface CheckpointMeta {
  format: 'fastlr-checkpoint/1';
  phase: string;
  plan_hash: string;
  /** where the loop continues */
  position: LoopPosition;
  frozen_groups: number;
  /** epoch summaries so far (metrics.csv is rebuilt from them on resume) */
  history: EpochSummary[];
  /** anything the phase needs to continue exactly (e.g. the LR it resolved) */
  extra: Record<string, unknown>;
  weights: { key: string; shape: number[]; offset: number; length: number }[];
  saved_at: string;
}

/**
 * Write a checkpoint folder atomically: weights (every model weight, by stable key, float32),
 * optimizer state (binary, by parameter key), loop position with the RNG state, and a `model/`
 * folder in tfjs format so a checkpoint is also a loadable model.
 */
export async function saveCheckpoint(
  dir: string,
  learner: Learner,
  meta: Omit<CheckpointMeta, 'format' | 'weights' | 'saved_at' | 'frozen_groups'>,
  /** where the folder is built before it is renamed into place (a run folder's scratch); default beside `dir` */
  scratch?: string,
): Promise<void> {
  const snap = learner.snapshot();
  const index: CheckpointMeta['weights'] = [];
  let total = 0;
  for (const [key, w] of snap.weights) {
    index.push({ key, shape: w.shape, offset: total, length: w.data.length });
    total += w.data.length;
  }
  const all = new Float32Array(total);
  for (const [i, [, w]] of [...snap.weights].entries()) all.set(w.data, index[i]!.offset);
  const full: CheckpointMeta = {
    ...meta,
    format: 'fastlr-checkpoint/1',
    frozen_groups: snap.frozenGroups,
    weights: index,
    saved_at: new Date().toISOString(),
  };
  await replaceDirAtomic(dir, async (tmp) => {
    await writeFile(join(tmp, 'weights.bin'), new Uint8Array(all.buffer));
    await writeFile(join(tmp, 'optimizer.bin'), encodeState(snap.optimizer));
    await saveModelDir(learner.model, join(tmp, 'model'));
    await writeFile(join(tmp, 'state.json'), JSON.stringify(full, null, 1));
  }, scratch);
}

export interface LoadedCheckpoint {
  /** the folder it was read from (named in errors) */
  dir: string;
  meta: CheckpointMeta;
  snapshot: Omit<LearnerSnapshot, 'rng'>;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** What is wrong with a parsed state.json ('' when it has every field a resume needs). */
function metaProblem(m: unknown): string {
  if (!isObj(m)) return 'not a JSON object';
  if (m.format !== 'fastlr-checkpoint/1') return 'not a fastlr checkpoint (format)';
  if (typeof m.phase !== 'string' || typeof m.plan_hash !== 'string') return 'phase or plan_hash missing';
  const p = m.position;
  if (!isObj(p) || !isCount(p.epoch) || !isCount(p.batch) || !isObj(p.epochRng) || !isObj(p.smooth)) return 'position missing or incomplete';
  if (!isCount(m.frozen_groups) || !Array.isArray(m.history) || !isObj(m.extra)) return 'frozen_groups, history or extra missing';
  if (!Array.isArray(m.weights)) return 'weights index missing';
  for (const w of m.weights) {
    if (!isObj(w) || typeof w.key !== 'string' || !Array.isArray(w.shape) || !w.shape.every(isCount) || !isCount(w.offset) || !isCount(w.length)) {
      return 'a weights index entry is malformed';
    }
  }
  return '';
}

async function readPart(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FastlrError(`checkpoint file ${file} ${code === 'ENOENT' ? 'is missing' : `cannot be read: ${(e as Error).message}`}`, ExitCode.usage);
  }
}

/**
 * Read `ckpt/<name>/`. A missing, truncated or corrupt part (state.json, weights.bin, optimizer.bin) is a
 * FastlrError naming the file, exit 2.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  recoverDir(dir);
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) throw new FastlrError(`no checkpoint at ${dir} (missing ${statePath})`, ExitCode.usage);
  let raw: unknown;
  try {
    raw = JSON.parse((await readPart(statePath)).toString('utf8'));
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw new FastlrError(`checkpoint ${statePath} is not valid JSON: ${(e as Error).message}`, ExitCode.usage);
  }
  const problem = metaProblem(raw);
  if (problem) throw new FastlrError(`checkpoint ${statePath}: ${problem}`, ExitCode.usage);
  const meta = raw as CheckpointMeta;
  const wpath = join(dir, 'weights.bin');
  const wbuf = await readPart(wpath);
  const need = meta.weights.reduce((a, w) => Math.max(a, w.offset + w.length), 0);
  if (wbuf.byteLength !== need * 4) {
    throw new FastlrError(`checkpoint file ${wpath} is ${wbuf.byteLength} bytes, state.json describes ${need * 4}${wbuf.byteLength < need * 4 ? ' (truncated)' : ''}`, ExitCode.usage);
  }
  const floats = new Float32Array(wbuf.buffer.slice(wbuf.byteOffset, wbuf.byteOffset + wbuf.byteLength));
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const w of meta.weights) {
    if (w.shape.reduce((a, b) => a * b, 1) !== w.length) throw new FastlrError(`checkpoint ${statePath}: weight ${w.key} has shape [${w.shape.join(', ')}] but ${w.length} values`, ExitCode.usage);
    weights.set(w.key, { shape: w.shape, data: floats.slice(w.offset, w.offset + w.length) });
  }
  const opath = join(dir, 'optimizer.bin');
  let optimizer: LearnerSnapshot['optimizer'];
  try {
    optimizer = decodeState(new Uint8Array(await readPart(opath)));
  } catch (e) {
    if (e instanceof FastlrError && e.message.startsWith('checkpoint file')) throw e;
    throw new FastlrError(`checkpoint file ${opath}: ${(e as Error).message}`, ExitCode.usage);
  }
  return { dir, meta, snapshot: { weights, optimizer, frozenGroups: meta.frozen_groups } };
}

/** Put a loaded checkpoint into a learner (weights, optimizer, freeze; the RNG comes with the loop position). */
export function applyCheckpoint(learner: Learner, c: LoadedCheckpoint): void {
  try {
    learner.restore({ ...c.snapshot, rng: c.meta.position.epochRng });
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw new FastlrError(`checkpoint ${c.dir} does not fit this model: ${(e as Error).message}`, ExitCode.usage);
  }
}
