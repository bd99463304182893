/**
 * `deno task bench`: training and inference throughput of the lab's model against PyTorch CPU on
 * this machine (see bench/bench.ts). Progress goes to standard error; the table, or with
 * `--json` the report, to standard output.
 *
 * @module
 */
import { type CommandSpec, parseCommand, runMain } from "./args.ts";
import { BENCH_WIDTHS, formatReport, runBenchmark } from "../bench/bench.ts";
import { UsageError } from "../lib/core/errors.ts";

const SPEC: CommandSpec = {
  name: "bench",
  summary: "Training and inference images/s of the lab's model (256 x 256, batch 15) on the " +
    "backend the lab picks, run three ways (the lab's loop, one replica, one replica per " +
    "worker) with the fastest as the headline, next to PyTorch CPU (PyTorch 2 from python3 on " +
    "the PATH, else Debian's python3-torch) run four ways (NCHW, channels_last, frozen " +
    "TorchScript, torch.compile), the ratio against its fastest; each measured three times " +
    "(median, slowest, fastest). The full run takes 10-15 minutes on 2 cores with oneDNN.",
  flags: {
    json: { type: "boolean", help: "Print the report as JSON." },
    quick: {
      type: "boolean",
      help: "A smoke run: width 8, batch 4, 64 x 64 images, one step, no torch.compile.",
    },
    widths: {
      type: "string",
      default: BENCH_WIDTHS.join(","),
      help: "Comma-separated model widths (filters of the first block).",
    },
    workers: {
      type: "string",
      default: String(navigator.hardwareConcurrency),
      help: "Replicas of the data-parallel run (one module worker each).",
    },
  },
};

function positiveIntegers(flag: string, text: string): number[] {
  const values = text.split(",").map((part) => part.trim());
  if (values.some((value) => !/^[1-9]\d*$/.test(value))) {
    throw new UsageError(`--${flag} must be positive integers separated by commas, got '${text}'`);
  }
  return values.map(Number);
}

/** Runs the task with command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  const quick = args.values.quick === true;
  const widths = quick && args.values.widths === SPEC.flags.widths.default
    ? undefined
    : positiveIntegers("widths", String(args.values.widths));
  const [workers] = positiveIntegers("workers", String(args.values.workers));
  const report = await runBenchmark({
    quick,
    widths,
    workers,
    log: (line) => console.error(line),
  });
  console.log(args.values.json ? JSON.stringify(report, null, 2) : formatReport(report));
}

if (import.meta.main) await runMain(() => main(Deno.args));
