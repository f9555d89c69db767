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
  meta: CheckpointMeta;
  snapshot: Omit<LearnerSnapshot, 'rng'>;
}

export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  recoverDir(dir);
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) throw new FastlrError(`no checkpoint at ${dir} (missing ${statePath})`, ExitCode.usage);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(await readFile(statePath, 'utf8')) as CheckpointMeta;
  } catch (e) {
    throw new FastlrError(`checkpoint ${statePath} is not valid JSON: ${(e as Error).message}`, ExitCode.usage);
  }
  if (meta.format !== 'fastlr-checkpoint/1') throw new FastlrError(`${statePath}: not a fastlr checkpoint`, ExitCode.usage);
  const wbuf = await readFile(join(dir, 'weights.bin'));
  const floats = new Float32Array(wbuf.buffer.slice(wbuf.byteOffset, wbuf.byteOffset + wbuf.byteLength));
  const weights = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const w of meta.weights) {
    if (w.offset + w.length > floats.length) throw new FastlrError(`${join(dir, 'weights.bin')} is truncated`, ExitCode.usage);
    weights.set(w.key, { shape: w.shape, data: floats.slice(w.offset, w.offset + w.length) });
  }
  const optimizer = decodeState(new Uint8Array(await readFile(join(dir, 'optimizer.bin'))));
  return { meta, snapshot: { weights, optimizer, frozenGroups: meta.frozen_groups } };
}

/** Put a loaded checkpoint into a learner (weights, optimizer, freeze; the RNG comes with the loop position). */
export function applyCheckpoint(learner: Learner, c: LoadedCheckpoint): void {
  learner.restore({ ...c.snapshot, rng: c.meta.position.epochRng });
}
