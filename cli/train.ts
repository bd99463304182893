/**
 * `deno task train`: train the lab's model on a data folder, with a progress bar, checkpoints,
 * TensorBoard summaries, Ctrl-C to stop cleanly and `--resume` to continue.
 *
 * @module
 */
import { basename, join } from "node:path";
import { type CommandSpec, integerFlag, parseCommand, type ParsedArgs, runMain } from "./args.ts";
import {
  type CheckpointManifest,
  findCheckpoint,
  readCheckpointManifest,
} from "../lib/model/checkpoint/mod.ts";
import { type DataFolder, describeDataFolder, readSourceRecord } from "../lib/data/source.ts";
import {
  PneumothoraxDataset,
  TEST_FILE,
  TRAIN_FILE,
  validateLabFile,
} from "../lib/data/dataset.ts";
import { IMAGE_SIZE } from "../lib/data/schema.ts";
import { UsageError } from "../lib/core/errors.ts";
import { createModel, DEFAULT_SEED, MODEL_WIDTH } from "../lib/model/model.ts";
import { maxThreadBatchSize } from "../lib/training/parallel.ts";
import { type BackendInfo, selectBackend } from "../lib/backends/backend.ts";
import { createAugmentation } from "../lib/training/augment.ts";
import { createProgressBar, formatDuration, type ProgressBar } from "../lib/core/progress.ts";
import { isOptimizerName, OPTIMIZER_NAMES, type OptimizerName } from "../lib/model/optimizers.ts";
import {
  ADAM_LEARNING_RATE,
  BATCH_SIZE,
  CHECKPOINT_EVERY,
  defaultLearningRate,
  EVAL_EVERY,
  LEARNING_RATE,
  NUM_STEPS,
  type StepMetrics,
  train,
  type TrainResult,
} from "../lib/training/train.ts";

/** Exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it. */
const INTERRUPTED_EXIT = 130;
/** The model's four 2x2 max-pools need an image side divisible by 16. */
const IMAGE_SIZE_MULTIPLE = 16;

/** The task's flags; `deno task crossval` takes the training ones from here. */
export const TRAIN_SPEC: CommandSpec = {
  name: "train",
  summary:
    "Train the lab's CNN: batches of training images in order, Nesterov momentum (or --optimizer adam), " +
    "test cost and accuracy every --eval-every steps, a checkpoint every --checkpoint-every " +
    "steps, TensorBoard summaries. Ctrl-C stops after the current step with a checkpoint; " +
    "--resume continues from it with the same batches.",
  flags: {
    data: { type: "string", default: "data", help: "Folder with pneumothorax_{train,test}.h5." },
    out: { type: "string", default: "checkpoints/latest", help: "Checkpoint directory." },
    steps: { type: "string", default: String(NUM_STEPS), help: "Steps to reach in total." },
    width: {
      type: "string",
      help: `Filters of the first block (default: ${MODEL_WIDTH}, the lab's; when resuming or ` +
        "with --init-from, the checkpoint's).",
    },
    "image-size": {
      type: "string",
      help: `Side of the images (default: ${IMAGE_SIZE}; when resuming or with --init-from, ` +
        "the checkpoint's).",
    },
    batch: {
      type: "string",
      help: `Training images per step (default: ${BATCH_SIZE}; when resuming, the checkpoint's).`,
    },
    optimizer: {
      type: "string",
      help: "momentum (the lab's Nesterov momentum) or adam (default: momentum; when resuming, " +
        "the checkpoint's).",
    },
    lr: {
      type: "string",
      help: `Learning rate (default: ${LEARNING_RATE} for momentum, ${ADAM_LEARNING_RATE} for ` +
        "adam; when resuming, the checkpoint's).",
    },
    seed: {
      type: "string",
      help: `Seed of the initial weights and of the test batches (default: ${DEFAULT_SEED}; ` +
        "when resuming, the checkpoint's).",
    },
    "checkpoint-every": {
      type: "string",
      default: String(CHECKPOINT_EVERY),
      help: "Save a checkpoint every this many steps (and at the end).",
    },
    workers: {
      type: "string",
      help: "Module workers computing each batch's gradients in parallel, in passes that fit " +
        "the wasm heap (wasm and onednn backends; 2 uses both cores of a 2-core machine); 0 " +
        "trains on the main thread (which onednn already spreads over every core). Default 0, " +
        "or, where a batch does not fit one pass (width 64 at batch 15), 1 on onednn and one " +
        "per core on wasm.",
    },
    "eval-every": {
      type: "string",
      default: String(EVAL_EVERY),
      help: "Evaluate on 100 test images every this many steps.",
    },
    resume: { type: "boolean", help: "Continue from the checkpoint in --out." },
    augment: {
      type: "boolean",
      help: "Augment the training images: small rotations, scalings, shifts and gamma " +
        "changes, no flips (lib/training/augment.ts), seeded by --seed (its draws start again " +
        "on --resume).",
    },
    "init-from": {
      type: "string",
      help: "Start from this checkpoint's weights (fine-tuning on --data), with a fresh " +
        "optimizer and batches; not with --resume.",
    },
    "lesion-maps": {
      type: "string",
      help: "Also train the class activation maps on the lesion outlines of --data (SIIM " +
        "films, phantoms), with this weight beside the cross-entropy " +
        "(lib/training/lesion_maps.ts; the shipped model used 0.3). Default: labels only.",
    },
    logdir: {
      type: "string",
      help: "TensorBoard run folder, written as <logdir>/{train,test} (default: " +
        "logs/<name of --out>).",
    },
  },
};

