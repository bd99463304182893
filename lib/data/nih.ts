/**
 * Importer for the full NIH ChestX-ray14 release: builds the lab's `pneumothorax_train.h5` and
 * `pneumothorax_test.h5` from NIH's PNGs and its label CSV (`Data_Entry_2017.csv` layout).
 *
 * Every row whose `Finding Labels` include `Pneumothorax` is a positive; negatives (all other
 * rows, "No Finding" and other findings alike) are sampled, `negativesPerPositive` of them per
 * positive. Images are read as gray (see `xray_png.ts`) and area-downscaled to 256x256. The split
 * is by patient: each patient's images all go to one file, drawn with a seed, and patients with a
 * positive image are split apart from the others so both files get their share of positives.
 * Rows that cannot be used (malformed, duplicate, image missing or unreadable) are skipped and
 * reported with their CSV line.
 *
 * Data: https://nihcc.app.box.com/v/ChestXray-NIHCC, courtesy of the NIH Clinical Center; cite
 * Wang et al., "ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on
 * Weakly-Supervised Classification and Localization of Common Thorax Diseases", CVPR 2017.
 *
 * @module
 */
import { CsvError, parse } from "csv-parse/sync";
import { join } from "node:path";
import { DataFileError, LabError, UsageError } from "../core/errors.ts";
import { writeLabFile } from "./lab_files.ts";
import { createProgressBar, formatDuration, type ProgressBar } from "../core/progress.ts";
import { createRandom, type Random, shuffleInPlace } from "../core/random.ts";
import { TEST_FILE, TRAIN_FILE } from "./dataset.ts";
import { IMAGE_SIZE } from "./schema.ts";
import { createXrayPngPool, type XrayPngPool } from "./xray_png.ts";

/** The NIH CSV columns the importer reads. */
export const NIH_COLUMNS = {
  image: "Image Index",
  findings: "Finding Labels",
  patient: "Patient ID",
} as const;
/** The finding, in NIH's spelling, that makes an image a positive. */
export const PNEUMOTHORAX_FINDING = "Pneumothorax";
/** Default of {@link NihImportOptions.negativesPerPositive}: balanced classes. */
export const NIH_DEFAULT_NEGATIVES_PER_POSITIVE = 1;
/** Default of {@link NihImportOptions.testFraction}. */
export const NIH_DEFAULT_TEST_FRACTION = 0.2;
/** Default of {@link NihImportOptions.seed}. */
export const NIH_DEFAULT_SEED = 0;

const FINDING_SEPARATOR = "|";

/** Options of {@link importNih}. */
export interface NihImportOptions {
  /** Folder holding NIH's PNGs, searched recursively (NIH's archives unpack to `images/`). */
  imagesDir: string;
  /** NIH's label CSV (`Data_Entry_2017.csv` or its v2020 version, or a file in that layout). */
  labelsCsv: string;
  /** Folder to write `pneumothorax_train.h5` and `pneumothorax_test.h5` to (created if needed). */
  outDir: string;
  /** Seed of the negative sampling, the patient split and the order within each file (default 0). */
  seed?: number;
  /**
   * Negatives kept per positive (default 1: balanced classes; from the full release's 5,302
   * pneumothorax images that makes about 10,600, close to the lab's 9,964); `Infinity` keeps
   * every negative.
   */
  negativesPerPositive?: number;
  /** Fraction of the images, taken by whole patients, that goes to the test file (default 0.2). */
  testFraction?: number;
  /** Side of the stored images in pixels (default 256). */
  imageSize?: number;
  /** Decoding worker threads (default: logical cores, at most 8; 0: the calling thread). */
  workers?: number;
  /**
   * Makes the progress bar for `total` images (default: a bar on standard error);
   * `false` for none.
   */
  progress?: ((total: number) => ProgressBar) | false;
}

/** A CSV row the importer left out, and why. */
export interface NihSkippedRow {
  /** Line of the CSV where the row starts (the header is line 1). */
  line: number;
  /** The row's `Image Index` (empty when it had none). */
  file: string;
  /** Why it was skipped. */
  reason: string;
}

