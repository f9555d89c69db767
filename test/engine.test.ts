import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import type { Session } from '../src/phases/session.js';
import { sessionsFor, syntheticMlpYaml } from './helpers/sessions.js';
import { rangeTest } from '../src/phases/find.js';
import { fitOneCycle } from '../src/phases/fit.js';
import { encodeState } from '../src/optim/index.js';
import { epochOrder } from '../src/data/index.js';
import { StopSignal } from '../src/engine/events.js';

const YAML = syntheticMlpYaml({ seed: 7, n: 240, groups: [2], tail: 'find: { num_it: 40 }' });


function weightsOf(s: Session): Map<string, Float32Array> {
  return new Map(s.learner.model.weights.map((w) => [w.originalName, Float32Array.from(w.read().dataSync() as Float32Array)]));
}

function sameBits(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (!w || w.length !== v.length) return false;
    const x = new Uint32Array(v.buffer, v.byteOffset, v.length);
    const y = new Uint32Array(w.buffer, w.byteOffset, w.length);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  }
  return true;
}

const oneCycle = (groups: number) => ({
  epochs: 1,
  lrMax: new Array<number>(groups).fill(3e-3),
  div: 25,
  divFinal: 1e5,
  pctStart: 0.25,
  moms: [0.95, 0.85, 0.95] as [number, number, number],
});

describe('engine', () => {
  const open = sessionsFor('engine-test.yaml');
  const session = (): Promise<Session> => open(YAML);

  it('find restores weights, optimizer state and the random state bit for bit, and repeats its curve', async () => {
    const s = await session();
    // give the optimizer some state first, so there is something to restore
    await fitOneCycle(s.learner, oneCycle(s.learner.groups.length), {});
    const w0 = weightsOf(s);
    const o0 = encodeState(s.learner.opt.snapshot());
    const r0 = JSON.stringify(s.learner.rng.state());
    const cfg = { start_lr: 1e-7, end_lr: 10, num_it: 40, stop_div: true, suggest: 'valley' as const };
    const a = await rangeTest(s.learner, cfg);
    expect(a.lrs.length).toBeGreaterThan(6);
    expect(sameBits(weightsOf(s), w0)).toBe(true);
    expect(Buffer.from(encodeState(s.learner.opt.snapshot())).equals(Buffer.from(o0))).toBe(true);
    expect(JSON.stringify(s.learner.rng.state())).toBe(r0);
    const b = await rangeTest(s.learner, cfg);
    expect(b.losses).toEqual(a.losses);
    expect(b.raw_losses).toEqual(a.raw_losses);
    // the next data order after find is the one the fit would have drawn without it
    const after = epochOrder(s.data.train.n, true, s.learner.rng.next);
    s.learner.rng.restore(JSON.parse(r0));
    expect(Array.from(epochOrder(s.data.train.n, true, s.learner.rng.next))).toEqual(Array.from(after));
  });

  it('find restores everything when it is interrupted', async () => {
    const s = await session();
    await fitOneCycle(s.learner, oneCycle(s.learner.groups.length), {});
    const w0 = weightsOf(s);
    const signal = new StopSignal();
    let n = 0;
    const res = await rangeTest(
      s.learner,
      { start_lr: 1e-7, end_lr: 10, num_it: 40, stop_div: true, suggest: 'valley' },
      { signal, onEvent: (e) => e.type === 'batch' && ++n === 5 && signal.request() },
    );
    expect(res.stop).toEqual({ reason: 'interrupted', iteration: 5 });
    expect(sameBits(weightsOf(s), w0)).toBe(true);
  });

  it('does not leak tensors over 500 training steps', async () => {
    const s = await session();
    const run = (epochs: number) =>
      s.learner.run({ phase: 'fit', epochs, validate: true, hypers: () => ({ lr: [1e-3, 1e-3], mom: 0.9 }) });
    await run(1); // optimizer state is created lazily on the first step
    const before = tf.memory().numTensors;
    const res = await run(Math.ceil(500 / s.learner.batchesPerEpoch));
    expect(res.iterations).toBeGreaterThanOrEqual(500);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the same seed trains to the same weights; a fit learns', async () => {
    const a = await session();
    const b = await session();
    const ra = await fitOneCycle(a.learner, { ...oneCycle(2), epochs: 3, lrMax: [1e-2, 1e-2] }, {});
    await fitOneCycle(b.learner, { ...oneCycle(2), epochs: 3, lrMax: [1e-2, 1e-2] }, {});
    expect(sameBits(weightsOf(a), weightsOf(b))).toBe(true);
    expect(ra.epochs[2]!.metrics.accuracy).toBeGreaterThan(0.6);
  });

  it.each([3, 11, 12])('a fit stopped after %i batches and continued from its position ends with the same weights (dropout stream too)', async (k) => {
    const c = { ...oneCycle(2), epochs: 3, lrMax: [1e-2, 1e-2] };
    const whole = await session();
    await fitOneCycle(whole.learner, c, {});
    // stop after k batches (the config has 11 batches per epoch: k = 11 is an epoch boundary), resume in a fresh session
    const cut = await session();
    const signal = new StopSignal();
    let n = 0;
    const first = await fitOneCycle(cut.learner, c, { signal, onEvent: (e) => e.type === 'batch' && ++n === k && signal.request() });
    expect(first.stop.reason).toBe('interrupted');
    const snap = cut.learner.snapshot();
    const again = await session();
    again.learner.restore({ ...snap, rng: first.position.epochRng });
    await fitOneCycle(again.learner, c, { resume: first.position });
    expect(sameBits(weightsOf(again), weightsOf(whole))).toBe(true);
  });
});