/** The model and how it is trained: the flags `deno task train` and `deno task crossval` share. */
export interface TrainingFlags {
  width: number;
  imageSize: number;
  batch: number;
  optimizer: OptimizerName;
  lr: number;
  seed: number;
  workers: number;
}

/** The run's settings: flags, else the resumed checkpoint's values, else the defaults. */
interface Settings extends TrainingFlags {
  data: string;
  out: string;
  logdir: string;
  steps: number;
  checkpointEvery: number;
  evalEvery: number;
  resume: boolean;
  initFrom?: string;
  /** Weight of the lesion-map term; 0 trains on the labels alone. */
  lesionMaps: number;
}

/** Whether the flag `name` was given a value. */
export function given(args: ParsedArgs, name: string): boolean {
  return typeof args.values[name] === "string";
}

/** Reads a flag that must be a positive finite number. */
export function positiveNumberFlag(args: ParsedArgs, name: string): number {
  const raw = String(args.values[name]);
  const value = /^\s*[0-9.eE+-]+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!(value > 0 && Number.isFinite(value))) {
    throw new UsageError(`--${name} must be a positive number, got '${raw}'`);
  }
  return value;
}

/** Reads `--image-size`, a multiple of 16. */
export function imageSizeFlag(args: ParsedArgs): number {
  const size = integerFlag(args, "image-size", { min: IMAGE_SIZE_MULTIPLE });
  if (size % IMAGE_SIZE_MULTIPLE !== 0) {
    throw new UsageError(
      `--image-size must be a multiple of ${IMAGE_SIZE_MULTIPLE} (four 2x2 max-pools), got ` +
        `'${args.values["image-size"]}'`,
    );
  }
  return size;
}

/** Reads `--optimizer`. */
function optimizerFlag(args: ParsedArgs): OptimizerName {
  const raw = String(args.values.optimizer);
  if (!isOptimizerName(raw)) {
    const names = OPTIMIZER_NAMES.map((name) => `'${name}'`).join(" or ");
    throw new UsageError(`--optimizer must be ${names}, got '${raw}'`);
  }
  return raw;
}

/**
 * Reads the {@link TrainingFlags}; a flag not given takes its value from `defaults` (a resumed or
 * initial checkpoint's), else the lab's default.
 */
export function readTrainingFlags(
  args: ParsedArgs,
  defaults: Partial<TrainingFlags> = {},
): TrainingFlags {
  const optimizer = given(args, "optimizer")
    ? optimizerFlag(args)
    : defaults.optimizer ?? OPTIMIZER_NAMES[0];
  return {
    width: given(args, "width")
      ? integerFlag(args, "width", { min: 1 })
      : defaults.width ?? MODEL_WIDTH,
    imageSize: given(args, "image-size") ? imageSizeFlag(args) : defaults.imageSize ?? IMAGE_SIZE,
    batch: given(args, "batch")
      ? integerFlag(args, "batch", { min: 1 })
      : defaults.batch ?? BATCH_SIZE,
    optimizer,
    lr: given(args, "lr")
      ? positiveNumberFlag(args, "lr")
      : defaults.lr ?? defaultLearningRate(optimizer),
    seed: given(args, "seed")
      ? integerFlag(args, "seed", { min: 0 })
      : defaults.seed ?? DEFAULT_SEED,
    workers: given(args, "workers") ? integerFlag(args, "workers", { min: 0, max: 64 }) : 0,
  };
}

/**
 * Reads the flags; values not given come from `resumed` (when resuming), the width and image
 * size from `initial` (the `--init-from` checkpoint), else the defaults.
 */
