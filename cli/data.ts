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
import { describeDataFolder, ensureDataset } from "../lib/data_source.ts";
import { LabError, UsageError } from "../lib/errors.ts";

const SPEC: CommandSpec = {
  name: "data",
  summary: "Put the lab's pneumothorax_{train,test}.h5 in a folder: the real files (found or " +
    "downloaded), generated phantoms, or files built from the full NIH release.",
  flags: {
    source: {
      type: "string",
      default: "auto",
      help: "auto (use the files in --out, else download the real ones, else generate " +
        "phantoms) | real | phantom | nih",
    },
    out: { type: "string", default: "data", help: "Folder for the two files." },
    "train-url": { type: "string", help: "Address of pneumothorax_train.h5 (real source)." },
    "test-url": { type: "string", help: "Address of pneumothorax_test.h5 (real source)." },
    images: {
      type: "string",
      help: "NIH source: folder of the release's PNGs (searched recursively).",
    },
    labels: { type: "string", help: "NIH source: Data_Entry_2017.csv." },
    seed: { type: "string", default: "0", help: "Seed of every random choice (split, sampling)." },
    "negatives-per-positive": {
      type: "string",
      default: "1",
      help: "NIH source: negatives sampled per pneumothorax image, or 'all'.",
    },
    "test-fraction": {
      type: "string",
      default: "0.2",
      help: "NIH source: share of patients in the test file.",
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

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const source = choiceFlag(args, "source", ["auto", "real", "phantom", "nih"]);
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
  const nih = {
    imagesDir: String(args.values.images ?? ""),
    labelsCsv: String(args.values.labels ?? ""),
    seed,
    negativesPerPositive: ratioFlag(args),
    testFraction: fractionFlag(args, "test-fraction"),
  };
  console.log(describeDataFolder(await ensureDataset(out, { source, download, nih })));
}

if (import.meta.main) await runMain(main);
