/**
 * Saving a checkpoint: the network, its weights, the optimizer's state and the manifest, written
 * into a temporary directory that then replaces the checkpoint atomically (see `_atomic_dir.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { dirname, join, resolve } from "node:path";
import { LabError } from "../../core/errors.ts";
import { syncDirectory, writeSynced } from "../../core/fs.ts";
import type { PneumothoraxDetectionModel } from "../model.ts";
import { checkReplaceable, commit, removeStaleTemporaries, TEMP_INFIX } from "./_atomic_dir.ts";
import { writeOptimizerState } from "./_optimizer_state.ts";
import { checkpointIOHandler } from "./io_handler.ts";
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointData,
  type CheckpointManifest,
  type CheckpointMetrics,
  describeFile,
  type FileRecord,
  MANIFEST_FILE,
  MODEL_FILE,
  OPTIMIZER_FILE,
  type TrainingState,
  WEIGHTS_FILE,
  weightShapes,
} from "./manifest.ts";

/** Options of {@link saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /** Training steps done (default 0). */
  step?: number;
  /** Latest metrics (default none). */
  metrics?: CheckpointMetrics;
  /** Optimizer whose state to save in {@link OPTIMIZER_FILE} (default: none saved). */
  optimizer?: tf.Optimizer;
  /** Hyperparameters and batch cursors for resuming (default none). */
  training?: TrainingState;
  /** Description of the training data (default none). */
  data?: CheckpointData;
}

/**
 * Saves `model` (and, if given, the optimizer's state) as a checkpoint directory `dir`,
 * atomically (see the module notes). Refuses weights holding NaN or infinities, and a `dir`
 * that holds other files. On failure (a full disk, say) the previous checkpoint is left intact
 * and a {@link LabError} says so.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createModel } from "../model.ts";
 * import { loadCheckpoint, saveCheckpoint } from "./mod.ts";
 * await tf.setBackend("cpu");
 * const dir = await Deno.makeTempDir();
 * const model = createModel({ width: 1, imageSize: 16 });
 * await saveCheckpoint(model, `${dir}/ckpt`, { step: 7 });
 * const loaded = await loadCheckpoint(`${dir}/ckpt`);
 * if (loaded.manifest.step !== 7 || loaded.model.width !== 1) throw new Error("round trip");
 * loaded.model.dispose();
 * model.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  model: PneumothoraxDetectionModel,
  dir: string,
  options: SaveCheckpointOptions = {},
): Promise<CheckpointManifest> {
  const target = resolve(dir);
  await Deno.mkdir(dirname(target), { recursive: true });
  await checkReplaceable(target);
  await removeStaleTemporaries(target);
  const temp = `${target}${TEMP_INFIX}${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await model.network.save(checkpointIOHandler(temp));
    const optimizerSpecs = options.optimizer
      ? await writeOptimizerState(options.optimizer, temp)
      : undefined;
    const files: Record<string, FileRecord> = {};
    for (const name of [MODEL_FILE, WEIGHTS_FILE, ...(optimizerSpecs ? [OPTIMIZER_FILE] : [])]) {
      files[name] = await describeFile(join(temp, name));
    }
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      model: {
        width: model.width,
        imageSize: model.imageSize,
        params: model.countParams(),
        weights: weightShapes(model.network),
      },
      step: options.step ?? 0,
      metrics: options.metrics ?? {},
      ...(options.training ? { training: options.training } : {}),
      ...(optimizerSpecs ? { optimizer: { weights: optimizerSpecs } } : {}),
      ...(options.data ? { data: options.data } : {}),
      backend: tf.getBackend(),
      date: new Date().toISOString(),
      files,
    };
    const text = JSON.stringify(manifest, null, 2) + "\n";
    await writeSynced(join(temp, MANIFEST_FILE), new TextEncoder().encode(text));
    await syncDirectory(temp);
    await commit(temp, target);
    return manifest;
  } catch (error) {
    await Deno.remove(temp, { recursive: true }).catch(() => {});
    const reason = error instanceof Error ? error.message : String(error);
    throw new LabError(
      `could not save the checkpoint to ${dir}: ${reason}; the previous checkpoint (if any) ` +
        "is intact",
      { cause: error },
    );
  }
}
