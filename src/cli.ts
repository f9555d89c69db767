/**
 * The command line: parse with commander, dispatch to src/commands/*, map errors to exit codes (DESIGN.md).
 * No logic of its own. Training commands are imported lazily so `check`, `schema` and `--help` never load tfjs.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ConfigError, ExitCode, FastlrError, formatIssue } from './errors.js';
import { processIo, type Io } from './commands/types.js';
import type { CheckOptions, CommonOptions, FindOptions, FinetuneOptions, FitOptions } from './commands/types.js';
import { FASTLR_VERSION } from './version.js';
import { configErrorAnnotations, inGitHubActions, workflowCommand } from './report/github.js';

const BACKENDS = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;

function nonNegativeInt(v: string): number {
  if (!/^\d+$/.test(v.trim())) throw new InvalidArgumentError('expected a non-negative integer');
  return Number(v);
}
function positiveInt(v: string): number {
  const n = nonNegativeInt(v);
  if (n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}
/** `5,6,7` → [5, 6, 7]: digits 0..9 (range and duplicates are checked by export-digits). */
function digitList(v: string): number[] {
  const parts = v.split(',').map((x) => x.trim());
  if (parts.some((x) => !/^\d$/.test(x))) throw new InvalidArgumentError('expected digits 0-9 separated by commas, e.g. 5,6,7,8,9');
  return parts.map(Number);
}
const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

interface RawCommon {
  out?: string;
  backend?: string;
  seed?: number;
  threads?: string;
  set?: string[];
  json?: boolean;
  quiet?: boolean;
  color: boolean;
}

/** Options every config command takes. */
function withCommon(cmd: Command): Command {
  return cmd
    .option('--out <dir>', 'base folder of the run folders (config: output; env: FASTLR_OUT)')
    .addOption(new Option('--backend <name>', 'tfjs backend (config: backend; env: FASTLR_BACKEND)').choices(BACKENDS))
    .option('--seed <n>', 'random seed (config: seed; env: FASTLR_SEED)', nonNegativeInt)
    .option('--threads <n|auto>', 'threads for the kernels; auto: every core (config: threads; env: FASTLR_THREADS)')
    .option('--set <key.path=value>', 'override a config key, value in YAML (repeatable)', collect)
    .option('--json', 'print one JSON document on stdout (human output goes to stderr)')
    .option('--quiet', 'only errors and warnings')
    .option('--no-color', 'no ANSI colours (also NO_COLOR=1)');
}

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

const ROOT_HELP = `
Examples:
  $ fastlr check configs/mnist-cnn.yaml         validate, show groups, batches and the LR schedule
  $ fastlr find configs/mnist-cnn.yaml          LR range test with suggestions
  $ fastlr fit configs/mnist-cnn.yaml --lr auto one-cycle training at the suggested LR
  $ fastlr finetune configs/digits-finetune.yaml --unfreeze
                                                fine-tune a saved model: head, then every group

Environment:
  FASTLR_BACKEND, FASTLR_OUT, FASTLR_SEED   defaults for --backend, --out, --seed (config < env < flags)
  FASTLR_THREADS                            default for --threads (auto: every core)
  NO_COLOR                                  no colours;  FASTLR_DEBUG=1  stack traces of unexpected errors

Exit codes:
  0 success · 1 unexpected error · 2 bad usage or invalid config · 3 training diverged / no suggestion
  4 a quality gate in expect: failed · 130 interrupted
`;

function wantsColor(flag: boolean, env: NodeJS.ProcessEnv): boolean {
  return flag && !(env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '');
}

function common(config: string, raw: RawCommon, io: Io, argv: readonly string[]): CommonOptions {
  return {
    config,
    ...(raw.out !== undefined ? { out: raw.out } : {}),
    ...(raw.backend !== undefined ? { backend: raw.backend } : {}),
    ...(raw.seed !== undefined ? { seed: raw.seed } : {}),
    ...(raw.threads !== undefined ? { threads: raw.threads } : {}),
    set: raw.set ?? [],
    json: Boolean(raw.json),
    quiet: Boolean(raw.quiet),
    color: wantsColor(raw.color, io.env),
    argv: [...argv],
  };
}

