/**
 * The real SIIM-ACR films shipped with the lab: 851 frontal chest X-rays (810 with a pneumothorax
 * outlined by radiologists, 41 without), kept in `samples/siim/` so that the lab can train and
 * check its model on real films, with real lesion outlines, offline. They are what the shipped
 * model learned from (`checkpoints/pretrained`); the NIH sample (`samples/nih`, `real_sample.ts`)
 * is its external test.
 *
 * Storage, as `samples/nih`: one 8-bit gray 256x256 PNG per film in `images/`, its lesion mask
 * (0 or 255) in `masks/` for each positive, and `labels.csv` (the columns of the source's table,
 * see `samples/siim/README.md`), all made once by `tools/build_siim_sample.ts`.
 *
 * Two things every use must respect, and {@link writeSiimSampleFiles} does:
 * - No patient ids: films of one patient look alike, and `near_duplicate_group` joins them (an
 *   estimate). Splits keep a group on one side ({@link groupOf}).
 * - A few films are the same patient's pictures as films of the NIH sample (`nih_match`, found
 *   by pixels): kept out of anything trained on, or the NIH films would not be an external test.
 *
 * Data: SIIM-ACR Pneumothorax Segmentation (SIIM and ACR, 2019); images from NIH ChestX-ray14,
 * courtesy of the NIH Clinical Center (Wang et al., CVPR 2017).
 *
 * @module
 */
import { join } from "node:path";
import { DataFileError, UsageError } from "../core/errors.ts";
import { createRandom, shuffleInPlace } from "../core/random.ts";
import { requireInteger } from "../core/validate.ts";
import { LAB_ROOT } from "../core/paths.ts";
import { IMAGE_SIZE } from "./schema.ts";
import { type LabeledImages, TEST_FILE, TRAIN_FILE } from "./dataset.ts";
import {
  DEFAULT_SEED,
  DEFAULT_TEST_FRACTION,
  splitByPatient,
  type SplitReport,
  writeSplit,
} from "./import_common.ts";
import { readShippedPng, readTable } from "./real_sample.ts";
import { filmHalves } from "./halves.ts";

/** The folder of the shipped SIIM films: `samples/siim/` at the root of the repository. */
export const SIIM_SAMPLE_DIR: string = join(LAB_ROOT, "samples", "siim");
/** The table of {@link SIIM_SAMPLE_DIR}, one row per film. */
export const SIIM_SAMPLE_CSV = "labels.csv";

/** The tool that builds {@link SIIM_SAMPLE_DIR}. */
const REBUILD = "tools/build_siim_sample.ts";

/** The columns of the source's table (`labels.csv` beside the original films), in order. */
export const SIIM_SOURCE_COLUMNS = [
  "file",
  "image_id",
  "pneumothorax",
  "lesions",
  "side",
  "mask_fraction",
  "age",
  "sex",
  "near_duplicate_group",
  "source_repo",
  "source_commit",
  "source_path",
  "sha256",
] as const;

/**
 * Columns of {@link SIIM_SAMPLE_CSV} (see `samples/siim/README.md`): the source's, with `file`
 * naming the shipped PNG, and the mask and the NIH match the build adds.
 */
export const SIIM_SAMPLE_COLUMNS = [
  "file",
  "mask",
  ...SIIM_SOURCE_COLUMNS.slice(1, 9),
  "nih_match",
  "nih_correlation",
  ...SIIM_SOURCE_COLUMNS.slice(9),
] as const;

/** Which half of the image a film's lesion lies in (the patient's right is the image's left). */
export type LesionSide = "image-left" | "image-right" | "both" | "";

/** The shipped SIIM films in memory, ready to show, predict ({@link LabeledImages}) or split. */
export interface SiimSample extends LabeledImages {
  /** Number of films. */
  count: number;
  /** Films, `count` x 256 x 256 row-major gray uint8. */
  images: Uint8Array;
  /** Lesion masks, same layout, 1 inside the radiologists' outline (all 0 for a negative). */
  masks: Uint8Array;
  /** 1 = pneumothorax, per film. */
  labels: Uint8Array;
  /** SIIM's ImageId per film. */
  imageIds: string[];
  /** The split key per film: its near-duplicate group, or its own ImageId (see {@link groupOf}). */
  groups: string[];
  /** Which half holds the lesion, per film (`""` for a negative). */
  sides: LesionSide[];
  /** The NIH sample's file showing the same patient, per film (`""` for none). */
  nihMatches: string[];
  /** The folder it was read from. */
  dir: string;
}

