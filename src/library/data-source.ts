/**
 * The library's data: a user's `{ xs, ys }` tensors or a `tf.data.Dataset` of `{ xs, ys }` (or `[xs, ys]`)
 * elements, copied once into the engine's row-major {@link Dataset} — the same form the CLI's loaders produce, so the
 * same Batcher, epoch order and numbers follow. The user's tensors are read, never disposed; elements a
 * tf.data iterator hands out are the consumer's and are disposed after they are copied.
 *
 * Labels: with a cross-entropy loss `ys` are integer class ids ([n] or [n, 1]) or one-hot rows ([n, classes]);
 * with `mse` they are regression targets ([n] or [n, k]).
 */
import * as tf from '@tensorflow/tfjs';
import type { Dataset, Split } from '../data/index.js';
import { FastlrError } from '../errors.js';
import type { LossName } from '../engine/loss.js';
import { modelInputShape } from '../model/index.js';

/** One split as tensors: `xs` [n, ...sample], `ys` [n] / [n, 1] (class ids or one column), [n, k] (one-hot or targets). */
export interface TensorData {
  xs: tf.Tensor;
  ys: tf.Tensor;
}

/** A tf.data.Dataset whose elements are `{ xs, ys }` or `[xs, ys]`, each one sample or one batch. */
export type DatasetData = tf.data.Dataset<tf.TensorContainer>;

/** What `train` and `valid` take. */
export type DataInput = TensorData | DatasetData;

interface RawSplit {
  x: Float32Array;
  /** shape of one sample */
  sample: number[];
  y: Float32Array;
  /** shape of one label */
  label: number[];
  n: number;
}

const shapeOf = (s: readonly number[]): string => `[${s.join(', ')}]`;
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function isTensor(v: unknown): v is tf.Tensor {
  return v instanceof tf.Tensor;
}

function isDataset(v: unknown): v is DatasetData {
  return v instanceof tf.data.Dataset || (typeof v === 'object' && v !== null && typeof (v as { iterator?: unknown }).iterator === 'function');
}

function isTensorData(v: unknown): v is TensorData {
  return typeof v === 'object' && v !== null && isTensor((v as TensorData).xs) && isTensor((v as TensorData).ys);
}

/** `{ xs, ys }` or `[xs, ys]` of one tf.data element. */
function elementPair(e: tf.TensorContainer, what: string): { xs: tf.Tensor; ys: tf.Tensor } {
  if (Array.isArray(e) && e.length === 2 && isTensor(e[0]) && isTensor(e[1])) return { xs: e[0], ys: e[1] };
  if (isTensorData(e)) return { xs: e.xs, ys: e.ys };
  throw new FastlrError(`${what}: every element of the tf.data.Dataset must be { xs, ys } (or [xs, ys]) tensors`);
}

async function floats(t: tf.Tensor): Promise<Float32Array> {
  const d = await t.data();
  return d instanceof Float32Array ? Float32Array.from(d) : Float32Array.from(d as ArrayLike<number>);
}

async function fromTensors(d: TensorData, what: string): Promise<RawSplit> {
  const { xs, ys } = d;
  if (xs.rank < 2) throw new FastlrError(`${what}.xs must have a batch axis: shape [n, ...sample], got ${shapeOf(xs.shape)}`);
  const n = xs.shape[0]!;
  if (ys.rank < 1 || ys.shape[0] !== n) {
    throw new FastlrError(`${what}: xs has ${n} samples (shape ${shapeOf(xs.shape)}) but ys has shape ${shapeOf(ys.shape)}; ys needs ${n} rows`);
  }
  return { x: await floats(xs), sample: xs.shape.slice(1), y: await floats(ys), label: ys.shape.slice(1), n };
}

/**
 * Every element of `ds`, in its order. An element is one batch when xs has one axis more than the model's input
 * (`sampleRank`), else one sample.
 */
