/**
 * The first cell of every notebook: check the preconditions (the Deno kernel, a dataset, a
 * checkpoint where one is needed), say how to fix any that fail, pick the backend, and say
 * loudly which data and backend the notebook uses.
 *
 * The notebooks work on real films: the SIIM-ACR films shipped with the lab (`samples/siim`),
 * written once as the lab's two files in `data/siim` in the design the shipped model learned
 * ({@link RECIPE_DESIGN}), split by near-duplicate group. `LAB_DATA_DIR` points them at any other
 * data folder instead (the lab's original NIH files, an import, phantoms). With `LAB_FAST=1`
 * they run on a small subset of the same films (`data/fast`) with few steps, so all six run in
 * minutes.
 *
 * @module
 */
import { join } from "node:path";
import {
  type DataFolder,
  describeDataFolder,
  ensureDataset,
  hasLabFiles,
  inspectDataFolder,
} from "../data/source.ts";
import { LabError } from "../core/errors.ts";
import { findCheckpoint } from "../model/checkpoint/mod.ts";
import { selectBackend } from "../backends/backend.ts";
import { pointErrorsAtTodos } from "./unanswered.ts";
import { LAB_ROOT } from "../core/paths.ts";
import { RECIPE_DESIGN } from "../data/siim_sample.ts";

/** The provided trained model: the lab's CNN trained on real films (see its model card). */
export const PRETRAINED_CHECKPOINT: string = join(LAB_ROOT, "checkpoints", "pretrained");
/** The model trained on phantoms, kept for notebook 06's domain shift and phantom runs. */
export const PHANTOM_CHECKPOINT: string = join(LAB_ROOT, "checkpoints", "phantom");
/** Where notebook 02 saves its checkpoints. */
export const NOTEBOOK_CHECKPOINT: string = join(LAB_ROOT, "checkpoints", "notebook");
/** Environment variable naming the notebooks' data folder, when it is not {@link REAL_DATA_DIR}. */
export const DATA_DIR_ENV = "LAB_DATA_DIR";

/** Where the notebooks keep the shipped SIIM films as the lab's files. */
export const REAL_DATA_DIR: string = join(LAB_ROOT, "data", "siim");

/** The notebooks' data folder: `$LAB_DATA_DIR` if set, else {@link REAL_DATA_DIR}. */
export function labDataDir(): string {
  return Deno.env.get(DATA_DIR_ENV) || REAL_DATA_DIR;
}

/** Films of each split in fast mode: a small subset of the shipped SIIM films. */
const FAST_FILMS = { train: 40, test: 16 };
/** Where fast mode keeps its small set of real films, apart from the lab's data. */
export const FAST_DATA_DIR: string = join(LAB_ROOT, "data", "fast");
/** The line that says fast mode is on, in the notebooks and in `deno task lab`. */
export const FAST_MODE_LINE = "FAST MODE (LAB_FAST=1): a small subset of the real films, few steps";

/** Options of {@link setupNotebook}. */
export interface SetupOptions {
  /** Whether the notebook restores a trained model (03, 04, 05). Default false. */
  needsCheckpoint?: boolean;
}

/** What a notebook works with. */
export interface LabSetup {
  /** Whether `LAB_FAST=1` is set: small data, few steps. */
  fast: boolean;
  /** The data folder. */
  dataDir: string;
  /** The checkpoint to restore, when asked for. */
  checkpointDir?: string;
  /** The TensorFlow.js backend in use. */
  backend: string;
  /** One line: which data. */
  data: string;
}

/** Whether `LAB_FAST=1` is set. */
export function isFastMode(): boolean {
  return Deno.env.get("LAB_FAST") === "1";
}

/**
 * Makes sure the notebooks' dataset exists and returns it: `$LAB_DATA_DIR` as `deno task data`
 * would fill it, when set; else the shipped SIIM films, written once into {@link REAL_DATA_DIR}
 * (or, in fast mode, a few of them into {@link FAST_DATA_DIR}), offline. `deno task lab` prepares
 * it before Jupyter starts so the first notebook cell does not wait for it.
 */
export async function ensureNotebookData(fast: boolean = isFastMode()): Promise<DataFolder> {
  const chosen = Deno.env.get(DATA_DIR_ENV);
  if (chosen) return await ensureDataset(chosen);
  const dir = fast ? FAST_DATA_DIR : REAL_DATA_DIR;
  if (await hasLabFiles(dir)) return await inspectDataFolder(dir);
  return await ensureDataset(dir, {
    source: "siim-sample",
    siimSample: { design: RECIPE_DESIGN, maxFilms: fast ? FAST_FILMS : undefined },
    log: () => {},
  });
}

async function chooseCheckpoint(fast: boolean): Promise<string> {
  if (await findCheckpoint(PRETRAINED_CHECKPOINT)) return PRETRAINED_CHECKPOINT;
  if (await findCheckpoint(NOTEBOOK_CHECKPOINT)) return NOTEBOOK_CHECKPOINT;
  throw new LabError(
    `no trained model: neither ${PRETRAINED_CHECKPOINT} nor ${NOTEBOOK_CHECKPOINT} holds a ` +
      "checkpoint. Fix: run notebook 02_training to the end, or train one with " +
      `'deno task train --data data --out checkpoints/pretrained'${fast ? "" : " (see README)"}`,
  );
}

/**
 * Checks the notebook's preconditions and prepares what it needs; throws a {@link LabError}
 * that says how to fix what is missing.
 */
export async function setupNotebook(options: SetupOptions = {}): Promise<LabSetup> {
  const fast = isFastMode();
  if ("jupyter" in Deno) pointErrorsAtTodos();
  else {
    console.warn("Not running in the Deno Jupyter kernel: plots will not show inline.");
  }
  const backend = await selectBackend();
  const folder = await ensureNotebookData(fast);
  const setup: LabSetup = {
    fast,
    dataDir: folder.dir,
    backend: backend.description,
    data: describeDataFolder(folder),
  };
  if (options.needsCheckpoint) setup.checkpointDir = await chooseCheckpoint(fast);
  console.log(
    [
      fast ? FAST_MODE_LINE : undefined,
      setup.data,
      `backend: ${setup.backend}`,
      backend.hint,
      setup.checkpointDir ? `model: ${setup.checkpointDir}` : undefined,
    ].filter(Boolean).join("\n"),
  );
  return setup;
}
