/**
 * Patching a tfjs-layers class's `call` at its prototype, the one mechanism behind fastlr's fused layers
 * (BatchNormalization's training branch, Dense, Conv2D's bias + relu): while installed, `call` first offers the
 * inputs to `fused`, which returns a tensor or null to fall back to the layer's own `call`. Installing twice is a
 * no-op; uninstall puts the original back.
 */
import type * as tf from '@tensorflow/tfjs';

export type LayerCall = (this: unknown, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | tf.Tensor[];

export interface LayerPatch {
  install(): void;
  uninstall(): void;
}

/**
 * @param prototypeOf builds a throwaway layer of the class and returns its prototype (called once, at install)
 * @param fused the fused path for one layer instance, or null to run the original
 */
export function layerPatch<L>(
  prototypeOf: () => { call: LayerCall },
  fused: (layer: L, inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | null,
): LayerPatch {
  let patched: { proto: { call: LayerCall }; original: LayerCall } | null = null;
  return {
    install(): void {
      if (patched !== null) return;
      const proto = prototypeOf();
      const original = proto.call;
      patched = { proto, original };
      proto.call = function (this: unknown, inputs, kwargs) {
        return fused(this as L, inputs, kwargs ?? {}) ?? original.call(this, inputs, kwargs);
      };
    },
    uninstall(): void {
      if (patched === null) return;
      patched.proto.call = patched.original;
      patched = null;
    },
  };
}
