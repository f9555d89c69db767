/** Seeded random numbers for data work (valid split, synthetic data). Never Math.random. */
import seedrandom from 'seedrandom';

/** A uniform [0, 1) generator from seedrandom (ARC4), keyed by the plan seed and a purpose tag. */
export function seededRng(seed: number, purpose: string): () => number {
  return seedrandom(`fastlr:${purpose}:${seed}`);
}

/** A standard-normal sampler (Box–Muller, one value per call, the second value cached) over `rng`. */
export function normalSampler(rng: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = rng();
    while (u <= Number.MIN_VALUE) u = rng();
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}