/** One row of {@link SIIM_SAMPLE_CSV}, as read. */
export type SiimSampleRow = Record<(typeof SIIM_SAMPLE_COLUMNS)[number], string>;

/**
 * The key that keeps a patient's films together: `group-<near_duplicate_group>` where the film
 * has one, else its ImageId (a film of its own).
 *
 * @example
 * ```ts
 * import { groupOf } from "./siim_sample.ts";
 * if (groupOf({ near_duplicate_group: "7", image_id: "1.2.3" }) !== "group-7") throw new Error();
 * if (groupOf({ near_duplicate_group: "", image_id: "1.2.3" }) !== "1.2.3") throw new Error();
 * ```
 */
export function groupOf(row: { near_duplicate_group: string; image_id: string }): string {
  return row.near_duplicate_group ? `group-${row.near_duplicate_group}` : row.image_id;
}

/** Reads and checks {@link SIIM_SAMPLE_CSV} of `dir`. */
export async function readSiimSampleRows(dir: string): Promise<SiimSampleRow[]> {
  const path = join(dir, SIIM_SAMPLE_CSV);
  const rows = await readTable(path, SIIM_SAMPLE_COLUMNS);
  if (rows.length === 0) throw new DataFileError({ file: path }, "has no films");
  for (const row of rows) {
    if (row.pneumothorax !== "0" && row.pneumothorax !== "1") {
      throw new DataFileError({ file: path }, `${row.file}: pneumothorax is '${row.pneumothorax}'`);
    }
    if ((row.pneumothorax === "1") !== (row.mask !== "")) {
      throw new DataFileError(
        { file: path },
        `${row.file}: a film has a mask exactly when it has a pneumothorax (pneumothorax ` +
          `${row.pneumothorax}, mask '${row.mask}')`,
      );
    }
  }
  return rows;
}

/** Options of {@link loadSiimSample}. */
export interface LoadSiimSampleOptions {
  /** Folder of the films (default {@link SIIM_SAMPLE_DIR}). */
  dir?: string;
}

/**
 * Loads the shipped SIIM films in one call: every film and mask (decoded from their PNGs), label,
 * ImageId, split group, lesion side and NIH match. A few seconds for the 851 films.
 *
 * Throws a {@link DataFileError} naming the file when the table, a film or a mask is missing or
 * malformed.
 *
 * @example
 * ```ts
 * import { loadSiimSample } from "./siim_sample.ts";
 * const films = await loadSiimSample();
 * console.log(`${films.count} SIIM films, ${films.labels.filter((l) => l === 1).length} with masks`);
 * ```
 */
export async function loadSiimSample(options: LoadSiimSampleOptions = {}): Promise<SiimSample> {
  const dir = options.dir ?? SIIM_SAMPLE_DIR;
  const rows = await readSiimSampleRows(dir);
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  const images = new Uint8Array(rows.length * pixels);
  const masks = new Uint8Array(rows.length * pixels);
  await Promise.all(rows.map(async (row, i) => {
    images.set(await readShippedPng(join(dir, row.file), REBUILD), i * pixels);
    if (row.mask === "") return;
    const mask = await readShippedPng(join(dir, row.mask), REBUILD);
    for (let p = 0; p < pixels; p++) masks[i * pixels + p] = mask[p] > 127 ? 1 : 0;
  }));
  return {
    count: rows.length,
    imageSize: IMAGE_SIZE,
    images,
    masks,
    labels: Uint8Array.from(rows, (row) => (row.pneumothorax === "1" ? 1 : 0)),
    imageIds: rows.map((row) => row.image_id),
    groups: rows.map(groupOf),
    sides: rows.map((row) => row.side as LesionSide),
    nihMatches: rows.map((row) => row.nih_match),
    dir,
  };
}