/** Print an error the way its kind deserves and return the exit code. */
function reportError(e: unknown, io: Io, json: boolean): number {
  let code: number;
  let doc: Record<string, unknown>;
  if (e instanceof ConfigError) {
    code = e.exitCode;
    io.stderr.write(e.issues.map(formatIssue).join('\n') + '\n');
    const n = e.issues.length;
    if (n > 1) io.stderr.write(`${n} problems\n`);
    doc = { kind: 'config', message: e.message, issues: e.issues };
    if (inGitHubActions(io.env)) io.stderr.write(configErrorAnnotations(e.issues, { env: io.env, cwd: io.cwd }).join('\n') + '\n');
  } else if (e instanceof FastlrError) {
    code = e.exitCode;
    io.stderr.write(`fastlr: ${e.message}\n`);
    doc = { kind: 'error', message: e.message };
    if (inGitHubActions(io.env)) io.stderr.write(workflowCommand('error', { title: 'fastlr' }, e.message) + '\n');
  } else {
    code = ExitCode.unexpected;
    const err = e instanceof Error ? e : new Error(String(e));
    const debug = io.env['FASTLR_DEBUG'] === '1';
    io.stderr.write(`fastlr: unexpected error: ${err.message}\n`);
    io.stderr.write(debug ? `${err.stack ?? ''}\n` : '(set FASTLR_DEBUG=1 for the stack trace)\n');
    doc = { kind: 'unexpected', message: err.message };
    if (inGitHubActions(io.env)) io.stderr.write(workflowCommand('error', { title: 'fastlr: unexpected error' }, err.message) + '\n');
  }
  if (json) io.stdout.write(JSON.stringify({ ok: false, exit_code: code, error: doc }, null, 2) + '\n');
  return code;
}

