/**
 * `deno task crossval`: patient-grouped k-fold cross-validation of the lab's training on one
 * data folder (lib/evaluation/crossval.ts). Both lab files are pooled, since on a few hundred real X-rays
 * a single test file is too small to tell two training recipes apart; every image is then
 * scored once by a model that never saw its patient. The training flags are `deno task
 * train`'s, so a recipe found here is one command away from a full training run.
 *
 * @module
 */
import { join } from "node:path";
import { type CommandSpec, integerFlag, parseCommand, type ParsedArgs, runMain } from "./args.ts";
import { given, readInitFrom, readTrainingFlags, TRAIN_SPEC, type TrainingFlags } from "./train.ts";
import { createAugmentation } from "../lib/training/augment.ts";
import { type BackendInfo, selectBackend } from "../lib/backends/backend.ts";
import { readSourceRecord } from "../lib/data/source.ts";
import {
  crossValidate,
  type CrossValidationSummary,
  DEFAULT_FOLDS,
  type PatientImages,
} from "../lib/evaluation/crossval.ts";
import { type LabSplit, readLabFile, TEST_FILE, TRAIN_FILE } from "../lib/data/dataset.ts";
import { IMAGE_SIZE, imageAt } from "../lib/data/schema.ts";
import { UsageError } from "../lib/core/errors.ts";
import { BLOCK_COUNT, createModel, DEFAULT_SEED, MODEL_WIDTH } from "../lib/model/model.ts";
import { createProgressBar, formatDuration, type ProgressBar } from "../lib/core/progress.ts";
import { ADAM_LEARNING_RATE, BATCH_SIZE, LEARNING_RATE, NUM_STEPS } from "../lib/training/train.ts";

const training = TRAIN_SPEC.flags;

const SPEC: CommandSpec = {
  name: "crossval",
  summary: "Patient-grouped k-fold cross-validation on the pooled training and test files of " +
    "--data (they need 'patient_id'): for each fold, a model trained on the other folds scores " +
    "it; prints each fold's AUC and the pooled AUC with a bootstrap 95% interval.",
  flags: {
    data: { type: "string", default: "data", help: "Folder with pneumothorax_{train,test}.h5." },
    folds: { type: "string", default: String(DEFAULT_FOLDS), help: "Number of folds." },
    "fold-seed": {
      type: "string",
      default: "0",
      help: "Seed of the folds, of the order of the training images and of the bootstrap.",
    },
    "init-from": {
      type: "string",
      help: "Fine-tune: every fold starts from this checkpoint's weights, with a fresh optimizer.",
    },
    steps: { ...training.steps, help: "Training steps per fold." },
    width: {
      type: "string",
      help: `Filters of the first block (default: ${MODEL_WIDTH}; with --init-from, the ` +
        "checkpoint's).",
    },
    "image-size": {
      type: "string",
      help: `Side of the images (default: ${IMAGE_SIZE}; with --init-from, the checkpoint's).`,
    },
    batch: { type: "string", help: `Training images per step (default: ${BATCH_SIZE}).` },
    optimizer: { type: "string", help: "momentum (the lab's) or adam (default: momentum)." },
    lr: {
      type: "string",
      help: `Learning rate (default: ${LEARNING_RATE} for momentum, ${ADAM_LEARNING_RATE} for ` +
        "adam).",
    },
    seed: {
      type: "string",
      help: `Seed of the initial weights and of the augmentation (default: ${DEFAULT_SEED}).`,
    },
    workers: training.workers,
    augment: {
      type: "boolean",
      help: "Augment the training images: small rotations, scalings, shifts and gamma " +
        "changes, no flips (lib/training/augment.ts).",
    },
    "freeze-blocks": {
      type: "string",
      default: "0",
      help: `Keep the first this many of the ${BLOCK_COUNT} convolution blocks fixed ` +
        "(fine-tuning with --init-from); needs --workers 0.",
    },
    json: { type: "boolean", help: "Print the result as JSON on standard output." },
  },
};

/** The run's settings, as the JSON output reports them. */
interface Settings extends TrainingFlags {
  data: string;
  folds: number;
  foldSeed: number;
  initFrom: string | null;
  steps: number;
  augment: boolean;
  freezeBlocks: number;
}

function readSettings(args: ParsedArgs, initial?: { width: number; imageSize: number }): Settings {
  return {
    ...readTrainingFlags(args, { width: initial?.width, imageSize: initial?.imageSize }),
    data: String(args.values.data),
    folds: integerFlag(args, "folds", { min: 2 }),
    foldSeed: integerFlag(args, "fold-seed", { min: 0 }),
    initFrom: given(args, "init-from") ? String(args.values["init-from"]) : null,
    steps: given(args, "steps") ? integerFlag(args, "steps", { min: 1 }) : NUM_STEPS,
    augment: args.values.augment === true,
    freezeBlocks: integerFlag(args, "freeze-blocks", { min: 0, max: BLOCK_COUNT }),
  };
}

function requirePatients(split: LabSplit): string[] {
  if (!split.patientIds) {
    throw new UsageError(
      `${split.source} has no 'patient_id' dataset: cross-validation keeps each patient's ` +
        "images in one fold, so it needs them (deno task data --source sample or nih writes them)",
    );
  }
  return split.patientIds;
}

