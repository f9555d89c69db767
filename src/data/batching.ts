/**
 * Epoch order and mini-batches.
 *
 * Each batch copies its rows into one Float32Array (plus one Int32Array/Float32Array for y) and hands them to
 * tf.tensor — no per-row or per-step JS arrays. Most tfjs backends keep a reference to the typed array given to
 * tf.tensor (the cpu backend stores it as the tensor's data, tfjs-node uploads lazily), so refilling a shared buffer
 * would silently change tensors that are still alive: there each batch gets fresh arrays. Backends that copy the
 * values into memory of their own inside tf.tensor (COPYING_BACKENDS) get one buffer per Batcher, refilled for
 * every batch: no 200 kB allocation (and the garbage collection it brings) per MNIST step.
 */
import * as tf from '@tensorflow/tfjs';
import { FastlrError } from '../errors.js';
import type { Dataset, Split } from './types.js';

/**
 * The order of one epoch: 0..n-1, shuffled with Fisher–Yates (for i = n-1 … 1: j = ⌊rng()·(i+1)⌋, swap) when
 * `shuffle`. `rng` is the caller's (the engine's seeded, snapshot-able training RNG).
 */
export function epochOrder(n: number, shuffle: boolean, rng: () => number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (shuffle) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rng() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
  }
  return order;
}

/** Batches per epoch: ⌊n/bs⌋ with drop_last (fastai's training loader), else ⌈n/bs⌉. */
export function batchCount(n: number, bs: number, dropLast: boolean): number {
  if (!Number.isInteger(bs) || bs < 1) throw new FastlrError(`batch size must be a positive integer, got ${bs}`);
  return dropLast ? Math.floor(n / bs) : Math.ceil(n / bs);
}

/**
 * Backends whose tf.tensor copies the values before it returns and keeps no reference to them: tfjs-backend-wasm
 * (BackendWasm.write → move: malloc on its heap, then HEAPU8.set of the values).
 */
const COPYING_BACKENDS: ReadonlySet<string> = new Set(['wasm']);

/** The first `n` values of `buf` when it is a `kind` array of at least `n`, else null (then a new one is needed). */
function reusable<T extends Float32Array | Int32Array>(buf: Float32Array | Int32Array | null, n: number, kind: new (n: number) => T): T | null {
  return buf instanceof kind && buf.length >= n ? (buf.subarray(0, n) as T) : null;
}

export class Batcher {
  readonly rowSize: number;
  readonly n: number;
  private readonly xShape: number[];
  private readonly classification: boolean;
  private readonly targetDim: number;
  /** refilled for every batch where the backend copies (COPYING_BACKENDS); null until then */
  private readonly bufs: { x: Float32Array | Int32Array | null; y: Float32Array | Int32Array | null } = { x: null, y: null };

  /**
   * @param xShape shape of one sample in the tensors produced (default `ds.inputShape`); it may differ from
   *   ds.inputShape when the product is the same (e.g. model.input [784] on mnist's [28, 28, 1]).
   */
  constructor(
    private readonly split: Split,
    ds: Pick<Dataset, 'inputShape' | 'task' | 'targetDim'>,
    readonly batchSize: number,
    xShape?: readonly number[],
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new FastlrError(`batch size must be a positive integer, got ${batchSize}`);
    }
    this.xShape = [...(xShape ?? ds.inputShape)];
    this.rowSize = this.xShape.reduce((a, b) => a * b, 1);
    const dsRow = ds.inputShape.reduce((a, b) => a * b, 1);
    if (this.rowSize !== dsRow) {
      throw new FastlrError(
        `input shape [${this.xShape.join(', ')}] has ${this.rowSize} values per sample, the data has ${dsRow} ([${ds.inputShape.join(', ')}])`,
      );
    }
    this.n = split.n;
    this.classification = ds.task === 'classification';
    this.targetDim = this.classification ? 1 : ds.targetDim;
  }

  /** `n` values for `which`: a fresh array, or with `reuse` the Batcher's own (grown when too small). */
  private buffer<T extends Float32Array | Int32Array>(which: 'x' | 'y', reuse: boolean, n: number, kind: new (n: number) => T): T {
    if (!reuse) return new kind(n);
    const old = reusable(this.bufs[which], n, kind);
    if (old !== null) return old;
    const fresh = new kind(n);
    this.bufs[which] = fresh;
    return fresh;
  }

  /**
   * Batch number `b` of `order`: rows order[b·bs … min((b+1)·bs, n)). x: float32 [m, ...xShape];
   * y: int32 [m] class ids (classification) or float32 [m, targetDim] (regression). The caller disposes both.
   * `epoch` keys the random transforms of an image training split (augmentation, crop position): the same
   * (seed, epoch, row) always gives the same values, so a resumed epoch redraws them exactly.
   */
  batch(order: Int32Array, b: number, epoch = 0): { x: tf.Tensor; y: tf.Tensor } {
    const start = b * this.batchSize;
    const end = Math.min(start + this.batchSize, order.length);
    if (!Number.isInteger(b) || b < 0 || start >= end) {
      throw new RangeError(`batch ${b} is out of range (${order.length} rows, batch size ${this.batchSize})`);
    }
    const m = end - start;
    const rs = this.rowSize;
    const td = this.targetDim;
    const src = this.split;
    const reuse = COPYING_BACKENDS.has(tf.getBackend());
    const xb = this.buffer('x', reuse, m * rs, Float32Array);
    const rows = src.rows;
    if (rows) {
      for (let i = 0; i < m; i++) rows.fill(order[start + i]!, xb, i * rs, epoch);
    } else {
      for (let i = 0; i < m; i++) {
        const r = order[start + i]!;
        xb.set(src.x.subarray(r * rs, (r + 1) * rs), i * rs);
      }
    }
    let y: tf.Tensor;
    if (this.classification) {
      const yb = this.buffer('y', reuse, m, Int32Array);
      for (let i = 0; i < m; i++) yb[i] = src.y[order[start + i]!]!;
      y = tf.tensor1d(yb, 'int32');
    } else {
      const yb = this.buffer('y', reuse, m * td, Float32Array);
      for (let i = 0; i < m; i++) {
        const r = order[start + i]!;
        yb.set(src.y.subarray(r * td, (r + 1) * td), i * td);
      }
      y = tf.tensor2d(yb, [m, td], 'float32');
    }
    const x = tf.tensor(xb, [m, ...this.xShape], 'float32');
    return { x, y };
  }
}
