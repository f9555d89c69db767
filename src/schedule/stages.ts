/**
 * Every training stage fastlr runs, declared once as pure data: `check` prints these steps and the stage runner
 * (src/phases/stage.ts) runs exactly them. A fit is one stage; fastai's fine_tune is two ({@link fineTuneRecipe}).
 */
import type { Plan } from '../plan/schema.js';
import { fineTuneRecipe, oneCycleSchedule, type OneCycleStageHypers, type Step } from './schedules.js';
import { spreadLr, type LrSpec } from './spread.js';

/** The stages by name: `fit`, and fine_tune's `frozen` and `unfrozen`. */
export type StageId = 'fit' | 'frozen' | 'unfrozen';

/** The name a stage's loop and checkpoints carry (the engine's `phase`, ckpt state.json's `phase`). */
export const STAGE_PHASE: Record<StageId, 'fit' | 'finetune-frozen' | 'finetune-unfrozen'> = {
  fit: 'fit',
  frozen: 'finetune-frozen',
  unfrozen: 'finetune-unfrozen',
};

/** One stage's one-cycle hyper-parameters with the LR already spread over the groups. */
export interface OneCycleConfig {
  epochs: number;
  /** peak LR of each parameter group */
  lrMax: number[];
  div: number;
  divFinal: number;
  pctStart: number;
  moms: [number, number, number];
}

export interface StagePlan {
  id: StageId;
  /** what the stage does to the groups first: `freeze` (train the last group only), `unfreeze` (all), or nothing */
  freeze: 'freeze' | 'unfreeze' | null;
  oneCycle: OneCycleConfig;
  /** the LR/momentum of every training batch, in order */
  steps: Step[];
}

/** The plan keys the stages read. */
export type StagePlanInput = { fit: Pick<Plan['fit'], 'epochs' | 'lr' | 'div' | 'div_final' | 'pct_start' | 'moms'>; finetune: Plan['finetune'] };

function stage(id: StageId, freeze: StagePlan['freeze'], h: OneCycleStageHypers, nGroups: number, ipe: number): StagePlan {
  const oneCycle: OneCycleConfig = {
    epochs: h.epochs,
    lrMax: spreadLr(h.lrMax, nGroups),
    div: h.div,
    divFinal: h.divFinal,
    pctStart: h.pctStart,
    moms: [h.moms[0], h.moms[1], h.moms[2]],
  };
  return { id, freeze, oneCycle, steps: oneCycleSchedule({ ...oneCycle, itersPerEpoch: ipe, nGroups }) };
}

/** `fit`: fastai's fit_one_cycle at `lr` (the plan's fit.lr, or what `lr: auto` resolved to). */
export function fitStage(fit: StagePlanInput['fit'], lr: LrSpec, nGroups: number, ipe: number): StagePlan {
  return stage('fit', null, { epochs: fit.epochs, lrMax: lr, div: fit.div, divFinal: fit.div_final, pctStart: fit.pct_start, moms: fit.moms }, nGroups, ipe);
}

/** The fine_tune recipe's hyper-parameters from the library's camelCase options (the same recipe as the config's). */
export function fineTuneStages(
  o: Parameters<typeof fineTuneRecipe>[0],
  nGroups: number,
  ipe: number,
): StagePlan[] {
  const r = fineTuneRecipe(o);
  return [...(r.frozen ? [stage('frozen', 'freeze', r.frozen, nGroups, ipe)] : []), stage('unfrozen', 'unfreeze', r.unfrozen, nGroups, ipe)];
}

/** `finetune`'s stages from the plan: frozen (when finetune.freeze_epochs > 0) and unfrozen. div_final and moms come from fit. */
export function finetuneStagesOf(plan: StagePlanInput, nGroups: number, ipe: number): StagePlan[] {
  const ft = plan.finetune;
  return fineTuneStages(
    {
      epochs: ft.epochs,
      freezeEpochs: ft.freeze_epochs,
      baseLr: ft.base_lr,
      lrMult: ft.lr_mult,
      pctStart: ft.pct_start,
      div: ft.div,
      divFinal: plan.fit.div_final,
      moms: plan.fit.moms,
      ...(ft.lr !== undefined ? { lr: ft.lr } : {}),
    },
    nGroups,
    ipe,
  );
}

/**
 * Every stage a plan declares: the fit (left out while fit.lr is `auto`: the range test decides it at fit time) and
 * the fine-tune stages. Pure: `check` prints it, the runner runs it.
 */
export function stagesOf(plan: StagePlanInput, nGroups: number, ipe: number): StagePlan[] {
  const fit = plan.fit.lr === 'auto' ? [] : [fitStage(plan.fit, plan.fit.lr, nGroups, ipe)];
  return [...fit, ...finetuneStagesOf(plan, nGroups, ipe)];
}
