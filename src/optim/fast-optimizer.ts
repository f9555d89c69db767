import * as tf from '@tensorflow/tfjs';
import { ExitCode, FastlrError } from '../errors.js';
import { adamStep, adamStepAvailable, type AdamCoefs } from '../kernels/adam-step.js';
import { adamSteps, adamStepsAvailable } from '../kernels/adam-steps.js';
import { adamDebias2, adamStepSize, decayFactor } from './coefficients.js';
import type {
  FreezeResult,
  OptimizerConfig,
  OptimizerHypers,
  OptimizerState,
  ParamGroup,
  ParamInfo,
  ParamStateSnapshot,
} from './types.js';

/** Per-parameter bookkeeping. */
interface Slot {
  info: ParamInfo;
  group: number;
  /** frozen by freezeTo(): never updated, never decayed, state untouched */
  frozen: boolean;
  /** steps taken since the state was last cleared (Adam's t) */
  step: number;
  /** Adam grad_avg / SGD momentum buffer; created lazily on the parameter's first step */
  m: tf.Variable | null;
  /** Adam sqr_avg */
  v: tf.Variable | null;
}

/**
 * fastlr's optimizer: fastai's Adam or SGD (semantics.md §1) over ordered parameter groups, with a learning rate per
 * group and a momentum that may change every step. Float32 throughout, operation order as in fastai/torch.
 *
 * Adam, per parameter with gradient g (fastai: weight_decay, average_grad(dampening), average_sqr_grad, step_stat,
 * adam_step):
 *   p ← p·(1 − lr·wd)  (decaying params, wd ≠ 0)      m ← mom·m + (1−mom)·g      v ← β2·v + ((1−β2)·g)·g
 *   t ← t+1      p ← p + ((−lr/(1−mom^t))·m) / (sqrt(v/(1−β2^t)) + eps)
 * SGD (fastai SGD): p ← p·(1 − lr·wd); with momentum (cfg.mom ≠ 0): m ← mom·m + g, p ← p − lr·m; else p ← p − lr·g.
 *
 * Parameters with no gradient in step()'s map, frozen ones, and ones outside `trainable` are skipped entirely.
 *
 * Where the backend has our FastlrAdamSteps kernel (wasm, cpu: src/kernels/adam-steps.ts), Adam runs as one kernel for
 * all parameters of the step doing exactly these float32 operations in this order (FastlrAdamStep, adam-step.ts: one
 * kernel per parameter, where only that one is registered); elsewhere (tfjs-node, webgl) as tfjs ops.
 */
export class FastOptimizer {
  readonly type: OptimizerConfig['type'];
  readonly nGroups: number;
  private readonly cfg: OptimizerConfig;
  private readonly slots: Slot[];
  private readonly byVarName = new Map<string, Slot>();
  private readonly byKey = new Map<string, Slot>();
  /** SGD: fastai builds momentum_step only when mom ≠ 0 at construction */
  private readonly sgdMomentum: boolean;
  private hypers_: OptimizerHypers | null = null;
  private stepCount_ = 0;
  private frozenIdx_ = 0;
  /** scalars that never change (β2, 1−β2, eps), kept across steps; created on first use */
  private consts: Map<number, tf.Scalar> | null = null;
  private disposed = false;

  constructor(groups: ParamGroup[], cfg: OptimizerConfig) {
    if (groups.length === 0) throw new FastlrError('optimizer: no parameter groups', ExitCode.unexpected);
    checkConfig(cfg);
    this.cfg = { ...cfg };
    this.type = cfg.type;
    this.nGroups = groups.length;
    this.sgdMomentum = cfg.type === 'sgd' && cfg.mom !== 0;
    this.slots = [];
    groups.forEach((g, group) => {
      for (const info of g.params) {
        if (this.byKey.has(info.key)) {
          throw new FastlrError(`optimizer: parameter key "${info.key}" appears twice`, ExitCode.unexpected);
        }
        if (this.byVarName.has(info.variable.name)) {
          throw new FastlrError(
            `optimizer: variable "${info.variable.name}" appears twice (keys "${this.byVarName.get(info.variable.name)?.info.key}" and "${info.key}")`,
            ExitCode.unexpected,
          );
        }
        if (info.variable.dtype !== 'float32') {
          throw new FastlrError(`optimizer: parameter "${info.key}" is ${info.variable.dtype}, not float32`, ExitCode.unexpected);
        }
        const slot: Slot = { info, group, frozen: false, step: 0, m: null, v: null };
        this.slots.push(slot);
        this.byKey.set(info.key, slot);
        this.byVarName.set(info.variable.name, slot);
      }
    });
  }

