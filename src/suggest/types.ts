/** The four LR suggestions of fastai's `lr_find` (semantics §5). */
export type Method = 'valley' | 'slide' | 'steep' | 'minimum';

export const METHODS: readonly Method[] = ['valley', 'slide', 'steep', 'minimum'];

/** A suggestion fastai would return, with the point its plot marks. */
export interface SuggestedLr {
  /** the suggested learning rate, as fastai returns it (float32 lr; `minimum`: the lr at the minimum / 10) */
  lr: number;
  /** loss of the marked point (fastai's plotted y; `slide`: interpolated at lr on a log10 axis) */
  loss: number;
  /** index of the marked point: in the arrays given to a method, in the recorded arrays for `suggest()` */
  index: number;
  /** fastai's plotted point [lr, loss] (`minimum`: the lr at the minimum itself, not /10) */
  point: [number, number];
}

/** No suggestion possible (where fastai crashes or the input holds no answer), with the reason. */
export interface NoSuggestion {
  error: string;
}

export type Suggestion = SuggestedLr | NoSuggestion;

export function isSuggested(s: Suggestion): s is SuggestedLr {
  return 'lr' in s;
}