async function fromDataset(ds: DatasetData, what: string, sampleRank: number): Promise<RawSplit> {
  const xParts: Float32Array[] = [];
  const yParts: Float32Array[] = [];
  let sample: number[] | null = null;
  let label: number[] | null = null;
  let n = 0;
  const it = await ds.iterator();
  for (let k = 0; ; k++) {
    const r = await it.next();
    if (r.done) break;
    const e = r.value;
    try {
      const { xs, ys } = elementPair(e, what);
      const batched = xs.rank === sampleRank + 1;
      if (!batched && xs.rank !== sampleRank) {
        throw new FastlrError(
          `${what}: element ${k} has xs of shape ${shapeOf(xs.shape)}; the model takes samples of rank ${sampleRank} (a batch has rank ${sampleRank + 1})`,
        );
      }
      const m = batched ? xs.shape[0]! : 1;
      const s = batched ? xs.shape.slice(1) : xs.shape.slice();
      const yb = batched ? ys.shape[0] : 1;
      const l = batched ? ys.shape.slice(1) : ys.shape.slice();
      if (batched && (ys.rank < 1 || yb !== m)) {
        throw new FastlrError(`${what}: element ${k} has ${m} samples in xs but ys has shape ${shapeOf(ys.shape)}`);
      }
      if (sample === null || label === null) {
        sample = s;
        label = l;
      } else if (shapeOf(s) !== shapeOf(sample) || shapeOf(l) !== shapeOf(label)) {
        throw new FastlrError(
          `${what}: element ${k} has samples ${shapeOf(s)} / labels ${shapeOf(l)}, earlier ones ${shapeOf(sample)} / ${shapeOf(label)}`,
        );
      }
      xParts.push(await floats(xs));
      yParts.push(await floats(ys));
      n += m;
    } finally {
      tf.dispose(e);
    }
  }
  if (sample === null || label === null) throw new FastlrError(`${what}: the tf.data.Dataset is empty`);
  return { x: concat(xParts), sample, y: concat(yParts), label, n };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function readSplit(v: unknown, what: string, sampleRank: number): Promise<RawSplit> {
  if (isTensorData(v)) return fromTensors(v, what);
  if (isDataset(v)) return fromDataset(v, what, sampleRank);
  throw new FastlrError(`${what} must be { xs, ys } tensors or a tf.data.Dataset of { xs, ys } elements`);
}

/** Labels of one split in the engine's form: class ids (classification) or targets (regression). */
function labels(r: RawSplit, what: string, loss: LossName, nClasses: number): { y: Float32Array; targetDim: number } {
  if (loss === 'mse') {
    if (r.label.length > 1) throw new FastlrError(`${what}.ys: regression targets must have shape [n] or [n, k], got [n, ${r.label.join(', ')}]`);
    return { y: r.y, targetDim: r.label[0] ?? 1 };
  }
  const width = prod(r.label);
  if (r.label.length > 1) throw new FastlrError(`${what}.ys: class labels must have shape [n] (ids) or [n, classes] (one-hot), got [n, ${r.label.join(', ')}]`);
  if (width === 1) {
    for (let i = 0; i < r.n; i++) {
      const v = r.y[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= nClasses) {
        throw new FastlrError(
          `${what}.ys[${i}] is ${v}: class ids must be integers in 0..${nClasses - 1} (${nClasses} classes for loss ${loss}), or give one-hot rows`,
        );
      }
    }
    return { y: r.y, targetDim: 1 };
  }
  if (width !== nClasses) {
    throw new FastlrError(`${what}.ys has one-hot rows of ${width} values but the model outputs ${nClasses} classes`);
  }
  const ids = new Float32Array(r.n);
  for (let i = 0; i < r.n; i++) {
    let hot = -1;
    for (let c = 0; c < width; c++) {
      const v = r.y[i * width + c]!;
      if (v === 1 && hot < 0) hot = c;
      else if (v !== 0) {
        hot = -2;
        break;
      }
    }
    if (hot < 0) throw new FastlrError(`${what}.ys row ${i} is not one-hot (one 1, the rest 0): give class ids or one-hot rows`);
    ids[i] = hot;
  }
  return { y: ids, targetDim: 1 };
}

/** Classes the model's output stands for under `loss` (binary cross-entropy with one logit: 2). */
function classesOf(model: tf.LayersModel, loss: LossName): number {
  const out = model.outputs[0]!.shape;
  const units = typeof out[out.length - 1] === 'number' ? (out[out.length - 1] as number) : 0;
  return loss === 'binary_cross_entropy' && units === 1 ? 2 : units;
}

/**
 * The engine's dataset from the user's train/valid (valid may be left out: no validation values then).
 * Checks: both splits have the same sample shape, labels fit the loss and the model's outputs.
 */
export async function toDataset(train: unknown, valid: unknown, model: tf.LayersModel, loss: LossName): Promise<Dataset> {
  const sampleRank = model.inputs[0]!.shape.length - 1;
  const tr = await readSplit(train, 'train', sampleRank);
  const want = modelInputShape(model);
  if (prod(want) !== prod(tr.sample)) {
    throw new FastlrError(`the model takes samples of shape ${shapeOf(want)} (${prod(want)} values), but train.xs has samples of ${shapeOf(tr.sample)} (${prod(tr.sample)} values)`);
  }
  const va = valid === undefined || valid === null ? null : await readSplit(valid, 'valid', sampleRank);
  if (va && shapeOf(va.sample) !== shapeOf(tr.sample)) {
    throw new FastlrError(`valid samples have shape ${shapeOf(va.sample)} but train samples ${shapeOf(tr.sample)}`);
  }
  if (va && loss === 'mse' && prod(va.label) !== prod(tr.label)) {
    throw new FastlrError(`valid targets have shape ${shapeOf(va.label)} but train targets ${shapeOf(tr.label)}`);
  }
  const regression = loss === 'mse';
  const nClasses = regression ? 0 : classesOf(model, loss);
  const t = labels(tr, 'train', loss, nClasses);
  const v = va ? labels(va, 'valid', loss, nClasses) : { y: new Float32Array(0), targetDim: t.targetDim };
  const split = (r: RawSplit | null, y: Float32Array): Split => (r ? { x: r.x, y, n: r.n } : { x: new Float32Array(0), y, n: 0 });
  return {
    train: split(tr, t.y),
    valid: split(va, v.y),
    inputShape: tr.sample,
    task: regression ? 'regression' : 'classification',
    nClasses,
    targetDim: t.targetDim,
    classNames: regression ? [] : Array.from({ length: nClasses }, (_, i) => String(i)),
    source: isDataset(train) ? 'tf.data.Dataset' : 'tensors',
  };
}
