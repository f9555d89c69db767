export type { Method, SuggestedLr, NoSuggestion, Suggestion } from './types.js';
export { METHODS, isSuggested } from './types.js';
export { valley } from './valley.js';
export { slide, type SlideOptions } from './slide.js';
export { steep } from './steep.js';
export { minimum } from './minimum.js';
export { suggest, trimForSuggestions, SKIP_END, MIN_POINTS, type SuggestOptions, type TrimmedCurve } from './suggest.js';
