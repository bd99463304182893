/**
 * The pieces the importers of public releases share (NIH ChestX-ray14 in `nih.ts`, SIIM-ACR in
 * `siim.ts`), so that both read their CSV, find their images, sample negatives, split by patient,
 * decode a few images at a time, write the lab's files and report what they skipped the same way:
 *
 * - options: seed, negatives per positive, test fraction, image size, workers, progress bar;
 * - the CSV: every record with the line it starts on, so a skipped row is named by its line;
 * - the images folder: searched recursively, as the releases' archives nest their files;
 * - the selection: every positive, plus `negativesPerPositive` sampled negatives per positive;
 * - the split: by patient, seeded, positives' and negatives' patients drawn separately;
 * - the decoding: a few images in flight, failures skipped and reported, never a crash;
 * - the report: what went where, the speed, and the rows left out, where images missing from the
 *   folder come as one summary line (a count and the first few names), since a full release's
 *   CSV with part of its images present would otherwise print a hundred thousand lines.
 *
 * @module
 */
import { CsvError, parse } from "csv-parse/sync";
import { join } from "node:path";
import { DataFileError, LabError, UsageError } from "../core/errors.ts";
import { createProgressBar, formatDuration, type ProgressBar } from "../core/progress.ts";
import { type Random, shuffleInPlace } from "../core/random.ts";
import { requireInteger } from "../core/validate.ts";
import { TEST_FILE, TRAIN_FILE } from "./dataset.ts";
import { writeLabFile } from "./lab_files.ts";
import { IMAGE_SIZE } from "./schema.ts";

/** Default of {@link ImportOptions.negativesPerPositive}: balanced classes. */
export const DEFAULT_NEGATIVES_PER_POSITIVE = 1;
/** Default of {@link ImportOptions.testFraction}. */
export const DEFAULT_TEST_FRACTION = 0.2;
/** Default of {@link ImportOptions.seed}. */
export const DEFAULT_SEED = 0;
/** Names of missing images shown in the one summary line. */
const MISSING_SHOWN = 5;

/** The options every importer takes, beside where its release is. */
export interface ImportOptions {
  /** Folder to write `pneumothorax_train.h5` and `pneumothorax_test.h5` to (created if needed). */
  outDir: string;
  /** Seed of the negative sampling, the patient split and the order within each file (default 0). */
  seed?: number;
  /** Negatives kept per positive (default 1: balanced classes); `Infinity` keeps every one. */
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

/** {@link ImportOptions} checked, with defaults filled in (workers stays as given). */
export interface ImportSettings extends Required<Omit<ImportOptions, "workers">> {
  workers?: number;
}

/**
 * Checks the shared options and fills in their defaults; `label` names the progress bar
 * ("NIH import"). Throws a {@link UsageError} naming a bad option.
 */
export function importSettings<T extends ImportOptions>(
  options: T,
  label: string,
): T & ImportSettings {
  const ratio = options.negativesPerPositive ?? DEFAULT_NEGATIVES_PER_POSITIVE;
  if (!(ratio >= 0)) {
    throw new UsageError(`negativesPerPositive must be 0 or more (or Infinity), got ${ratio}`);
  }
  const testFraction = options.testFraction ?? DEFAULT_TEST_FRACTION;
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new UsageError(`testFraction must be between 0 and 1 (exclusive), got ${testFraction}`);
  }
  const imageSize = requireInteger("imageSize", options.imageSize ?? IMAGE_SIZE, { min: 1 });
  if (options.workers !== undefined) requireInteger("workers", options.workers, { min: 0 });
  const seed = requireInteger("seed", options.seed ?? DEFAULT_SEED);
  return {
    ...options,
    seed,
    negativesPerPositive: ratio,
    testFraction,
    imageSize,
    progress: options.progress ?? ((total) => createProgressBar(total, { label, unit: "images" })),
  };
}

/** A CSV row, or an image, the importer left out, and why. */
export interface SkippedRow {
  /** Line of the CSV where the row starts (the header is line 1); undefined for a file alone. */
  line?: number;
  /** The image's name (empty when the row had none). */
  file: string;
  /** Why it was left out. */
  reason: string;
}

/** What the patient split and the file writer need of an image: its patient, file and label. */
export interface PatientImage {
  /** Patient identifier: a patient's images all go to one file. */
  patientId: string;
  /** The image's name, stored in the lab file's `file` dataset. */
  file: string;
  /** Whether the image shows a pneumothorax. */
  positive: boolean;
}

