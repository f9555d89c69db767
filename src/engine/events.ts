/** What the engine tells the outside world. Reporters and the run folder listen; the engine never prints. */

export interface BatchEvent {
  type: 'batch';
  /** 0-based training batch counter over the whole run (validation never advances it) */
  iter: number;
  epoch: number;
  /** batch index inside the epoch */
  batch: number;
  batchesPerEpoch: number;
  lr: number[];
  mom: number;
  /** raw batch loss, before the optimiser step */
  loss: number;
  /** fastai's debiased exponentially smoothed loss (beta 0.98, never reset within a run) */
  smooth: number;
}

export interface EpochEvent {
  type: 'epoch';
  epoch: number;
  epochs: number;
  /** smoothed training loss at the end of the epoch (fastai's train_loss) */
  train_loss: number;
  valid_loss: number;
  metrics: Record<string, number>;
  seconds: number;
}

export interface PhaseEvent {
  type: 'begin' | 'end';
  phase: string;
  /** total batches the phase plans to run (an upper bound for the range test) */
  totalIters: number;
  epochs: number;
  batchesPerEpoch: number;
}

export interface NoteEvent {
  type: 'note';
  level: 'info' | 'warn';
  message: string;
}

export type EngineEvent = BatchEvent | EpochEvent | PhaseEvent | NoteEvent;
export type EventSink = (e: EngineEvent) => void;

/** Why a loop ended. */
export type StopReason = 'completed' | 'num_it' | 'diverged' | 'non_finite' | 'interrupted';

/** A cooperative cancel flag: set from a signal handler, checked by the loop after every batch. */
export class StopSignal {
  private why: StopReason | null = null;
  request(reason: StopReason = 'interrupted'): void {
    this.why ??= reason;
  }
  get requested(): StopReason | null {
    return this.why;
  }
}
