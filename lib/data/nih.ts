/**
 * Importer for the full NIH ChestX-ray14 release: builds the lab's `pneumothorax_train.h5` and
 * `pneumothorax_test.h5` from NIH's PNGs and its label CSV (`Data_Entry_2017.csv` layout).
 *
 * Every row whose `Finding Labels` include `Pneumothorax` is a positive; negatives (all other
 * rows, "No Finding" and other findings alike) are sampled, `negativesPerPositive` of them per
 * positive. Images are read as gray (see `xray_png.ts`) and area-downscaled to 256x256. The split
 * is by patient: each patient's images all go to one file, drawn with a seed, and patients with a
 * positive image are split apart from the others so both files get their share of positives.
 * Rows that cannot be used (malformed, duplicate, image unreadable) are skipped and reported with
 * their CSV line; rows whose image is not in the folder are counted, and named in one summary
 * line, since the full 112,120-row CSV with part of the images would otherwise print thousands.
 * The shared steps live in `import_common.ts`, used by the SIIM-ACR importer too.
 *
 * Data: https://nihcc.app.box.com/v/ChestXray-NIHCC, courtesy of the NIH Clinical Center; cite
 * Wang et al., "ChestX-ray8: Hospital-scale Chest X-ray Database and Benchmarks on
 * Weakly-Supervised Classification and Localization of Common Thorax Diseases", CVPR 2017.
 *
 * @module
 */
import { LabError } from "../core/errors.ts";
import { createRandom } from "../core/random.ts";
import {
  columnIndex,
  describeImport,
  failureReason,
  type ImportOptions,
  type ImportReport,
  importReport,
  importSettings,
  importSplits,
  indexFiles,
  locateRows,
  type PatientImage,
  readCsvRecords,
  selectRows,
  type SkippedRow,
  startLine,
} from "./import_common.ts";
import { createXrayPngPool } from "./xray_png.ts";

/** The NIH CSV columns the importer reads. */
export const NIH_COLUMNS = {
  image: "Image Index",
  findings: "Finding Labels",
  patient: "Patient ID",
} as const;
/** The finding, in NIH's spelling, that makes an image a positive. */
export const PNEUMOTHORAX_FINDING = "Pneumothorax";

const FINDING_SEPARATOR = "|";
const EXPECTED = "an NIH Data_Entry_2017.csv";

/**
 * Options of {@link importNih}. `negativesPerPositive` defaults to 1 (balanced classes; from the
 * full release's 5,302 pneumothorax images that makes about 10,600, close to the lab's 9,964).
 */
export interface NihImportOptions extends ImportOptions {
  /** Folder holding NIH's PNGs, searched recursively (NIH's archives unpack to `images/`). */
  imagesDir: string;
  /** NIH's label CSV (`Data_Entry_2017.csv` or its v2020 version, or a file in that layout). */
  labelsCsv: string;
}

/** One usable row of the NIH CSV. */
export interface NihRow extends PatientImage {
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
  skipped: SkippedRow[];
  count: number;
}> {
  const records = await readCsvRecords(path, "label CSV");
  const header = records[0].record.map((name) => name.trim());
  const imageColumn = columnIndex(header, NIH_COLUMNS.image, path, EXPECTED);
  const findingsColumn = columnIndex(header, NIH_COLUMNS.findings, path, EXPECTED);
  const patientColumn = columnIndex(header, NIH_COLUMNS.patient, path, EXPECTED);
  let named = header.length;
  while (named > 0 && header[named - 1] === "") named--;
  const width = { min: named, max: header.length };
  const rows: NihRow[] = [];
  const skipped: SkippedRow[] = [];
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
export function indexImages(dir: string): Promise<Map<string, string>> {
  return indexFiles(dir, /\.png$/i);
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
export async function importNih(options: NihImportOptions): Promise<ImportReport> {
  const start = performance.now();
  const settings = importSettings(options, "NIH import");
  const { rows, skipped, count } = await readNihRows(settings.labelsCsv);
  const index = await indexImages(settings.imagesDir);
  const located = locateRows(rows, (row) => index.get(row.file), (row) => row.file);
  const { present } = located;
  if (located.available.positives === 0) {
    throw new LabError(
      `${settings.labelsCsv}: no '${PNEUMOTHORAX_FINDING}' row with its image under ` +
        `${settings.imagesDir} (${count} rows, ${present.length} with images)`,
    );
  }
  const random = createRandom(settings.seed);
  const selected = selectRows(present, settings.negativesPerPositive, random);
  const pool = createXrayPngPool({ workers: options.workers, size: settings.imageSize });
  let files;
  try {
    files = await importSplits(selected, random, {
      settings,
      masks: false,
      workers: pool.workers,
      read: async (row) => ({ image: await pool.read(row.path) }),
      onFailure: (row, reason) =>
        skipped.push({ line: row.line, file: row.file, reason: failureReason(reason, row.path) }),
    });
  } finally {
    pool.close();
  }
  return importReport(files, {
    rows: count,
    located,
    imagesDir: settings.imagesDir,
    skipped,
    start,
    workers: pool.workers,
  });
}

/**
 * Describes an import in a few lines for a terminal: what each file holds, the speed, the rows
 * whose image is not in the folder as one line (a count and the first few names), and the first
 * `maxSkipped` other skipped rows (default 10) with their CSV lines.
 */
export function describeNihImport(report: ImportReport, maxSkipped = 10): string {
  return describeImport("NIH import", report, maxSkipped);
}
