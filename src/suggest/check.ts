import type { NoSuggestion } from './types.js';

/** The shared input checks of the suggestion methods: equal lengths and at least `min` points. */
export function checkPair(
  method: string,
  lrs: ArrayLike<number>,
  losses: ArrayLike<number>,
  min: number,
): NoSuggestion | null {
  if (lrs.length !== losses.length) {
    return { error: `${method}: got ${lrs.length} learning rates but ${losses.length} losses` };
  }
  if (losses.length < min) {
    return {
      error:
        losses.length === 0
          ? `${method}: no points to suggest from`
          : `${method} needs at least ${min} points, got ${losses.length}`,
    };
  }
  return null;
}