/** What went into one of the two files. */
export interface SplitReport {
  /** Path of the file written. */
  path: string;
  /** Images stored. */
  images: number;
  /** Of which pneumothorax. */
  positives: number;
  /** Distinct patients. */
  patients: number;
}

/** The outcome of an import. */
export interface ImportReport {
  /** The training file. */
  train: SplitReport;
  /** The test file. */
  test: SplitReport;
  /** Data rows in the CSV (not counting the header). */
  rows: number;
  /** Usable images found in the folder: positives and negatives to choose from. */
  available: { positives: number; negatives: number };
  /** The images folder searched. */
  imagesDir: string;
  /** Images the CSV names that are not in the folder, in CSV order (summarized, not listed). */
  missing: string[];
  /** Rows and images left out for any other reason, in CSV order. */
  skipped: SkippedRow[];
  /** Wall-clock seconds of the whole import. */
  seconds: number;
  /** Images stored per second of wall-clock time. */
  imagesPerSecond: number;
  /** Decoding worker threads used (0: the calling thread). */
  workers: number;
}

/** The rows whose image is in the folder, with its path, and what the others leave out. */
export interface LocatedRows<T> {
  /** Rows with their image's path, in CSV order. */
  present: (T & { path: string })[];
  /** Names of the images the CSV names that are not in the folder, in CSV order. */
  missing: string[];
  /** Positives and negatives among `present`. */
  available: { positives: number; negatives: number };
}

/**
 * Splits `rows` by whether their image is in the folder: `pathOf` gives a row's path in the
 * folder's index (undefined when absent), `nameOf` the name to report when it is absent.
 */
export function locateRows<T extends { positive: boolean }>(
  rows: T[],
  pathOf: (row: T) => string | undefined,
  nameOf: (row: T) => string,
): LocatedRows<T> {
  const present: (T & { path: string })[] = [];
  const missing: string[] = [];
  for (const row of rows) {
    const path = pathOf(row);
    if (path === undefined) missing.push(nameOf(row));
    else present.push({ ...row, path });
  }
  const positives = present.filter((row) => row.positive).length;
  return { present, missing, available: { positives, negatives: present.length - positives } };
}

/** What an importer knows at its end, besides the two files' reports. */
export interface ImportTally {
  /** Data rows in the CSV. */
  rows: number;
  /** The rows located in the folder (see {@link locateRows}). */
  located: LocatedRows<unknown & { positive: boolean }>;
  /** The images folder searched. */
  imagesDir: string;
  /** Rows and images left out, in any order. */
  skipped: SkippedRow[];
  /** `performance.now()` when the import started. */
  start: number;
  /** Decoding worker threads used. */
  workers: number;
}

/** The report of an import that wrote `files`: skipped rows in CSV order, the speed. */
export function importReport(
  files: { train: SplitReport; test: SplitReport },
  tally: ImportTally,
): ImportReport {
  const seconds = (performance.now() - tally.start) / 1000;
  return {
    ...files,
    rows: tally.rows,
    available: tally.located.available,
    imagesDir: tally.imagesDir,
    missing: tally.located.missing,
    skipped: sortSkipped(tally.skipped),
    seconds,
    imagesPerSecond: (files.train.images + files.test.images) / seconds,
    workers: tally.workers,
  };
}

/** A parsed CSV record, with csv-parse's `info` and `raw` (to find the line it starts on). */
export interface CsvRecord {
  /** The fields. */
  record: string[];
  /** The record's text as written. */
  raw: string;
  /** Where csv-parse stopped: `lines` is the line the record ends on. */
  info: { lines: number };
}

/** The line a record starts on: csv-parse reports where it ends, and its raw text. */
export function startLine(record: CsvRecord): number {
  const body = record.raw.replace(/^[\r\n]+/, "").replace(/\r?\n$|\r$/, "");
  const innerBreaks = body.match(/\r\n|\r|\n/g)?.length ?? 0;
  return record.info.lines - innerBreaks;
}

