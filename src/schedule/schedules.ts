import { FastlrError } from '../errors.js';
import { f32 } from './float32.js';
import { spreadLr, type LrSpec } from './spread.js';

/** An annealing function of the position inside its phase, pos ∈ [0, 1]. */
export type Sched = (pos: number) => number;

/** fastai's `sched_cos`: `a + (1 + cos(π·(1 − pos)))·(b − a)/2` (double, same operation order). */
export function schedCos(a: number, b: number, pos: number): number {
  return a + ((1 + Math.cos(Math.PI * (1 - pos))) * (b - a)) / 2;
}

/** fastai's `sched_exp`: `a·(b/a)^pos`. */
export function schedExp(a: number, b: number, pos: number): number {
  return a * Math.pow(b / a, pos);
}

/** fastai's `sched_lin`: `a + pos·(b − a)`. */
export function schedLin(a: number, b: number, pos: number): number {
  return a + pos * (b - a);
}

/** fastai's `sched_no`: always `a`. */
export function schedNo(a: number, _b: number, _pos: number): number {
  return a;
}

/**
 * The phase split of fastai's `combine_scheds(pcts, …)` as a function of the overall position: which phase
 * `pos` falls in and the position inside it. fastai holds the cumulative split points in a float32 tensor
 * (`torch.cumsum` accumulates in double and stores float32), compares `f32(pos)` with them, and computes
 * `(f32(pos) − start)/(end − start)` in float32; this reproduces it bit for bit.
 */
export function combinePositions(pcts: readonly number[]): (pos: number) => { phase: number; pos: number } {
  if (pcts.length === 0) throw new FastlrError('a combined schedule needs at least one phase');
  if (pcts.some((p) => !(p >= 0))) throw new FastlrError(`schedule phase fractions must be ≥ 0, got [${pcts.join(', ')}]`);
  const cum: number[] = [0];
  let acc = 0;
  for (const p of pcts) {
    acc += f32(p);
    cum.push(f32(acc));
  }
  const lim = cum.length - 2;
  return (pos: number) => {
    const p = f32(pos);
    let idx = 0;
    for (let k = 0; k < cum.length; k++) if (p >= cum[k]!) idx = k;
    idx = Math.min(idx, lim);
    const inner = f32(f32(p - cum[idx]!) / f32(cum[idx + 1]! - cum[idx]!));
    return { phase: idx, pos: inner };
  };
}

/** fastai's `combine_scheds(pcts, scheds)`: phase k runs `scheds[k]` on the position inside that phase. */
export function combineScheds(pcts: readonly number[], scheds: readonly Sched[]): Sched {
  if (pcts.length !== scheds.length) {
    throw new FastlrError(`combineScheds: ${pcts.length} phase fractions for ${scheds.length} schedules`);
  }
  const at = combinePositions(pcts);
  return (pos) => {
    const { phase, pos: inner } = at(pos);
    return scheds[phase]!(inner);
  };
}

/** fastai's `combined_cos(pct, start, middle, end)`: cosine start→middle over `pct`, then middle→end. */
export function combinedCos(pct: number, start: number, middle: number, end: number): Sched {
  return combineScheds(
    [pct, 1 - pct],
    [(p) => schedCos(start, middle, p), (p) => schedCos(middle, end, p)],
  );
}

/** The hyper-parameters of one training batch. */
export interface Step {
  /** 0-based training batch counter over the whole schedule (resumed schedules keep counting from epoch 0) */
  iter: number;
  epoch: number;
  /** batch index inside the epoch */
  batch: number;
  /** position fed to the scheduler (fastai's `pct_train`, accumulated in double as fastai does) */
  pos: number;
  /** learning rate of each parameter group */
  lr: number[];
  /** momentum (Adam β1 / SGD momentum), one for all groups */
  mom: number;
}

export interface OneCycleHypers {
  /** one-cycle divisor: the first lr is lr_max/div (default 25) */
  div?: number;
  /** the final lr approaches lr_max/div_final (default 1e5) */
  divFinal?: number;
  /** fraction of the training spent warming up (default 0.25) */
  pctStart?: number;
  /** momentum at start, middle and end (default [0.95, 0.85, 0.95]) */
  moms?: readonly [number, number, number];
}

