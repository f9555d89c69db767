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

/** The positions a checkpoint of a stage can hold: `epochs` of `batchesPerEpoch` batches, `groups` parameter groups. */
export interface StageBounds {
  epochs: number;
  batchesPerEpoch: number;
  groups: number;
}

/**
 * What makes a checkpoint's position impossible for this stage ('' when none): an epoch past the last, a batch
 * past the end of an epoch, more frozen groups than the model has, a history that does not match the epoch. The
 * one position past the end allowed is `{ epoch: epochs, batch: 0 }` (killed after the last epoch's checkpoint).
 */
export function positionProblem(meta: Pick<CheckpointMeta, 'position' | 'frozen_groups' | 'history'>, b: StageBounds): string {
  const { epoch, batch } = meta.position;
  if (epoch > b.epochs) return `position.epoch is ${epoch}, but this stage has ${b.epochs} epoch${b.epochs === 1 ? '' : 's'} (0..${b.epochs - 1})`;
  if (batch >= b.batchesPerEpoch) return `position.batch is ${batch}, but an epoch has ${b.batchesPerEpoch} batch${b.batchesPerEpoch === 1 ? '' : 'es'} (0..${b.batchesPerEpoch - 1})`;
  if (epoch === b.epochs && batch !== 0) return `position is batch ${batch} of epoch ${epoch}, past the last epoch`;
  if (meta.frozen_groups > b.groups) return `frozen_groups is ${meta.frozen_groups}, but the model has ${b.groups} parameter group${b.groups === 1 ? '' : 's'}`;
  if (meta.history.length !== epoch) return `history has ${meta.history.length} epoch summaries, position.epoch says ${epoch} epochs are done`;
  for (const [i, h] of meta.history.entries()) {
    if (!isObj(h) || h.epoch !== i || typeof h.train_loss !== 'number' || typeof h.seconds !== 'number' || !isObj(h.metrics)) {
      return `history entry ${i} is malformed`;
    }
  }
  return '';
}

/**
 * Put a loaded checkpoint into a learner (weights, optimizer, freeze; the RNG comes with the loop position). With
 * `stage`, its position is range-checked first: an impossible one (a hand-edited `epoch: 99`) is exit 2.
 */
export function applyCheckpoint(learner: Learner, c: LoadedCheckpoint, stage?: { epochs: number }): void {
  if (stage) {
    const problem = positionProblem(c.meta, { epochs: stage.epochs, batchesPerEpoch: learner.batchesPerEpoch, groups: learner.groups.length });
    if (problem) throw new FastlrError(`checkpoint ${join(c.dir, 'state.json')}: ${problem}`, ExitCode.usage);
  }
  try {
    learner.restore({ ...c.snapshot, rng: c.meta.position.epochRng });
  } catch (e) {
    if (e instanceof FastlrError) throw e;
    throw new FastlrError(`checkpoint ${c.dir} does not fit this model: ${(e as Error).message}`, ExitCode.usage);
  }
}
