// The MobileNetV2 224×224 training row: bench/mobilenet.js (the kernels work) when it is present, run at the bench's
// thread counts where it supports them; a note when it is not there yet.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const impl = path.resolve(here, '..', 'mobilenet.js');

export const id = 'mobilenet';

export async function run({ threadList, backends, python, quick, rounds, log }) {
  const title = 'MobileNetV2 224×224 training, images/s';
  if (!existsSync(impl)) return { title, note: 'not measured: bench/mobilenet.js is not in this tree.' };
  const m = await import(pathToFileURL(impl).href);
  if (typeof m.mobilenetSection !== 'function' || typeof m.mobilenetTable !== 'function') {
    return { title, note: 'not measured: bench/mobilenet.js exports no mobilenetSection/mobilenetTable.' };
  }
  const { fmt, table } = await import('../format.js');
  const sections = [];
  const texts = [];
  for (const threads of threadList) {
    const section = await m.mobilenetSection({ backends, python, rounds: quick ? 1 : rounds, threads, steps: quick ? 2 : 3, log });
    sections.push({ threads, ...section });
    texts.push(`${threads} thread(s) requested${section.threads !== undefined ? `, ${section.threads} used` : ''}:\n${m.mobilenetTable(section, fmt, table)}`);
  }
  return { title, text: texts.join('\n\n'), json: sections };
}