/** What went into one of the two files. */
export interface NihSplitReport {
  /** Path of the file written. */
  path: string;
  /** Images stored. */
  images: number;
  /** Of which pneumothorax. */
  positives: number;
  /** Distinct patients. */
  patients: number;
}

/** The outcome of {@link importNih}. */
export interface NihImportReport {
  /** The training file. */
  train: NihSplitReport;
  /** The test file. */
  test: NihSplitReport;
  /** Data rows in the CSV (not counting the header). */
  rows: number;
  /** Usable rows whose image was found: positives and negatives to choose from. */
  available: { positives: number; negatives: number };
  /** Rows left out, in CSV order. */
  skipped: NihSkippedRow[];
  /** Wall-clock seconds of the whole import. */
  seconds: number;
  /** Images stored per second of wall-clock time. */
  imagesPerSecond: number;
  /** Decoding worker threads used (0: the calling thread). */
  workers: number;
}

/** One usable row of the NIH CSV. */
export interface NihRow {
  /** Line of the CSV where the row starts (the header is line 1). */
  line: number;
  /** The row's `Image Index`: the PNG's file name. */
  file: string;
  /** The row's `Patient ID`, as written in the CSV. */
  patientId: string;
  /** The row's `Finding Labels`, `|`-separated as NIH writes them. */
  findings: string;
  /** Whether the findings include pneumothorax. */
  positive: boolean;
}

/** What the patient split and the file writer need of an image: its patient, file and label. */
export interface PatientImage {
  /** Patient identifier: a patient's images all go to one file. */
  patientId: string;
  /** The image's file name, stored in the lab file's `file` dataset. */
  file: string;
  /** Whether the image shows a pneumothorax. */
  positive: boolean;
}

/** A usable row whose image was found. */
interface NihRowWithPath extends NihRow {
  path: string;
}

interface CsvRecord {
  record: string[];
  raw: string;
  info: { lines: number };
}

function validateOptions(options: NihImportOptions): Required<Omit<NihImportOptions, "workers">> {
  const ratio = options.negativesPerPositive ?? NIH_DEFAULT_NEGATIVES_PER_POSITIVE;
  if (!(ratio >= 0)) {
    throw new UsageError(`negativesPerPositive must be 0 or more (or Infinity), got ${ratio}`);
  }
  const testFraction = options.testFraction ?? NIH_DEFAULT_TEST_FRACTION;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new UsageError(`testFraction must be between 0 and 1 (exclusive), got ${testFraction}`);
  }
  const imageSize = options.imageSize ?? IMAGE_SIZE;
  if (!Number.isInteger(imageSize) || imageSize < 1) {
    throw new UsageError(`imageSize must be a positive integer, got ${imageSize}`);
  }
  if (
    options.workers !== undefined && !(Number.isInteger(options.workers) && options.workers >= 0)
  ) {
    throw new UsageError(`workers must be an integer of 0 or more, got ${options.workers}`);
  }
  const seed = options.seed ?? NIH_DEFAULT_SEED;
  if (!Number.isInteger(seed)) throw new UsageError(`seed must be an integer, got ${seed}`);
  return {
    ...options,
    seed,
    negativesPerPositive: ratio,
    testFraction,
    imageSize,
    progress: options.progress ??
      ((total) => createProgressBar(total, { label: "NIH import", unit: "images" })),
  };
}

/** The line a record starts on: csv-parse reports where it ends, and its raw text. */
function startLine(record: CsvRecord): number {
  const body = record.raw.replace(/^[\r\n]+/, "").replace(/\r?\n$|\r$/, "");
  const innerBreaks = body.match(/\r\n|\r|\n/g)?.length ?? 0;
  return record.info.lines - innerBreaks;
}