/** Options of {@link writeSiimSampleFiles}. */
export interface SiimSampleFilesOptions {
  /** Seed of the group split and of the order within each file (default 0). */
  seed?: number;
  /** Fraction of the films, taken by whole groups, that goes to the test file (default 0.2). */
  testFraction?: number;
  /** Folder of the films (default {@link SIIM_SAMPLE_DIR}). */
  dir?: string;
  /**
   * `whole` films (the default), or `halves`: each split's films turned into half-films (see
   * {@link halfFilmImages}); the split by group is made first, so no group is on both sides.
   */
  design?: FilmDesign;
  /** Keep at most this many films of each split, the first of its seeded order (fast mode). */
  maxFilms?: { train: number; test: number };
}

/** How films become training images: whole, or as half-films (`lib/data/halves.ts`). */
export type FilmDesign = "whole" | "halves";
/** The designs of {@link FilmDesign}. */
export const FILM_DESIGNS: readonly FilmDesign[] = ["whole", "halves"];
/**
 * The design the shipped model learned (`checkpoints/pretrained/README.md`, docs/real_films.md),
 * in which the notebooks write the shipped films.
 */
export const RECIPE_DESIGN: FilmDesign = "halves";

/** Images of the lab's layout made from some of the shipped films, with what each came from. */
export interface FilmImages {
  /** Images, n x 256 x 256. */
  images: Uint8Array;
  /** Lesion masks, same layout. */
  masks: Uint8Array;
  /** 1 = pneumothorax, per image. */
  labels: Uint8Array;
  /** The film's ImageId per image (with `#left` or `#right` for a half-film). */
  files: string[];
  /** The film's split group per image. */
  groups: string[];
}

/** The films `indices` as they are. */
export function wholeFilmImages(films: SiimSample, indices: number[]): FilmImages {
  const pixels = films.imageSize * films.imageSize;
  const images = new Uint8Array(indices.length * pixels);
  const masks = new Uint8Array(indices.length * pixels);
  indices.forEach((index, k) => {
    images.set(films.images.subarray(index * pixels, (index + 1) * pixels), k * pixels);
    masks.set(films.masks.subarray(index * pixels, (index + 1) * pixels), k * pixels);
  });
  return {
    images,
    masks,
    labels: Uint8Array.from(indices, (index) => films.labels[index]),
    files: indices.map((index) => films.imageIds[index]),
    groups: indices.map((index) => films.groups[index]),
  };
}

/**
 * Half-films of the films `indices` (see `halves.ts` for why): the lesion half of each positive
 * whose lesion lies in one half (label 1) and its other half (label 0), with as many lesions on
 * the image's left as on its right (the more common side subsampled, seeded), so that the
 * heart's half says nothing of the label; and both halves of each negative (label 0). Positives
 * with lesions on both sides are left out. Returned in a seeded order.
 */
export function halfFilmImages(
  films: SiimSample,
  indices: number[],
  options: { seed?: number } = {},
): FilmImages {
  const random = createRandom(options.seed ?? DEFAULT_SEED);
  const onSide = (side: LesionSide) =>
    shuffleInPlace(indices.filter((index) => films.sides[index] === side), random);
  const left = onSide("image-left");
  const right = onSide("image-right");
  const perSide = Math.min(left.length, right.length);
  const pixels = films.imageSize * films.imageSize;
  const made: {
    image: Uint8Array;
    mask: Uint8Array;
    label: number;
    file: string;
    group: string;
  }[] = [];
  const add = (index: number, lesion: "left" | "right" | undefined) => {
    const halves = filmHalves(
      films.images.subarray(index * pixels, (index + 1) * pixels),
      films.masks.subarray(index * pixels, (index + 1) * pixels),
      films.imageSize,
    );
    for (const half of ["left", "right"] as const) {
      made.push({
        ...halves[half],
        label: half === lesion ? 1 : 0,
        file: `${films.imageIds[index]}#${half}`,
        group: films.groups[index],
      });
    }
  };
  for (const index of left.slice(0, perSide)) add(index, "left");
  for (const index of right.slice(0, perSide)) add(index, "right");
  for (const index of indices.filter((index) => films.labels[index] === 0)) add(index, undefined);
  shuffleInPlace(made, random);
  const images = new Uint8Array(made.length * pixels);
  const masks = new Uint8Array(made.length * pixels);
  made.forEach((one, k) => {
    images.set(one.image, k * pixels);
    masks.set(one.mask, k * pixels);
  });
  return {
    images,
    masks,
    labels: Uint8Array.from(made, (one) => one.label),
    files: made.map((one) => one.file),
    groups: made.map((one) => one.group),
  };
}

