/** The config's JSON Schema (draft 2020-12), generated from the zod schema, for editor completion. */
import { z } from 'zod';
import { LAYER_SHORTHAND, LAYER_TYPES, type LayerType } from './layers.js';
import { configSchema, layerSchema, layerVariants } from './schema.js';

type Json = Record<string, unknown>;

/** Every YAML form of one layer item (see layers.ts), as a zod schema used only to generate JSON Schema. */
function layerFormsSchema(): z.ZodType {
  const forms: z.ZodType[] = [];
  for (const type of LAYER_TYPES) {
    const variant = layerVariants[type] as z.ZodObject;
    const body = variant.omit({ type: true });
    const shape = body.shape as Record<string, z.ZodType>;
    const required = Object.entries(shape).some(([, s]) => !s.safeParse(undefined).success);
    if (!required) forms.push(z.literal(type));
    const key = LAYER_SHORTHAND[type as LayerType];
    const value = key !== undefined ? z.union([shape[key]!, body]) : required ? body : body.nullable();
    forms.push(z.strictObject({ [type]: value }));
    forms.push(variant);
  }
  return z.union(forms).describe('a layer: `flatten`, `dense: 10`, `dense: { units: 10, activation: relu }`, …');
}

/** Drop `maximum: MAX_SAFE_INTEGER` (zod's integer bound): noise for editors and readers. */
export function tidy(v: unknown): void {
  if (Array.isArray(v)) v.forEach(tidy);
  else if (typeof v === 'object' && v !== null) {
    const o = v as Json;
    if (o['maximum'] === Number.MAX_SAFE_INTEGER) delete o['maximum'];
    if (o['minimum'] === Number.MIN_SAFE_INTEGER) delete o['minimum'];
    Object.values(o).forEach(tidy);
  }
}

let cached: Json | undefined;

/** The JSON Schema of a config file: every key, its type, bounds, default and description. */
export function planJsonSchema(): Json {
  if (!cached) {
    const layerJson = z.toJSONSchema(layerFormsSchema(), { io: 'input' }) as Json;
    delete layerJson['$schema'];
    const schema = z.toJSONSchema(configSchema, {
      io: 'input',
      target: 'draft-2020-12',
      unrepresentable: 'any',
      override: (ctx) => {
        if (ctx.zodSchema === layerSchema) {
          const js = ctx.jsonSchema as Json;
          for (const k of Object.keys(js)) delete js[k];
          Object.assign(js, structuredClone(layerJson));
        }
      },
    }) as Json;
    tidy(schema);
    cached = { ...schema, title: 'fastlr config', description: 'A fastlr config file (YAML). See docs/config.md.' };
  }
  return structuredClone(cached);
}
