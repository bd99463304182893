/**
 * Checkpoints of the lab's model (the original's `tf.train.Saver`): a directory holding
 *
 * ```
 * model.json      the network in TensorFlow.js layers format (tf.loadLayersModel reads it)
 * weights.bin     its float32 weights
 * optimizer.bin   the optimizer's state (momentum accumulators), when saved from training
 * manifest.json   config (width, image size, weight shapes), step, metrics, training state,
 *                 data description, backend, date, and the size and sha256 of every file
 * ```
 *
 * Saving is atomic (`_atomic_dir.ts`): a process killed at any moment leaves either the new or the
 * previous checkpoint complete, and {@link findCheckpoint} finds it. Restoring verifies the sizes
 * and sha256 of the files and the architecture, and names what differs (`manifest.ts`,
 * `restore.ts`). Weights can also be exchanged with Python as Keras HDF5 files (`keras.ts`).
 *
 * @module
 */
export { findCheckpoint } from "./_atomic_dir.ts";
export { checkpointIOHandler } from "./io_handler.ts";
export { exportKerasWeights, importKerasWeights } from "./keras.ts";
export {
  checkArchitecture,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointData,
  type CheckpointManifest,
  type CheckpointMetrics,
  type FileRecord,
  MANIFEST_FILE,
  MODEL_FILE,
  OPTIMIZER_FILE,
  type SplitMetrics,
  type TrainingState,
  verifyCheckpointFiles,
  WEIGHTS_FILE,
  type WeightShape,
} from "./manifest.ts";
export {
  loadCheckpoint,
  type LoadedCheckpoint,
  readCheckpointManifest,
  restoreCheckpoint,
  type RestoreCheckpointOptions,
} from "./restore.ts";
export { saveCheckpoint, type SaveCheckpointOptions } from "./save.ts";
