/**
 * The real chest X-rays shipped with the lab: 302 frontal radiographs from NIH ChestX-ray14
 * (50 with pneumothorax, 291 patients), kept in `samples/nih/` so that every student sees real
 * films whatever data the lab was trained on, offline, and so that the phantom-trained model can
 * be measured where it matters. Far too few to train a model from scratch; enough to see the gap
 * between phantoms and patients, and to fine-tune with cross-validation.
 *
 * Storage: one 8-bit gray 256x256 PNG per image in `samples/nih/images/` (the lab's size, made
 * once from NIH's 1024x1024 PNGs by the area downscale of `xray_png.ts`, with
 * `tools/build_real_sample.ts`), and `samples/nih/sample.csv` with a row per image. PNGs rather
 * than one HDF5 file because git stores small, unchanging binary files well and shows which
 * image changed; the lab's HDF5 files are made from them on demand by
 * {@link writeRealSampleFiles} (`deno task data --source sample`).
 *
 * The CSV's `chest_tube` and `other_device` columns were annotated by eye (see
 * `samples/nih/README.md`), because many of NIH's pneumothorax images are treated cases with a
 * drain in view: a model can score them by finding the tube, not the pneumothorax.
 *
 * Data: https://nihcc.app.box.com/v/ChestXray-NIHCC, courtesy of the NIH Clinical Center; cite
 * Wang et al., "ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on
 * Weakly-Supervised Classification and Localization of Common Thorax Diseases", CVPR 2017.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import { CsvError, parse } from "csv-parse/sync";
import { join } from "node:path";
import { TEST_FILE, TRAIN_FILE } from "./dataset.ts";
import { IMAGE_SIZE } from "./schema.ts";
import { DataFileError, UsageError } from "../core/errors.ts";
import type { LabeledImages } from "./dataset.ts";
import {
  DEFAULT_SEED,
  DEFAULT_TEST_FRACTION,
  splitByPatient,
  type SplitReport,
  writeSplit,
} from "./import_common.ts";
import { createRandom } from "../core/random.ts";
import { decodeGrayPng } from "./xray_png.ts";
import { LAB_ROOT } from "../core/paths.ts";

/** The folder of the shipped sample: `samples/nih/` at the root of the repository. */
export const REAL_SAMPLE_DIR: string = join(LAB_ROOT, "samples", "nih");
/** The sample's table, one row per image, in {@link REAL_SAMPLE_DIR}. */
export const REAL_SAMPLE_CSV = "sample.csv";
/** The hand-made device annotations that the build merges into {@link REAL_SAMPLE_CSV}. */
export const REAL_SAMPLE_DEVICES_CSV = "devices.csv";
/** The subfolder of {@link REAL_SAMPLE_DIR} holding the PNGs. */
export const REAL_SAMPLE_IMAGES = "images";

/** Columns of {@link REAL_SAMPLE_CSV}, in order (see `samples/nih/README.md`). */
export const REAL_SAMPLE_COLUMNS = [
  "file",
  "pneumothorax",
  "patient_id",
  "finding_labels",
  "chest_tube",
  "other_device",
  "device",
  "notes",
] as const;

/** Columns of {@link REAL_SAMPLE_DEVICES_CSV}, in order. */
export const DEVICE_COLUMNS = ["file", "chest_tube", "other_device", "notes"] as const;

/** Whether something is visible on a 256x256 image: `unclear` where it could not be told. */
export type Visibility = "yes" | "no" | "unclear";
/** The values of {@link Visibility}. */
export const VISIBILITIES: readonly Visibility[] = ["yes", "no", "unclear"];

/**
 * One word for an image's devices: `chest_tube` when a chest tube is visible (whatever else
 * is), else `other` when another device is (lines, leads, pacemaker, wires, tubes), `none` when
 * neither is, and `unclear` when one of the two could not be told.
 */
export type DeviceSummary = "chest_tube" | "other" | "none" | "unclear";

/**
 * The {@link DeviceSummary} of an image from its two annotations.
 *
 * @example
 * ```ts
 * import { summarizeDevices } from "./real_sample.ts";
 * if (summarizeDevices("yes", "unclear") !== "chest_tube") throw new Error();
 * if (summarizeDevices("no", "unclear") !== "unclear") throw new Error();
 * ```
 */
export function summarizeDevices(chestTube: Visibility, otherDevice: Visibility): DeviceSummary {
  if (chestTube === "yes") return "chest_tube";
  if (otherDevice === "yes") return "other";
  if (chestTube === "unclear" || otherDevice === "unclear") return "unclear";
  return "none";
}

