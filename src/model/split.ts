/**
 * Split points of `model.groups` on a list of layer names (topological order), without tfjs — the same rule for
 * `fastlr check` and the engine. A number is an index (negative counts from the end, as in Python); a string opens a
 * group at the first layer whose name equals it or starts with it (`block_7`, `conv_pw_9`).
 */

export type SplitResult = { index: number } | { error: string };

/** The index of the first layer named `point` or starting with it, or -1. */
export function findSplitLayer(names: readonly string[], point: string): number {
  return names.findIndex((n) => n === point || n.startsWith(point));
}

/** One split point → a layer index in 1 … L-1, or why not. */
export function splitIndex(names: readonly string[], point: number | string): SplitResult {
  const L = names.length;
  if (typeof point === 'number') {
    if (!Number.isInteger(point)) return { error: `${point} is not a layer index` };
    const i = point < 0 ? L + point : point;
    if (i < 1 || i > L - 1) {
      return { error: `split point ${point} is outside the model (it has ${L} layers: use 1..${L - 1}, or -1..-${L - 1} from the end)` };
    }
    return { index: i };
  }
  const i = findSplitLayer(names, point);
  if (i < 0) return { error: `no layer named "${point}" or starting with it` };
  if (i === 0) return { error: `"${point}" matches the first layer (${names[0]}): a split point before it would leave an empty group` };
  return { index: i };
}

/**
 * What a split point may be, for a "did you mean": every layer name and every prefix of one that ends before a `_`
 * (`block_2` of `block_2_expand`), in order, without repeats.
 */
export function splitCandidates(names: readonly string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    for (let i = n.indexOf('_'); i > 0; i = n.indexOf('_', i + 1)) out.add(n.slice(0, i));
    out.add(n);
  }
  return [...out];
}
