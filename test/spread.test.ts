import { describe, expect, it } from 'vitest';
import { evenMults, spreadLr, type LrSpec } from '../src/schedule/index.js';
import { FastlrError, ExitCode } from '../src/errors.js';
import { loadVectors, relErr } from './maths-vectors.js';

interface VecLr {
  type: 'slice' | 'scalar' | 'list';
  start?: number | null;
  stop?: number;
  value?: number;
  values?: number[];
}
interface EvenMultsFile {
  set_hyper_cases: { lr: VecLr; n_groups: number; group_lrs: number[] | null; error: string | null }[];
  even_mults_direct: { start: number; stop: number; n: number; result: number[]; returns_scalar: boolean }[];
}

const V = loadVectors<EvenMultsFile>('even_mults.json');

function toSpec(lr: VecLr): LrSpec {
  switch (lr.type) {
    case 'scalar':
      return lr.value!;
    case 'list':
      return lr.values!;
    case 'slice':
      return lr.start === null ? { hi: lr.stop! } : { lo: lr.start, hi: lr.stop! };
  }
}

describe('spreadLr vs fastai set_hyper (even_mults.json)', () => {
  it('has the cases the vectors promise', () => {
    expect(V.set_hyper_cases.length).toBeGreaterThanOrEqual(30);
    expect(V.set_hyper_cases.some((c) => c.error)).toBe(true);
  });

  for (const [k, c] of V.set_hyper_cases.entries()) {
    const label = `#${k} ${JSON.stringify(c.lr)} over ${c.n_groups} group(s)`;
    if (c.error) {
      it(`${label} → FastlrError like fastai's ${c.error.split(':')[0]}`, () => {
        let err: unknown;
        try {
          spreadLr(toSpec(c.lr), c.n_groups);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(FastlrError);
        expect((err as FastlrError).exitCode).toBe(ExitCode.usage);
        expect((err as FastlrError).message).toMatch(/2 values.*3 parameter groups/);
      });
    } else {
      it(`${label} → ${JSON.stringify(c.group_lrs)}`, () => {
        const got = spreadLr(toSpec(c.lr), c.n_groups);
        expect(got).toHaveLength(c.group_lrs!.length);
        got.forEach((v, i) => expect(relErr(v, c.group_lrs![i]!)).toBeLessThanOrEqual(1e-15));
      });
    }
  }

  // Python's pow (glibc, correctly rounded here) and V8's Math.pow differ by an ulp on some inputs
  it('even_mults_direct: every value within 1e-15 relative (1–3 ulp)', () => {
    let maxRel = 0;
    for (const c of V.even_mults_direct) {
      const got = evenMults(c.start, c.stop, c.n);
      expect(got).toHaveLength(c.result.length);
      got.forEach((v, i) => (maxRel = Math.max(maxRel, relErr(v, c.result[i]!))));
    }
    expect(maxRel).toBeLessThanOrEqual(1e-15);
  });
});

describe('spreadLr edge cases', () => {
  it('one group: a number, a range and a hi-only range all give hi', () => {
    expect(spreadLr(3e-3, 1)).toEqual([3e-3]);
    expect(spreadLr({ lo: 1e-6, hi: 1e-3 }, 1)).toEqual([1e-3]);
    expect(spreadLr({ hi: 1e-3 }, 1)).toEqual([1e-3]);
    expect(spreadLr([5e-4], 1)).toEqual([5e-4]);
  });

  it('a list of one value is used for every group (fastai broadcasts it)', () => {
    expect(spreadLr([2e-3], 3)).toEqual([2e-3, 2e-3, 2e-3]);
  });

  it('lo: 0 and lo: null behave like a hi-only range (fastai tests `if start:`)', () => {
    expect(spreadLr({ lo: 0, hi: 1e-2 }, 3)).toEqual([1e-3, 1e-3, 1e-2]);
    expect(spreadLr({ lo: null, hi: 1e-2 }, 2)).toEqual([1e-3, 1e-2]);
  });

  it('a range is geometric, first = lo and last ≈ hi', () => {
    const g = spreadLr({ lo: 1e-6, hi: 1e-2 }, 5);
    expect(g[0]).toBe(1e-6);
    expect(relErr(g[4]!, 1e-2)).toBeLessThan(1e-15);
    for (let k = 1; k < 5; k++) expect(relErr(g[k]! / g[k - 1]!, 10)).toBeLessThan(1e-12);
  });

  it('returns a copy of a list, not the caller’s array', () => {
    const spec = [1, 2];
    const out = spreadLr(spec, 2);
    out[0] = 9;
    expect(spec).toEqual([1, 2]);
  });

  it('rejects lists of the wrong length with a message naming both counts', () => {
    expect(() => spreadLr([1e-3, 1e-2, 1e-1], 2)).toThrow(/3 values but the model has 2 parameter groups/);
    expect(() => spreadLr([], 2)).toThrow(FastlrError);
  });

  it('rejects a group count that is not a positive integer', () => {
    expect(() => spreadLr(1e-3, 0)).toThrow(FastlrError);
    expect(() => spreadLr(1e-3, 1.5)).toThrow(FastlrError);
  });
});