async function readCsvRecords(path: string): Promise<CsvRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DataFileError({ file: path }, "label CSV not found");
    }
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  try {
    // csv-parse's types do not model `info`/`raw`, which wrap each record as CsvRecord.
    return parse(text, {
      bom: true,
      info: true,
      raw: true,
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
    }) as unknown as CsvRecord[];
  } catch (error) {
    if (error instanceof CsvError) {
      throw new DataFileError({ file: path }, `not valid CSV: ${error.message}`);
    }
    throw error;
  }
}

function columnIndex(header: string[], name: string, path: string): number {
  const index = header.indexOf(name);
  if (index < 0) {
    throw new DataFileError(
      { file: path },
      `missing column '${name}' (an NIH Data_Entry_2017.csv has it; columns found: ` +
        `${header.map((h) => `'${h}'`).join(", ")})`,
    );
  }
  return index;
}

/** Why a record cannot be used, or undefined when it can. */
function rowProblem(fields: string[], width: { min: number; max: number }, file: string) {
  if (fields.length < width.min || fields.length > width.max) {
    return `has ${fields.length} fields, the header has ${width.max}`;
  }
  if (file === "") return `empty '${NIH_COLUMNS.image}'`;
  if (/[\\/]/.test(file) || !/\.png$/i.test(file)) {
    return `'${NIH_COLUMNS.image}' is not a PNG file name: '${file}'`;
  }
  return undefined;
}

/**
 * Reads NIH's label CSV: the usable rows, and the skipped ones with their line and reason.
 * A missing required column is a {@link DataFileError} naming the CSV and the column.
 */
export async function readNihRows(path: string): Promise<{
  rows: NihRow[];
  skipped: NihSkippedRow[];
  count: number;
}> {
  const records = await readCsvRecords(path);
  if (records.length === 0) throw new DataFileError({ file: path }, "label CSV is empty");
  const header = records[0].record.map((name) => name.trim());
  const imageColumn = columnIndex(header, NIH_COLUMNS.image, path);
  const findingsColumn = columnIndex(header, NIH_COLUMNS.findings, path);
  const patientColumn = columnIndex(header, NIH_COLUMNS.patient, path);
  let named = header.length;
  while (named > 0 && header[named - 1] === "") named--;
  const width = { min: named, max: header.length };
  const rows: NihRow[] = [];
  const skipped: NihSkippedRow[] = [];
  const firstLine = new Map<string, number>();
  for (const record of records.slice(1)) {
    const fields = record.record.map((field) => field.trim());
    const line = startLine(record);
    const file = fields[imageColumn] ?? "";
    const findings = fields[findingsColumn] ?? "";
    const patientId = fields[patientColumn] ?? "";
    const problem = rowProblem(fields, width, file) ??
      (findings === "" ? `empty '${NIH_COLUMNS.findings}'` : undefined) ??
      (patientId === "" ? `empty '${NIH_COLUMNS.patient}'` : undefined) ??
      (firstLine.has(file) ? `duplicate of line ${firstLine.get(file)}` : undefined);
    if (problem !== undefined) {
      skipped.push({ line, file, reason: problem });
      continue;
    }
    firstLine.set(file, line);
    const positive = findings.split(FINDING_SEPARATOR).some((f) =>
      f.trim() === PNEUMOTHORAX_FINDING
    );
    rows.push({ line, file, patientId, findings, positive });
  }
  return { rows, skipped, count: records.length - 1 };
}

/** Maps each PNG file name under `dir` (recursively, in sorted order; first one wins) to its path. */
export async function indexImages(dir: string): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  async function visit(folder: string): Promise<void> {
    const entries: Deno.DirEntry[] = [];
    for await (const entry of Deno.readDir(folder)) entries.push(entry);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory) await visit(path);
      else if (!index.has(entry.name) && /\.png$/i.test(entry.name)) index.set(entry.name, path);
    }
  }
  try {
    await visit(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LabError(`images folder not found: ${dir}`);
    }
    throw new LabError(`cannot list the images folder ${dir}: ${(error as Error).message}`);
  }
  return index;
}