export interface OneCycleOptions extends OneCycleHypers {
  epochs: number;
  itersPerEpoch: number;
  /** peak learning rate: a spec spread over the groups (§2) or already one per group */
  lrMax: LrSpec;
  nGroups: number;
  /** begin at this epoch, at pos = startEpoch/epochs (resume; fastai's `start_epoch`) */
  startEpoch?: number;
}

export const ONE_CYCLE_DEFAULTS = {
  div: 25,
  divFinal: 1e5,
  pctStart: 0.25,
  moms: [0.95, 0.85, 0.95] as const,
};

/** The per-group lr and the momentum of fastai's one-cycle schedule, as functions of pos. */
export function oneCycleScheds(
  lrMaxPerGroup: readonly number[],
  o: OneCycleHypers = {},
): { lr: (pos: number) => number[]; mom: Sched } {
  const div = o.div ?? ONE_CYCLE_DEFAULTS.div;
  const divFinal = o.divFinal ?? ONE_CYCLE_DEFAULTS.divFinal;
  const pct = o.pctStart ?? ONE_CYCLE_DEFAULTS.pctStart;
  const moms = o.moms ?? ONE_CYCLE_DEFAULTS.moms;
  if (!(pct >= 0 && pct <= 1)) throw new FastlrError(`pct_start must be between 0 and 1, got ${pct}`);
  const at = combinePositions([pct, 1 - pct]);
  const lr = (pos: number): number[] => {
    const { phase, pos: p } = at(pos);
    return lrMaxPerGroup.map((m) => (phase === 0 ? schedCos(m / div, m, p) : schedCos(m, m / divFinal, p)));
  };
  const mom: Sched = (pos) => {
    const { phase, pos: p } = at(pos);
    return phase === 0 ? schedCos(moms[0], moms[1], p) : schedCos(moms[1], moms[2], p);
  };
  return { lr, mom };
}

/** lr (per group) and momentum of the one-cycle schedule at position `pos` ∈ [0, 1). */
export function oneCycleAt(
  pos: number,
  lrMaxPerGroup: readonly number[],
  o: OneCycleHypers = {},
): { lr: number[]; mom: number } {
  const s = oneCycleScheds(lrMaxPerGroup, o);
  return { lr: s.lr(pos), mom: s.mom(pos) };
}

function checkCount(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min) throw new FastlrError(`${name} must be an integer ≥ ${min}, got ${v}`);
}

/**
 * The positions fastai feeds its scheduler for every training batch of a fit of `epochs` × `itersPerEpoch`
 * batches: each epoch starts at epoch/epochs and adds 1/(itersPerEpoch·epochs) per batch, in double.
 */
export function fitPositions(
  epochs: number,
  itersPerEpoch: number,
  startEpoch = 0,
): { iter: number; epoch: number; batch: number; pos: number }[] {
  checkCount('epochs', epochs, 1);
  checkCount('iters per epoch', itersPerEpoch, 0);
  checkCount('start epoch', startEpoch, 0);
  if (startEpoch > epochs) throw new FastlrError(`start epoch ${startEpoch} is past the last epoch (${epochs})`);
  const out: { iter: number; epoch: number; batch: number; pos: number }[] = [];
  const inc = 1 / (itersPerEpoch * epochs);
  for (let epoch = startEpoch; epoch < epochs; epoch++) {
    let pos = epoch / epochs;
    for (let batch = 0; batch < itersPerEpoch; batch++) {
      out.push({ iter: epoch * itersPerEpoch + batch, epoch, batch, pos });
      pos += inc;
    }
  }
  return out;
}

/** fastai's `fit_one_cycle`: the lr of each group and the momentum of every training batch. */
export function oneCycleSchedule(o: OneCycleOptions): Step[] {
  const lrMax = spreadLr(o.lrMax, o.nGroups);
  const s = oneCycleScheds(lrMax, o);
  return fitPositions(o.epochs, o.itersPerEpoch, o.startEpoch ?? 0).map((p) => ({
    ...p,
    lr: s.lr(p.pos),
    mom: s.mom(p.pos),
  }));
}

