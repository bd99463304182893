/**
 * The experiments behind the shipped model (issue: real films, real lesions): each arm trains the
 * lab's CNN on the shipped SIIM films (`samples/siim`, its training groups; the films that show a
 * patient of the NIH sample are never trained on) and is measured two ways:
 *
 * - externally, on the 302 films of the NIH sample (`samples/nih`), whose positives and negatives
 *   both come from NIH, so that telling SIIM's archive from NIH's cannot help: ROC AUC with a
 *   stratified bootstrap 95% interval, scoring each film whole and by its halves;
 * - on SIIM's held-out groups (the test file of `deno task data --source siim-sample`): the
 *   pointing game and CAM energy on real lesions outlined by radiologists, and how often the
 *   lesion half of a one-sided film scores above its other half.
 *
 * Designs (`--design`):
 * - `whole`: whole films, labels as they are (810 positives against 41 negatives, the SIIM
 *   archive on both sides).
 * - `halves`: the lesion half of each one-sided positive against the other half of the same film
 *   (same patient, exposure and archive), balanced by side, and both halves of each negative.
 *   A half is shown as a whole square image: the half beside its mirror image, so that the lab's
 *   256x256 model, its CAM and its pointing game apply unchanged. A film is then scored by its
 *   more suspicious half.
 *
 * One arm per run, appended as one JSON line to `--log` (default docs/real_films.jsonl), with
 * the command that ran it; `--out` keeps the trained checkpoint. `--checkpoint DIR` measures a
 * trained checkpoint instead, and `--ensemble DIR,DIR,...` several as one model that averages
 * their probabilities (its maps are not scored).
 *
 * ```sh
 * deno run -A tools/real_film_experiments.ts --design halves --width 8 --steps 1500 \
 *   --out checkpoints/real-halves-w8
 * ```
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type CommandSpec, integerFlag, parseCommand, requiredFlag, runMain } from "../cli/args.ts";
import { selectBackend } from "../lib/backends/backend.ts";
import { IMAGE_SIZE } from "../lib/data/schema.ts";
import { PneumothoraxDataset } from "../lib/data/dataset.ts";
import { loadRealSample } from "../lib/data/real_sample.ts";
import {
  type FilmDesign,
  halfFilmImages,
  loadSiimSample,
  SIIM_SAMPLE_DIR,
  type SiimSample,
  splitSiimSample,
  wholeFilmImages,
} from "../lib/data/siim_sample.ts";
import { loadCheckpoint } from "../lib/model/checkpoint/mod.ts";
import { createModel, type PneumothoraxDetectionModel } from "../lib/model/model.ts";
import { train } from "../lib/training/train.ts";
import { createAugmentation } from "../lib/training/augment.ts";
import { predictFilms } from "../lib/evaluation/films.ts";
import { bootstrapAucInterval, rocAuc } from "../lib/evaluation/roc.ts";
import { localizeDataset, priorPointing } from "../lib/evaluation/localization.ts";
import { UsageError } from "../lib/core/errors.ts";

const SPEC: CommandSpec = {
  name: "real-film-experiments",
  summary: "Train one arm on the shipped SIIM films and measure it on the NIH sample and on " +
    "SIIM's held-out groups.",
  flags: {
    design: { type: "string", help: "whole | halves" },
    width: { type: "string", default: "8", help: "Filters of the first block." },
    steps: { type: "string", default: "1500", help: "Training steps of batch 15." },
    lr: { type: "string", default: "0.0003", help: "Adam's learning rate." },
    seed: { type: "string", default: "0", help: "Seed of the weights, batches and augmentation." },
    augment: { type: "boolean", help: "Seeded rotations, shifts, scalings and gamma." },
    "init-from": { type: "string", help: "Start from this checkpoint's weights." },
    resume: {
      type: "boolean",
      help: "Continue the run saved in --out to --steps (its weights, optimizer and batches; " +
        "the augmentation's draws start again).",
    },
    checkpoint: {
      type: "string",
      help: "Measure this checkpoint instead of training one (its flags are then recorded as " +
        "given).",
    },
    ensemble: {
      type: "string",
      help: "Measure these checkpoints (comma-separated) as one model that averages their " +
        "probabilities, instead of training one (maps are not scored; needs --name).",
    },
    out: { type: "string", help: "Keep the trained checkpoint here." },
    log: { type: "string", default: "docs/real_films.jsonl", help: "Append the arm's results." },
    name: { type: "string", help: "The arm's name in the log (default: from its flags)." },
    "lesion-maps": {
      type: "string",
      default: "0",
      help: "Weight of the lesion-map term: the radiologists' outlines as supervision of the " +
        "class activation maps (lib/training/lesion_maps.ts); 0 trains on labels alone.",
    },
    "mask-corners": {
      type: "string",
      default: "0",
      help: "Paint the four N x N corners of every image (trained on and scored) with the " +
        "image's mean gray: where the films' side markers and printed text lie.",
    },
  },
};

/** Corners painted over by `--mask-corners`, in pixels (0: none). */
let cornerSize = 0;

