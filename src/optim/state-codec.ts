import { FastlrError, ExitCode } from '../errors.js';
import type {
  OptimizerHypers,
  OptimizerState,
  OptimizerStateJSON,
  OptimizerType,
  ParamStateJSON,
  ParamStateSnapshot,
} from './types.js';

/**
 * Serialisation of OptimizerState: a JSON-safe form (float32 arrays as base64) and a compact binary form
 * (magic, JSON header, raw little-endian float32 payload). Both round-trip bit-exactly, NaN and ±Infinity included.
 */

const FORMAT = 'fastlr-optim/1';
const MAGIC = [0x46, 0x4c, 0x4f, 0x31]; // "FLO1"
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function f32ToBytes(a: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  const out = new Uint8Array(a.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < a.length; i++) dv.setFloat32(i * 4, a[i] as number, true);
  return out;
}

function bytesToF32(b: Uint8Array, what: string): Float32Array {
  if (b.byteLength % 4 !== 0) throw bad(`${what}: byte length ${b.byteLength} is not a multiple of 4`);
  const n = b.byteLength / 4;
  if (LITTLE_ENDIAN) {
    const copy = new Uint8Array(b.byteLength);
    copy.set(b);
    return new Float32Array(copy.buffer);
  }
  const out = new Float32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

function bad(message: string): FastlrError {
  return new FastlrError(`invalid optimizer state: ${message}`, ExitCode.unexpected);
}

function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function checkHeader(o: unknown): { type: OptimizerType; stepCount: number; hypers: OptimizerHypers | null } {
  if (typeof o !== 'object' || o === null) throw bad('not an object');
  const r = o as Record<string, unknown>;
  if (r['format'] !== FORMAT) throw bad(`format ${JSON.stringify(r['format'])}, expected ${FORMAT}`);
  const type = r['type'];
  if (type !== 'adam' && type !== 'sgd') throw bad(`type ${JSON.stringify(type)}`);
  const stepCount = r['stepCount'];
  if (typeof stepCount !== 'number' || !Number.isInteger(stepCount) || stepCount < 0) throw bad('stepCount');
  const h = r['hypers'];
  let hypers: OptimizerHypers | null = null;
  if (h !== null) {
    if (typeof h !== 'object') throw bad('hypers');
    const hr = h as Record<string, unknown>;
    const lr = hr['lr'];
    const mom = hr['mom'];
    if (!Array.isArray(lr) || !lr.every((x) => typeof x === 'number') || typeof mom !== 'number') throw bad('hypers');
    hypers = { lr: [...(lr as number[])], mom };
  }
  if (typeof r['params'] !== 'object' || r['params'] === null) throw bad('params');
  return { type, stepCount, hypers };
}

function checkParamHeader(key: string, o: unknown): { step: number; shape: number[] } {
  if (typeof o !== 'object' || o === null) throw bad(`param ${key}`);
  const r = o as Record<string, unknown>;
  const step = r['step'];
  const shape = r['shape'];
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) throw bad(`param ${key}: step`);
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw bad(`param ${key}: shape`);
  }
  return { step, shape: [...(shape as number[])] };
}

/** JSON-safe copy (e.g. for a checkpoint's .json); exact for every float32, NaN/Infinity included. */
export function stateToJSON(s: OptimizerState): OptimizerStateJSON {
  const params: Record<string, ParamStateJSON> = {};
  for (const [key, p] of Object.entries(s.params)) {
    const o: ParamStateJSON = { step: p.step, shape: [...p.shape] };
    if (p.m) o.m = Buffer.from(f32ToBytes(p.m)).toString('base64');
    if (p.v) o.v = Buffer.from(f32ToBytes(p.v)).toString('base64');
    params[key] = o;
  }
  return {
    format: FORMAT,
    type: s.type,
    stepCount: s.stepCount,
    hypers: s.hypers ? { lr: [...s.hypers.lr], mom: s.hypers.mom } : null,
    params,
  };
}

