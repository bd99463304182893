/**
 * Where the lab's data come from, and making sure a dataset is there: the lab's real files
 * (already present, or downloaded), the phantom dataset generated offline, files built from
 * the full NIH release, files with lesion masks built from SIIM-ACR's films, or the real films
 * shipped with the lab (`samples/nih`, `samples/siim`). Each data folder records its provenance in `SOURCE.json`,
 * so the notebooks and the CLI can say loudly which data the lab is using.
 *
 * @module
 */
import { join } from "node:path";
import { type LabFileSummary, TEST_FILE, TRAIN_FILE, validateLabFile } from "./dataset.ts";
import { downloadLabFiles, type DownloadLabFilesOptions } from "./download.ts";
import { LabError, UsageError } from "../core/errors.ts";
import { describeNihImport, importNih, type NihImportOptions } from "./nih.ts";
import type { ImportReport } from "./import_common.ts";
import { describeSiimImport, importSiim, type SiimImportOptions } from "./siim.ts";
import { type PhantomDatasetOptions, writePhantomDataset } from "../phantom/generator.ts";
import {
  SIIM_SAMPLE_DIR,
  type SiimSampleFilesOptions,
  writeSiimSampleFiles,
} from "./siim_sample.ts";
import {
  REAL_SAMPLE_DIR,
  type RealSampleFilesOptions,
  writeRealSampleFiles,
} from "./real_sample.ts";

/** The kinds of data the lab can use. */
export type DataSourceKind = "real" | "phantom" | "nih" | "siim" | "sample" | "siim-sample";

/** Provenance of a data folder, stored as `SOURCE.json` beside the two files. */
export interface DataSourceRecord {
  /** Which kind of data the folder holds. */
  source: DataSourceKind;
  /** One line for people: what these images are. */
  description: string;
  /** When the files were made or fetched (ISO 8601). */
  created: string;
  /** How they were made (flags, seed, URLs). */
  details: Record<string, unknown>;
}

/** A validated data folder. */
export interface DataFolder {
  /** The folder. */
  dir: string;
  /** Summary of `pneumothorax_train.h5`. */
  train: LabFileSummary;
  /** Summary of `pneumothorax_test.h5`. */
  test: LabFileSummary;
  /** Provenance, when the folder has a `SOURCE.json`. */
  record?: DataSourceRecord;
}

/** Name of the provenance file in a data folder. */
export const SOURCE_FILE = "SOURCE.json";

/** What to say about each kind, loudly, wherever the lab shows which data it uses. */
export const SOURCE_BANNERS: Record<DataSourceKind, string> = {
  real: "REAL DATA: the lab's NIH ChestX-ray14 files",
  phantom: "PHANTOM DATA: generated chest X-rays, not real patients",
  nih: "REAL DATA: built from the NIH ChestX-ray14 release",
  siim: "REAL DATA: built from SIIM-ACR Pneumothorax Segmentation, with lesion masks",
  sample: "REAL DATA: the NIH ChestX-ray14 sample shipped with the lab (samples/nih)",
  "siim-sample":
    "REAL DATA: the SIIM-ACR films shipped with the lab (samples/siim), with radiologists' masks",
};

/** Writes `SOURCE.json` into `dir`. */
export async function writeSourceRecord(dir: string, record: DataSourceRecord): Promise<void> {
  await Deno.writeTextFile(join(dir, SOURCE_FILE), JSON.stringify(record, null, 2) + "\n");
}

