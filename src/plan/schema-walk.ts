/** Walk the zod config schema along a key path (with the data alongside, to pick union branches). */
import { z } from 'zod';
import { normalizeLayerInput } from './layers.js';

type Seg = PropertyKey;

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Strip optional/nullable/default/prefault wrappers and pipes; a preprocess (the layer forms) reshapes `data`. */
function unwrap(s: z.ZodType, data: unknown): { s: z.ZodType; data: unknown } {
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
      s = s.unwrap() as z.ZodType;
    } else if (s instanceof z.ZodPipe) {
      if (s.in instanceof z.ZodTransform) {
        data = normalizeLayerInput(data);
        s = s.out as z.ZodType;
      } else {
        s = s.in as z.ZodType;
      }
    } else if (s instanceof z.ZodUnion) {
      const picked = pickOption(s, data);
      if (!picked) return { s, data };
      s = picked;
    } else {
      return { s, data };
    }
  }
}

/** The union branch `data` belongs to: by discriminator when there is one, else the first object branch. */
function pickOption(u: z.ZodUnion, data: unknown): z.ZodType | undefined {
  const options = u.options as readonly z.ZodType[];
  const disc = (u._zod.def as { discriminator?: string }).discriminator;
  const rec = asRecord(data);
  if (disc !== undefined) {
    return options.find((o) => {
      if (!(o instanceof z.ZodObject)) return false;
      const lit = (o.shape as Record<string, z.ZodType>)[disc];
      return lit instanceof z.ZodLiteral && (lit._zod.def.values as unknown[]).includes(rec?.[disc]);
    });
  }
  return options.find((o) => o instanceof z.ZodObject);
}

/** The schema at `path` below `root`, or undefined. */
export function schemaAt(root: z.ZodType, path: readonly Seg[], data: unknown): z.ZodType | undefined {
  let s: z.ZodType | undefined = root;
  let d = data;
  for (const seg of path) {
    const u = unwrap(s, d);
    d = u.data;
    const cur: z.ZodType = u.s;
    if (cur instanceof z.ZodObject) {
      s = (cur.shape as Record<string, z.ZodType>)[String(seg)];
      d = asRecord(d)?.[String(seg)];
    } else if (cur instanceof z.ZodArray) {
      s = cur.element as z.ZodType;
      d = Array.isArray(d) ? d[Number(seg)] : undefined;
    } else if (cur instanceof z.ZodTuple) {
      s = (cur._zod.def.items as z.ZodType[])[Number(seg)];
      d = Array.isArray(d) ? d[Number(seg)] : undefined;
    } else if (cur instanceof z.ZodRecord) {
      s = cur._zod.def.valueType as z.ZodType;
      d = asRecord(d)?.[String(seg)];
    } else {
      return undefined;
    }
    if (!s) return undefined;
  }
  return s;
}

/** The keys the object at `path` accepts ([] when it is not an object). */
export function knownKeysAt(root: z.ZodType, path: readonly Seg[], data: unknown): string[] {
  const s = schemaAt(root, path, data);
  if (!s) return [];
  let d: unknown = data;
  for (const seg of path) d = Array.isArray(d) ? d[Number(seg)] : asRecord(d)?.[String(seg)];
  const u = unwrap(s, d).s;
  if (!(u instanceof z.ZodObject)) return [];
  const shape = u.shape as Record<string, z.ZodType>;
  // a layer's `type` is the discriminator, not an option one would misspell
  return Object.keys(shape).filter((k) => !(k === 'type' && shape[k] instanceof z.ZodLiteral));
}

/** True when the schema at `path` is an integer. */
export function isIntegerAt(root: z.ZodType, path: readonly Seg[], data: unknown): boolean {
  const s = schemaAt(root, path, data);
  if (!s) return false;
  let d: unknown = data;
  for (const seg of path) d = Array.isArray(d) ? d[Number(seg)] : asRecord(d)?.[String(seg)];
  const u = unwrap(s, d).s;
  return u instanceof z.ZodNumber && u.isInt === true;
}
