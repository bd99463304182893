/**
 * The optimizer's state in a checkpoint (`optimizer.bin`): the iteration count, then one float32
 * accumulator per trainable weight (two for Adam), written on save and checked against the
 * model, and against the kind of optimizer resuming, on restore.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { LabError, UsageError } from "../../core/errors.ts";
import { writeSynced } from "../../core/fs.ts";
import type { PneumothoraxDetectionModel } from "../model.ts";
import type { OptimizerName } from "../optimizers.ts";
import { bytesPerValue, findNonFinite } from "./io_handler.ts";
import { type CheckpointManifest, MANIFEST_FILE, OPTIMIZER_FILE } from "./manifest.ts";

/** A tensor with its name, as `tf.Optimizer.getWeights` returns them. */
type NamedTensor = { name: string; tensor: tf.Tensor };

/** Writes the optimizer's state into `dir`; returns its layout. */
export async function writeOptimizerState(
  optimizer: tf.Optimizer,
  dir: string,
): Promise<tf.io.WeightsManifestEntry[]> {
  const state = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(state);
  tf.dispose(state.map((weight) => weight.tensor).filter((t) => !(t instanceof tf.Variable)));
  const bad = findNonFinite(data, specs);
  if (bad !== undefined) {
    throw new LabError(`refusing to save: optimizer state '${bad}' holds NaN or infinite values`);
  }
  await writeSynced(join(dir, OPTIMIZER_FILE), new Uint8Array(data));
  return specs;
}

/**
 * Reads the saved optimizer state, after checking its layout: the iteration count, then one
 * float32 accumulator per trainable weight of the model (two for Adam: the first moments, then
 * the second), filling {@link OPTIMIZER_FILE} exactly. The caller disposes the tensors.
 */
export async function readOptimizerState(
  model: PneumothoraxDetectionModel,
  dir: string,
  manifest: CheckpointManifest,
): Promise<NamedTensor[]> {
  const path = join(dir, OPTIMIZER_FILE);
  if (!manifest.optimizer) {
    throw new LabError(`${dir} holds no optimizer state (it was not saved by training)`);
  }
  const specs = manifest.optimizer.weights;
  const trainable = model.network.trainableWeights;
  const perWeight = manifest.training?.optimizer === "adam" ? 2 : 1;
  const slots = specs.slice(1);
  const matches = specs.length > 0 && specs[0].shape.length === 0 &&
    slots.length === perWeight * trainable.length &&
    slots.every((spec, i) =>
      spec.dtype === "float32" &&
      spec.shape.join() === trainable[i % trainable.length].shape.join()
    );
  if (!matches) {
    throw new LabError(
      `${path}: its ${slots.length} accumulators in ${MANIFEST_FILE} do not match the ` +
        `${perWeight} per trainable weight (${trainable.length}) that its optimizer keeps`,
    );
  }
  const data = (await Deno.readFile(path)).slice().buffer;
  const expected = specs.reduce(
    (sum, spec) => sum + spec.shape.reduce((a, b) => a * b, 1) * bytesPerValue(spec.dtype),
    0,
  );
  if (expected !== data.byteLength) {
    throw new LabError(`${path} is ${data.byteLength} bytes; its layout needs ${expected}`);
  }
  const tensors = tf.io.decodeWeights(data, specs);
  return specs.map((spec) => ({ name: spec.name, tensor: tensors[spec.name] }));
}

/** tfjs class names of the optimizers a checkpoint's `training.optimizer` can name. */
const OPTIMIZER_CLASSES: Record<OptimizerName, string> = {
  momentum: tf.MomentumOptimizer.className,
  adam: tf.AdamOptimizer.className,
};

/**
 * Checks that `optimizer` is of the kind that saved the checkpoint's state (checkpoints without
 * `training.optimizer` were saved by momentum), so one optimizer never receives another's
 * accumulators.
 */
export function checkOptimizerKind(
  optimizer: tf.Optimizer,
  dir: string,
  manifest: CheckpointManifest,
) {
  const saved = manifest.training?.optimizer ?? "momentum";
  const given = optimizer.getClassName();
  if (given !== OPTIMIZER_CLASSES[saved]) {
    const name = Object.entries(OPTIMIZER_CLASSES).find(([, c]) => c === given)?.[0] ?? given;
    throw new UsageError(
      `${dir} was trained with the ${saved} optimizer; resume it with that one, not ${name}`,
    );
  }
}

/** Gives `optimizer` the saved state, freeing what it held. */
export async function setOptimizerState(optimizer: tf.Optimizer, state: NamedTensor[]) {
  const replaced = await optimizer.getWeights();
  await optimizer.setWeights(state);
  tf.dispose(replaced.map((weight) => weight.tensor));
}