/** Reads `SOURCE.json` from `dir`, or undefined when there is none. */
export async function readSourceRecord(dir: string): Promise<DataSourceRecord | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(join(dir, SOURCE_FILE)));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new LabError(`${join(dir, SOURCE_FILE)}: unreadable (${(error as Error).message})`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Whether `dir` has both of the lab's files (not checking their contents). */
export async function hasLabFiles(dir: string): Promise<boolean> {
  return (await exists(join(dir, TRAIN_FILE))) && (await exists(join(dir, TEST_FILE)));
}

/** Validates both files of `dir` and reads its provenance; throws naming the bad file. */
export async function inspectDataFolder(dir: string): Promise<DataFolder> {
  return {
    dir,
    train: await validateLabFile(join(dir, TRAIN_FILE)),
    test: await validateLabFile(join(dir, TEST_FILE)),
    record: await readSourceRecord(dir),
  };
}

/** One line saying which data a folder holds, for the CLI and the notebooks. */
export function describeDataFolder(folder: DataFolder): string {
  const banner = folder.record
    ? SOURCE_BANNERS[folder.record.source]
    : "UNKNOWN SOURCE: no SOURCE.json beside the files";
  const count = (s: LabFileSummary) => `${s.count} images (${s.positives} pneumothorax)`;
  return `${banner} | ${folder.dir}: train ${count(folder.train)}, test ${count(folder.test)}`;
}

/** Downloads the lab's real files into `dir`, validating each as the lab's schema. */
export async function fetchRealData(
  dir: string,
  options: DownloadLabFilesOptions = {},
): Promise<DataFolder> {
  const results = await downloadLabFiles(dir, {
    validate: (path) => validateLabFile(path),
    ...options,
  });
  await writeSourceRecord(dir, {
    source: "real",
    description: "The lab's pneumothorax_{train,test}.h5 from NIH ChestX-ray14",
    created: new Date().toISOString(),
    details: { urls: options.urls ?? "the lab's original addresses", bytes: results },
  });
  return inspectDataFolder(dir);
}

/** Options of {@link ensureDataset}. */
export interface EnsureDatasetOptions {
  /**
   * `auto` (the default): use the files already in the folder, else download the real ones,
   * else generate phantoms. `real`, `phantom`, `nih`, `siim`, `sample` and `siim-sample` force
   * one source.
   */
  source?: "auto" | DataSourceKind;
  /** Download settings for the real files. */
  download?: DownloadLabFilesOptions;
  /** Generation settings for `source: "phantom"` and the `auto` fallback (seed, sizes, ...). */
  phantom?: PhantomDatasetOptions;
  /** Where the NIH release is, for `source: "nih"` (images folder and label CSV). */
  nih?: Omit<NihImportOptions, "outDir">;
  /** Where SIIM-ACR is, for `source: "siim"` (DICOM folder and `train-rle.csv`). */
  siim?: Omit<SiimImportOptions, "outDir">;
  /** Split settings for `source: "sample"` (seed, test fraction). */
  sample?: RealSampleFilesOptions;
  /** Split settings for `source: "siim-sample"` (seed, test fraction). */
  siimSample?: SiimSampleFilesOptions;
  /** Receives progress notes, such as why a download failed (default: standard error). */
  log?: (message: string) => void;
}

/**
 * Makes sure `dir` holds a valid dataset and returns it; the caller shows
 * {@link describeDataFolder} so the user knows which data the lab is using.
 */
export async function ensureDataset(
  dir: string,
  options: EnsureDatasetOptions = {},
): Promise<DataFolder> {
  const source = options.source ?? "auto";
  const log = options.log ?? ((message: string) => console.error(message));
  if (source === "auto" && await hasLabFiles(dir)) return inspectDataFolder(dir);
  if (source === "nih") return await buildNihData(dir, options.nih, log);
  if (source === "siim") return await buildSiimData(dir, options.siim, log);
  if (source === "sample") return await buildSampleData(dir, options.sample ?? {}, log);
  if (source === "siim-sample") {
    return await buildSiimSampleData(dir, options.siimSample ?? {}, log);
  }
  if (source === "real" || source === "auto") {
    try {
      return await fetchRealData(dir, options.download);
    } catch (error) {
      if (source === "real") throw error;
      log(`could not get the real files: ${(error as Error).message}`);
    }
  }
  return await generatePhantomData(dir, options.phantom ?? {}, log);
}

/** Generates the phantom dataset in `dir` and records how. */
async function generatePhantomData(
  dir: string,
  phantom: PhantomDatasetOptions,
  log: (message: string) => void,
): Promise<DataFolder> {
  log(`generating the phantom dataset in ${dir} (${SOURCE_BANNERS.phantom})`);
  const summary = await writePhantomDataset(dir, phantom);
  await writeSourceRecord(dir, {
    source: "phantom",
    description: "Phantom chest X-rays generated by deno task data --source phantom",
    created: new Date().toISOString(),
    details: { ...phantom, files: summary.files, seconds: summary.seconds },
  });
  return inspectDataFolder(dir);
}

/** Builds the lab's files in `dir` from the NIH release and records where they came from. */
async function buildNihData(
  dir: string,
  nih: EnsureDatasetOptions["nih"],
  log: (message: string) => void,
): Promise<DataFolder> {
  if (!nih?.imagesDir || !nih.labelsCsv) {
    throw new UsageError("--source nih needs --images DIR and --labels Data_Entry_2017.csv");
  }
  const report = await importNih({ ...nih, outDir: dir });
  log(describeNihImport(report));
  return await recordImport(dir, "nih", nih, report);
}

/** Builds the lab's files with masks in `dir` from SIIM-ACR and records where they came from. */
async function buildSiimData(
  dir: string,
  siim: EnsureDatasetOptions["siim"],
  log: (message: string) => void,
): Promise<DataFolder> {
  if (!siim?.imagesDir || !siim.rleCsv) {
    throw new UsageError("--source siim needs --images DIR and --rle train-rle.csv");
  }
  const report = await importSiim({ ...siim, outDir: dir });
  log(describeSiimImport(report));
  return await recordImport(dir, "siim", siim, report);
}

const IMPORT_DESCRIPTIONS = {
  nih: "Built from the NIH ChestX-ray14 release by deno task data --source nih",
  siim: "Built from SIIM-ACR Pneumothorax Segmentation (DICOMs and train-rle.csv, masks " +
    "included) by deno task data --source siim",
};

/** Writes `SOURCE.json` for an import (its settings and outcome) and validates the folder. */
async function recordImport(
  dir: string,
  source: "nih" | "siim",
  settings: { negativesPerPositive?: number; progress?: unknown },
  report: ImportReport,
): Promise<DataFolder> {
  const { progress: _progress, ...recorded } = settings;
  await writeSourceRecord(dir, {
    source,
    description: IMPORT_DESCRIPTIONS[source],
    created: new Date().toISOString(),
    details: {
      ...recorded,
      negativesPerPositive: String(settings.negativesPerPositive ?? "default"),
      train: report.train,
      test: report.test,
      missing: report.missing.length,
      skipped: report.skipped.length,
      imagesPerSecond: Number(report.imagesPerSecond.toFixed(2)),
    },
  });
  return inspectDataFolder(dir);
}

/** Writes the shipped real sample as the lab's files in `dir`, split by patient, and records how. */
async function buildSampleData(
  dir: string,
  sample: RealSampleFilesOptions,
  log: (message: string) => void,
): Promise<DataFolder> {
  const report = await writeRealSampleFiles(dir, sample);
  for (const [name, split] of Object.entries(report)) {
    log(
      `  ${name}: ${split.path}: ${split.images} images, ${split.positives} pneumothorax, ` +
        `${split.patients} patients`,
    );
  }
  await writeSourceRecord(dir, {
    source: "sample",
    description: "The NIH ChestX-ray14 sample shipped with the lab, written by deno task data " +
      "--source sample (split by patient)",
    created: new Date().toISOString(),
    details: { ...sample, sampleDir: sample.dir ?? REAL_SAMPLE_DIR, ...report },
  });
  return inspectDataFolder(dir);
}

/** Writes the shipped SIIM films as the lab's files in `dir`, split by group, and records how. */
async function buildSiimSampleData(
  dir: string,
  options: SiimSampleFilesOptions,
  log: (message: string) => void,
): Promise<DataFolder> {
  const report = await writeSiimSampleFiles(dir, options);
  for (const name of ["train", "test"] as const) {
    const split = report[name];
    log(
      `  ${name}: ${split.path}: ${split.images} ${
        options.design === "halves" ? "half-films" : "films"
      }, ${split.positives} pneumothorax, ${split.patients} near-duplicate groups`,
    );
  }
  log(
    `  left out: ${report.leftOut.length} films that show a patient of the NIH sample ` +
      `(${report.leftOut.join(", ")})`,
  );
  await writeSourceRecord(dir, {
    source: "siim-sample",
    description: "The SIIM-ACR films shipped with the lab, with their masks, written by deno " +
      "task data --source siim-sample (split by near-duplicate group)",
    created: new Date().toISOString(),
    details: { ...options, sampleDir: options.dir ?? SIIM_SAMPLE_DIR, ...report },
  });
  return inspectDataFolder(dir);
}
