// The structure of the workflow (commands translate, phases run, the recipe exists once) and the phases' behaviour
// on an interrupt, in process: the range test restores everything, a fit stage stops at the batch.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Session } from '../src/phases/session.js';
import { sessionsFor, syntheticMlpYaml } from './helpers/sessions.js';
import { rangeTest } from '../src/phases/find.js';
import { runStage } from '../src/phases/stage.js';
import { fineTune } from '../src/phases/finetune.js';
import { StopSignal } from '../src/engine/events.js';
import { encodeState } from '../src/optim/index.js';
import { fineTuneRecipe, fineTuneSchedule, fineTuneStages, fitStage, stagesOf } from '../src/schedule/index.js';
import { ROOT } from './helpers/cli.js';

const SRC = join(ROOT, 'src');
const sourceFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
/** Every module a file imports (static, re-export and dynamic `import('…')`). */
const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)].map((m) => m[1]!);

describe('structure', () => {
  const commandDir = join(SRC, 'commands');
  const commands = readdirSync(commandDir).filter((f) => f.endsWith('.ts') && !['common.ts', 'types.ts'].includes(f));

  it('no command imports another command (commands share only common.ts and types.ts)', () => {
    expect(commands).toEqual(expect.arrayContaining(['check.ts', 'find.ts', 'fit.ts', 'finetune.ts', 'report.ts']));
    const offending: string[] = [];
    for (const f of commands) {
      for (const spec of importsOf(join(commandDir, f))) {
        const m = /^\.\/(.+)\.js$/.exec(spec);
        if (m && !['common', 'types'].includes(m[1]!)) offending.push(`${f} imports ${spec}`);
      }
    }
    // the shared helpers do not reach into a command either, and nothing outside src/commands imports one (but the CLI)
    for (const f of ['common.ts', 'types.ts']) {
      for (const spec of importsOf(join(commandDir, f))) if (/^\.\/(?!common|types)/.test(spec)) offending.push(`${f} imports ${spec}`);
    }
    for (const f of sourceFiles(SRC).filter((p) => !p.startsWith(commandDir) && !p.endsWith('cli.ts'))) {
      for (const spec of importsOf(f)) if (/\/commands\//.test(spec)) offending.push(`${f.slice(SRC.length + 1)} imports ${spec}`);
    }
    expect(offending).toEqual([]);
  });

  it("fastai's fine_tune recipe is written once: only schedule/schedules.ts sets the frozen stage's pct_start 0.99", () => {
    const holders = sourceFiles(SRC).filter((f) => /pct_?[sS]tart:\s*0\.99\b/.test(readFileSync(f, 'utf8')));
    expect(holders.map((f) => f.slice(SRC.length + 1))).toEqual(['schedule/schedules.ts']);
  });

  it('the declared stages: fine_tune stage 1 ignores fit.div (fit_one_cycle default 25); stages equal the vector-tested fineTuneSchedule', () => {
    const r = fineTuneRecipe({ epochs: 2, baseLr: 1e-2, div: 7, divFinal: 1e3 });
    expect(r.frozen).toMatchObject({ epochs: 1, div: 25, pctStart: 0.99, divFinal: 1e3 });
    expect(r.unfrozen).toMatchObject({ epochs: 2, div: 7, divFinal: 1e3 });
    const o = { epochs: 2, baseLr: 1e-2, lrMult: 10, itersPerEpoch: 5, nGroups: 3 };
    const sched = fineTuneSchedule(o);
    const stages = fineTuneStages(o, 3, 5);
    expect(stages.map((s) => [s.id, s.freeze])).toEqual([['frozen', 'freeze'], ['unfrozen', 'unfreeze']]);
    expect(stages[0]!.steps).toEqual(sched.frozen);
    expect(stages[1]!.steps).toEqual(sched.unfrozen);
    const plan = {
      fit: { epochs: 3, lr: 1e-3, div: 10, div_final: 1e4, pct_start: 0.25, moms: [0.95, 0.85, 0.95] as [number, number, number] },
      finetune: { epochs: 2, freeze_epochs: 0, base_lr: 2e-3, lr_mult: 100, pct_start: 0.3, div: 5 },
    };
    const all = stagesOf(plan, 2, 4);
    expect(all.map((s) => s.id)).toEqual(['fit', 'unfrozen']);
    expect(all[0]!.steps).toEqual(fitStage(plan.fit, 1e-3, 2, 4).steps);
    expect(all[0]!.steps[0]!.lr).toEqual([1e-4, 1e-4]);
    expect(stagesOf({ ...plan, fit: { ...plan.fit, lr: 'auto' } }, 2, 4).map((s) => s.id)).toEqual(['unfrozen']);
  });
});

const YAML = syntheticMlpYaml({ seed: 11, n: 480, groups: [1], tail: `find: { num_it: 200, start_lr: 1.0e-6, end_lr: 1.0e-2 }
fit: { epochs: 2, lr: 1.0e-2 }
finetune: { freeze_epochs: 1, epochs: 1, base_lr: 1.0e-2 }` });

describe('phases on an interrupt (in process)', () => {
  const openYaml = sessionsFor('phases-test.yaml');
  const open = (): Promise<Session> => openYaml(YAML);
  const state = (s: Session): string => {
    const snap = s.learner.snapshot();
    return JSON.stringify({
      w: s.learner.model.weights.map((w) => Array.from(w.read().dataSync())),
      opt: Array.from(encodeState(snap.optimizer)),
      rng: snap.rng,
      frozen: snap.frozenGroups,
    });
  };

  it('an interrupted range test stops with stop.reason interrupted at that batch and restores weights, optimizer and RNG', async () => {
    const s = await open();
    const { learner } = s;
    // non-trivial optimizer state first
    await runStage({ learner, stage: fitStage(s.plan.fit, 1e-3, learner.groups.length, learner.batchesPerEpoch), metrics: ['accuracy'], monitor: 'valid_loss' });
    const before = state(s);
    const signal = new StopSignal();
    const res = await rangeTest(learner, s.plan.find, { signal, onEvent: (e) => e.type === 'batch' && e.iter === 29 && signal.request('interrupted') });
    expect(res.stop).toEqual({ reason: 'interrupted', iteration: 30 });
    expect(res.lrs).toHaveLength(30);
    expect(state(s)).toBe(before);
  }, 60_000);

  it('a fit stage interrupted mid-epoch stops at the batch; fineTune runs no further stage after an interrupt', async () => {
    const s = await open();
    const { learner } = s;
    const bpe = learner.batchesPerEpoch;
    const signal = new StopSignal();
    const res = await runStage({
      learner,
      stage: fitStage(s.plan.fit, 1e-2, learner.groups.length, bpe),
      metrics: ['accuracy'],
      monitor: 'valid_loss',
      signal,
      onEvent: (e) => e.type === 'batch' && e.iter === bpe + 3 && signal.request('interrupted'),
    });
    expect(res.stop).toEqual({ reason: 'interrupted', iteration: bpe + 4 });
    expect(res.epochs.map((e) => e.epoch)).toEqual([0]);

    const t = await open();
    const stop = new StopSignal();
    const seen: string[] = [];
    const results = await fineTune(t.learner, {
      stages: fineTuneStages({ epochs: 1, baseLr: 1e-2 }, t.learner.groups.length, t.learner.batchesPerEpoch),
      run: ['frozen', 'unfrozen'],
      metrics: ['accuracy'],
      monitor: 'valid_loss',
      signal: stop,
      onEvent: (e) => {
        if (e.type === 'begin') seen.push(e.phase);
        if (e.type === 'batch' && e.iter === 2) stop.request('interrupted');
      },
    });
    expect(results.map((r) => [r.stage, r.stop.reason])).toEqual([['frozen', 'interrupted']]);
    expect(seen).toEqual(['finetune-frozen']);
  }, 60_000);
});