/** One row of {@link REAL_SAMPLE_CSV}. */
export interface RealSampleRow {
  /** The image's file name in `images/`: NIH's `<patient>_<follow-up>.png`. */
  file: string;
  /** Whether NIH's labels include pneumothorax. */
  pneumothorax: boolean;
  /** NIH's `Patient ID`. */
  patientId: string;
  /** NIH's `Finding Labels` (`|`-separated; `No Finding` for none). */
  findings: string;
  /** Whether a chest tube (drain) is visible. */
  chestTube: Visibility;
  /** Whether another device is visible: lines, ECG leads, pacemaker, sternal wires, tubes. */
  otherDevice: Visibility;
  /** What was seen, in a few words: the devices, and anything odd about the film (may be empty). */
  notes: string;
}

/** The shipped sample in memory, ready to show, predict ({@link LabeledImages}) or split. */
export interface RealSample extends LabeledImages {
  /** Number of images. */
  count: number;
  /** Images, `count` x 256 x 256 row-major gray uint8 (image i at `i * 256 * 256`). */
  images: Uint8Array;
  /** 1 = pneumothorax, 0 = not, per image. */
  labels: Uint8Array;
  /** NIH patient identifier per image (several images may share one: split by patient). */
  patientIds: string[];
  /** NIH file name per image. */
  files: string[];
  /** NIH's finding labels per image. */
  findings: string[];
  /** Whether a chest tube is visible, per image. */
  chestTube: Visibility[];
  /** Whether another device is visible, per image. */
  otherDevice: Visibility[];
  /** {@link summarizeDevices} of the two, per image. */
  device: DeviceSummary[];
  /** What was seen, per image: the devices, and anything odd about the film (may be empty). */
  notes: string[];
  /** The folder it was read from. */
  dir: string;
}

/** Options of {@link loadRealSample}. */
export interface LoadRealSampleOptions {
  /** Folder of the sample (default {@link REAL_SAMPLE_DIR}). */
  dir?: string;
}