/** A split of the shipped films: indices into a {@link SiimSample}. */
export interface SiimSampleSplit {
  /** Films of the training file, in its order. */
  train: number[];
  /** Films of the test file, in its order. */
  test: number[];
  /** Films left out of both because they show a patient of the NIH sample (`nih_match`). */
  leftOut: number[];
}

/**
 * Splits `films` as {@link writeSiimSampleFiles} writes them: by {@link groupOf} (no group on
 * both sides), positives and negatives drawn apart, seeded; films with an `nih_match` left out.
 * Throws a {@link UsageError} for a test fraction outside (0, 1), a seed that is not an integer,
 * or a split that leaves a side empty.
 */
export function splitSiimSample(
  films: SiimSample,
  options: Pick<SiimSampleFilesOptions, "seed" | "testFraction"> = {},
): SiimSampleSplit {
  const testFraction = options.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new UsageError(`testFraction must be between 0 and 1 (exclusive), got ${testFraction}`);
  }
  const seed = options.seed ?? DEFAULT_SEED;
  requireInteger("seed", seed);
  const entries = films.imageIds.map((file, index) => ({
    index,
    file,
    patientId: films.groups[index],
    positive: films.labels[index] === 1,
  }));
  const kept = entries.filter((entry) => films.nihMatches[entry.index] === "");
  const split = splitByPatient(kept, testFraction, createRandom(seed));
  if (split.train.length === 0 || split.test.length === 0) {
    throw new UsageError(
      `testFraction ${testFraction} leaves the ${split.train.length === 0 ? "training" : "test"} ` +
        `file empty`,
    );
  }
  return {
    train: split.train.map((entry) => entry.index),
    test: split.test.map((entry) => entry.index),
    leftOut: entries.filter((entry) => films.nihMatches[entry.index] !== "").map((e) => e.index),
  };
}

/** What {@link writeSiimSampleFiles} wrote. */
export interface SiimSampleFilesReport {
  /** The training file. */
  train: SplitReport;
  /** The test file. */
  test: SplitReport;
  /** ImageIds of the films left out because they show a patient of the NIH sample. */
  leftOut: string[];
}

/**
 * Writes the shipped SIIM films as the lab's two files in `outDir` (created if needed), split by
 * {@link splitSiimSample}, whole or as half-films (`design`), with `mask`, `file` (the ImageId),
 * `patient_id` and `near_duplicate_group` (both the split key of {@link groupOf}). Films with an
 * `nih_match` are left out of both, so nothing trained on these files has seen a patient of the
 * NIH sample.
 *
 * Throws a {@link UsageError} for a test fraction outside (0, 1) or a seed that is not an
 * integer.
 */
export async function writeSiimSampleFiles(
  outDir: string,
  options: SiimSampleFilesOptions = {},
): Promise<SiimSampleFilesReport> {
  const design = options.design ?? "whole";
  if (!FILM_DESIGNS.includes(design)) {
    throw new UsageError(`design must be one of ${FILM_DESIGNS.join(", ")}, got '${design}'`);
  }
  const films = await loadSiimSample({ dir: options.dir });
  const split = splitSiimSample(films, options);
  await Deno.mkdir(outDir, { recursive: true });
  const write = (name: string, indices: number[]) => {
    const made = design === "halves"
      ? halfFilmImages(films, indices, { seed: options.seed })
      : wholeFilmImages(films, indices);
    const rows = made.files.map((file, k) => ({
      file,
      patientId: made.groups[k],
      positive: made.labels[k] === 1,
    }));
    return writeSplit(join(outDir, name), rows, made.images, films.imageSize, {
      masks: made.masks,
      groups: made.groups,
    });
  };
  const limit = (indices: number[], most?: number) => indices.slice(0, most ?? indices.length);
  return {
    train: await write(TRAIN_FILE, limit(split.train, options.maxFilms?.train)),
    test: await write(TEST_FILE, limit(split.test, options.maxFilms?.test)),
    leftOut: split.leftOut.map((index) => films.imageIds[index]),
  };
}
