/**
 * Importer for SIIM-ACR Pneumothorax Segmentation (2019): builds the lab's
 * `pneumothorax_train.h5` and `pneumothorax_test.h5`, with the lesion `mask` beside each image,
 * from SIIM's DICOM files and its run-length mask file `train-rle.csv` (`ImageId, EncodedPixels`).
 *
 * SIIM is the public pneumothorax dataset with masks (12,047 frontal chest X-rays derived from NIH
 * ChestX-ray14, 2,669 with a pneumothorax), so on it the lab measures where its class activation
 * maps point on real lesions, not only on phantoms.
 *
 * An image is a positive when any of its CSV rows has runs (`-1` is no pneumothorax); its rows'
 * masks are united (`rle.ts`). Films are found recursively under the images folder (SIIM's
 * archive nests them by study and series) by their name: `<ImageId>.dcm`, as SIIM published
 * them, which must carry that SOP Instance UID, or `<ImageId>.png`, `.jpg` or `.jpeg`, as most
 * copies of the challenge keep them (`siim_image.ts`); where a film has several, the DICOM wins.
 * Every positive is kept, negatives are sampled (`negativesPerPositive`), and the split is by
 * patient, seeded, as the NIH importer does (`import_common.ts`): the DICOM's Patient ID, or, for
 * a PNG or JPEG (which carries no header), the ImageId itself, so that each such film counts as
 * its own patient. Images are read as gray, area-downscaled to
 * 256x256; masks are downscaled so that any covered area survives. The files store `file` (the
 * ImageId) and `patient_id`. The CSV may be gzipped (`train-rle.csv.gz`).
 *
 * Nothing stops the import but a missing CSV, column or folder: a film that cannot be read (a
 * truncated JPEG, say), a film with no row in the CSV and a malformed CSV row (with the image it
 * belongs to) are skipped and reported with their name or line; images named in the CSV but
 * absent from the folder come as one summary line.
 *
 * Data: SIIM-ACR Pneumothorax Segmentation (Society for Imaging Informatics in Medicine, American
 * College of Radiology, 2019); images from NIH ChestX-ray14, courtesy of the NIH Clinical Center.
 *
 * @module
 */
import { DataFileError, LabError } from "../core/errors.ts";
import { createRandom } from "../core/random.ts";
import { readDicomHeader } from "./dicom.ts";
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
import { parseRle } from "./rle.ts";
import {
  imageIdOfFilm,
  isDicomFilm,
  readSiimImage,
  SIIM_FILM_PATTERN,
  type SiimImageRequest,
} from "./siim_image.ts";
import { createWorkerPool, defaultWorkerCount } from "../core/worker_pool.ts";

/** The columns of SIIM's `train-rle.csv` (its header writes the second with a leading space). */
export const SIIM_COLUMNS = { image: "ImageId", rle: "EncodedPixels" } as const;

/** Options of {@link importSiim}. */
export interface SiimImportOptions extends ImportOptions {
  /** Folder holding SIIM's films (DICOM, PNG or JPEG named by ImageId), searched recursively. */
  imagesDir: string;
  /** SIIM's `train-rle.csv`. */
  rleCsv: string;
}

/** One image of SIIM's CSV: its rows united. */
export interface SiimEntry {
  /** The `ImageId` (a SOP Instance UID). */
  imageId: string;
  /** Line of its first row (the header is line 1). */
  line: number;
  /** The runs of each of its rows that has some. */
  runs: Uint32Array[];
  /** Whether any row has runs. */
  positive: boolean;
}

/** What {@link readSiimRows} found in the CSV. */
export interface SiimRows {
  /** The images with only well-formed rows, in CSV order. */
  entries: SiimEntry[];
  /** Malformed rows, each also leaving its image out. */
  skipped: SkippedRow[];
  /** Data rows (not counting the header). */
  count: number;
}

/**
 * Reads SIIM's `train-rle.csv`: its images with their rows' runs united, and the malformed rows
 * (wrong number of fields, empty or path-like ImageId, EncodedPixels neither `-1` nor pairs of
 * integers) with their line and reason. An image with a malformed row is left out, since its
 * mask would be incomplete. A missing file or column is a {@link DataFileError} naming it.
 */
