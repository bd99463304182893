/**
 * `deno task cam`: the class activation map of one X-ray. Writes `FILE.png` (the X-ray and the
 * map over it, side by side, with the lesion outline where the file has masks: phantoms and
 * SIIM-ACR imports) and `FILE.svg` (the same overlay as a figure titled with the label, the
 * prediction and the probability), and prints that line on standard output. The backend is chosen as `lib/backends/backend.ts` does (`LAB_BACKEND`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import {
  choiceFlag,
  type CommandSpec,
  integerFlag,
  parseCommand,
  requiredFlag,
  runMain,
} from "./args.ts";
import { computeCamBatch, gradCam, resizeMaps } from "../lib/evaluation/cam.ts";
import { imageAt, PNEUMOTHORAX_CLASS } from "../lib/data/schema.ts";
import { describePrediction, visCam, writeCamPng } from "../lib/figures/cam.ts";
import { selectBackend } from "../lib/backends/backend.ts";
import { loadCheckpoint } from "../lib/model/checkpoint/mod.ts";
import { readLabFile, TEST_FILE, TRAIN_FILE } from "../lib/data/dataset.ts";
import { UsageError } from "../lib/core/errors.ts";
import { energyInside, pointingGame } from "../lib/evaluation/localization.ts";
import type { PneumothoraxDetectionModel } from "../lib/model/model.ts";
import { savePlot } from "../lib/figures/mod.ts";

const SPEC: CommandSpec = {
  name: "cam",
  summary: "Draw the class activation map of one X-ray: FILE.png holds the X-ray and the map " +
    "over it side by side, FILE.svg the overlay titled with the label, prediction and " +
    "probability, which are also printed.",
  flags: {
    checkpoint: { type: "string", help: "Checkpoint folder (as deno task train writes it)." },
    data: { type: "string", default: "data", help: "Folder with pneumothorax_{train,test}.h5." },
    split: { type: "string", default: "test", help: "Which file the image is in: test | train." },
    index: { type: "string", help: "Index of the image in that file, from 0." },
    out: { type: "string", help: "PNG file to write; the SVG figure goes beside it." },
    layer: {
      type: "string",
      help: "Draw Grad-CAM at this layer (conv1..conv8, sum1..sum4, skip1..skip4) instead of " +
        "the CAM.",
    },
  },
};

/** What `deno task cam` made. */
export interface CamTaskResult {
  /** The line printed: split, index, label, prediction, probability (and localization). */
  line: string;
  /** The PNG written. */
  png: string;
  /** The SVG written. */
  svg: string;
  /** The backend that computed the map, in words. */
  backend: string;
  /** Fixes applied while reading the data file (e.g. float pixels in [0,1] scaled). */
  notes: string[];
}

/** The map of an X-ray (CAM, or Grad-CAM at `layer`) at the image's size, and the probabilities. */
function mapOf(
  model: PneumothoraxDetectionModel,
  pixels: Uint8Array,
  layer: string | undefined,
): { heat: Float32Array; probabilities: number[] } {
  const size = model.imageSize;
  let probabilities: number[] = [];
  const heat = tf.tidy(() => {
    const image = tf.tensor4d(Float32Array.from(pixels), [1, size, size, 1]);
    const cam = computeCamBatch(model, image);
    probabilities = Array.from(cam.probabilities.dataSync());
    if (layer === undefined) return cam.cams;
    const small = gradCam(model, image, PNEUMOTHORAX_CLASS, { layer });
    return resizeMaps(small.expandDims(0) as tf.Tensor3D, [size, size]);
  });
  const values = heat.dataSync() as Float32Array;
  heat.dispose();
  return { heat: values, probabilities };
}

/** A lesion mask of the image's size. */
interface LesionMask {
  data: Uint8Array;
  width: number;
  height: number;
}

/** Where the map points, for a pneumothorax image with a lesion mask; empty otherwise. */
function localizationText(
  heat: Float32Array,
  mask: LesionMask | undefined,
  label: number,
): string {
  if (mask === undefined || label !== PNEUMOTHORAX_CLASS || !mask.data.some((v) => v !== 0)) {
    return "";
  }
  const { hit, x, y } = pointingGame({ ...mask, data: heat }, mask);
  const share = energyInside({ ...mask, data: heat }, mask);
  return `; map maximum at (${x}, ${y}) ${hit ? "hits" : "misses"} the lesion, ` +
    `${(share * 100).toFixed(0)}% of the positive map inside it`;
}

/**
 * Runs the task with command-line arguments `argv` and returns what it wrote; the caller
 * prints. Throws a {@link UsageError} for a bad flag (an index outside the file names the range).
 */
export async function camTask(argv: string[]): Promise<CamTaskResult> {
  const args = parseCommand(SPEC, argv);
  const checkpoint = requiredFlag(args, "checkpoint", "(a folder written by deno task train)");
  const split = choiceFlag(args, "split", ["test", "train"]);
  requiredFlag(args, "index", "(the image's index in the file, from 0)");
  const png = requiredFlag(args, "out", "(the PNG file to write)");
  if (!png.toLowerCase().endsWith(".png")) {
    throw new UsageError(`--out must name a .png file, got '${png}'`);
  }
  const svg = png.replace(/\.png$/i, ".svg");
  const layer = args.values.layer === undefined ? undefined : requiredFlag(args, "layer");
  const backend = await selectBackend();
  const { model } = await loadCheckpoint(checkpoint);
  try {
    const file = join(String(args.values.data), split === "test" ? TEST_FILE : TRAIN_FILE);
    const data = await readLabFile(file, { imageSize: model.imageSize });
    const index = integerFlag(args, "index", { min: 0, max: data.count - 1 });
    const size = data.imageSize;
    const xray = {
      data: imageAt(data, index),
      width: size,
      height: size,
    };
    const mask: LesionMask | undefined = data.masks === undefined ? undefined : {
      data: imageAt({ images: data.masks, imageSize: size }, index),
      width: size,
      height: size,
    };
    const { heat, probabilities } = mapOf(model, xray.data, layer);
    const heatImage = { data: heat, width: size, height: size };
    const label = data.labels[index];
    const prediction = probabilities[1] > probabilities[0] ? 1 : 0;
    const probability = probabilities[PNEUMOTHORAX_CLASS];
    const title = `${split} image ${index}: ` +
      describePrediction({ label, prediction, probability });
    await writeCamPng(png, xray, heatImage, { mask });
    const figure = visCam(xray, heatImage, {
      mask,
      title,
      legendLabel: layer === undefined ? "class activation" : `Grad-CAM at ${layer}`,
    });
    await savePlot(figure, svg);
    return {
      line: title + localizationText(heat, mask, label),
      png,
      svg,
      backend: backend.description,
      notes: data.notes,
    };
  } finally {
    model.dispose();
  }
}

/** Runs the task with the command-line arguments `argv`, printing what {@link camTask} found. */
export async function main(argv: string[]): Promise<void> {
  const result = await camTask(argv);
  result.notes.forEach((note) => console.error(`note: ${note}`));
  console.log(result.line);
  console.error(`wrote ${result.png} and ${result.svg} (backend: ${result.backend})`);
}

if (import.meta.main) await runMain(() => main(Deno.args));