  /** step() calls since construction or the last clearState() (restored by restore()). */
  get stepCount(): number {
    return this.stepCount_;
  }

  /** The hyper-parameters the next step uses (a copy); null before the first setHypers(). */
  get hypers(): OptimizerHypers | null {
    return this.hypers_ ? { lr: [...this.hypers_.lr], mom: this.hypers_.mom } : null;
  }

  /** Groups [0, frozenIdx) are frozen (0 = nothing frozen). */
  get frozenIdx(): number {
    return this.frozenIdx_;
  }

  /**
   * Set the learning rate of each group and the momentum (β1 for Adam) for the next steps; called every step by the
   * engine. Without `mom`, the current one is kept (initially cfg.mom), as fastai's range test does.
   */
  setHypers(lr: number[], mom?: number): void {
    if (lr.length !== this.nGroups) {
      throw new FastlrError(
        `optimizer: ${lr.length} learning rates for ${this.nGroups} parameter group(s)`,
        ExitCode.unexpected,
      );
    }
    const m = mom ?? this.hypers_?.mom ?? this.cfg.mom;
    for (const x of lr) {
      if (!Number.isFinite(x)) throw new FastlrError(`optimizer: learning rate ${x} is not finite`, ExitCode.usage);
    }
    checkMom(this.type, m);
    this.hypers_ = { lr: [...lr], mom: m };
  }

  /**
   * One optimizer step. `grads` is keyed by variable.name (tf.variableGrads' output); the caller keeps ownership
   * of it. A parameter is updated only when it has a gradient, is not frozen and, when `trainable` (a set of
   * ParamInfo.key) is given, is in it; otherwise it gets no update, no weight decay, and its state is untouched.
   * Runs no dataSync.
   */
  step(grads: tf.NamedTensorMap, trainable?: ReadonlySet<string>): void {
    this.assertAlive();
    const h = this.hypers_;
    if (h === null) throw new FastlrError('optimizer: setHypers() must be called before step()', ExitCode.unexpected);
    const pending: { slot: Slot; g: tf.Tensor }[] = [];
    for (const name of Object.keys(grads)) {
      const slot = this.byVarName.get(name);
      if (slot === undefined) {
        throw new FastlrError(`optimizer: gradient for unknown variable "${name}"`, ExitCode.unexpected);
      }
      const g = grads[name] as tf.Tensor;
      if (slot.frozen || (trainable !== undefined && !trainable.has(slot.info.key))) continue;
      if (g.size !== slot.info.variable.size || g.rank !== slot.info.variable.rank) {
        throw new FastlrError(
          `optimizer: gradient of "${slot.info.key}" has shape [${g.shape}], parameter has [${slot.info.variable.shape}]`,
          ExitCode.unexpected,
        );
      }
      pending.push({ slot, g });
    }
    if (this.type === 'adam' && pending.length > 0 && adamStepsAvailable()) {
      // one kernel for every parameter (src/kernels/adam-steps.ts), bit-identical to the op path below
      tf.tidy(() => this.adamFusedAll(pending, h.lr, h.mom));
      this.stepCount_++;
      return;
    }
    if (this.type === 'adam' && pending.length > 0 && adamStepAvailable()) {
      // one kernel per parameter (src/kernels/adam-step.ts), bit-identical to the op path below
      tf.tidy(() => {
        for (const { slot, g } of pending) this.adamFused(slot, g, h.lr[slot.group] as number, h.mom);
      });
      this.stepCount_++;
      return;
    }
    const consts = this.constants();
    tf.tidy(() => {
      // Per-step scalars: one tensor per distinct value (shared by every parameter that needs it).
      const perStep = new Map<number, tf.Scalar>();
      const s = (x: number): tf.Scalar => {
        let t = perStep.get(x);
        if (t === undefined) {
          t = tf.scalar(x, 'float32');
          perStep.set(x, t);
        }
        return t;
      };
      const c = (x: number): tf.Scalar => consts.get(x) as tf.Scalar;
      for (const { slot, g } of pending) {
        const lr = h.lr[slot.group] as number;
        if (this.type === 'adam') this.adamUpdate(slot, g, lr, h.mom, s, c);
        else this.sgdUpdate(slot, g, lr, h.mom, s);
      }
    });
    this.stepCount_++;
  }

