import cliProgress from 'cli-progress';
import type { EngineEvent, EpochEvent } from '../engine/events.js';
import { fmtLr, fmtNum } from './chart.js';

/** Renders engine events and the command's human output. The engine never prints; reporters do. */
export interface Reporter {
  readonly kind: 'pretty' | 'plain' | 'quiet';
  /** colours allowed on the human stream */
  readonly color: boolean;
  event(e: EngineEvent): void;
  /** a line for people (stderr when --json, stdout otherwise) */
  info(text: string): void;
  /** always shown, also with --quiet, on stderr */
  warn(text: string): void;
  /** the command's final human summary: shown even with --quiet */
  result(text: string): void;
  close(): void;
}

export interface ReporterOptions {
  json: boolean;
  quiet: boolean;
  color: boolean;
  /** a terminal is attached and CI is not set */
  interactive: boolean;
  /** metric column names, in order, for the epoch table */
  metrics?: string[];
  /** seconds between progress lines in plain mode */
  plainEvery?: number;
}

export function wantsColor(flag: boolean, stream: NodeJS.WriteStream = process.stderr): boolean {
  if (!flag) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR) return true;
  return Boolean(stream.isTTY);
}

export function isInteractive(stream: NodeJS.WriteStream = process.stderr): boolean {
  const ci = process.env.CI;
  return Boolean(stream.isTTY) && !(ci && ci !== 'false' && ci !== '0');
}

export function createReporter(o: ReporterOptions): Reporter {
  const human: NodeJS.WriteStream = o.json ? process.stderr : process.stdout;
  if (o.quiet) return new QuietReporter(human, o.color);
  if (o.interactive) return new PrettyReporter(human, o);
  return new PlainReporter(human, o);
}

function fmtTime(s: number): string {
  const m = Math.floor(s / 60);
  return `${String(m).padStart(2, '0')}:${String(Math.round(s - m * 60)).padStart(2, '0')}`;
}

/** fastai's epoch table: `epoch train_loss valid_loss accuracy time`. */
export class EpochTable {
  private readonly cols: string[];
  constructor(metrics: string[]) {
    this.cols = ['epoch', 'train_loss', 'valid_loss', ...metrics, 'time'];
  }
  header(): string {
    return this.cols.map((c) => c.padEnd(Math.max(10, c.length))).join(' ').trimEnd();
  }
  row(e: EpochEvent): string {
    const vals = [
      String(e.epoch),
      fmtNum6(e.train_loss),
      fmtNum6(e.valid_loss),
      ...this.cols.slice(3, -1).map((m) => fmtNum6(e.metrics[m] ?? NaN)),
      fmtTime(e.seconds),
    ];
    return vals.map((v, i) => v.padEnd(Math.max(10, this.cols[i]!.length))).join(' ').trimEnd();
  }
}

function fmtNum6(v: number): string {
  return Number.isFinite(v) ? v.toFixed(6) : String(v);
}

class QuietReporter implements Reporter {
  readonly kind = 'quiet' as const;
  constructor(
    private readonly out: NodeJS.WriteStream,
    readonly color: boolean,
  ) {}
  event(): void {}
  info(): void {}
  warn(text: string): void {
    process.stderr.write(text + '\n');
  }
  result(text: string): void {
    this.out.write(text + '\n');
  }
  close(): void {}
}