export interface FineTuneOptions {
  /** epochs of the unfrozen stage */
  epochs: number;
  /** epochs of the frozen stage (default 1) */
  freezeEpochs?: number;
  itersPerEpoch: number;
  /** default 2e-3 */
  baseLr?: number;
  /** default 100 */
  lrMult?: number;
  /** pct_start of the unfrozen stage (default 0.3; the frozen stage always uses 0.99) */
  pctStart?: number;
  /** div of the unfrozen stage (default 5; the frozen stage keeps 25) */
  div?: number;
  /** passed to both stages, as fastai's **kwargs (defaults 1e5 and [0.95, 0.85, 0.95]) */
  divFinal?: number;
  moms?: readonly [number, number, number];
  /** fastlr: replaces the unfrozen stage's `{ lo: base_lr/2/lr_mult, hi: base_lr/2 }` */
  lr?: LrSpec;
  nGroups: number;
}

export const FINE_TUNE_DEFAULTS = { freezeEpochs: 1, baseLr: 2e-3, lrMult: 100, pctStart: 0.3, div: 5 };

/** The lr specs of fastai's `fine_tune` stages: frozen `slice(base_lr)`, unfrozen `slice(base_lr/2/lr_mult, base_lr/2)`. */
export function fineTuneLrs(o: { baseLr?: number; lrMult?: number; lr?: LrSpec }): { frozen: LrSpec; unfrozen: LrSpec } {
  const baseLr = o.baseLr ?? FINE_TUNE_DEFAULTS.baseLr;
  const lrMult = o.lrMult ?? FINE_TUNE_DEFAULTS.lrMult;
  const half = baseLr / 2;
  return { frozen: { hi: baseLr }, unfrozen: o.lr ?? { lo: half / lrMult, hi: half } };
}

/** The hyper-parameters of one one-cycle stage, as fastai's `fit_one_cycle` takes them (lrMax still a spec). */
export interface OneCycleStageHypers {
  epochs: number;
  lrMax: LrSpec;
  div: number;
  divFinal: number;
  pctStart: number;
  moms: readonly [number, number, number];
}

/**
 * fastai's `fine_tune(epochs, base_lr, freeze_epochs, lr_mult, pct_start, div, **kwargs)` as data: a frozen
 * one-cycle of `freezeEpochs` at `slice(base_lr)` with pct_start 0.99 and fit_one_cycle's default div 25 (`div` is
 * a named parameter of fine_tune, so it never reaches stage 1's **kwargs), then base_lr /= 2 and an unfrozen
 * one-cycle of `epochs` at `slice(base_lr/lr_mult, base_lr)` with `pctStart` and `div`. divFinal and moms go to
 * both stages, as fastai's **kwargs. `frozen` is null when freezeEpochs is 0. The one home of the recipe.
 */
export function fineTuneRecipe(o: Omit<FineTuneOptions, 'itersPerEpoch' | 'nGroups'>): {
  frozen: OneCycleStageHypers | null;
  unfrozen: OneCycleStageHypers;
} {
  const freezeEpochs = o.freezeEpochs ?? FINE_TUNE_DEFAULTS.freezeEpochs;
  checkCount('freeze epochs', freezeEpochs, 0);
  const lrs = fineTuneLrs(o);
  const divFinal = o.divFinal ?? ONE_CYCLE_DEFAULTS.divFinal;
  const moms = o.moms ?? ONE_CYCLE_DEFAULTS.moms;
  return {
    frozen:
      freezeEpochs > 0
        ? { epochs: freezeEpochs, lrMax: lrs.frozen, div: ONE_CYCLE_DEFAULTS.div, divFinal, pctStart: 0.99, moms }
        : null,
    unfrozen: {
      epochs: o.epochs,
      lrMax: lrs.unfrozen,
      div: o.div ?? FINE_TUNE_DEFAULTS.div,
      divFinal,
      pctStart: o.pctStart ?? FINE_TUNE_DEFAULTS.pctStart,
      moms,
    },
  };
}

/** fastai's `fine_tune` schedules: {@link fineTuneRecipe}'s two stages, step by step. `frozen` is [] when freezeEpochs is 0. */
export function fineTuneSchedule(o: FineTuneOptions): { frozen: Step[]; unfrozen: Step[] } {
  const r = fineTuneRecipe(o);
  const steps = (h: OneCycleStageHypers): Step[] => oneCycleSchedule({ ...h, itersPerEpoch: o.itersPerEpoch, nGroups: o.nGroups });
  return { frozen: r.frozen ? steps(r.frozen) : [], unfrozen: steps(r.unfrozen) };
}
