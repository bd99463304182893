/**
 * The lab's library: what the notebooks import. Re-exports only.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./random.ts";
export * from "./progress.ts";
export * from "./hdf5.ts";
export * from "./dataset.ts";
export * from "./download.ts";
export * from "./data_source.ts";
export {
  createModel,
  DEFAULT_SEED,
  MODEL_WIDTH,
  type ModelOptions,
  type ModelOutputs,
  PerImageStandardization,
  PneumothoraxDetectionModel,
  standardizeImages,
} from "./model.ts";
export * from "./roc.ts";
export * from "./cam.ts";
export * from "./nih.ts";
export * from "./xray_png.ts";
export * from "./notebook.ts";
export * from "./png.ts";
export * from "./overlay.ts";
export * from "./plot.ts";
export * from "./lab_setup.ts";
export * from "./display.ts";
export * from "./phantom.ts";
export * from "./train.ts";
export * from "./checkpoint.ts";
export * from "./evaluate.ts";
export * from "./localization.ts";
export * from "./backend.ts";
export * from "./summary.ts";
export {
  createParallelTrainer,
  maxMicroBatchSize,
  maxThreadBatchSize,
  type ParallelStepResult,
  ParallelTrainer,
  type ParallelTrainerOptions,
} from "./parallel_train.ts";