/** The text of `path`, gunzipped when its name ends in `.gz` (as SIIM's masks are passed on). */
async function readText(path: string): Promise<string> {
  if (!path.endsWith(".gz")) return await Deno.readTextFile(path);
  const file = await Deno.open(path);
  const stream = file.readable.pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

/**
 * Reads the CSV at `path` (`what` names it in errors: "label CSV"; gzipped when it ends in
 * `.gz`) as records with their lines;
 * quoting is relaxed and rows may have any number of fields, so a malformed row is the caller's
 * to report, not a failure of the whole file.
 */
export async function readCsvRecords(path: string, what: string): Promise<CsvRecord[]> {
  let text: string;
  try {
    text = await readText(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new DataFileError({ file: path }, `${what} not found`);
    }
    throw new DataFileError({ file: path }, `cannot read: ${(error as Error).message}`);
  }
  let records: CsvRecord[];
  try {
    // csv-parse's types do not model `info`/`raw`, which wrap each record as CsvRecord.
    records = parse(text, {
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
  if (records.length === 0) throw new DataFileError({ file: path }, `${what} is empty`);
  return records;
}

/**
 * The index of column `name` in `header` (names trimmed), or a {@link DataFileError} naming the
 * CSV, the column, `expected` (what file has it) and the columns found.
 */
export function columnIndex(header: string[], name: string, path: string, expected: string) {
  const index = header.indexOf(name);
  if (index < 0) {
    throw new DataFileError(
      { file: path },
      `missing column '${name}' (${expected} has it; columns found: ` +
        `${header.map((h) => `'${h}'`).join(", ")})`,
    );
  }
  return index;
}

/**
 * Maps each file name under `dir` that matches `pattern` (recursively, in sorted order; the first
 * one found wins) to its path. A missing folder is a {@link LabError} naming it.
 */
export async function indexFiles(dir: string, pattern: RegExp): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  async function visit(folder: string): Promise<void> {
    const entries: Deno.DirEntry[] = [];
    for await (const entry of Deno.readDir(folder)) entries.push(entry);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = join(folder, entry.name);
      if (entry.isDirectory) await visit(path);
      else if (!index.has(entry.name) && pattern.test(entry.name)) index.set(entry.name, path);
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
export function selectRows<T extends { positive: boolean }>(
  rows: T[],
  ratio: number,
  random: Random,
): T[] {
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

/** One decoded image: its pixels and, for sources with masks, its lesion mask (0/1). */
export interface DecodedImage {
  /** `size * size` gray pixels. */
  image: Uint8Array;
  /** `size * size` mask values, 1 inside the lesion. */
  mask?: Uint8Array;
}

/** Options of {@link decodeSplit}. */
export interface DecodeSplitOptions<T> {
  /** Side of the decoded images. */
  imageSize: number;
  /** Whether each image comes with a mask. */
  masks: boolean;
  /** Images decoded at once (twice the workers keeps them busy). */
  concurrency: number;
  /** Called after each image, read or not. */
  onImage: () => void;
  /** Called with each row that could not be read, and the error's message. */
  onFailure: (row: T, reason: string) => void;
}

/**
 * Decodes `rows` with `read`, at most `concurrency` at a time, into one stack of images (and
 * masks), in the rows' order; rows that fail are reported through `onFailure` and left out.
 */
export async function decodeSplit<T>(
  rows: T[],
  read: (row: T) => Promise<DecodedImage>,
  options: DecodeSplitOptions<T>,
): Promise<{ images: Uint8Array; masks?: Uint8Array; rows: T[] }> {
  const pixels = options.imageSize * options.imageSize;
  const images = new Uint8Array(rows.length * pixels);
  const masks = options.masks ? new Uint8Array(rows.length * pixels) : undefined;
  const ok = new Array<boolean>(rows.length).fill(false);
  let next = 0;
  async function runner(): Promise<void> {
    while (next < rows.length) {
      const i = next++;
      try {
        const decoded = await read(rows[i]);
        images.set(decoded.image, i * pixels);
        if (masks) {
          if (decoded.mask === undefined) throw new Error("no mask came back");
          masks.set(decoded.mask, i * pixels);
        }
        ok[i] = true;
      } catch (error) {
        options.onFailure(rows[i], (error as Error).message);
      }
      options.onImage();
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, runner));
  const kept: T[] = [];
  rows.forEach((row, i) => {
    if (!ok[i]) return;
    images.copyWithin(kept.length * pixels, i * pixels, (i + 1) * pixels);
    masks?.copyWithin(kept.length * pixels, i * pixels, (i + 1) * pixels);
    kept.push(row);
  });
  return {
    images: images.subarray(0, kept.length * pixels),
    masks: masks?.subarray(0, kept.length * pixels),
    rows: kept,
  };
}

/** Options of {@link writeSplit}. */
export interface WriteSplitOptions {
  /** Lesion masks of the images, same layout; written as `mask`. */
  masks?: Uint8Array;
  /** Near-duplicate group per image (films without patient ids); written as `near_duplicate_group`. */
  groups?: string[];
}

/**
 * Writes one file of the lab's schema for `rows` and their `images` (in the same order), with
 * `patient_id` and `file` beside `image` and `label` (and `mask` when given), and says what went
 * in.
 */
export async function writeSplit(
  path: string,
  rows: PatientImage[],
  images: Uint8Array,
  imageSize: number,
  options: WriteSplitOptions = {},
): Promise<SplitReport> {
  const labels = Uint8Array.from(rows, (row) => (row.positive ? 1 : 0));
  await writeLabFile(path, {
    images,
    labels,
    masks: options.masks,
    groups: options.groups,
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

/** What {@link importSplits} needs to know of a source. */
export interface ImportSplitsOptions<T> {
  /** The checked settings. */
  settings: ImportSettings;
  /** Reads one image (and its mask). */
  read: (row: T) => Promise<DecodedImage>;
  /** Whether the source has masks. */
  masks: boolean;
  /** Decoding workers in use (sets how many images are in flight). */
  workers: number;
  /** Receives each row that could not be read. */
  onFailure: (row: T, reason: string) => void;
}

/**
 * Splits `selected` by patient (seeded by `random`), decodes each split with a progress bar over
 * all of them, and writes the lab's two files into the settings' `outDir`; returns what went into
 * each. Throws a {@link LabError} when too few patients remain to fill both files, or when no
 * image of a file could be read.
 */
export async function importSplits<T extends PatientImage>(
  selected: T[],
  random: Random,
  options: ImportSplitsOptions<T>,
): Promise<{ train: SplitReport; test: SplitReport }> {
  const { settings } = options;
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
  const reports: SplitReport[] = [];
  try {
    for (const [name, rows] of [[TRAIN_FILE, split.train], [TEST_FILE, split.test]] as const) {
      const decoded = await decodeSplit(rows, options.read, {
        imageSize: settings.imageSize,
        masks: options.masks,
        concurrency: 2 * options.workers,
        onImage: () => bar?.update(++done),
        onFailure: options.onFailure,
      });
      if (decoded.rows.length === 0) throw new LabError(`no readable image left for ${name}`);
      reports.push(
        await writeSplit(
          join(settings.outDir, name),
          decoded.rows,
          decoded.images,
          settings
            .imageSize,
          { masks: decoded.masks },
        ),
      );
    }
  } finally {
    bar?.done();
  }
  return { train: reports[0], test: reports[1] };
}

/**
 * The reason to report for a failure of `file`: the error's message without the leading
 * `file: ` a {@link DataFileError} starts with, since the report names the file already.
 */
export function failureReason(message: string, file: string): string {
  return message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

/** Sorts skipped rows by CSV line; those without a line (files alone) come last, by name. */
export function sortSkipped(skipped: SkippedRow[]): SkippedRow[] {
  return skipped.sort((a, b) =>
    (a.line ?? Infinity) - (b.line ?? Infinity) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0)
  );
}

/** One line for many names: the count and the first few (`5 images ...: a, b, c, d, e, ...`). */
export function summarizeNames(names: string[], shown = MISSING_SHOWN): string {
  const first = names.slice(0, shown).join(", ");
  return names.length > shown ? `${first}, ... (${names.length - shown} more)` : first;
}

/**
 * Describes an import in a few lines for a terminal: what each file holds, the speed, the images
 * missing from the folder as one line (count and first names), and the first `maxSkipped` other
 * skipped rows (default 10) with their CSV lines. `label` names the source ("NIH import").
 */
export function describeImport(label: string, report: ImportReport, maxSkipped = 10): string {
  const split = (name: string, s: SplitReport) =>
    `  ${name}: ${s.path}: ${s.images} images, ${s.positives} pneumothorax, ${s.patients} patients`;
  const lines = [
    `${label}: ${report.train.images + report.test.images} images from ${report.rows} CSV rows ` +
    `in ${formatDuration(report.seconds)} (${report.imagesPerSecond.toFixed(1)} images/s, ` +
    `${report.workers} workers)`,
    split("train", report.train),
    split("test", report.test),
  ];
  if (report.missing.length > 0) {
    lines.push(
      `  ${report.missing.length} images named in the CSV are not under ${report.imagesDir}: ` +
        summarizeNames(report.missing),
    );
  }
  if (report.skipped.length > 0) {
    lines.push(`  skipped ${report.skipped.length}:`);
    for (const row of report.skipped.slice(0, maxSkipped)) {
      const where = row.line === undefined ? row.file : `line ${row.line}` +
        (row.file ? ` (${row.file})` : "");
      lines.push(`    ${where}: ${row.reason}`);
    }
    if (report.skipped.length > maxSkipped) {
      lines.push(`    ... and ${report.skipped.length - maxSkipped} more`);
    }
  }
  return lines.join("\n");
}
