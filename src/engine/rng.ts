import seedrandom from 'seedrandom';

/** Saved state of an {@link Rng}: plain JSON, so it can go into a checkpoint. */
export interface RngState {
  seed: number;
  arc4: seedrandom.State.Arc4;
}

/**
 * The engine's one source of randomness (data order, dropout masks), seeded and restorable.
 * Restoring a saved state makes every later draw identical: this is how `find` leaves the
 * random state exactly as it found it.
 */
export class Rng {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  constructor(readonly seed: number, state?: seedrandom.State.Arc4) {
    this.prng = state ? seedrandom('', { state: cloneArc4(state) }) : seedrandom(String(seed), { state: true });
  }

  /** A float in [0, 1). */
  next = (): number => this.prng();

  state(): RngState {
    return { seed: this.seed, arc4: cloneArc4(this.prng.state()) };
  }

  restore(s: RngState): void {
    this.prng = seedrandom('', { state: cloneArc4(s.arc4) });
  }

  /**
   * Run `fn` with `Math.random` drawing from this generator. tfjs draws unseeded random ops
   * (dropout masks) from `Math.random`; this keeps them on the seeded, restorable stream.
   */
  withMathRandom<T>(fn: () => T): T {
    const saved = Math.random;
    Math.random = this.next;
    try {
      return fn();
    } finally {
      Math.random = saved;
    }
  }
}

function cloneArc4(s: seedrandom.State.Arc4): seedrandom.State.Arc4 {
  return { i: s.i, j: s.j, S: s.S.slice() };
}
