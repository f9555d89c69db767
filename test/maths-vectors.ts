/** Loading the reference vectors for the pure-maths tests (NaN/±Infinity are stored as strings). */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export const VECTORS = path.resolve(__dirname, 'fixtures/fastai');

export function loadVectors<T = unknown>(name: string): T {
  return JSON.parse(readFileSync(path.join(VECTORS, name), 'utf8')) as T;
}

/** A vector number: a JSON number or one of "NaN", "Infinity", "-Infinity". */
export function num(v: number | string): number {
  return typeof v === 'number' ? v : Number(v);
}

/** |a − b| / |b|; 0 when both are NaN or equal. */
export function relErr(a: number, b: number): number {
  if (Number.isNaN(a) && Number.isNaN(b)) return 0;
  if (a === b) return 0;
  return Math.abs(a - b) / Math.abs(b);
}
