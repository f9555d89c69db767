/**
 * The per-step scalar coefficients of fastai's optimizers, computed in float64 exactly as fastai computes them in
 * Python (optimizer.py) before torch casts them to float32. Pure: no tfjs.
 */

/** fastai `debias(mom, damp, step) = damp·(1 − mom^step)/(1 − mom)`; with damp = 1 − mom this is 1 − mom^step. */
export function debias(mom: number, damp: number, step: number): number {
  return (damp * (1 - Math.pow(mom, step))) / (1 - mom);
}

/** Decoupled weight decay factor: p ← p·(1 − lr·wd). */
export function decayFactor(lr: number, wd: number): number {
  return 1 - lr * wd;
}

/** Adam's step size `−lr / debias1` (fastai adam_step's `value`), using the current mom. */
export function adamStepSize(lr: number, mom: number, step: number): number {
  return -lr / debias(mom, 1 - mom, step);
}

/** Adam's second-moment bias correction `debias2 = 1 − β2^t` (fastai form). */
export function adamDebias2(beta2: number, step: number): number {
  return debias(beta2, 1 - beta2, step);
}
