/**
 * One worker thread of `find --repeats N` (phases/parallel-repeats.ts): opens its own session from the same plan
 * (one kernel thread), puts the coordinator's learner state into it (weights by position, optimizer state, freeze),
 * then runs the range tests it is handed, each from that state with the job's RNG state, as the sequential loop would.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSession } from './session.js';
import { rangeTest } from './find.js';
import { StopSignal } from '../engine/events.js';
import type { LearnerSnapshot } from '../engine/learner.js';
import type { OptimizerState } from '../optim/index.js';
import type { RepeatWorkerData, ToWorker, FromWorker } from './parallel-repeats.js';

const port = parentPort;
const d = workerData as RepeatWorkerData;

/** The coordinator's snapshot with its weight names replaced by this process's (tfjs numbers layers per process). */
function localSnapshot(names: readonly string[]): LearnerSnapshot {
  if (names.length !== d.weights.length) throw new Error(`the worker's model has ${names.length} weights, the coordinator's ${d.weights.length}`);
  const rename = new Map(d.weights.map((w, i) => [w.name, names[i]!]));
  const weights = new Map(d.weights.map((w, i) => [names[i]!, { shape: w.shape, data: w.data }]));
  const params: OptimizerState['params'] = {};
  for (const [key, p] of Object.entries(d.optimizer.params)) {
    const local = rename.get(key);
    if (local === undefined) throw new Error(`optimizer state of ${key}: no such weight`);
    params[local] = p;
  }
  return { weights, optimizer: { ...d.optimizer, params }, rng: d.rng, frozenGroups: d.frozenGroups };
}

async function main(): Promise<void> {
  if (!port) return;
  const send = (m: FromWorker): void => port.postMessage(m);
  const session = await openSession({ ...d.plan, threads: 1 }, { ...(d.modelDir !== undefined ? { modelDir: d.modelDir } : {}), ...(d.data !== undefined ? { data: d.data } : {}) });
  const learner = session.learner;
  const start = localSnapshot(learner.model.weights.map((w) => w.originalName));
  learner.restore(start);
  let signal = new StopSignal();
  /** the repeat running now */
  let current = -1;
  let busy = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stop') {
      if (m.k === undefined || m.k === current) signal.request('interrupted');
      return;
    }
    if (m.type === 'close') {
      busy.then(() => {
        session.dispose();
        port.close();
      });
      return;
    }
    busy = busy.then(async () => {
      try {
        // as the sequential loop: the state the previous range test restored, this repeat's RNG
        current = m.k;
        learner.rng.restore(m.rng);
        if (m.stop) signal.request('interrupted');
        const result = await rangeTest(learner, d.cfg, { signal });
        send({ type: 'result', k: m.k, result });
      } catch (e) {
        send({ type: 'error', k: m.k, message: e instanceof Error ? e.message : String(e) });
      }
      signal = new StopSignal();
      current = -1;
    });
  });
  send({ type: 'ready' });
}

main().catch((e: unknown) => port?.postMessage({ type: 'error', k: -1, message: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies FromWorker));