function readSettings(
  args: ParsedArgs,
  resumed?: CheckpointManifest,
  initial?: CheckpointManifest,
): Settings {
  const out = String(args.values.out);
  const training = resumed?.training;
  const model = (resumed ?? initial)?.model;
  return {
    ...readTrainingFlags(args, {
      width: model?.width,
      imageSize: model?.imageSize,
      batch: training?.batchSize,
      optimizer: training?.optimizer,
      lr: training?.learningRate,
      seed: training?.dataSeed,
    }),
    data: String(args.values.data),
    out,
    logdir: given(args, "logdir") ? String(args.values.logdir) : join("logs", basename(out)),
    steps: integerFlag(args, "steps", { min: 1 }),
    checkpointEvery: integerFlag(args, "checkpoint-every", { min: 1 }),
    evalEvery: integerFlag(args, "eval-every", { min: 1 }),
    resume: args.values.resume === true,
    initFrom: given(args, "init-from") ? String(args.values["init-from"]) : undefined,
    lesionMaps: given(args, "lesion-maps") ? positiveNumberFlag(args, "lesion-maps") : 0,
  };
}

/**
 * The manifest of the `--init-from` checkpoint, if given, after checking that it exists and
 * that `--width` and `--image-size`, when given, are its (a {@link UsageError} naming both).
 */
export async function readInitFrom(args: ParsedArgs): Promise<CheckpointManifest | undefined> {
  if (!given(args, "init-from")) return undefined;
  const dir = String(args.values["init-from"]);
  if (await findCheckpoint(dir) === undefined) {
    throw new UsageError(`--init-from: there is no checkpoint in ${dir}`);
  }
  const { manifest } = await readCheckpointManifest(dir);
  const flags = [
    ["width", manifest.model.width, () => integerFlag(args, "width", { min: 1 })],
    ["image-size", manifest.model.imageSize, () => imageSizeFlag(args)],
  ] as const;
  for (const [flag, saved, read] of flags) {
    if (given(args, flag) && read() !== saved) {
      throw new UsageError(
        `--init-from ${dir} has ${flag.replace("-", " ")} ${saved}, but --${flag} is ${read()}`,
      );
    }
  }
  return manifest;
}

/**
 * Workers for a run whose `--workers` was not given: none (the calling thread), unless a batch
 * does not fit one pass of the wasm heap; then replicas that split it into passes, one (which
 * uses every core) on onednn, one per core on wasm. Says so when it picks them.
 */
function passWorkers(settings: Settings, backend: BackendInfo): number {
  const most = maxThreadBatchSize(settings.width, settings.imageSize);
  if (backend.tfBackend !== "wasm" || settings.batch <= most) return settings.workers;
  const workers = backend.rung === "onednn" ? 1 : navigator.hardwareConcurrency;
  console.log(
    `note: a batch of ${settings.batch} at width ${settings.width} does not fit one pass of ` +
      `the wasm heap (at most ${most} images): training with --workers ${workers}, in passes`,
  );
  return workers;
}

/** Validates both files of the folder at the run's image size, and reads its provenance. */
async function inspectData(dir: string, imageSize: number): Promise<DataFolder> {
  return {
    dir,
    train: await validateLabFile(join(dir, TRAIN_FILE), { imageSize }),
    test: await validateLabFile(join(dir, TEST_FILE), { imageSize }),
    record: await readSourceRecord(dir),
  };
}

/** The checkpoint to resume, or a check that a fresh run will not replace one. */
async function checkpointToResume(args: ParsedArgs): Promise<CheckpointManifest | undefined> {
  const out = String(args.values.out);
  if (args.values.resume === true) {
    if (await findCheckpoint(out) === undefined) {
      throw new UsageError(`--resume: there is no checkpoint in ${out} to continue`);
    }
    return (await readCheckpointManifest(out)).manifest;
  }
  if (await findCheckpoint(out) !== undefined) {
    const { manifest } = await readCheckpointManifest(out);
    throw new UsageError(
      `${out} already holds a checkpoint (step ${manifest.step}); continue it with --resume, ` +
        "or choose another --out",
    );
  }
  return undefined;
}

/** Stops training on the first Ctrl-C (or SIGTERM); exits at once on the second. */
function listenForInterrupts(controller: AbortController): () => void {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  const handler = () => {
    if (controller.signal.aborted) Deno.exit(INTERRUPTED_EXIT);
    console.error("\nstopping after this step and saving a checkpoint (Ctrl-C again to quit now)");
    controller.abort();
  };
  signals.forEach((signal) => Deno.addSignalListener(signal, handler));
  return () => signals.forEach((signal) => Deno.removeSignalListener(signal, handler));
}

function metricsText(label: string, metrics?: Pick<StepMetrics, "cost" | "accuracy">): string {
  return metrics ? `${label} ${metrics.cost.toFixed(4)}/${metrics.accuracy.toFixed(2)}` : "";
}