/** Inverse of stateToJSON; validates the document (FastlrError on anything malformed). */
export function stateFromJSON(o: unknown): OptimizerState {
  const head = checkHeader(o);
  const raw = (o as { params: Record<string, unknown> }).params;
  const params: Record<string, ParamStateSnapshot> = {};
  for (const [key, po] of Object.entries(raw)) {
    const { step, shape } = checkParamHeader(key, po);
    const p: ParamStateSnapshot = { step, shape };
    const size = sizeOf(shape);
    for (const which of ['m', 'v'] as const) {
      const enc = (po as Record<string, unknown>)[which];
      if (enc === undefined) continue;
      if (typeof enc !== 'string') throw bad(`param ${key}: ${which}`);
      const arr = bytesToF32(new Uint8Array(Buffer.from(enc, 'base64')), `param ${key}.${which}`);
      if (arr.length !== size) throw bad(`param ${key}.${which}: ${arr.length} values for shape [${shape}]`);
      p[which] = arr;
    }
    params[key] = p;
  }
  return { format: FORMAT, type: head.type, stepCount: head.stepCount, hypers: head.hypers, params };
}

interface BinaryParamHeader {
  step: number;
  shape: number[];
  /** byte offsets into the payload */
  m?: number;
  v?: number;
}

/**
 * Compact binary form: "FLO1", uint32 LE header length, UTF-8 JSON header, zero padding to 4 bytes, then the
 * float32 LE arrays back to back.
 */
export function encodeState(s: OptimizerState): Uint8Array {
  const chunks: Uint8Array[] = [];
  let payload = 0;
  const params: Record<string, BinaryParamHeader> = {};
  for (const [key, p] of Object.entries(s.params)) {
    const h: BinaryParamHeader = { step: p.step, shape: [...p.shape] };
    for (const which of ['m', 'v'] as const) {
      const a = p[which];
      if (!a) continue;
      h[which] = payload;
      const b = f32ToBytes(a);
      chunks.push(b);
      payload += b.byteLength;
    }
    params[key] = h;
  }
  const header = new TextEncoder().encode(
    JSON.stringify({
      format: FORMAT,
      type: s.type,
      stepCount: s.stepCount,
      hypers: s.hypers,
      params,
    }),
  );
  const start = Math.ceil((8 + header.byteLength) / 4) * 4;
  const out = new Uint8Array(start + payload);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.byteLength, true);
  out.set(header, 8);
  let at = start;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** Inverse of encodeState (FastlrError on a malformed buffer). */
export function decodeState(buf: Uint8Array): OptimizerState {
  if (buf.byteLength < 8 || MAGIC.some((b, i) => buf[i] !== b)) throw bad('not a fastlr optimizer state (bad magic)');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const len = dv.getUint32(4, true);
  if (8 + len > buf.byteLength) throw bad('truncated header');
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + len)));
  } catch {
    throw bad('header is not JSON');
  }
  const head = checkHeader(header);
  const start = Math.ceil((8 + len) / 4) * 4;
  const payload = buf.subarray(start);
  const raw = (header as { params: Record<string, unknown> }).params;
  const params: Record<string, ParamStateSnapshot> = {};
  for (const [key, po] of Object.entries(raw)) {
    const { step, shape } = checkParamHeader(key, po);
    const p: ParamStateSnapshot = { step, shape };
    const nbytes = sizeOf(shape) * 4;
    for (const which of ['m', 'v'] as const) {
      const off = (po as Record<string, unknown>)[which];
      if (off === undefined) continue;
      if (typeof off !== 'number' || !Number.isInteger(off) || off < 0 || off + nbytes > payload.byteLength) {
        throw bad(`param ${key}.${which}: offset out of range`);
      }
      p[which] = bytesToF32(payload.subarray(off, off + nbytes), `param ${key}.${which}`);
    }
    params[key] = p;
  }
  return { format: FORMAT, type: head.type, stepCount: head.stepCount, hypers: head.hypers, params };
}
