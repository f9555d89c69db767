/**
 * Where `model.from` points. Run folders carry a timestamp (`runs/<name>/fit-<stamp>/model/`), so a config cannot
 * name the model a `fit` will produce; `model.from` may therefore name any of:
 *
 *   - a model folder (holding model.json), used as is;
 *   - a run folder (holding model/model.json), e.g. runs/digits-pretrain/fit-20261201-090000-000;
 *   - a run base folder (the `output` of another config, e.g. runs/digits-pretrain): its newest completed `fit` run,
 *     i.e. the `fit-*` folder with the latest timestamp that holds model/model.json (a fit writes its model only when
 *     it completes, so interrupted or diverged runs are passed over).
 *
 * Only node:fs: `check` resolves it without loading tfjs.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, FastlrError } from '../errors.js';

const MODEL_JSON = 'model.json';
const RUN_MODEL = 'model';

export interface ResolvedModelFrom {
  /** absolute path of the model folder (holds model.json), or of the model.json file itself when `from` names one */
  dir: string;
  /** how `from` was read */
  kind: 'model' | 'run' | 'newest-fit-run';
}

const hasModel = (dir: string): boolean => existsSync(path.join(dir, MODEL_JSON));

/** Resolve `from` (relative to `cwd`) to a model folder; FastlrError (exit 2) naming the path when there is none. */
export function resolveModelFrom(from: string, cwd: string = process.cwd()): ResolvedModelFrom {
  const abs = path.resolve(cwd, from);
  let isDir = false;
  try {
    isDir = statSync(abs).isDirectory();
  } catch {
    throw new FastlrError(
      `model.from: ${abs} does not exist (give a model folder with model.json, a run folder, or a run base folder such as runs/<name> after \`fastlr fit\`)`,
      ExitCode.usage,
    );
  }
  // a model.json path (any file name ending .json): its weight files are found beside it
  if (!isDir && abs.toLowerCase().endsWith('.json')) return { dir: abs, kind: 'model' };
  if (!isDir) throw new FastlrError(`model.from: ${abs} is not a folder or a model.json file`, ExitCode.usage);
  if (hasModel(abs)) return { dir: abs, kind: 'model' };
  if (hasModel(path.join(abs, RUN_MODEL))) return { dir: path.join(abs, RUN_MODEL), kind: 'run' };
  const fits = readdirSync(abs)
    .filter((n) => n.startsWith('fit-'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true })) // fit-<stamp>-10 after fit-<stamp>-9
    .reverse();
  for (const n of fits) {
    const dir = path.join(abs, n, RUN_MODEL);
    if (hasModel(dir)) return { dir, kind: 'newest-fit-run' };
  }
  const why =
    fits.length === 0
      ? 'no model.json and no fit-* run folder in it'
      : `no model.json, and none of its ${fits.length} fit-* run folder(s) completed (no fit-*/model/model.json)`;
  throw new FastlrError(`model.from: ${abs} has ${why}; run the fit that produces it first (e.g. fastlr fit <pretrain config>)`, ExitCode.usage);
}

/** The model folder `from` names, or undefined when there is none yet (for `check`, which only warns). */
export function tryResolveModelFrom(from: string, cwd: string): string | undefined {
  try {
    return resolveModelFrom(from, cwd).dir;
  } catch {
    return undefined;
  }
}