function parseCsv(text: string, path: string): string[][] {
  try {
    return parse(text, {
      bom: true,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as string[][];
  } catch (error) {
    if (error instanceof CsvError) {
      throw new DataFileError({ file: path }, `not valid CSV: ${error.message}`);
    }
    throw error;
  }
}

/**
 * Reads a CSV whose header must hold `columns`, as one record per data row keyed by column name
 * (extra columns are ignored). Errors name the file, and the line for a row of the wrong width.
 */
export async function readTable<C extends string>(
  path: string,
  columns: readonly C[],
): Promise<Record<C, string>[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new DataFileError({ file: path }, "not found");
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  const [header, ...rows] = parseCsv(text, path);
  if (header === undefined) throw new DataFileError({ file: path }, "empty CSV");
  const index = columns.map((column) => {
    const at = header.indexOf(column);
    if (at < 0) {
      throw new DataFileError({ file: path }, `missing column '${column}' (has ${header.join()})`);
    }
    return at;
  });
  return rows.map((fields, k) => {
    if (fields.length !== header.length) {
      throw new DataFileError(
        { file: path },
        `data row ${k + 1} has ${fields.length} fields, the header has ${header.length}`,
      );
    }
    return Object.fromEntries(columns.map((column, c) => [column, fields[index[c]]])) as Record<
      C,
      string
    >;
  });
}

/**
 * Checks that `value` is a {@link Visibility}; a {@link DataFileError} naming the CSV `path`
 * and `what` (the image and column) when it is not.
 */
export function parseVisibility(value: string, path: string, what: string): Visibility {
  if ((VISIBILITIES as readonly string[]).includes(value)) return value as Visibility;
  throw new DataFileError(
    { file: path },
    `${what} is '${value}', expected one of ${VISIBILITIES.join(", ")}`,
  );
}

/** Reads and checks {@link REAL_SAMPLE_CSV} of `dir`. */
export async function readRealSampleRows(dir: string): Promise<RealSampleRow[]> {
  const path = join(dir, REAL_SAMPLE_CSV);
  const table = await readTable(path, REAL_SAMPLE_COLUMNS);
  if (table.length === 0) throw new DataFileError({ file: path }, "has no images");
  return table.map((row, k) => {
    const where = row.file || `data row ${k + 1}`;
    if (row.pneumothorax !== "0" && row.pneumothorax !== "1") {
      throw new DataFileError({ file: path }, `${row.file}: pneumothorax is '${row.pneumothorax}'`);
    }
    const chestTube = parseVisibility(row.chest_tube, path, `${where}: chest_tube`);
    const otherDevice = parseVisibility(row.other_device, path, `${where}: other_device`);
    if (row.device !== summarizeDevices(chestTube, otherDevice)) {
      throw new DataFileError(
        { file: path },
        `${row.file}: device is '${row.device}', but chest_tube ${chestTube} and ` +
          `other_device ${otherDevice} make '${summarizeDevices(chestTube, otherDevice)}'`,
      );
    }
    return {
      file: row.file,
      pneumothorax: row.pneumothorax === "1",
      patientId: row.patient_id,
      findings: row.finding_labels,
      chestTube,
      otherDevice,
      notes: row.notes,
    };
  });
}

/**
 * Decodes one PNG shipped with the lab (`samples/nih`, `samples/siim`), which must be 8-bit gray
 * at the lab's size; otherwise a {@link DataFileError} naming the file and the `rebuild` tool.
 */
export async function readShippedPng(path: string, rebuild: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  const gray = decodeGrayPng(bytes, path);
  if (
    gray.width !== IMAGE_SIZE || gray.height !== IMAGE_SIZE || gray.maxValue !== 255 ||
    !(gray.data instanceof Uint8Array)
  ) {
    throw new DataFileError(
      { file: path },
      `is ${gray.width}x${gray.height} with maximum ${gray.maxValue}; the shipped images are ` +
        `${IMAGE_SIZE}x${IMAGE_SIZE} 8-bit gray (rebuild with ${rebuild})`,
    );
  }
  return gray.data;
}

/**
 * Loads the real sample shipped with the lab in one call: every image (decoded from its PNG),
 * its label, patient, file name, NIH findings and the device annotations. About a second for
 * the 302 images, on the calling thread.
 *
 * Throws a {@link DataFileError} naming the file when the table or an image is missing or
 * malformed.
 *
 * @example
 * ```ts
 * import { loadRealSample } from "./real_sample.ts";
 * const sample = await loadRealSample();
 * const positives = sample.labels.reduce((sum, label) => sum + label, 0);
 * console.log(`${sample.count} real X-rays, ${positives} with pneumothorax`);
 * ```
 */
export async function loadRealSample(options: LoadRealSampleOptions = {}): Promise<RealSample> {
  const dir = options.dir ?? REAL_SAMPLE_DIR;
  const rows = await readRealSampleRows(dir);
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  const images = new Uint8Array(rows.length * pixels);
  await Promise.all(rows.map(async (row, i) => {
    images.set(
      await readShippedPng(join(dir, REAL_SAMPLE_IMAGES, row.file), "tools/build_real_sample.ts"),
      i * pixels,
    );
  }));
  return {
    count: rows.length,
    imageSize: IMAGE_SIZE,
    images,
    labels: Uint8Array.from(rows, (row) => (row.pneumothorax ? 1 : 0)),
    patientIds: rows.map((row) => row.patientId),
    files: rows.map((row) => row.file),
    findings: rows.map((row) => row.findings),
    chestTube: rows.map((row) => row.chestTube),
    otherDevice: rows.map((row) => row.otherDevice),
    device: rows.map((row) => summarizeDevices(row.chestTube, row.otherDevice)),
    notes: rows.map((row) => row.notes),
    dir,
  };
}

/** Options of {@link writeRealSampleFiles}. */
export interface RealSampleFilesOptions {
  /** Seed of the patient split and of the order within each file (default 0). */
  seed?: number;
  /** Fraction of the images, taken by whole patients, that goes to the test file (default 0.2). */
  testFraction?: number;
  /** Folder of the sample (default {@link REAL_SAMPLE_DIR}). */
  dir?: string;
}

/** What {@link writeRealSampleFiles} wrote. */
export interface RealSampleFilesReport {
  /** The training file. */
  train: SplitReport;
  /** The test file. */
  test: SplitReport;
}

/**
 * Writes the shipped sample as the lab's two files in `outDir` (created if needed), split by
 * patient as the NIH importer splits (no patient in both files; patients with a pneumothorax
 * image drawn apart from the others, so both files get positives), with `patient_id` and
 * `file` datasets beside `image` and `label`.
 *
 * Throws a {@link UsageError} for a test fraction outside (0, 1) or a seed that is not an
 * integer.
 */
export async function writeRealSampleFiles(
  outDir: string,
  options: RealSampleFilesOptions = {},
): Promise<RealSampleFilesReport> {
  const testFraction = options.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new UsageError(`testFraction must be between 0 and 1 (exclusive), got ${testFraction}`);
  }
  const seed = options.seed ?? DEFAULT_SEED;
  requireInteger("seed", seed);
  const sample = await loadRealSample({ dir: options.dir });
  const pixels = sample.imageSize * sample.imageSize;
  const entries = sample.files.map((file, index) => ({
    index,
    file,
    patientId: sample.patientIds[index],
    positive: sample.labels[index] === 1,
  }));
  const split = splitByPatient(entries, testFraction, createRandom(seed));
  if (split.train.length === 0 || split.test.length === 0) {
    throw new UsageError(
      `testFraction ${testFraction} leaves the ${split.train.length === 0 ? "training" : "test"} ` +
        `file empty`,
    );
  }
  await Deno.mkdir(outDir, { recursive: true });
  const write = (name: string, part: typeof entries) => {
    const images = new Uint8Array(part.length * pixels);
    part.forEach((entry, k) => {
      images.set(
        sample.images.subarray(entry.index * pixels, (entry.index + 1) * pixels),
        k * pixels,
      );
    });
    return writeSplit(join(outDir, name), part, images, sample.imageSize);
  };
  return { train: await write(TRAIN_FILE, split.train), test: await write(TEST_FILE, split.test) };
}
