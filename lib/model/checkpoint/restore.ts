/**
 * Restoring a checkpoint: into an existing model (and optimizer, to resume training) or as a new
 * model. Every file's size and sha256, the architecture and the optimizer state's layout are
 * checked first, so a failed restore changes nothing.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { LabError } from "../../core/errors.ts";
import { PneumothoraxDetectionModel } from "../model.ts";
import { findCheckpoint } from "./_atomic_dir.ts";
import { checkOptimizerKind, readOptimizerState, setOptimizerState } from "./_optimizer_state.ts";
import { checkpointIOHandler } from "./io_handler.ts";
import {
  checkArchitecture,
  checkManifest,
  type CheckpointManifest,
  MANIFEST_FILE,
  MODEL_FILE,
  readJson,
  verifyCheckpointFiles,
} from "./manifest.ts";

/** Options of {@link restoreCheckpoint}. */
export interface RestoreCheckpointOptions {
  /** Optimizer to receive the saved state (default: the optimizer state is not read). */
  optimizer?: tf.Optimizer;
}

/** A checkpoint read by {@link loadCheckpoint}. */
export interface LoadedCheckpoint {
  /** The model with the saved weights. */
  model: PneumothoraxDetectionModel;
  /** The checkpoint's manifest. */
  manifest: CheckpointManifest;
  /** The directory actually read (`<dir>.previous` when a save was cut short). */
  dir: string;
}

/**
 * Reads and checks the manifest of the checkpoint saved as `dir` (see {@link findCheckpoint}).
 * Throws a {@link LabError} when there is none or it is malformed.
 */
export async function readCheckpointManifest(
  dir: string,
): Promise<{ dir: string; manifest: CheckpointManifest }> {
  const found = await findCheckpoint(dir);
  if (found === undefined) {
    throw new LabError(`no checkpoint in ${dir} (no ${MANIFEST_FILE})`);
  }
  const path = join(found, MANIFEST_FILE);
  const manifest = await readJson(path) as CheckpointManifest;
  checkManifest(manifest, path);
  return { dir: found, manifest };
}

/** Decodes the saved weights, checking them against the manifest's list. */
async function readWeights(dir: string, manifest: CheckpointManifest): Promise<tf.NamedTensorMap> {
  const artifacts = await checkpointIOHandler(dir).load!();
  const specs = artifacts.weightSpecs ?? [];
  const listed = manifest.model.weights.map((w) => `${w.name}:${w.shape}`).join();
  if (specs.map((s) => `${s.name}:${s.shape}`).join() !== listed) {
    throw new LabError(`${join(dir, MODEL_FILE)}: its weights differ from ${MANIFEST_FILE}`);
  }
  return tf.io.decodeWeights(artifacts.weightData!, specs);
}

/**
 * Loads the saved weights of the checkpoint `dir` into `model` (and the optimizer state into
 * `options.optimizer`), after verifying every file's size and sha256, the architecture, that
 * the optimizer is of the kind that saved the state (else a {@link UsageError}) and the state's
 * layout. Nothing is changed when a check fails: a {@link LabError} names the file or the
 * difference.
 */
export async function restoreCheckpoint(
  model: PneumothoraxDetectionModel,
  dir: string,
  options: RestoreCheckpointOptions = {},
): Promise<CheckpointManifest> {
  const { dir: found, manifest } = await readCheckpointManifest(dir);
  checkArchitecture(model, manifest);
  await verifyCheckpointFiles(found, manifest);
  if (options.optimizer) checkOptimizerKind(options.optimizer, found, manifest);
  const state = options.optimizer ? await readOptimizerState(model, found, manifest) : [];
  const weights = await readWeights(found, manifest).catch((error) => {
    tf.dispose(state.map((weight) => weight.tensor));
    throw error;
  });
  try {
    model.network.loadWeights(weights, true);
    if (options.optimizer) await setOptimizerState(options.optimizer, state);
  } finally {
    tf.dispose([...Object.values(weights), ...state.map((weight) => weight.tensor)]);
  }
  return manifest;
}

/**
 * Loads the checkpoint saved as `dir` into a new model, through `tf.loadLayersModel`, after
 * verifying every file's size and sha256. The caller disposes the model.
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const { dir: found, manifest } = await readCheckpointManifest(dir);
  await verifyCheckpointFiles(found, manifest);
  const network = await tf.loadLayersModel(checkpointIOHandler(found));
  let model: PneumothoraxDetectionModel;
  try {
    model = new PneumothoraxDetectionModel(network);
    checkArchitecture(model, manifest);
  } catch (error) {
    network.dispose();
    throw error;
  }
  return { model, manifest, dir: found };
}
