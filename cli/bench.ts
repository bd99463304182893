/**
 * `deno task bench`: training and inference throughput of the lab's model against PyTorch CPU on
 * this machine (see bench/bench.ts). Progress goes to standard error; the table, or with
 * `--json` the report, to standard output.
 *
 * @module
 */
import { type CommandSpec, parseCommand, runMain } from "./args.ts";
import {
  BENCH_ROUNDS,
  BENCH_WIDTHS,
  formatReport,
  type Precision,
  runBenchmark,
} from "../bench/bench.ts";
import { UsageError } from "../lib/core/errors.ts";

const SPEC: CommandSpec = {
  name: "bench",
  summary: "Training and inference images/s of the lab's model (256 x 256, batch 15) on the " +
    "backend the lab picks, in fp32 and (where the CPU has bfloat16 products) bf16, next to " +
    "PyTorch CPU (PyTorch 2 from python3 on the PATH, else Debian's python3-torch) run five " +
    "ways (NCHW, channels_last, frozen TorchScript, torch.compile, bf16 autocast), each a " +
    "process that warms up once; then rounds in which the lab and PyTorch take turns, and each " +
    "ratio is the median of the rounds' ratios against PyTorch's fastest way, with their range. " +
    "The full run took 41 minutes with 4 rounds on 2 cores that other work loaded (load 5).",
  flags: {
    json: { type: "boolean", help: "Print the report as JSON." },
    quick: {
      type: "boolean",
      help: "A smoke run: width 8, batch 4, 64 x 64 images, two steps, two rounds, no " +
        "torch.compile.",
    },
    rounds: {
      type: "string",
      help: `Interleaved rounds (default ${BENCH_ROUNDS}; 2 with --quick).`,
    },
    precisions: {
      type: "string",
      help: "The lab's precisions, comma-separated: fp32, bf16 (default fp32, and bf16 where " +
        "the CPU multiplies bfloat16 natively).",
    },
    widths: {
      type: "string",
      default: BENCH_WIDTHS.join(","),
      help: "Comma-separated model widths (filters of the first block).",
    },
    workers: {
      type: "string",
      help: "Train the lab in this many replicas (module workers); default as deno task train " +
        "does: the loop where a batch fits one pass, else one replica.",
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

function precisionList(text: string): Precision[] {
  const values = text.split(",").map((part) => part.trim());
  if (values.some((value) => value !== "fp32" && value !== "bf16")) {
    throw new UsageError(`--precisions must be fp32, bf16 or both, got '${text}'`);
  }
  return values as Precision[];
}

/** Runs the task with command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  const quick = args.values.quick === true;
  const widths = quick && args.values.widths === SPEC.flags.widths.default
    ? undefined
    : positiveIntegers("widths", String(args.values.widths));
  const [workers] = args.values.workers === undefined
    ? [undefined]
    : positiveIntegers("workers", String(args.values.workers));
  const [rounds] = args.values.rounds === undefined
    ? [undefined]
    : positiveIntegers("rounds", String(args.values.rounds));
  const precisions = args.values.precisions === undefined
    ? undefined
    : precisionList(String(args.values.precisions));
  const report = await runBenchmark({
    quick,
    widths,
    workers,
    rounds,
    precisions,
    log: (line) => console.error(line),
  });
  console.log(args.values.json ? JSON.stringify(report, null, 2) : formatReport(report));
}

if (import.meta.main) await runMain(() => main(Deno.args));