function resumeCommand(settings: Settings): string {
  return `deno task train --data ${settings.data} --out ${settings.out} --steps ` +
    `${settings.steps} --resume`;
}

function printResult(result: TrainResult, settings: Settings): void {
  const trained = result.step - result.startStep;
  console.log(
    `trained steps ${result.startStep + 1}-${result.step} (${trained}) in ` +
      `${formatDuration(result.seconds)}: ${result.imagesPerSecond.toFixed(2)} images/s`,
  );
  if (result.checkpointStep !== undefined) {
    console.log(`checkpoint: ${settings.out} (step ${result.checkpointStep})`);
  }
  if (result.stopped === "interrupted") {
    console.log(`interrupted at step ${result.step}; continue with: ${resumeCommand(settings)}`);
  }
}

/**
 * Runs the task with command-line arguments `argv`; bad flags and data are {@link UsageError}s
 * and other `LabError`s (the caller prints them as one line).
 */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(TRAIN_SPEC, argv);
  readSettings(args);
  if (args.values.resume === true && given(args, "init-from")) {
    throw new UsageError(
      "--init-from starts a new run from a checkpoint's weights and --resume continues the one " +
        "in --out: give one of them",
    );
  }
  const initial = await readInitFrom(args);
  const resumed = await checkpointToResume(args);
  const settings = readSettings(args, resumed, initial);
  if (resumed && resumed.step >= settings.steps) {
    console.log(`${settings.out} is already at step ${resumed.step} (--steps ${settings.steps})`);
    return;
  }
  const folder = await inspectData(settings.data, settings.imageSize);
  if (settings.batch > folder.train.count) {
    throw new UsageError(
      `--batch must be an integer in [1, ${folder.train.count}] (the training images), got ` +
        `${settings.batch}`,
    );
  }
  const backend = await selectBackend();
  console.log(`backend: ${backend.description}`);
  if (backend.hint) console.log(`note: ${backend.hint}`);
  if (!given(args, "workers")) settings.workers = passWorkers(settings, backend);
  console.log(describeDataFolder(folder));
  const dataset = await PneumothoraxDataset.load(settings.data, {
    imageSize: settings.imageSize,
    seed: settings.seed,
  });
  dataset.notes.forEach((note) => console.log(`note: ${note}`));
  const model = createModel({
    width: settings.width,
    imageSize: settings.imageSize,
    seed: settings.seed,
  });
  console.log(
    `model: width ${settings.width}, ${settings.imageSize}x${settings.imageSize} images, ` +
      `${model.countParams()} parameters; batch ${settings.batch}, ${settings.optimizer} at learning rate ${settings.lr}` +
      (resumed ? `; resuming ${settings.out} at step ${resumed.step}` : "") +
      (initial ? `; starting from the weights of ${settings.initFrom} (step ${initial.step})` : ""),
  );

  const controller = new AbortController();
  const stopListening = listenForInterrupts(controller);
  let bar: ProgressBar | undefined;
  let lastTest: StepMetrics | undefined;
  let note = "";
  let startStep = resumed?.step ?? 0;
  try {
    const result = await train(model, dataset, {
      steps: settings.steps,
      batchSize: settings.batch,
      optimizer: settings.optimizer,
      learningRate: settings.lr,
      evalEvery: settings.evalEvery,
      checkpointEvery: settings.checkpointEvery,
      workers: settings.workers,
      checkpointDir: settings.out,
      resume: settings.resume,
      initFrom: settings.initFrom,
      augment: args.values.augment ? createAugmentation({ seed: settings.seed }) : undefined,
      lesionMaps: settings.lesionMaps,
      logDir: settings.logdir,
      signal: controller.signal,
      data: { dir: settings.data, source: folder.record },
      onEval: (report) => lastTest = report,
      onStep: (report) => {
        if (!bar) {
          startStep = report.step - 1;
          bar = createProgressBar(settings.steps - startStep, {
            label: "train",
            unit: "steps",
            startedAt: performance.now() - 1000 * report.elapsedSeconds,
          });
        }
        note = `step ${report.step}/${settings.steps} ${metricsText("loss/acc", report)} ` +
          `${metricsText("test", lastTest)} ${report.imagesPerSecond.toFixed(2)} img/s`;
        bar.update(report.step - startStep, undefined, note);
      },
    });
    if (result.stopped === "completed") bar?.done(note);
    else if (bar) console.error("");
    printResult(result, settings);
    if (result.stopped === "interrupted") Deno.exit(INTERRUPTED_EXIT);
  } catch (error) {
    if (bar) console.error("");
    throw error;
  } finally {
    stopListening();
    model.dispose();
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
