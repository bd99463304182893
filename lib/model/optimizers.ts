/**
 * The optimizers training can use, named once: the lab's Nesterov momentum (the original's
 * `tf.train.MomentumOptimizer(use_nesterov=True)`) and Adam. Checkpoints record the name, the
 * training loop builds the optimizer from it, and the CLI's `--optimizer` lists these.
 *
 * @module
 */

/** The names of the optimizers, the lab's default first. */
export const OPTIMIZER_NAMES = ["momentum", "adam"] as const;

/** The name of an optimizer training can use. */
export type OptimizerName = typeof OPTIMIZER_NAMES[number];

/** Whether `value` names an optimizer training can use. */
export function isOptimizerName(value: unknown): value is OptimizerName {
  return (OPTIMIZER_NAMES as readonly unknown[]).includes(value);
}
