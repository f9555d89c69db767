/**
 * Patching a tfjs-layers class's `call` at its prototype, the one mechanism behind fastlr's fused layers
 * (BatchNormalization's training branch, Dense, Conv2D's bias + relu, ReLU(6), the conv + BN + activation fold):
 * while installed, `call` first offers the inputs to `fused`, which returns a tensor or null to fall back to the
 * next patch of the same class and finally the layer's own `call`. Several patches of one class form a chain on a
 * single wrapper, `first` patches ahead of the others (the fold's pass-through must see a call before a patch that
 * would recompute it), so install and uninstall may happen in any order. Installing twice is a no-op; the original
 * `call` is put back when the last patch of a class is uninstalled.
 */
import type * as tf from '@tensorflow/tfjs';

export type LayerCall = (this: unknown, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

export interface LayerPatch {
  install(): void;
  uninstall(): void;
}

type Fused = (layer: unknown, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | null;
interface Chain {
  original: LayerCall;
  handlers: { fused: Fused; first: boolean }[];
}
const chains = new Map<{ call: LayerCall }, Chain>();

/**
 * @param prototypeOf builds a throwaway layer of the class and returns its prototype (called once, at install)
 * @param fused the fused path for one layer instance, or null to run the next
 * @param options.first try this patch before the class's other patches
 */
export function layerPatch<L>(
  prototypeOf: () => { call: LayerCall },
  fused: (layer: L, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | null,
  options: { first?: boolean } = {},
): LayerPatch {
  const handler = { fused: fused as Fused, first: options.first === true };
  let proto: { call: LayerCall } | null = null;
  return {
    install(): void {
      if (proto !== null) return;
      proto = prototypeOf();
      let chain = chains.get(proto);
      if (chain === undefined) {
        const c: Chain = { original: proto.call, handlers: [] };
        chain = c;
        chains.set(proto, c);
        proto.call = function (this: unknown, inputs, kwargs) {
          const kw = kwargs ?? {};
          for (const h of c.handlers) {
            const out = h.fused(this, inputs, kw);
            if (out !== null) return out;
          }
          return c.original.call(this, inputs, kwargs);
        };
      }
      chain.handlers = handler.first ? [handler, ...chain.handlers] : [...chain.handlers, handler];
    },
    uninstall(): void {
      if (proto === null) return;
      const chain = chains.get(proto);
      if (chain !== undefined) {
        chain.handlers = chain.handlers.filter((h) => h !== handler);
        if (chain.handlers.length === 0) {
          proto.call = chain.original;
          chains.delete(proto);
        }
      }
      proto = null;
    },
  };
}
