/** `fastlr schema`: the config's JSON Schema (for editor completion), or `--markdown` the key reference. */
import { configMarkdown } from '../plan/docs.js';
import { planJsonSchema } from '../plan/index.js';
import type { Io } from './types.js';

export interface SchemaOptions {
  /** the Markdown key reference (docs/config.md) instead of JSON Schema */
  markdown: boolean;
}

export async function runSchema(o: SchemaOptions, io: Pick<Io, 'stdout'> = { stdout: process.stdout }): Promise<number> {
  io.stdout.write(o.markdown ? configMarkdown() : JSON.stringify(planJsonSchema(), null, 2) + '\n');
  return 0;
}
