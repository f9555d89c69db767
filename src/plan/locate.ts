/**
 * Map a key path (as zod reports it) to a place in the YAML source: the value node for wrong values, the key node
 * for unknown keys, the parent key for missing keys. Knows the short layer forms (`- dense: 10` is reported by zod
 * as `{ type: 'dense', units: 10 }`), so `model.layers.0.units` lands on the `10`.
 */
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from 'yaml';
import { isLayerList, LAYER_SHORTHAND, NO_SHORTHAND_KEY, type LayerType } from './layers.js';

export type Seg = string | number;

export interface Location {
  /** 1-based; 0 when the node has no place in the file */
  line: number;
  col: number;
  /** the path in YAML terms (short layer forms spelled as written), including segments not found */
  path: Seg[];
}

/** `model.layers[0].dense.units` */
export function formatPath(path: readonly Seg[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out === '' ? s : `.${s}`;
  }
  return out;
}

function keyOf(p: Pair): string | undefined {
  const k = p.key;
  if (isScalar(k)) return k.value === null ? undefined : String(k.value);
  if (typeof k === 'string' || typeof k === 'number') return String(k);
  return undefined;
}

/** Each map's pairs by key, the last of duplicates (as YAML keeps): built once per map, so a lookup is O(1). */
const pairIndex = new WeakMap<object, Map<string, Pair>>();

/** The last pair with this key (YAML keeps the last of duplicates). */
function findPair(map: { items: Pair[] }, key: string): Pair | undefined {
  let index = pairIndex.get(map);
  if (index === undefined) {
    index = new Map();
    for (const p of map.items) {
      const k = keyOf(p);
      if (k !== undefined) index.set(k, p);
    }
    pairIndex.set(map, index);
  }
  return index.get(key);
}

function rangeStart(n: unknown): number | undefined {
  if (n && typeof n === 'object' && 'range' in n) {
    const r = (n as Node).range;
    if (r) return r[0];
  }
  return undefined;
}

/** An empty value (`lr:`) sits at the end of its line: point at its key instead. */
function isEmptyScalar(n: unknown): boolean {
  return isScalar(n) && n.value === null && (n.source === '' || n.source === undefined);
}

export class Locator {
  constructor(
    private readonly doc: Document,
    private readonly lc: LineCounter,
  ) {}

  private at(node: unknown, path: Seg[], fallback?: unknown): Location {
    let off = isEmptyScalar(node) ? undefined : rangeStart(node);
    if (off === undefined) off = rangeStart(fallback);
    if (off === undefined) return { line: 0, col: 0, path };
    const { line, col } = this.lc.linePos(off);
    return { line, col, path };
  }

  /** Where `zpath` is; `mode: 'key'` gives the position of its last key instead of its value. */
  locate(zpath: readonly PropertyKey[], mode: 'value' | 'key' = 'value'): Location {
    const segs = zpath.map((s) => (typeof s === 'number' ? s : String(s)));
    let node: unknown = this.doc.contents;
    let keyNode: unknown = undefined; // key of the pair holding `node`
    const ypath: Seg[] = [];
    let i = 0;
    while (i < segs.length) {
      const seg = segs[i]!;
      const last = i === segs.length - 1;
      const rest = (): Seg[] => [...ypath, ...segs.slice(i)];
      const cur = isAlias(node) ? node.resolve(this.doc) : node;
      const layerItem = ypath.length === 3 && isLayerList(ypath.slice(0, 2));
      if (isMap(cur)) {
        const pair = findPair(cur, String(seg));
        if (pair) {
          ypath.push(seg);
          if (last && mode === 'key') return this.at(pair.key, ypath);
          node = pair.value;
          keyNode = pair.key;
          i++;
          continue;
        }
        if (layerItem && !findPair(cur, 'type') && cur.items.length === 1) {
          // short form `- dense: …`: `type` is the key, options live in (or are) its value
          const p = cur.items[0]!;
          const type = keyOf(p) ?? '';
          ypath.push(type);
          if (seg === 'type') return this.at(p.key, ypath);
          if (isMap(p.value)) {
            node = p.value;
            keyNode = p.key;
            continue; // look `seg` up inside the options map
          }
          if (seg === NO_SHORTHAND_KEY || seg === LAYER_SHORTHAND[type as LayerType]) {
            return this.at(p.value, ypath, p.key);
          }
          return this.at(p.key, rest()); // an option missing from the shorthand form
        }
        return this.at(keyNode ?? cur, rest(), cur);
      }
      if (isSeq(cur) && typeof seg === 'number' && seg < cur.items.length) {
        ypath.push(seg);
        node = cur.items[seg];
        keyNode = undefined;
        i++;
        continue;
      }
      // string form `- flatten`: its `type` is the scalar itself
      if (layerItem && isScalar(cur) && seg === 'type') return this.at(cur, ypath);
      return this.at(cur, rest(), keyNode);
    }
    return this.at(node, ypath, keyNode);
  }

  /** Position of a byte offset in the source. */
  position(offset: number): { line: number; col: number } {
    return this.lc.linePos(offset);
  }
}
