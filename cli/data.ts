/**
 * `deno task data`: make sure the lab has a dataset, and say loudly which one.
 *
 * @module
 */
import {
  choiceFlag,
  type CommandSpec,
  integerFlag,
  parseCommand,
  type ParsedArgs,
  runMain,
} from "./args.ts";
import { describeDataFolder, ensureDataset } from "../lib/data/source.ts";
import { LabError, UsageError } from "../lib/core/errors.ts";
import type { TubeConfounder } from "../lib/phantom/generator.ts";
import type { FilmDesign } from "../lib/data/siim_sample.ts";

const SPEC: CommandSpec = {
  name: "data",
  summary: "Put the lab's pneumothorax_{train,test}.h5 in a folder: the real files (found or " +
    "downloaded), generated phantoms, files built from the full NIH release, files with lesion " +
    "masks built from SIIM-ACR's films, or the real films shipped with the lab: 302 NIH " +
    "X-rays (samples/nih, split by patient) or 851 SIIM-ACR films with radiologists' masks " +
    "(samples/siim, split by near-duplicate group).",
  flags: {
    source: {
      type: "string",
      default: "auto",
      help: "auto (use the files in --out, else download the real ones, else generate " +
        "phantoms) | real | phantom | nih | siim | sample (the NIH films shipped in " +
        "samples/nih) | siim-sample (the SIIM films shipped in samples/siim, with masks)",
    },
    out: { type: "string", default: "data", help: "Folder for the two files." },
    "train-url": { type: "string", help: "Address of pneumothorax_train.h5 (real source)." },
    "test-url": { type: "string", help: "Address of pneumothorax_test.h5 (real source)." },
    train: { type: "string", help: "Phantom source: training images (default 9000)." },
    test: { type: "string", help: "Phantom source: test images (default 964)." },
    "positive-fraction": {
      type: "string",
      default: "0.5",
      help: "Phantom source: share of images with a pneumothorax.",
    },
    "train-tube": {
      type: "string",
      help: "Phantom source, shortcut demo: chest-tube probability for positives,negatives in " +
        "the training file, e.g. 0.9,0.1 (default: no tubes).",
    },
    "test-tube": {
      type: "string",
      help: "Phantom source, shortcut demo: the same for the test file (e.g. 0.5,0.5).",
    },
    images: {
      type: "string",
      help: "NIH and SIIM sources: folder of the release's PNGs (NIH), or of SIIM's films " +
        "named by ImageId (DICOM, PNG or JPEG), searched recursively.",
    },
    labels: { type: "string", help: "NIH source: Data_Entry_2017.csv." },
    rle: {
      type: "string",
      help: "SIIM source: train-rle.csv (or .csv.gz), the run-length masks.",
    },
    design: {
      type: "string",
      default: "whole",
      help: "siim-sample source: whole films, or halves (the lesion half of a film against its " +
        "other half, each beside its mirror image: lib/data/halves.ts).",
    },
    seed: { type: "string", default: "0", help: "Seed of every random choice (split, sampling)." },
    "negatives-per-positive": {
      type: "string",
      default: "1",
      help: "NIH and SIIM sources: negatives sampled per pneumothorax image, or 'all'.",
    },
    "test-fraction": {
      type: "string",
      default: "0.2",
      help: "NIH, SIIM and both sample sources: share of the images, taken by whole patients " +
        "(or near-duplicate groups), in the test file.",
    },
    timeout: {
      type: "string",
      default: "30",
      help: "Seconds without data before a download gives up.",
    },
  },
};

function ratioFlag(args: ParsedArgs): number {
  const raw = String(args.values["negatives-per-positive"]);
  if (raw === "all") return Infinity;
  const value = Number(raw);
  if (!(value > 0)) {
    throw new UsageError(
      `--negatives-per-positive must be a positive number or 'all', got '${raw}'`,
    );
  }
  return value;
}

function fractionFlag(args: ParsedArgs, name: string): number {
  const value = Number(args.values[name]);
  if (!(value > 0 && value < 1)) {
    throw new UsageError(`--${name} must be a number in (0, 1), got '${args.values[name]}'`);
  }
  return value;
}

function tubeFlag(args: ParsedArgs, name: string): TubeConfounder | undefined {
  const raw = args.values[name];
  if (raw === undefined) return undefined;
  const [positive, negative, ...rest] = String(raw).split(",").map(Number);
  const valid = (p: number) => p >= 0 && p <= 1;
  if (rest.length > 0 || !valid(positive) || !valid(negative)) {
    throw new UsageError(
      `--${name} must be two probabilities in [0, 1], for positives and negatives, like 0.9,0.1; got '${raw}'`,
    );
  }
  return { positive, negative };
}

/** Runs the task with the command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  const source = choiceFlag(args, "source", [
    "auto",
    "real",
    "phantom",
    "nih",
    "siim",
    "sample",
    "siim-sample",
  ]);
  const out = String(args.values.out);
  const timeoutSeconds = Number(args.values.timeout);
  if (!(timeoutSeconds > 0)) throw new LabError(`--timeout must be a positive number of seconds`);
  const download = {
    timeoutMs: timeoutSeconds * 1000,
    urls: {
      train: args.values["train-url"] as string | undefined,
      test: args.values["test-url"] as string | undefined,
    },
  };
  const seed = integerFlag(args, "seed", { min: 0 });
  const testFraction = fractionFlag(args, "test-fraction");
  const release = {
    imagesDir: String(args.values.images ?? ""),
    seed,
    negativesPerPositive: ratioFlag(args),
    testFraction,
  };
  const nih = { ...release, labelsCsv: String(args.values.labels ?? "") };
  const siim = { ...release, rleCsv: String(args.values.rle ?? "") };
  const phantom = {
    seed,
    train: args.values.train === undefined ? undefined : integerFlag(args, "train"),
    test: args.values.test === undefined ? undefined : integerFlag(args, "test"),
    positiveFraction: fractionFlag(args, "positive-fraction"),
    trainTube: tubeFlag(args, "train-tube"),
    testTube: tubeFlag(args, "test-tube"),
  };
  const sample = { seed, testFraction };
  const folder = await ensureDataset(out, {
    source,
    download,
    nih,
    siim,
    phantom,
    sample,
    siimSample: { ...sample, design: choiceFlag<FilmDesign>(args, "design", ["whole", "halves"]) },
  });
  console.log(describeDataFolder(folder));
}

if (import.meta.main) await runMain(() => main(Deno.args));
