/**
 * `deno task data`: make sure the lab has a dataset, and say loudly which one.
 *
 * @module
 */
import { choiceFlag, type CommandSpec, parseCommand, runMain } from "./args.ts";
import { describeDataFolder, ensureDataset } from "../lib/data_source.ts";
import { LabError } from "../lib/errors.ts";

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
    timeout: {
      type: "string",
      default: "30",
      help: "Seconds without data before a download gives up.",
    },
  },
};

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
  console.log(describeDataFolder(await ensureDataset(out, { source, download })));
}

if (import.meta.main) await runMain(main);