  private adamUpdate(
    slot: Slot,
    g: tf.Tensor,
    lr: number,
    mom: number,
    s: (x: number) => tf.Scalar,
    c: (x: number) => tf.Scalar,
  ): void {
    const { beta2, eps, wd } = this.cfg;
    const p = slot.info.variable;
    const t = slot.step + 1;
    const decayed = slot.info.decay && wd !== 0 ? tf.mul(p, s(decayFactor(lr, wd))) : p;
    let m: tf.Tensor;
    let v: tf.Tensor;
    const g2 = tf.mul(tf.mul(g, c(1 - beta2)), g); // torch addcmul: (value·g)·g
    if (slot.m === null || slot.v === null) {
      // zeros·mom + x == x exactly: skip the multiply-adds on the first step.
      m = tf.mul(g, s(1 - mom));
      v = g2;
    } else {
      m = tf.add(tf.mul(slot.m, s(mom)), tf.mul(g, s(1 - mom)));
      v = tf.add(tf.mul(slot.v, c(beta2)), g2);
    }
    const denom = tf.add(tf.sqrt(tf.div(v, s(adamDebias2(beta2, t)))), c(eps));
    // torch addcdiv: p + (value·m)/denom
    p.assign(tf.add(decayed, tf.div(tf.mul(m, s(adamStepSize(lr, mom, t))), denom)));
    storeAdamState(slot, m, v, t);
  }

  /** The coefficients of `slot`'s next Adam step (its t = slot.step + 1) and whether it decays. */
  private adamCoefs(slot: Slot, lr: number, mom: number): { coefs: AdamCoefs; decayOn: boolean } {
    const { beta2, eps, wd } = this.cfg;
    const t = slot.step + 1;
    const decayOn = slot.info.decay && wd !== 0;
    const coefs = {
      decay: decayOn ? decayFactor(lr, wd) : 1,
      mom,
      beta2,
      debias2: adamDebias2(beta2, t),
      stepSize: adamStepSize(lr, mom, t),
      eps,
    };
    return { coefs, decayOn };
  }

  /** adamUpdate as one FastlrAdamStep kernel: the same float32 operations in the same order. */
  private adamFused(slot: Slot, g: tf.Tensor, lr: number, mom: number): void {
    const p = slot.info.variable;
    const { coefs, decayOn } = this.adamCoefs(slot, lr, mom);
    const [p2, m, v] = adamStep(p, g, slot.m, slot.v, coefs, decayOn);
    p.assign(p2);
    storeAdamState(slot, m, v, slot.step + 1);
  }

  /** adamFused for every pending parameter as one FastlrAdamSteps kernel (each parameter's result the same bits). */
  private adamFusedAll(pending: readonly { slot: Slot; g: tf.Tensor }[], lr: readonly number[], mom: number): void {
    const out = adamSteps(
      pending.map(({ slot, g }) => ({ p: slot.info.variable, g, m: slot.m, v: slot.v, ...this.adamCoefs(slot, lr[slot.group] as number, mom) })),
    );
    pending.forEach(({ slot }, i) => {
      const [p2, m, v] = out[i]!;
      slot.info.variable.assign(p2);
      storeAdamState(slot, m, v, slot.step + 1);
    });
  }

  private sgdUpdate(slot: Slot, g: tf.Tensor, lr: number, mom: number, s: (x: number) => tf.Scalar): void {
    const { wd } = this.cfg;
    const p = slot.info.variable;
    const decayed = slot.info.decay && wd !== 0 ? tf.mul(p, s(decayFactor(lr, wd))) : p;
    if (this.sgdMomentum) {
      // fastai average_grad without dampening: m ← m·mom + 1·g (first step: zeros·mom + g == g)
      const m = slot.m === null ? g : tf.add(tf.mul(slot.m, s(mom)), g);
      p.assign(tf.add(decayed, tf.mul(m, s(-lr))));
      if (slot.m === null) slot.m = tf.variable(m, false);
      else slot.m.assign(m);
    } else {
      p.assign(tf.add(decayed, tf.mul(g, s(-lr))));
    }
    slot.step += 1;
  }

  private constants(): Map<number, tf.Scalar> {
    if (this.consts === null) {
      const { beta2, eps } = this.cfg;
      this.consts = new Map();
      for (const x of [beta2, 1 - beta2, eps]) {
        // tf.keep: step() may run inside a caller's tf.tidy, which must not take these
        if (!this.consts.has(x)) this.consts.set(x, tf.keep(tf.scalar(x, 'float32')));
      }
    }
    return this.consts;
  }