/**
 * Paints the four `cornerSize` x `cornerSize` corners of each image with its mean gray, in place:
 * an experiment on the side markers and text that the label-only half-film model's maps peaked on.
 */
function maskCorners(images: Uint8Array, size: number): Uint8Array {
  if (cornerSize === 0) return images;
  const pixels = size * size;
  for (let first = 0; first < images.length; first += pixels) {
    const image = images.subarray(first, first + pixels);
    const mean = Math.round(image.reduce((sum, v) => sum + v, 0) / pixels);
    for (let y = 0; y < size; y++) {
      if (y >= cornerSize && y < size - cornerSize) continue;
      image.fill(mean, y * size, y * size + cornerSize);
      image.fill(mean, y * size + size - cornerSize, (y + 1) * size);
    }
  }
  return images;
}

/** The images of a design from the films `indices`, in the lab's layout. */
function designImages(films: SiimSample, indices: number[], design: FilmDesign, seed: number) {
  const made = design === "halves"
    ? halfFilmImages(films, indices, { seed })
    : wholeFilmImages(films, indices);
  return { ...made, images: maskCorners(made.images, films.imageSize), imageSize: films.imageSize };
}

/** AUC with its stratified bootstrap interval, rounded for the log. */
function aucOf(labels: Uint8Array, scores: Float32Array) {
  const interval = bootstrapAucInterval(labels, scores, { seed: 0 });
  const round = (v: number) => Number(v.toFixed(3));
  return {
    auc: round(rocAuc(labels, scores)),
    ci95: [round(interval.low), round(interval.high)],
  };
}

/** Each film's score whole and by its more suspicious mirrored half, and both halves' scores. */
async function scoreFilms(
  model: PneumothoraxDetectionModel,
  images: Uint8Array,
  labels: Uint8Array,
) {
  const films = { images, labels, imageSize: IMAGE_SIZE };
  const whole = await predictFilms(model, films);
  const byHalf = await predictFilms(model, films, { design: "halves" });
  return { whole: whole.scores, halves: byHalf.scores, byHalf: byHalf.halfScores! };
}

/**
 * The lesions that only the maps hit and those that only the fixed point of `priorPointing` hits:
 * the discordant pairs of McNemar's test, with its exact two-sided p-value.
 */
function discordant(maps?: Array<{ hit: boolean }>, prior?: boolean[]) {
  if (!maps || !prior) return null;
  const mapsOnly = maps.filter((m, k) => m.hit && !prior[k]).length;
  const priorOnly = maps.filter((m, k) => !m.hit && prior[k]).length;
  const n = mapsOnly + priorOnly;
  let tail = 0;
  for (let k = 0; k <= Math.min(mapsOnly, priorOnly); k++) {
    let choose = 1;
    for (let j = 0; j < k; j++) choose = (choose * (n - j)) / (j + 1);
    tail += choose / 2 ** n;
  }
  return { mapsOnly, priorOnly, p: Number(Math.min(1, 2 * tail).toFixed(4)) };
}