/** Positives plus `ratio` sampled negatives per positive (all negatives when ratio is Infinity). */
function selectRows<T extends NihRow>(rows: T[], ratio: number, random: Random): T[] {
  const positives = rows.filter((row) => row.positive);
  const negatives = rows.filter((row) => !row.positive);
  const keep = Math.min(negatives.length, Math.round(ratio * positives.length));
  return [...positives, ...shuffleInPlace(negatives, random).slice(0, keep)];
}

/**
 * Splits rows by patient: each patient's rows all go to one side. Patients with a positive image
 * and those without are drawn separately, each until its test share reaches `testFraction`.
 */
export function splitByPatient<T extends PatientImage>(
  rows: T[],
  testFraction: number,
  random: Random,
): { train: T[]; test: T[] } {
  const byPatient = new Map<string, T[]>();
  for (const row of rows) {
    const list = byPatient.get(row.patientId);
    if (list) list.push(row);
    else byPatient.set(row.patientId, [row]);
  }
  const train: T[] = [];
  const test: T[] = [];
  for (const positive of [true, false]) {
    const patients = [...byPatient.values()].filter((list) =>
      list.some((r) => r.positive) === positive
    );
    const images = patients.reduce((sum, list) => sum + list.length, 0);
    const target = Math.round(testFraction * images);
    let inTest = 0;
    for (const list of shuffleInPlace(patients, random)) {
      if (inTest < target) {
        test.push(...list);
        inTest += list.length;
      } else {
        train.push(...list);
      }
    }
  }
  return { train: shuffleInPlace(train, random), test: shuffleInPlace(test, random) };
}

/** Reads one split's images through `pool`, at most a few in flight; failures are skipped. */
async function readSplit(
  rows: NihRowWithPath[],
  pool: XrayPngPool,
  size: number,
  onImage: () => void,
  skipped: NihSkippedRow[],
): Promise<{ images: Uint8Array; rows: NihRow[] }> {
  const pixels = size * size;
  const images = new Uint8Array(rows.length * pixels);
  const ok = new Array<boolean>(rows.length).fill(false);
  let next = 0;
  async function runner(): Promise<void> {
    while (next < rows.length) {
      const i = next++;
      try {
        images.set(await pool.read(rows[i].path), i * pixels);
        ok[i] = true;
      } catch (error) {
        skipped.push({ line: rows[i].line, file: rows[i].file, reason: (error as Error).message });
      }
      onImage();
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, 2 * pool.workers) }, runner));
  const kept: NihRow[] = [];
  rows.forEach((row, i) => {
    if (!ok[i]) return;
    images.copyWithin(kept.length * pixels, i * pixels, (i + 1) * pixels);
    kept.push(row);
  });
  return { images: images.subarray(0, kept.length * pixels), rows: kept };
}

/**
 * Writes one file of the lab's schema for `rows` and their `images` (in the same order), with
 * `patient_id` and `file` beside `image` and `label`, and says what went in.
 */
export async function writeSplit(
  path: string,
  rows: PatientImage[],
  images: Uint8Array,
  imageSize: number,
): Promise<NihSplitReport> {
  const labels = Uint8Array.from(rows, (row) => (row.positive ? 1 : 0));
  await writeLabFile(path, {
    images,
    labels,
    patientIds: rows.map((row) => row.patientId),
    files: rows.map((row) => row.file),
  }, { imageSize });
  return {
    path,
    images: rows.length,
    positives: labels.reduce((sum, label) => sum + label, 0),
    patients: new Set(rows.map((row) => row.patientId)).size,
  };
}

/**
 * Builds the lab's two files from the NIH ChestX-ray14 release (see the module notes): reads the
 * label CSV, finds the images, keeps the positives and samples negatives, splits by patient,
 * decodes and downscales each image (a few at a time, never all at once) and writes
 * `pneumothorax_train.h5` and `pneumothorax_test.h5` with `patient_id` and `file` beside `image`
 * and `label`. Unusable rows are skipped and listed in the report with their CSV line.
 *
 * Throws a {@link LabError} when the CSV lacks a required column, the images folder is missing,
 * no positive image is found, or too few patients remain to fill both files.
 */
