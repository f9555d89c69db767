// The batch bar's ETA: `ETA --` until it is known, never cli-progress's `NFs`/`LLs` (its INF and NULL through the
// default time format), NaN or Infinity — a stalled bar (no progress between redraws) and the first frame of every
// epoch included. The pretty reporter is driven with real engine events on a stream that says it is a terminal.
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createReporter, etaText } from '../src/report/reporter.js';

class FakeTty extends Writable {
  readonly isTTY = true;
  readonly columns = 120;
  text = '';
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}
// eslint-disable-next-line no-control-regex
const plain = (s: string): string => s.replace(/\x1B(?:\[[0-9;?]*[A-Za-z]|[78])/g, '');

describe('etaText', () => {
  it('is -- until known, then the time', () => {
    expect(etaText('INF', 3)).toBe('--');
    expect(etaText('NULL', 3)).toBe('--');
    expect(etaText('0', 0)).toBe('--'); // cli-progress's initial value
    expect(etaText(Infinity, 3)).toBe('--');
    expect(etaText(NaN, 3)).toBe('--');
    expect(etaText(7, 0)).toBe('--'); // no batch of this epoch done yet
    expect(etaText(7, 3)).toBe('7s');
    expect(etaText(65, 3)).toBe('1m05s');
    expect(etaText(7830, 3)).toBe('2h10m');
  });
});

describe('the pretty reporter', () => {
  it('never draws ETA NFs, NaN or Infinity; ETA -- before the first batch and after an epoch ends', async () => {
    const tty = new FakeTty();
    const saved = process.stdout;
    Object.defineProperty(process, 'stdout', { value: tty, configurable: true });
    try {
      const r = createReporter({ json: false, quiet: false, color: false, interactive: true, metrics: [] });
      const per = 6;
      r.event({ type: 'begin', phase: 'fit', totalIters: 2 * per, epochs: 2, batchesPerEpoch: per });
      await sleep(250); // a frame before any batch
      for (let epoch = 0; epoch < 2; epoch++) {
        for (let b = 0; b < per; b++) {
          const ev = { type: 'batch' as const, iter: epoch * per + b, epoch, batch: b, batchesPerEpoch: per, lr: [1e-3], mom: 0.9, loss: 1, smooth: 1 };
          r.event(ev);
          await sleep(40);
          r.event(ev); // the same position again: no progress since the last update (cli-progress's INF)
          await sleep(130);
        }
        r.event({ type: 'epoch', epoch, epochs: 2, train_loss: 1, valid_loss: 1, metrics: {}, seconds: 1 });
        await sleep(250); // a frame of the next epoch before its first batch
      }
      r.event({ type: 'end', phase: 'fit', totalIters: 2 * per, epochs: 2, batchesPerEpoch: per });
      r.close();
    } finally {
      Object.defineProperty(process, 'stdout', { value: saved, configurable: true });
    }
    const out = plain(tty.text);
    expect(out).toMatch(/batches .*\| 0\/6 +ETA --/);
    expect(out).toMatch(/ETA +\d+s/); // known once batches are done
    expect(out).not.toMatch(/ETA (NFs|LLs|NaN|Infinity|INF|NULL)|NaN|Infinity/);
  }, 20_000);
});
