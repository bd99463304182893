/**
 * The lab's library as the notebooks import it, `"lab"`: explicit names, grouped by the
 * notebook that first uses them. It never exports a graded answer (`computeCost`,
 * `predictClass`, `computeRoc`, `extractFeaturesWeights`, `computeCam`, `upsample`,
 * `PNEUMOTHORAX_CLASS`, ...): those are the student's to write, and their references live in
 * grading/references.ts, which only the grader and the tests import (a handout holds a stand-in).
 * Tasks and tests import the modules directly.
 *
 * @module
 */

// Every notebook: its first cell, gaps and checks, errors.
export {
  type LabSetup,
  NOTEBOOK_CHECKPOINT,
  PHANTOM_CHECKPOINT,
  PRETRAINED_CHECKPOINT,
  setupNotebook,
  type SetupOptions,
} from "./notebook/setup.ts";
export { LAB_ROOT } from "./core/paths.ts";
export { check, type CheckOptions } from "./grading/check.ts";
export { DataFileError, LabError, NotAnsweredError, todo, UsageError } from "./core/errors.ts";

// 01 the dataset, and the real X-rays shipped with the lab.
export { type LabSplit, PneumothoraxDataset } from "./data/dataset.ts";
export {
  loadSiimSample,
  SIIM_SAMPLE_DIR,
  type SiimSample,
  splitSiimSample,
} from "./data/siim_sample.ts";
export { type Half, mirroredHalf } from "./data/halves.ts";
export { imageAt, type ImageStack } from "./data/schema.ts";
export {
  type DeviceSummary,
  loadRealSample,
  type LoadRealSampleOptions,
  REAL_SAMPLE_DIR,
  type RealSample,
  type Visibility,
} from "./data/real_sample.ts";
export { plotXrayGrid, type StepValue } from "./figures/mod.ts";

// 02 training.
export {
  createModel,
  type ModelOptions,
  type ModelOutputs,
  PneumothoraxDetectionModel,
} from "./model/model.ts";
export {
  type StepMetrics,
  type StepReport,
  train,
  type TrainOptions,
  type TrainResult,
} from "./training/train.ts";
export { type CostFunction, type PredictFunction } from "./model/loss.ts";
export { createLiveDisplay } from "./notebook/display.ts";
export { plotTrainingCurves } from "./figures/mod.ts";

// 03 restoring.
export { loadCheckpoint, readCheckpointManifest } from "./model/checkpoint/mod.ts";

// 04 ROC and AUC.
export { predictImages } from "./evaluation/evaluate.ts";
export { filmDesignOf, type FilmPredictions, predictFilms } from "./evaluation/films.ts";
export {
  auc,
  bootstrapAucInterval,
  operatingPoint,
  type Roc,
  rocCurve,
  thresholdForSensitivity,
} from "./evaluation/roc.ts";
export { plotRoc } from "./figures/mod.ts";

// 05 class activation maps.
export { type FeaturesWeights } from "./evaluation/cam.ts";
export { visCam } from "./figures/cam.ts";

// 06 what the model learned.
export { generateTubePhantoms, type MapPeak, type TubePhantoms } from "./evaluation/tube_masks.ts";
export {
  type LocalizationReport,
  localizeDataset,
  type PriorPointing,
  priorPointing,
} from "./evaluation/localization.ts";
export {
  crossValidate,
  type CrossValidateOptions,
  type CrossValidationResult,
  type PatientImages,
} from "./evaluation/crossval.ts";
