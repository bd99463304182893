/**
 * `deno task evaluate`: predict every test image of a data folder (or, with `--split all`, every
 * image of both its files) with a checkpoint, and report
 * accuracy, ROC AUC with a bootstrap 95% interval, where the class activation maps point when
 * the images have lesion masks, the backend and the speed; optionally draw the ROC curve.
 *
 * @module
 */
import { extname, join } from "node:path";
import { choiceFlag, type CommandSpec, integerFlag, parseCommand, runMain } from "./args.ts";
import { type CheckpointManifest, loadCheckpoint } from "../lib/model/checkpoint/mod.ts";
import { readSourceRecord, SOURCE_BANNERS } from "../lib/data/source.ts";
import { joinSplits, readLabFile, TEST_FILE, TRAIN_FILE } from "../lib/data/dataset.ts";
import {
  evaluateModel,
  type EvaluationReport,
  type Predictions,
} from "../lib/evaluation/evaluate.ts";
import { PREDICT_BATCH_SIZE } from "../lib/model/predict.ts";
import { filmDesignOf, predictFilms } from "../lib/evaluation/films.ts";
import { UsageError } from "../lib/core/errors.ts";
import { plotRoc, savePlot } from "../lib/figures/mod.ts";
import { rocCurve } from "../lib/evaluation/roc.ts";
import { selectBackend } from "../lib/backends/backend.ts";
import { createProgressBar, type ProgressBar } from "../lib/core/progress.ts";

const SPEC: CommandSpec = {
  name: "evaluate",
  summary: "Evaluate a checkpoint on the test images of a data folder (or all of them): " +
    "accuracy, ROC AUC with a bootstrap 95% interval (null when the images hold one class), " +
    "the pointing game of its class activation maps when the images have lesion masks " +
    "(phantoms, SIIM-ACR), the backend and images per second.",
  flags: {
    checkpoint: {
      type: "string",
      default: "checkpoints/pretrained",
      help: "Checkpoint directory.",
    },
    data: { type: "string", default: "data", help: "Folder with pneumothorax_test.h5." },
    split: {
      type: "string",
      default: "test",
      help: "test (pneumothorax_test.h5) or all (both files together: for a folder the " +
        "checkpoint never trained on, such as the NIH sample or a set of lesions).",
    },
    batch: {
      type: "string",
      default: String(PREDICT_BATCH_SIZE),
      help: "Images per forward pass (bounds the memory used).",
    },
    json: { type: "boolean", help: "Print the report as JSON on standard output." },
    roc: {
      type: "string",
      help: "Also draw the ROC curve, with the AUC and its 95% interval, to this .svg file.",
    },
  },
};

function printReport(report: EvaluationReport): void {
  const interval = report.aucCi95
    ? ` (95% CI ${report.aucCi95[0].toFixed(3)}-${report.aucCi95[1].toFixed(3)})`
    : "";
  console.log(`images:        ${report.n} (${report.positives} pneumothorax)`);
  console.log(
    `ROC AUC:       ${report.auc === null ? "n/a (one class only)" : report.auc.toFixed(4)}` +
      interval,
  );
  console.log(`accuracy:      ${report.accuracy.toFixed(4)}`);
  const share = (value: number | null) => value === null ? "n/a (no masks)" : value.toFixed(4);
  console.log(
    `pointing game: ${share(report.pointingGame)}` +
      (report.pointingChance === null
        ? ""
        : ` (a uniformly random point: ${report.pointingChance.toFixed(4)}` +
          (report.pointingFixedPoint === null
            ? ")"
            : `; the one point most training lesions cover: ${
              report.pointingFixedPoint.toFixed(4)
            })`)),
  );
  console.log(`CAM in lesion: ${share(report.energyInside)}`);
  console.log(`backend:       ${report.backend}, ${report.imagesPerSecond.toFixed(1)} images/s`);
}

/** Draws the ROC curve of the predictions: the checkpoint's step in the legend, its width in the title. */
async function saveRocFigure(
  path: string,
  predictions: Predictions,
  report: EvaluationReport,
  manifest: CheckpointManifest,
): Promise<void> {
  if (report.auc === null || report.aucCi95 === null) {
    throw new UsageError("--roc needs test images of both classes; these hold one class only");
  }
  const { fpr, tpr } = rocCurve(predictions.labels, predictions.scores);
  const [low, high] = report.aucCi95;
  const figure = plotRoc({ fpr, tpr, auroc: report.auc }, {
    interval: { low, high },
    label: `step ${manifest.step}`,
    title: `width ${manifest.model.width}, ${report.n} test images`,
  });
  await savePlot(figure, path);
}

/**
 * Runs the task with command-line arguments `argv`. Everything but the report goes to
 * standard error, so `--json` output can be piped.
 */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  const batchSize = integerFlag(args, "batch", { min: 1 });
  const split = choiceFlag(args, "split", ["test", "all"]);
  const dataDir = String(args.values.data);
  const rocPath = args.values.roc === undefined ? undefined : String(args.values.roc);
  if (rocPath !== undefined && extname(rocPath).toLowerCase() !== ".svg") {
    throw new UsageError(
      `--roc writes an SVG figure; give a path ending in .svg, not '${rocPath}'`,
    );
  }
  const backend = await selectBackend();
  const { model, manifest } = await loadCheckpoint(String(args.values.checkpoint));
  try {
    const read = (name: string) =>
      readLabFile(join(dataDir, name), { imageSize: manifest.model.imageSize });
    const test = split === "all"
      ? joinSplits(await read(TRAIN_FILE), await read(TEST_FILE))
      : await read(TEST_FILE);
    // The fixed point is learned from the training file's lesions; with --split all every image
    // is scored, and none is left to learn it from.
    const fixedPointFrom = split === "test" && test.masks ? await read(TRAIN_FILE) : undefined;
    const record = await readSourceRecord(dataDir);
    const banner = record ? SOURCE_BANNERS[record.source] : "UNKNOWN SOURCE: no SOURCE.json";
    console.error(`${banner} | ${test.source}: ${test.count} images`);
    test.notes.forEach((note) => console.error(`note: ${note}`));
    console.error(
      `checkpoint: ${args.values.checkpoint} (width ${manifest.model.width}, step ` +
        `${manifest.step}); backend: ${backend.description}`,
    );
    const bar = createProgressBar(test.count, { label: "evaluate", unit: "images" });
    let camBar: ProgressBar | undefined;
    let predictions: Predictions | undefined;
    // A half-film model scores whole films by their halves; images that are half-films already
    // (a folder written with --design halves) it scores as they are.
    const design = filmDesignOf(manifest) === "halves" && record?.details?.design !== "halves"
      ? "halves"
      : "whole";
    if (design === "halves") {
      console.error(
        "the checkpoint learned half-films: each film is scored by its more suspicious half",
      );
    }
    const report = await evaluateModel(model, test, {
      batchSize,
      predict: (model, data, options) => predictFilms(model, data, { ...options, design }),
      onPredictions: (made) => predictions = made,
      fixedPointFrom,
      onProgress: (done) => bar.update(done),
      onLocalizeProgress: (done, total) => {
        if (!camBar) {
          bar.done();
          camBar = createProgressBar(total, { label: "CAM", unit: "images" });
        }
        camBar.update(done);
      },
    });
    (camBar ?? bar).done();
    if (args.values.json) console.log(JSON.stringify(report, null, 2));
    else printReport(report);
    if (rocPath !== undefined) {
      await saveRocFigure(rocPath, predictions!, report, manifest);
      console.error(`ROC curve: ${rocPath}`);
    }
  } finally {
    model.dispose();
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