/** {@link scoreFilms} of each model, averaged: an ensemble's scores. */
async function meanScores(
  models: PneumothoraxDetectionModel[],
  images: Uint8Array,
  labels: Uint8Array,
) {
  const each: Array<Awaited<ReturnType<typeof scoreFilms>>> = [];
  for (const model of models) each.push(await scoreFilms(model, images, labels));
  const mean = (pick: (scores: typeof each[number]) => Float32Array) =>
    Float32Array.from(
      pick(each[0]),
      (_, i) => each.reduce((sum, e) => sum + pick(e)[i], 0) / each.length,
    );
  return {
    whole: mean((e) => e.whole),
    halves: mean((e) => e.halves),
    byHalf: mean((e) => e.byHalf),
  };
}

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const design = requiredFlag(args, "design", "whole or halves") as FilmDesign;
  if (design !== "whole" && design !== "halves") {
    throw new UsageError(`--design must be whole or halves, got '${design}'`);
  }
  const width = integerFlag(args, "width", { min: 1 });
  const steps = integerFlag(args, "steps", { min: 1 });
  const seed = integerFlag(args, "seed", { min: 0 });
  const lr = Number(args.values.lr);
  const lesionMaps = Number(args.values["lesion-maps"]);
  const backend = await selectBackend();
  console.log(`backend: ${backend.description}`);
  const films = await loadSiimSample();
  cornerSize = integerFlag(args, "mask-corners", { min: 0, max: 128 });
  const nih = await loadRealSample();
  maskCorners(nih.images, nih.imageSize);
  const split = splitSiimSample(films);
  const trainArrays = designImages(films, split.train, design, seed);
  const heldOut = designImages(films, split.test, design, seed);
  console.log(
    `${design}: ${trainArrays.labels.length} training images (${
      trainArrays.labels.filter((l) => l === 1).length
    } positive), ${heldOut.labels.length} held out; NIH ${nih.count} films`,
  );
  const started = performance.now();
  let models: PneumothoraxDetectionModel[];
  let imagesPerSecond = 0;
  if (args.values.ensemble) {
    if (!args.values.name) {
      throw new UsageError("--ensemble needs --name: the arm's name in the log");
    }
    models = [];
    for (const dir of String(args.values.ensemble).split(",")) {
      models.push((await loadCheckpoint(dir)).model);
    }
  } else if (args.values.checkpoint) {
    models = [(await loadCheckpoint(String(args.values.checkpoint))).model];
  } else {
    const dataset = PneumothoraxDataset.fromArrays(trainArrays, heldOut, { seed });
    const model = createModel({ width, seed });
    models = [model];
    const result = await train(model, dataset, {
      steps,
      optimizer: "adam",
      learningRate: lr,
      evalEvery: 100,
      checkpointEvery: steps,
      checkpointDir: args.values.out as string | undefined,
      resume: Boolean(args.values.resume),
      initFrom: args.values["init-from"] as string | undefined,
      augment: args.values.augment ? createAugmentation({ seed }) : undefined,
      lesionMaps,
      data: {
        dir: SIIM_SAMPLE_DIR,
        source: {
          source: "siim-sample",
          description: "The SIIM-ACR films shipped with the lab, split by near-duplicate group, " +
            `as ${
              design === "halves" ? "half-films" : "whole films"
            } (tools/real_film_experiments.ts)`,
          created: new Date().toISOString(),
          details: { design, seed, testFraction: 0.2, sampleDir: SIIM_SAMPLE_DIR },
        },
      },
      onEval: (report) =>
        console.log(
          `step ${report.step}: held-out cost ${report.cost.toFixed(3)}, accuracy ${
            report.accuracy.toFixed(2)
          }`,
        ),
    });
    imagesPerSecond = result.imagesPerSecond;
  }
  const trainSeconds = (performance.now() - started) / 1000;
  // The images of each design, made once: the arm's own design is already made.
  const imagesOf = (indices: number[], wanted: FilmDesign) =>
    wanted === design
      ? (indices === split.train ? trainArrays : heldOut)
      : designImages(films, indices, wanted, seed);
  const nihScores = await meanScores(models, nih.images, nih.labels);
  const heldFilms = imagesOf(split.test, "whole");
  const siimScores = await meanScores(models, heldFilms.images, heldFilms.labels);
  const oneSided = split.test.filter((i) =>
    films.sides[i] === "image-left" || films.sides[i] === "image-right"
  );
  let above = 0;
  for (const i of oneSided) {
    const k = split.test.indexOf(i);
    const [left, right] = [siimScores.byHalf[2 * k], siimScores.byHalf[2 * k + 1]];
    if ((films.sides[i] === "image-left" ? left > right : right > left)) above++;
  }
  const single = models.length === 1 ? models[0] : undefined;
  const localization = single ? await localizeDataset(single, heldFilms) : null;
  const lesionHalves = imagesOf(split.test, "halves");
  const halfLocalization = single ? await localizeDataset(single, lesionHalves) : null;
  const wholePrior = priorPointing(imagesOf(split.train, "whole"), heldFilms);
  const halvesPrior = priorPointing(imagesOf(split.train, "halves"), lesionHalves);
  const record = {
    name: (args.values.name as string | undefined) ??
      `${design}-w${width}-${steps}${args.values.augment ? "-aug" : ""}${
        args.values["init-from"] ? "-init" : ""
      }${cornerSize ? `-corners${cornerSize}` : ""}${lesionMaps ? `-maps${lesionMaps}` : ""}${
        lr !== 0.0003 ? `-lr${lr}` : ""
      }-s${seed}`,
    command: `deno run -A tools/real_film_experiments.ts ${Deno.args.join(" ")}`,
    date: new Date().toISOString(),
    backend: backend.description,
    design,
    width,
    steps,
    lr,
    seed,
    augment: Boolean(args.values.augment),
    maskCorners: cornerSize,
    lesionMaps,
    initFrom: args.values["init-from"] ?? null,
    trainImages: trainArrays.labels.length,
    trainSeconds: Math.round(trainSeconds),
    imagesPerSecond: Number(imagesPerSecond.toFixed(1)),
    checkpoint: args.values.checkpoint ?? args.values.out ?? null,
    ensemble: args.values.ensemble ? String(args.values.ensemble).split(",") : null,
    nih: {
      n: nih.count,
      positives: nih.labels.filter((l) => l === 1).length,
      whole: aucOf(nih.labels, nihScores.whole),
      halves: aucOf(nih.labels, nihScores.halves),
    },
    siimHeldOut: {
      films: split.test.length,
      positives: heldFilms.labels.filter((l) => l === 1).length,
      lesionHalfAbove: { n: oneSided.length, share: Number((above / oneSided.length).toFixed(3)) },
      pointingGame: localization ? Number(localization.pointingGame.toFixed(3)) : null,
      energyInside: localization ? Number(localization.energyInside.toFixed(3)) : null,
      localized: localization?.n ?? 0,
      halfFilmPointingGame: halfLocalization
        ? Number(halfLocalization.pointingGame.toFixed(3))
        : null,
      halfFilmEnergyInside: halfLocalization
        ? Number(halfLocalization.energyInside.toFixed(3))
        : null,
      halfFilmsLocalized: halfLocalization?.n ?? 0,
      priorPointingGame: wholePrior ? Number(wholePrior.pointingGame.toFixed(3)) : null,
      halfFilmPriorPointingGame: halvesPrior ? Number(halvesPrior.pointingGame.toFixed(3)) : null,
      againstPrior: {
        wholeFilms: discordant(localization?.perImage, wholePrior?.hits),
        halfFilms: discordant(halfLocalization?.perImage, halvesPrior?.hits),
      },
    },
  };
  console.log(JSON.stringify(record, null, 2));
  await Deno.writeTextFile(String(args.values.log), JSON.stringify(record) + "\n", {
    append: true,
  });
  models.forEach((model) => model.dispose());
  tf.disposeVariables();
}

if (import.meta.main) await runMain(main);