function buildProgram(io: Io, argv: readonly string[], done: (code: number) => void): Command {
  const program = new Command();
  program
    .name('fastlr')
    .description("fastai's learning-rate workflow for TensorFlow.js: LR range test, one-cycle fit, fine-tuning")
    .version(FASTLR_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', ROOT_HELP);

  /** Run a command body; errors become exit codes here, where we still know whether --json was asked. */
  const run = (json: boolean, body: () => Promise<number>) => async (): Promise<void> => {
    try {
      done(await body());
    } catch (e) {
      done(reportError(e, io, json));
    }
  };
  const args = argv.slice(2);

  withCommon(program.command('find').argument('<config>', 'config file (YAML)'))
    .description('LR range test: chart and suggestions (valley, slide, steep, minimum)')
    .option('--unfreeze', 'range test on the unfrozen model (before finetune --unfreeze)')
    .option('--repeats <n>', 'run the range test n times (config: find.repeats)', positiveInt)
    .addHelpText('after', example('fastlr find configs/mnist-cnn.yaml', 'fastlr find configs/mnist-cnn.yaml --repeats 3 --json > find.json'))
    .action(async (config: string, raw: RawCommon & { unfreeze?: boolean; repeats?: number }) => {
      const o: FindOptions = { ...common(config, raw, io, args), unfreeze: Boolean(raw.unfreeze), ...(raw.repeats !== undefined ? { repeats: raw.repeats } : {}) };
      await run(o.json, async () => (await import('./commands/find.js')).runFind(o))();
    });

  withCommon(program.command('fit').argument('<config>', 'config file (YAML)'))
    .description('one-cycle training (fastai fit_one_cycle)')
    .option('--lr <x|auto>', 'peak learning rate, or auto: range test first (config: fit.lr)')
    .option('--epochs <n>', 'epochs (config: fit.epochs)', positiveInt)
    .option('--resume [run-dir]', 'continue the last interrupted fit of this config (or the named run folder)')
    .option('--force', 'start a new run even when a resumable one exists')
    .addHelpText('after', example('fastlr fit configs/mnist-mlp.yaml', 'fastlr fit configs/mnist-cnn.yaml --lr auto --epochs 4'))
    .action(async (config: string, raw: RawCommon & { lr?: string; epochs?: number; resume?: boolean | string; force?: boolean }) => {
      const o: FitOptions = {
        ...common(config, raw, io, args),
        ...(raw.lr !== undefined ? { lr: raw.lr } : {}),
        ...(raw.epochs !== undefined ? { epochs: raw.epochs } : {}),
        resume: raw.resume ?? false,
        force: Boolean(raw.force),
      };
      await run(o.json, async () => (await import('./commands/fit.js')).runFit(o))();
    });

  withCommon(program.command('finetune').argument('<config>', 'config file (YAML)'))
    .description('fine-tune: train the head with the body frozen; --unfreeze: then every group, discriminative LRs')
    .option('--unfreeze', 'stage 2: all groups trainable, the LR range spread over the groups')
    .option('--resume [run-dir]', 'continue the last interrupted stage, or that of the named run folder (with --unfreeze: then run stage 2)')
    .option('--force', 'with --unfreeze: a new run from stage 1 even when one was saved; with --resume: despite a changed config')
    .addHelpText('after', example('fastlr finetune configs/digits-finetune.yaml', 'fastlr finetune configs/digits-finetune.yaml --unfreeze'))
    .action(async (config: string, raw: RawCommon & { unfreeze?: boolean; resume?: boolean | string; force?: boolean }) => {
      const o: FinetuneOptions = {
        ...common(config, raw, io, args),
        unfreeze: Boolean(raw.unfreeze),
        resume: raw.resume ?? false,
        force: Boolean(raw.force),
      };
      await run(o.json, async () => (await import('./commands/finetune.js')).runFinetune(o))();
    });

  withCommon(program.command('check').argument('<config>', 'config file (YAML)'))
    .description('validate a config; show the resolved plan, parameter groups, batch counts and LR schedule (trains nothing)')
    .addOption(new Option('--schedule <format>', 'print the LR/momentum of every step (fit, finetune stages)').choices(['csv', 'json']))
    .addHelpText(
      'after',
      example('fastlr check configs/mnist-cnn.yaml', 'fastlr check configs/mnist-cnn.yaml --set fit.lr=1e-3 --schedule csv > schedule.csv'),
    )
    .action(async (config: string, raw: RawCommon & { schedule?: 'csv' | 'json' }) => {
      const o: CheckOptions = { ...common(config, raw, io, args), ...(raw.schedule ? { schedule: raw.schedule } : {}) };
      await run(o.json, async () => (await import('./commands/check.js')).runCheck(o, io))();
    });

  program
    .command('export-digits')
    .argument('<dir>', 'folder to write (train/<digit>/*.png and valid/<digit>/*.png)')
    .description('write the bundled MNIST digits as an image folder (28x28 grey PNGs) for data.source: images')
    .option('--digits <list>', 'digits to export, comma-separated (default: 0-9)', digitList)
    .option('--per-class <n>', 'training images per digit (default: every image not used for valid)', positiveInt)
    .option('--valid-per-class <n>', 'validation images per digit (default 100)', positiveInt)
    .option('--seed <n>', 'seed of the per-digit draw', nonNegativeInt, 42)
    .option('--size <n>', 'side of the square images written (default 28; e.g. 224 for an ImageNet network: bilinear upscale)', positiveInt)
    .addOption(new Option('--channels <n>', '1 (grey, default) or 3 (RGB)').choices(['1', '3']))
    .option('--force', 'replace a non-empty <dir>')
    .option('--quiet', 'print nothing')
    .addHelpText('after', example('fastlr export-digits data/digits-5-9 --digits 5,6,7,8,9 --per-class 20'))
    .action(async (dir: string, raw: { digits?: number[]; perClass?: number; validPerClass?: number; seed: number; size?: number; channels?: '1' | '3'; force?: boolean; quiet?: boolean }) => {
      await run(false, async () =>
        (await import('./commands/export-digits.js')).runExportDigits(dir, {
          ...(raw.digits !== undefined ? { digits: raw.digits } : {}),
          ...(raw.perClass !== undefined ? { perClass: raw.perClass } : {}),
          ...(raw.validPerClass !== undefined ? { validPerClass: raw.validPerClass } : {}),
          seed: raw.seed,
          ...(raw.size !== undefined ? { size: raw.size } : {}),
          ...(raw.channels !== undefined ? { channels: raw.channels === '3' ? 3 : 1 } : {}),
          force: Boolean(raw.force),
          quiet: Boolean(raw.quiet),
        }),
      )();
    });

  program
    .command('schema')
    .description("print the config's JSON Schema (for editor completion)")
    .option('--markdown', 'print the Markdown key reference instead (docs/config.md)')
    .addHelpText('after', example('fastlr schema > fastlr.schema.json', 'fastlr schema --markdown > docs/config.md'))
    .action(async (raw: { markdown?: boolean }) => {
      await run(false, async () => (await import('./commands/schema.js')).runSchema({ markdown: Boolean(raw.markdown) }, io))();
    });

  program
    .command('report')
    .argument('<run-dir>', 'a run folder, e.g. runs/mnist-cnn/fit-20250101-120000')
    .description('rebuild report.html and summarise a past run')
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'only errors and warnings')
    .option('--no-color', 'no ANSI colours (also NO_COLOR=1)')
    .addHelpText('after', example('fastlr report runs/mnist-cnn/fit-20250101-120000'))
    .action(async (dir: string, raw: { json?: boolean; quiet?: boolean; color: boolean }) => {
      const o = { json: Boolean(raw.json), quiet: Boolean(raw.quiet), color: wantsColor(raw.color, io.env), argv: [...args] };
      await run(o.json, async () => (await import('./commands/report.js')).runReport(dir, o))();
    });

  return program;
}

/** Run the CLI on `argv` (process.argv form: node, script, args…); resolves to the exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  let code: number = ExitCode.ok;
  const program = buildProgram(io, argv, (c) => (code = c));
  try {
    await program.parseAsync([...argv], { from: 'node' });
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.code === 'commander.helpDisplayed' || e.code === 'commander.version' ? ExitCode.ok : ExitCode.usage;
    }
    return reportError(e, io, argv.includes('--json'));
  }
  return code;
}