/**
 * Both lab files of `dir` as one set of images with their patients, ordered by patient and
 * file name: the same images split into train and test files another way give the same folds,
 * batches and results.
 */
async function readPooled(dir: string, imageSize: number): Promise<PatientImages> {
  const read = { imageSize, strings: true };
  const parts = [
    await readLabFile(join(dir, TRAIN_FILE), read),
    await readLabFile(join(dir, TEST_FILE), read),
  ];
  const pixels = imageSize * imageSize;
  const rows = parts.flatMap((part) => {
    const patients = requirePatients(part);
    return patients.map((patient, i) => ({
      patient,
      file: part.files?.[i] ?? "",
      label: part.labels[i],
      pixels: imageAt(part, i),
    }));
  });
  const key = (row: { patient: string; file: string }) => `${row.patient}\u0000${row.file}`;
  rows.sort((a, b) => key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
  const images = new Uint8Array(rows.length * pixels);
  rows.forEach((row, i) => images.set(row.pixels, i * pixels));
  return {
    images,
    labels: Uint8Array.from(rows, (row) => row.label),
    patientIds: rows.map((row) => row.patient),
    imageSize,
  };
}

function aucText(auc: number | null): string {
  return auc === null ? "-" : auc.toFixed(3);
}

function printTable(summary: CrossValidationSummary, settings: Settings): void {
  const rows = summary.folds.map((fold, i) =>
    `${String(i + 1).padStart(4)}  ${String(fold.n).padStart(6)}  ` +
    `${String(fold.positives).padStart(9)}  ${aucText(fold.auc).padStart(5)}`
  );
  const { pooled } = summary;
  const interval = pooled.aucCi95
    ? ` (95% CI ${pooled.aucCi95[0].toFixed(3)}-${pooled.aucCi95[1].toFixed(3)})`
    : "";
  console.log(
    [
      `${settings.folds}-fold cross-validation by patient of ${settings.data}` +
      (settings.initFrom ? `, fine-tuned from ${settings.initFrom}` : ", from scratch"),
      "fold  images  positives    AUC",
      ...rows,
      `pooled ${pooled.n} images, ${pooled.positives} positives: AUC ${aucText(pooled.auc)}` +
      interval,
    ].join("\n"),
  );
}

/** Trains and scores every fold, with a progress bar per fold on standard error. */
async function run(data: PatientImages, settings: Settings, backend: BackendInfo) {
  let bar: ProgressBar | undefined;
  const started = performance.now();
  const foldSeconds: number[] = [];
  const result = await crossValidate(data, {
    folds: settings.folds,
    seed: settings.foldSeed,
    createModel: () =>
      createModel({ width: settings.width, imageSize: settings.imageSize, seed: settings.seed }),
    train: {
      steps: settings.steps,
      batchSize: settings.batch,
      optimizer: settings.optimizer,
      learningRate: settings.lr,
      workers: settings.workers,
      initFrom: settings.initFrom ?? undefined,
      freezeBlocks: settings.freezeBlocks,
      onStep: (report) => {
        bar?.update(report.step, undefined, `cost ${report.cost.toFixed(4)}`);
      },
    },
    augment: settings.augment
      ? (fold) => createAugmentation({ seed: settings.seed + fold })
      : undefined,
    onFoldStart: (fold, split) => {
      bar = createProgressBar(settings.steps, {
        label: `fold ${fold + 1}/${settings.folds} (${split.train.labels.length} training, ` +
          `${split.test.labels.length} held out)`,
        unit: "steps",
      });
    },
    onFoldDone: (fold, score, trained) => {
      bar?.done(`AUC ${aucText(score.auc)}`);
      foldSeconds[fold] = trained.seconds;
    },
  });
  return {
    settings,
    backend: backend.rung,
    seconds: (performance.now() - started) / 1000,
    folds: result.folds.map((fold, i) => ({ ...fold, seconds: foldSeconds[i] })),
    pooled: result.pooled,
  };
}

/**
 * Runs the task with command-line arguments `argv`; bad flags and data are
 * {@link UsageError}s (the caller prints them as one line).
 */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  readSettings(args);
  const initial = await readInitFrom(args);
  const settings = readSettings(args, initial?.model);
  if (settings.freezeBlocks > 0 && settings.workers > 0) {
    throw new UsageError("--freeze-blocks trains on the calling thread: give --workers 0");
  }
  const data = await readPooled(settings.data, settings.imageSize);
  const backend = await selectBackend();
  console.error(`backend: ${backend.description}`);
  const record = await readSourceRecord(settings.data);
  console.error(
    `data: ${settings.data}${record ? ` (${record.source})` : ""}, ${data.labels.length} images, ` +
      `${data.labels.reduce((sum, label) => sum + label, 0)} pneumothorax, ` +
      `${new Set(data.patientIds).size} patients`,
  );
  const report = await run(data, settings, backend);
  if (args.values.json === true) console.log(JSON.stringify(report, null, 2));
  else {
    printTable(report, settings);
    console.log(`${formatDuration(report.seconds)} on ${report.backend}`);
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
