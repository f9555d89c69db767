// The terminal reporter during a real training stage: the bars redraw while an epoch runs (the loop yields to the
// event loop between batches, so cli-progress's redraw timer fires), and a line printed mid-epoch (the Ctrl-C
// acknowledgement goes through reporter.warn) lands in the output above the bars, whole.
import { afterAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { resolvePlan } from '../src/plan/index.js';
import { openSession, type Session } from '../src/phases/session.js';
import { runStage } from '../src/phases/stage.js';
import { fitStage } from '../src/schedule/index.js';
import { createReporter } from '../src/report/reporter.js';

const YAML = `
seed: 2
backend: cpu
data:
  source: synthetic
  batch_size: 16
  valid_pct: 0.2
  synthetic: { task: classification, n: 6000, features: 16, classes: 4, noise: 1.0 }
model:
  input: [16]
  layers:
    - dense: { units: 64, activation: relu }
    - dense: { units: 4 }
fit: { epochs: 1, lr: 1.0e-2 }
`;

/** A stream that says it is a terminal and keeps every write with the time it came. */
class FakeTty extends Writable {
  readonly isTTY = true;
  readonly columns = 120;
  readonly writes: { at: number; text: string }[] = [];
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.writes.push({ at: performance.now(), text: chunk.toString() });
    done();
  }
}

// eslint-disable-next-line no-control-regex
const plain = (s: string): string => s.replace(/\x1B(?:\[[0-9;?]*[A-Za-z]|[78])/g, '');

describe('the progress bars during an epoch', () => {
  let session: Session | null = null;
  afterAll(() => session?.dispose());

  it('redraw between batches, and a warning printed mid-epoch appears whole on its own line', async () => {
    const { plan } = resolvePlan(YAML, 'progress-test.yaml', { env: {} });
    session = await openSession(plan);
    const { learner } = session;
    const tty = new FakeTty();
    const saved = process.stdout;
    // the pretty reporter draws on the human stream (stdout without --json)
    Object.defineProperty(process, 'stdout', { value: tty, configurable: true });
    let epochAt = 0;
    let beganAt = 0;
    const ack = 'interrupt: finishing the current batch (press Ctrl-C again to abort at once)';
    try {
      const r = createReporter({ json: false, quiet: false, color: false, interactive: true, metrics: [] });
      await runStage({
        learner,
        stage: fitStage(plan.fit, 1e-2, learner.groups.length, learner.batchesPerEpoch),
        metrics: [],
        monitor: 'valid_loss',
        onEvent: (e) => {
          r.event(e);
          // every batch at least 2 ms long, as in any real model: this tiny MLP alone can run its 300 batches in
          // under 0.3 s on a fast machine, too short for cli-progress's 100 ms redraw to show several frames
          if (e.type === 'batch') {
            const until = performance.now() + 2;
            while (performance.now() < until);
          }
          if (e.type === 'begin') beganAt = performance.now();
          if (e.type === 'batch' && e.batch === Math.floor(e.batchesPerEpoch / 2)) r.warn(ack);
          if (e.type === 'epoch' && epochAt === 0) epochAt = performance.now();
        },
      });
      r.close();
    } finally {
      Object.defineProperty(process, 'stdout', { value: saved, configurable: true });
    }
    const during = tty.writes.filter((w) => w.at > beganAt && w.at < epochAt && /batches/.test(plain(w.text)));
    // 300 batches: at cli-progress's 100 ms redraw rate an epoch of a second or more draws many frames
    expect(epochAt - beganAt).toBeGreaterThan(300);
    expect(during.length).toBeGreaterThanOrEqual(3);
    const frames = during.map((w) => /(\d+)\/300/.exec(plain(w.text))?.[1]).filter((v) => v !== undefined);
    expect(new Set(frames).size).toBeGreaterThanOrEqual(3);
    // written whole, by cli-progress above the bars it then redraws (not into the line a bar is drawn over)
    const at = tty.writes.findIndex((w) => w.text === `${ack}\n`);
    expect(at).toBeGreaterThan(0);
    expect(tty.writes.slice(at + 1).some((w) => /batches/.test(plain(w.text)))).toBe(true);
  }, 60_000);
});
