/**
 * FASTLR_KERNELS: `fastlr` (default) registers fastlr's kernel overrides (src/kernels) and the optimizer runs its
 * fused Adam kernel where there is one (FastlrAdamSteps: every parameter in one call; FastlrAdamStep: one each); `stock` registers none, so every op runs tfjs's own kernel and the
 * optimizer its op path — exactly what a tfjs-node / tfjs-node-gpu user gets, runnable on any machine.
 */
import { ExitCode, FastlrError } from '../errors.js';
import { ADAM_STEP_KERNEL } from '../kernels/adam-step.js';
import { ADAM_STEPS_KERNEL } from '../kernels/adam-steps.js';

export type KernelMode = 'fastlr' | 'stock';
/** how the optimizer updates parameters: a fused Adam kernel (all parameters in one call, or one per parameter), or tfjs ops */
export type OptimizerPath = 'fused' | 'ops';

export function kernelMode(env: NodeJS.ProcessEnv = process.env): KernelMode {
  const v = (env.FASTLR_KERNELS ?? '').trim();
  if (v === '' || v === 'fastlr') return 'fastlr';
  if (v === 'stock') return 'stock';
  throw new FastlrError(`FASTLR_KERNELS=${JSON.stringify(v)}: expected fastlr or stock`, ExitCode.usage);
}

/** The optimizer path a run takes: fused only for Adam on a backend where fastlr registered a fused Adam kernel. */
export function optimizerPath(optimizerType: string, kernels: readonly string[]): OptimizerPath {
  const fused = kernels.includes(ADAM_STEPS_KERNEL) || kernels.includes(ADAM_STEP_KERNEL);
  return optimizerType === 'adam' && fused ? 'fused' : 'ops';
}
