/**
 * The README's library example (examples/library.mjs) runs from the built package as a fresh clone runs it:
 * `node examples/library.mjs <dir>` importing 'fastlr' (the package's own exports → dist/), and does what it says.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { ROOT } from './helpers/cli.js';
import { loadModelDir } from '../src/model/index.js';

describe('examples/library.mjs', () => {
  it('builds a model in code, runs lrFind, fitOneCycle at the suggestion and fineTune, saves a loadable model', async () => {
    expect(existsSync(join(ROOT, 'dist/index.js')), 'run npm run build first').toBe(true);
    const dir = join(mkdtempSync(join(tmpdir(), 'fastlr-libex-')), 'model');
    const r = spawnSync(process.execPath, [join(ROOT, 'examples/library.mjs'), dir], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/^lrFind: \d+ steps \((diverged|num_it)\); valley \d\.\d\de-\d, slide/m);
    expect(out.match(/^fit epoch \d: /gm)).toHaveLength(3);
    expect(out).toMatch(/^fineTune frozen epoch 0: /m);
    expect(out.match(/^fineTune unfrozen epoch \d: /gm)).toHaveLength(2);
    const acc = Number(/^final accuracy (\S+)/m.exec(out)?.[1]);
    expect(acc).toBeGreaterThan(0.8);
    await tf.setBackend('cpu');
    const m = await loadModelDir(dir);
    expect(m.layers.map((l) => l.name)).toEqual(['body_dense', 'head_dense']);
    m.dispose();
  });
});