export async function importNih(options: NihImportOptions): Promise<NihImportReport> {
  const start = performance.now();
  const settings = validateOptions(options);
  const { rows, skipped, count } = await readNihRows(settings.labelsCsv);
  const index = await indexImages(settings.imagesDir);
  const present: NihRowWithPath[] = [];
  for (const row of rows) {
    const path = index.get(row.file);
    if (path === undefined) {
      skipped.push({
        line: row.line,
        file: row.file,
        reason: `image not found under ${settings.imagesDir}`,
      });
    } else {
      present.push({ ...row, path });
    }
  }
  const available = {
    positives: present.filter((row) => row.positive).length,
    negatives: present.filter((row) => !row.positive).length,
  };
  if (available.positives === 0) {
    throw new LabError(
      `${settings.labelsCsv}: no '${PNEUMOTHORAX_FINDING}' row with its image under ` +
        `${settings.imagesDir} (${count} rows, ${present.length} with images)`,
    );
  }
  const random = createRandom(settings.seed);
  const selected = selectRows(present, settings.negativesPerPositive, random);
  const split = splitByPatient(selected, settings.testFraction, random);
  if (split.train.length === 0 || split.test.length === 0) {
    throw new LabError(
      `${selected.length} images from ${new Set(selected.map((r) => r.patientId)).size} patients ` +
        `are too few to split by patient with testFraction ${settings.testFraction}`,
    );
  }
  await Deno.mkdir(settings.outDir, { recursive: true });
  const bar = settings.progress ? settings.progress(selected.length) : undefined;
  let done = 0;
  const onImage = () => bar?.update(++done);
  const pool = createXrayPngPool({ workers: options.workers, size: settings.imageSize });
  const reports: NihSplitReport[] = [];
  try {
    for (
      const [name, rowsOfSplit] of [[TRAIN_FILE, split.train], [TEST_FILE, split.test]] as const
    ) {
      const { images, rows: kept } = await readSplit(
        rowsOfSplit,
        pool,
        settings.imageSize,
        onImage,
        skipped,
      );
      if (kept.length === 0) throw new LabError(`no readable image left for ${name}`);
      reports.push(await writeSplit(join(settings.outDir, name), kept, images, settings.imageSize));
    }
  } finally {
    pool.close();
    bar?.done();
  }
  const seconds = (performance.now() - start) / 1000;
  const stored = reports[0].images + reports[1].images;
  return {
    train: reports[0],
    test: reports[1],
    rows: count,
    available,
    skipped: skipped.sort((a, b) => a.line - b.line),
    seconds,
    imagesPerSecond: stored / seconds,
    workers: pool.workers,
  };
}

/**
 * Describes an import in a few lines for a terminal: what each file holds, the speed, and the
 * first `maxSkipped` skipped rows (default 10) with their CSV lines.
 */
export function describeNihImport(report: NihImportReport, maxSkipped = 10): string {
  const split = (name: string, s: NihSplitReport) =>
    `  ${name}: ${s.path}: ${s.images} images, ${s.positives} pneumothorax, ${s.patients} patients`;
  const lines = [
    `NIH import: ${report.train.images + report.test.images} images from ${report.rows} CSV rows ` +
    `in ${formatDuration(report.seconds)} (${report.imagesPerSecond.toFixed(1)} images/s, ` +
    `${report.workers} workers)`,
    split("train", report.train),
    split("test", report.test),
  ];
  if (report.skipped.length > 0) {
    lines.push(`  skipped ${report.skipped.length} rows:`);
    for (const row of report.skipped.slice(0, maxSkipped)) {
      lines.push(`    line ${row.line}${row.file ? ` (${row.file})` : ""}: ${row.reason}`);
    }
    if (report.skipped.length > maxSkipped) {
      lines.push(`    ... and ${report.skipped.length - maxSkipped} more`);
    }
  }
  return lines.join("\n");
}