  /**
   * fastai freeze_to(n): groups before n (n < 0 counts from the end) are frozen, except normalization params when
   * trainBn (default true); all later groups are trainable. Clears the optimizer state, as fastai's
   * Learner.freeze/unfreeze do. freezeTo(-1) = freeze, freezeTo(0) = unfreeze; with one group, freeze freezes
   * nothing. When every group is frozen, wholeModelFrozen is true (fastai warns).
   */
  freezeTo(n: number, opts: { trainBn?: boolean } = {}): FreezeResult {
    this.assertAlive();
    if (!Number.isInteger(n)) throw new FastlrError(`optimizer: freezeTo(${n}) needs an integer`, ExitCode.unexpected);
    const trainBn = opts.trainBn ?? true;
    const frozenIdx = Math.max(0, n >= 0 ? n : this.nGroups + n);
    for (const slot of this.slots) {
      slot.frozen = slot.group < frozenIdx && !(trainBn && slot.info.isNorm);
    }
    this.frozenIdx_ = frozenIdx;
    this.clearState();
    return { frozenIdx, nGroups: this.nGroups, wholeModelFrozen: frozenIdx >= this.nGroups };
  }

  freeze(opts: { trainBn?: boolean } = {}): FreezeResult {
    return this.freezeTo(-1, opts);
  }

  unfreeze(): FreezeResult {
    return this.freezeTo(0);
  }

  /** Whether step() may update this parameter (not frozen). */
  isTrainable(key: string): boolean {
    const slot = this.byKey.get(key);
    if (slot === undefined) throw new FastlrError(`optimizer: unknown parameter "${key}"`, ExitCode.unexpected);
    return !slot.frozen;
  }

  /** Parameters not frozen, in group order: compute gradients for these only. */
  trainableParams(): ParamInfo[] {
    return this.slots.filter((s) => !s.frozen).map((s) => s.info);
  }

  /** The variables of trainableParams(), for tf.variableGrads(f, varList). */
  trainableVariables(): tf.Variable[] {
    return this.slots.filter((s) => !s.frozen).map((s) => s.info.variable);
  }

  /** Every parameter, in group order, with its group index. */
  params(): { info: ParamInfo; group: number }[] {
    return this.slots.map((s) => ({ info: s.info, group: s.group }));
  }

  /** Steps this parameter took since its state was last cleared (0 = no state). */
  paramStep(key: string): number {
    const slot = this.byKey.get(key);
    if (slot === undefined) throw new FastlrError(`optimizer: unknown parameter "${key}"`, ExitCode.unexpected);
    return slot.step;
  }

  /** Deep copy of the state (reads the tensors: call between steps, not in a hot loop). */
  snapshot(): OptimizerState {
    this.assertAlive();
    const params: Record<string, ParamStateSnapshot> = {};
    for (const slot of this.slots) {
      if (slot.step === 0 && slot.m === null) continue;
      const snap: ParamStateSnapshot = { step: slot.step, shape: [...slot.info.variable.shape] };
      // dataSync may return the backend's own buffer (cpu): copy.
      if (slot.m) snap.m = (slot.m.dataSync() as Float32Array).slice();
      if (slot.v) snap.v = (slot.v.dataSync() as Float32Array).slice();
      params[slot.info.key] = snap;
    }
    return {
      format: 'fastlr-optim/1',
      type: this.type,
      stepCount: this.stepCount_,
      hypers: this.hypers,
      params,
    };
  }