export async function readSiimRows(path: string): Promise<SiimRows> {
  const records = await readCsvRecords(path, "RLE CSV");
  const header = records[0].record.map((name) => name.trim());
  const expected = "SIIM's train-rle.csv";
  const imageColumn = columnIndex(header, SIIM_COLUMNS.image, path, expected);
  const rleColumn = columnIndex(header, SIIM_COLUMNS.rle, path, expected);
  const byImage = new Map<string, SiimEntry>();
  const broken = new Set<string>();
  const skipped: SkippedRow[] = [];
  for (const record of records.slice(1)) {
    const line = startLine(record);
    const fields = record.record.map((field) => field.trim());
    const imageId = fields[imageColumn] ?? "";
    let runs: Uint32Array | undefined;
    let problem: string | undefined;
    if (fields.length !== header.length) {
      problem = `has ${fields.length} fields, the header has ${header.length}`;
    } else if (imageId === "") {
      problem = `empty '${SIIM_COLUMNS.image}'`;
    } else if (/[\\/\s]/.test(imageId)) {
      problem = `'${SIIM_COLUMNS.image}' is not a SOP Instance UID: '${imageId}'`;
    } else {
      try {
        runs = parseRle(fields[rleColumn]);
      } catch (error) {
        problem = (error as Error).message;
      }
    }
    if (problem !== undefined || runs === undefined) {
      skipped.push({
        line,
        file: imageId,
        reason: `${problem}${imageId ? "; its image is left out" : ""}`,
      });
      if (imageId) broken.add(imageId);
      continue;
    }
    const entry = byImage.get(imageId) ??
      { imageId, line, runs: [], positive: false };
    byImage.set(imageId, entry);
    if (runs.length > 0) {
      entry.runs.push(runs);
      entry.positive = true;
    }
  }
  const entries = [...byImage.values()].filter((entry) => !broken.has(entry.imageId));
  return { entries, skipped, count: records.length - 1 };
}

/** An image chosen for import, with what its header says. */
interface SiimCandidate extends SiimEntry, PatientImage {
  path: string;
}

/**
 * The film of each ImageId under `dir`, by file name (see the module notes): a DICOM before a PNG
 * or JPEG of the same ImageId; the other copies are reported as left out.
 */
async function indexFilms(dir: string, skipped: SkippedRow[]): Promise<Map<string, string>> {
  const films = new Map<string, string>();
  const files = [...(await indexFiles(dir, SIIM_FILM_PATTERN)).entries()]
    .sort(([a], [b]) => Number(isDicomFilm(b)) - Number(isDicomFilm(a)));
  for (const [name, path] of files) {
    const imageId = imageIdOfFilm(name);
    const kept = films.get(imageId);
    if (kept === undefined) films.set(imageId, path);
    else skipped.push({ file: path, reason: `another copy of ${kept}; left out` });
  }
  return films;
}

/**
 * Builds the lab's two files with masks from SIIM-ACR's films and `train-rle.csv` (see the
 * module notes). Throws a {@link LabError} when the CSV lacks a column, the images folder is
 * missing, no positive image is found, or too few patients remain to fill both files.
 */
export async function importSiim(options: SiimImportOptions): Promise<ImportReport> {
  const start = performance.now();
  const settings = importSettings(options, "SIIM import");
  const { entries, skipped, count } = await readSiimRows(settings.rleCsv);
  const films = await indexFilms(settings.imagesDir, skipped);
  const listed = new Set(entries.map((entry) => entry.imageId));
  for (const line of skipped) if (line.file) listed.add(line.file);
  for (const [imageId, path] of films) {
    if (!listed.has(imageId)) {
      skipped.push({ file: path, reason: "no row in the CSV names it; left out" });
    }
  }
  const located = locateRows(
    entries,
    (entry) => films.get(entry.imageId),
    (entry) => entry.imageId,
  );
  const { present } = located;
  if (located.available.positives === 0) {
    throw new LabError(
      `${settings.rleCsv}: no image with a pneumothorax mask has its film under ` +
        `${settings.imagesDir} (${entries.length} images in the CSV, ${present.length} found)`,
    );
  }
  const random = createRandom(settings.seed);
  const selected: SiimCandidate[] = [];
  for (const entry of selectRows(present, settings.negativesPerPositive, random)) {
    if (!isDicomFilm(entry.path)) {
      selected.push({ ...entry, file: entry.imageId, patientId: entry.imageId });
      continue;
    }
    try {
      const header = readDicomHeader(await Deno.readFile(entry.path), entry.path);
      if (header.patientId === "") {
        throw new DataFileError(
          { file: entry.path },
          "has no Patient ID (0010,0020), which the split by patient needs",
        );
      }
      selected.push({ ...entry, file: header.sopInstanceUid, patientId: header.patientId });
    } catch (error) {
      skipped.push({
        line: entry.line,
        file: entry.path,
        reason: failureReason((error as Error).message, entry.path),
      });
    }
  }
  const pool = createWorkerPool<SiimImageRequest, Awaited<ReturnType<typeof readSiimImage>>>(
    new URL("./siim_worker.ts", import.meta.url),
    { workers: options.workers ?? defaultWorkerCount(), handle: readSiimImage, name: "film" },
  );
  let files;
  try {
    files = await importSplits(selected, random, {
      settings,
      masks: true,
      workers: pool.workers,
      read: (row) =>
        pool.run({
          path: row.path,
          imageId: row.imageId,
          runs: row.runs,
          size: settings.imageSize,
        }),
      onFailure: (row, reason) =>
        skipped.push({ line: row.line, file: row.path, reason: failureReason(reason, row.path) }),
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

/** Describes a SIIM import in a few lines for a terminal (see `describeImport`). */
export function describeSiimImport(report: ImportReport, maxSkipped = 10): string {
  return describeImport("SIIM import", report, maxSkipped);
}
