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
  // scaling: images/s at N threads over images/s at 1 thread, same side, per backend and stage
  const one = sections.find((x) => x.threads === 1);
  const scaling = [];
  for (const sec of sections.filter((x) => x.threads > 1 && one)) {
    for (const r of sec.rows ?? []) {
      const base = one.rows?.find((q) => q.backend === r.backend && q.stage === r.stage);
      const f = r.fastlr && !r.fastlr.error && base?.fastlr && !base.fastlr.error ? r.fastlr.images_per_s / base.fastlr.images_per_s : null;
      const t = r.torch && base?.torch ? r.torch.images_per_s / base.torch.images_per_s : null;
      scaling.push({ threads: sec.threads, backend: r.backend, stage: r.stage, fastlr: f, torch: t });
    }
  }
  if (scaling.length) {
    const x = (v) => (v === null ? '—' : `${v.toFixed(2)}×`);
    texts.push(`scaling (images/s at N threads / at 1 thread, wall clock):\n${scaling.map((r) => `  ${r.stage} ${r.backend} ${r.threads} threads: fastlr ${x(r.fastlr)}, PyTorch ${x(r.torch)}`).join('\n')}`);
  }
  return { title, text: texts.join('\n\n'), json: sections, scaling };
}