/** Off a terminal (CI, pipes): no bars; a line per epoch, and one every 30 s inside long epochs. */
class PlainReporter implements Reporter {
  readonly kind = 'plain' as const;
  readonly color: boolean;
  private table: EpochTable;
  private last = 0;
  private printedHeader = false;
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly o: ReporterOptions,
  ) {
    this.color = o.color;
    this.table = new EpochTable(o.metrics ?? []);
  }
  event(e: EngineEvent): void {
    const now = performance.now();
    if (e.type === 'begin') {
      this.printedHeader = false; // each phase (a finetune stage) gets its own epoch table
      this.last = now;
      this.out.write(`${e.phase}: ${e.totalIters} batches planned (${e.batchesPerEpoch} per epoch)\n`);
    } else if (e.type === 'batch') {
      if (now - this.last >= (this.o.plainEvery ?? 30) * 1000) {
        this.last = now;
        this.out.write(
          `  epoch ${e.epoch} batch ${e.batch + 1}/${e.batchesPerEpoch}  loss ${fmtNum(e.smooth)}  lr ${fmtLr(e.lr[e.lr.length - 1] ?? NaN)}\n`,
        );
      }
    } else if (e.type === 'epoch') {
      if (!this.printedHeader) {
        this.out.write(this.table.header() + '\n');
        this.printedHeader = true;
      }
      this.out.write(this.table.row(e) + '\n');
      this.last = now;
    } else if (e.type === 'note') {
      this.out.write(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}\n`);
    }
  }
  info(text: string): void {
    this.out.write(text + '\n');
  }
  warn(text: string): void {
    process.stderr.write(text + '\n');
  }
  result(text: string): void {
    this.out.write(text + '\n');
  }
  close(): void {}
}

/**
 * The bar's ETA: `--` until it is known (no batch of the epoch done yet, or cli-progress's 'NULL'/'INF' — which its
 * own time format prints as `LLs`/`NFs`), else `7s`, `1m05s`, `2h10m`. Pure.
 */
export function etaText(eta: unknown, value: number): string {
  if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0 || !(value > 0)) return '--';
  const t = Math.round(eta);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${p2(t % 60)}s`;
  return `${Math.floor(t / 3600)}h${p2(Math.floor((t % 3600) / 60))}m`;
}

const BAR_FORMAT = ' {label} |{bar}| {value}/{total} {extra} ETA {eta_text}';
const barFormat: cliProgress.GenericFormatter = (options, params, payload: Record<string, unknown>) =>
  cliProgress.Format.Formatter({ ...options, format: BAR_FORMAT }, params, { ...payload, eta_text: etaText(params.eta, params.value) });

/** On a terminal: cli-progress bars (epochs and batches), the epoch table printed above them. */
class PrettyReporter implements Reporter {
  readonly kind = 'pretty' as const;
  readonly color: boolean;
  private multi: cliProgress.MultiBar | null = null;
  private epochBar: cliProgress.SingleBar | null = null;
  private batchBar: cliProgress.SingleBar | null = null;
  private table: EpochTable;
  private printedHeader = false;
  private phase = '';
  private epochs = 0;
  constructor(
    private readonly out: NodeJS.WriteStream,
    o: ReporterOptions,
  ) {
    this.color = o.color;
    this.table = new EpochTable(o.metrics ?? []);
  }
  private print(text: string): void {
    if (this.multi) this.multi.log(text + '\n');
    else this.out.write(text + '\n');
  }
  event(e: EngineEvent): void {
    if (e.type === 'begin') {
      this.printedHeader = false; // each phase (a finetune stage) gets its own epoch table
      this.phase = e.phase;
      this.epochs = e.epochs;
      this.multi = new cliProgress.MultiBar(
        {
          stream: this.out,
          clearOnComplete: true,
          hideCursor: true,
          etaBuffer: 50,
          format: barFormat,
          barCompleteChar: '\u2588',
          barIncompleteChar: '\u2591',
        },
        cliProgress.Presets.shades_classic,
      );
      if (e.phase !== 'find') {
        this.epochBar = this.multi.create(e.epochs, 0, { label: `${e.phase} epochs `.padEnd(16), extra: '' });
      }
      const total = e.phase === 'find' ? e.totalIters : e.batchesPerEpoch;
      this.batchBar = this.multi.create(total, 0, { label: (e.phase === 'find' ? 'range test' : 'batches').padEnd(16), extra: '' });
    } else if (e.type === 'batch') {
      const extra = `loss ${fmtNum(e.smooth).padEnd(8)} lr ${fmtLr(e.lr[e.lr.length - 1] ?? NaN)}`;
      if (this.phase === 'find') this.batchBar?.update(e.iter + 1, { extra });
      else this.batchBar?.update(e.batch + 1, { extra });
    } else if (e.type === 'epoch') {
      if (!this.printedHeader) {
        this.print(this.table.header());
        this.printedHeader = true;
      }
      this.print(this.table.row(e));
      this.epochBar?.update(Math.min(this.epochs, e.epoch + 1 - (e.epochs - this.epochs)));
      // a new epoch: the ETA starts over (unknown until a batch of it is done)
      this.batchBar?.start(this.batchBar.getTotal(), 0, { label: 'batches'.padEnd(16), extra: '' });
    } else if (e.type === 'end') {
      this.stopBars();
    } else if (e.type === 'note') {
      this.print(`${e.level === 'warn' ? 'warning: ' : ''}${e.message}`);
    }
  }
  private stopBars(): void {
    this.multi?.stop();
    this.multi = null;
    this.epochBar = null;
    this.batchBar = null;
  }
  info(text: string): void {
    this.print(text);
  }
  warn(text: string): void {
    if (this.multi) this.multi.log(text + '\n');
    else process.stderr.write(text + '\n');
  }
  result(text: string): void {
    this.print(text);
  }
  close(): void {
    this.stopBars();
  }
}