  /**
   * Replace the state with a deep copy of `s` (parameters absent from `s` get no state). Validates everything
   * before touching anything: a state of another optimizer type, for an unknown key, or with a wrong shape
   * throws FastlrError and leaves this optimizer unchanged. Frozen flags are not part of the state.
   */
  restore(s: OptimizerState): void {
    this.assertAlive();
    if (s.type !== this.type) {
      throw new FastlrError(`optimizer state is for ${s.type}, this optimizer is ${this.type}`, ExitCode.usage);
    }
    if (s.hypers !== null && s.hypers.lr.length !== this.nGroups) {
      throw new FastlrError(
        `optimizer state has ${s.hypers.lr.length} learning rates, this optimizer has ${this.nGroups} group(s)`,
        ExitCode.usage,
      );
    }
    const needM = this.type === 'adam' || this.sgdMomentum;
    for (const [key, p] of Object.entries(s.params)) {
      const slot = this.byKey.get(key);
      if (slot === undefined) throw new FastlrError(`optimizer state has unknown parameter "${key}"`, ExitCode.usage);
      const shape = slot.info.variable.shape;
      if (p.shape.length !== shape.length || p.shape.some((d, i) => d !== shape[i])) {
        throw new FastlrError(
          `optimizer state of "${key}" has shape [${p.shape}], parameter has [${shape}]`,
          ExitCode.usage,
        );
      }
      const size = slot.info.variable.size;
      for (const [which, need] of [
        ['m', needM],
        ['v', this.type === 'adam'],
      ] as const) {
        const a = p[which];
        if (need && p.step > 0 && a === undefined) {
          throw new FastlrError(`optimizer state of "${key}" lacks ${which}`, ExitCode.usage);
        }
        if (!need && a !== undefined) {
          throw new FastlrError(`optimizer state of "${key}" has an unexpected ${which}`, ExitCode.usage);
        }
        if (a !== undefined && a.length !== size) {
          throw new FastlrError(`optimizer state of "${key}": ${which} has ${a.length} values, expected ${size}`, ExitCode.usage);
        }
      }
    }
    this.clearState();
    for (const [key, p] of Object.entries(s.params)) {
      const slot = this.byKey.get(key) as Slot;
      const shape = slot.info.variable.shape;
      slot.step = p.step;
      // tf.tensor may keep a reference to the array it is given (cpu): hand it a copy.
      if (p.m) slot.m = tf.tidy(() => tf.variable(tf.tensor(p.m!.slice(), shape, 'float32'), false));
      if (p.v) slot.v = tf.tidy(() => tf.variable(tf.tensor(p.v!.slice(), shape, 'float32'), false));
    }
    this.stepCount_ = s.stepCount;
    this.hypers_ = s.hypers ? { lr: [...s.hypers.lr], mom: s.hypers.mom } : null;
  }

  /** Forget every parameter's state (m, v, t) and the step count, as fastai's clear_state. Keeps hypers. */
  clearState(): void {
    for (const slot of this.slots) {
      slot.m?.dispose();
      slot.v?.dispose();
      slot.m = null;
      slot.v = null;
      slot.step = 0;
    }
    this.stepCount_ = 0;
  }

  /** Release every tensor the optimizer owns (not the parameters). The optimizer is unusable afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.clearState();
    if (this.consts) for (const t of this.consts.values()) t.dispose();
    this.consts = null;
    this.disposed = true;
  }

  private assertAlive(): void {
    if (this.disposed) throw new FastlrError('optimizer: used after dispose()', ExitCode.unexpected);
  }
}

/** Keep a parameter's new Adam moments (variables created on its first step) and its step count. */
function storeAdamState(slot: Slot, m: tf.Tensor, v: tf.Tensor, t: number): void {
  if (slot.m === null || slot.v === null) {
    slot.m = tf.variable(m, false);
    slot.v = tf.variable(v, false);
  } else {
    slot.m.assign(m);
    slot.v.assign(v);
  }
  slot.step = t;
}

function checkConfig(cfg: OptimizerConfig): void {
  if (cfg.type !== 'adam' && cfg.type !== 'sgd') {
    throw new FastlrError(`optimizer: unknown type ${JSON.stringify(cfg.type)}`, ExitCode.usage);
  }
  if (!Number.isFinite(cfg.wd)) throw new FastlrError(`optimizer: wd ${cfg.wd} is not finite`, ExitCode.usage);
  if (cfg.type === 'adam') {
    if (!(cfg.beta2 >= 0 && cfg.beta2 < 1)) {
      throw new FastlrError(`optimizer: beta2 must be in [0, 1), got ${cfg.beta2}`, ExitCode.usage);
    }
    if (!(cfg.eps >= 0 && Number.isFinite(cfg.eps))) {
      throw new FastlrError(`optimizer: eps must be ≥ 0, got ${cfg.eps}`, ExitCode.usage);
    }
  }
  checkMom(cfg.type, cfg.mom);
}

function checkMom(type: OptimizerConfig['type'], mom: number): void {
  if (type === 'adam' ? !(mom >= 0 && mom < 1) : !(mom >= 0 && Number.isFinite(mom))) {
    throw new FastlrError(
      `optimizer: ${type === 'adam' ? 'beta1 (mom) must be in [0, 1)' : 'momentum must be ≥ 0'}, got ${mom}`,
      ExitCode.usage,
    );
  }
}
