/**
 * The lab's library as the notebooks import it, `"lab"`: explicit names, grouped by the
 * notebook that first uses them. It never exports a graded answer (`computeCost`,
 * `predictClass`, `computeRoc`, `extractFeaturesWeights`, `computeCam`, `upsample`,
 * `PNEUMOTHORAX_CLASS`): those are the student's to write, and their references live in
 * modules only the library and the grader import. Tasks and tests import the modules directly.
 *
 * @module
 */

// Every notebook: its first cell, gaps and checks, errors.
export {
  LAB_ROOT,
  type LabSetup,
  NOTEBOOK_CHECKPOINT,
  PRETRAINED_CHECKPOINT,
  setupNotebook,
  type SetupOptions,
} from "./lab_setup.ts";
export { check, type CheckOptions } from "./check.ts";
export { DataFileError, LabError, NotAnsweredError, todo, UsageError } from "./errors.ts";

// 01 the dataset, and the real X-rays shipped with the lab.
export { type LabSplit, PneumothoraxDataset } from "./dataset.ts";
export {
  type DeviceSummary,
  loadRealSample,
  type LoadRealSampleOptions,
  REAL_SAMPLE_DIR,
  type RealSample,
  type Visibility,
} from "./real_sample.ts";
export { plotXrayGrid, type StepValue } from "./plot.ts";

// 02 training.
export {
  createModel,
  type ModelOptions,
  type ModelOutputs,
  PneumothoraxDetectionModel,
} from "./model.ts";
export {
  type CostFunction,
  type PredictFunction,
  type StepMetrics,
  type StepReport,
  train,
  type TrainOptions,
  type TrainResult,
} from "./train.ts";
export { createLiveDisplay } from "./display.ts";
export { plotTrainingCurves } from "./plot.ts";

// 03 restoring.
export { loadCheckpoint, readCheckpointManifest } from "./checkpoint.ts";

// 04 ROC and AUC.
export { predictImages } from "./evaluate.ts";
export {
  auc,
  bootstrapAucInterval,
  operatingPoint,
  type Roc,
  rocCurve,
  thresholdForSensitivity,
} from "./roc.ts";
export { plotRoc } from "./plot.ts";

// 05 class activation maps.
export { type FeaturesWeights, visCam } from "./cam.ts";

// 06 what the model learned.
export { generateTubePhantoms, type MapPeak, type TubePhantoms } from "./shortcut.ts";
export { type LocalizationReport, localizeDataset } from "./localization.ts";
export {
  crossValidate,
  type CrossValidateOptions,
  type CrossValidationResult,
  type PatientImages,
} from "./crossval.ts";
