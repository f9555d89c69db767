/** model.from resolution (src/model/from.ts): a model folder, a run folder, or a run base folder's newest completed fit. */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FastlrError } from '../src/errors.js';
import { resolveModelFrom, tryResolveModelFrom } from '../src/model/from.js';

function tree(files: string[]): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fastlr-from-'));
  for (const f of files) {
    mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    writeFileSync(path.join(root, f), '{}');
  }
  return root;
}

describe('resolveModelFrom', () => {
  it('a model folder as is, a run folder → its model/, a base folder → the newest fit-* with model/model.json', () => {
    const root = tree([
      'm/model.json',
      'base/fit-20260101-000000-000/model/model.json',
      'base/fit-20260301-000000-000/model/model.json',
      'base/fit-20260401-000000-000/ckpt/last/state.json', // interrupted: no model/
      'base/find-20260501-000000-000/find.json',
      'base/finetune-20260601-000000-000/frozen/model/model.json', // not a fit run
    ]);
    expect(resolveModelFrom('m', root)).toEqual({ dir: path.join(root, 'm'), kind: 'model' });
    expect(resolveModelFrom('base/fit-20260101-000000-000', root)).toEqual({ dir: path.join(root, 'base/fit-20260101-000000-000/model'), kind: 'run' });
    expect(resolveModelFrom(path.join(root, 'base'))).toEqual({ dir: path.join(root, 'base/fit-20260301-000000-000/model'), kind: 'newest-fit-run' });
    expect(tryResolveModelFrom('base', root)).toBe(path.join(root, 'base/fit-20260301-000000-000/model'));
  });

  it('errors name the path and say what is missing (exit 2)', () => {
    const root = tree(['file.txt', 'empty/.keep', 'unfinished/fit-20260101-000000-000/ckpt/last/state.json']);
    const err = (from: string): FastlrError => {
      try {
        resolveModelFrom(from, root);
      } catch (e) {
        return e as FastlrError;
      }
      throw new Error('no error');
    };
    expect(err('nope').message).toBe(
      `model.from: ${path.join(root, 'nope')} does not exist (give a model folder with model.json, a run folder, or a run base folder such as runs/<name> after \`fastlr fit\`)`,
    );
    expect(err('nope').exitCode).toBe(2);
    expect(err('file.txt').message).toContain('is not a folder');
    expect(err('empty').message).toContain(`${path.join(root, 'empty')} has no model.json and no fit-* run folder in it`);
    expect(err('unfinished').message).toContain('none of its 1 fit-* run folder(s) completed');
    expect(tryResolveModelFrom('empty', root)).toBeUndefined();
  });
});

describe('check shows the groups finetune uses', () => {
  it('a loaded body with a new head and no model.groups: body | head; without a head the saved model is kept whole', async () => {
    const { groupCount, modelLayerNames, parameterGroups } = await import('../src/plan/groups.js');
    const saved = ['l0_conv2d', 'l1_maxpool', 'l2_flatten', 'l3_dense', 'l4_dense'];
    const head = [{ type: 'dense' as const, units: 5 }];
    const plan = { model: { from: 'runs/x', cut: -1, head, groups: [], train_bn: true } } as unknown as Parameters<typeof groupCount>[0];
    expect(groupCount(plan)).toBe(2);
    const names = modelLayerNames(plan, saved)!;
    expect(names).toEqual(['l0_conv2d', 'l1_maxpool', 'l2_flatten', 'l3_dense', 'l4_dense']);
    expect(parameterGroups(plan, names)!.map((g) => g.layers)).toEqual([['l0_conv2d', 'l1_maxpool', 'l2_flatten', 'l3_dense'], ['l4_dense']]);
    const whole = { model: { from: 'runs/x', cut: -1, groups: [1], train_bn: true } } as unknown as Parameters<typeof groupCount>[0];
    expect(groupCount(whole)).toBe(2);
    expect(modelLayerNames(whole, saved)).toEqual(saved);
    expect(parameterGroups(whole, saved)!.map((g) => g.layers.length)).toEqual([1, 4]);
  });
});

describe('the transfer-learning example configs', () => {
  it('are valid; scratch trains the architecture finetune builds (pretrained body cut + head); finetune finds the pretrain runs', async () => {
    const { loadPlan } = await import('../src/plan/index.js');
    const root = path.resolve(__dirname, '..');
    const load = async (n: string) => (await loadPlan(path.join(root, 'configs', `digits-${n}.yaml`), { env: {} })).plan;
    const [pre, ft, sc] = [await load('pretrain'), await load('finetune'), await load('scratch')];
    const strip = (l: object): string => JSON.stringify(l);
    const built = [...pre.model.layers!.slice(0, ft.model.cut), ...ft.model.head!].map(strip);
    expect(sc.model.layers!.map(strip)).toEqual(built);
    expect(ft.model.from).toBe(pre.output);
    expect(ft.data.images).toEqual(sc.data.images);
    expect(ft.data.batch_size).toBe(sc.data.batch_size);
    // the same epoch budget
    expect(ft.finetune.freeze_epochs + ft.finetune.epochs).toBe(sc.fit.epochs);
    expect(pre.data.mnist.digits).toEqual([0, 1, 2, 3, 4]);
  });
});
