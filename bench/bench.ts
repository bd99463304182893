/**
 * The benchmark of `deno task bench`: training and inference throughput of the lab's model on
 * the backend the lab picks, side by side with the same model, cost, optimizer and batch in
 * PyTorch on the CPU (Debian's `python3-torch`), when it is installed.
 *
 * For each width it measures, each in a process of its own (bench/case.ts,
 * bench/torch_reference.py):
 * - `lab`: the lab's loop as it is (lib/train.ts, one thread); skipped when a batch's
 *   activations would not fit the wasm heap (width 64 at batch 15), with the reason;
 * - `oneWorker`: one replica in a module worker, micro-batched as needed (lib/parallel_train.ts);
 * - the data-parallel run, one replica per core;
 * - `reference`: PyTorch with as many threads as cores.
 *
 * A case's headline numbers are those of whichever of the three runs trains fastest (`method`
 * says which): each is a way the lab trains (`deno task train --workers 0`, `1` or `N`). On
 * wasm the replicas win (the loop has one core); on onednn the loop, or one replica where the
 * batch needs micro-batches, already uses every core and spares the transfers of N replicas.
 *
 * GFLOP/s are images per second times the operations per image counted from the layer shapes
 * (bench/flops.ts). The machine's peak is measured, not assumed: the best of five float32
 * matrix products `[2048, 2304] x [2304, 512]` with all cores, in PyTorch (native GEMM) and in
 * oneDNN, the higher of the two; the wasm backend's own ceiling is the same product on wasm in
 * one thread, times the cores.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { version_core as tfVersion } from "@tensorflow/tfjs";
import { maxThreadBatchSize } from "../lib/training/parallel.ts";
import type { CaseResult, CaseSpec, MatMulResult, MatMulShape } from "./case.ts";
import { modelFlops } from "./flops.ts";

/** Widths of the full benchmark: the small models students train here, and the lab's 64. */
export const BENCH_WIDTHS = [8, 16, 64];
/** Images per training step and per inference batch: the lab's batch. */
export const BENCH_BATCH = 15;
/** Side of the images: the lab's. */
export const BENCH_IMAGE_SIZE = 256;
/** Measured steps (after one warm-up step) by width: fewer where a step takes a minute. */
const MEASURED_STEPS: Record<number, number> = { 8: 3, 16: 2 };
/** The matrix product that measures the peaks. */
const PEAK_MATMUL: MatMulShape = { m: 2048, k: 2304, n: 512 };
/** The quick run: small images, one width, one step. */
const QUICK = {
  widths: [8],
  batch: 4,
  imageSize: 64,
  steps: 1,
  matmul: { m: 256, k: 256, n: 256 },
};

const ROOT = new URL("../", import.meta.url);
const CONFIG = fromFileUrl(new URL("deno.json", ROOT));
const CASE_SCRIPT = fromFileUrl(new URL("bench/case.ts", ROOT));
const TORCH_SCRIPT = fromFileUrl(new URL("bench/torch_reference.py", ROOT));
const PYTHON = "/usr/bin/python3";

/** Options of {@link runBenchmark}. */
export interface BenchOptions {
  /** A smoke run: width 8, batch 4, 64 x 64 images, one step (default false). */
  quick?: boolean;
  /** Widths to measure (default {@link BENCH_WIDTHS}; `[8]` when quick). */
  widths?: number[];
  /** Replicas of the data-parallel run (default: one per core). */
  workers?: number;
  /** Progress lines, e.g. to standard error (default none). */
  log?: (line: string) => void;
}

/** PyTorch's numbers for one case. */
export interface ReferenceResult {
  /** e.g. `PyTorch 1.13.0a0 CPU, 2 threads`. */
  engine: string;
  /** Training images per second. */
  trainImagesPerSecond: number;
  /** Inference images per second. */
  inferImagesPerSecond: number;
  /** Peak resident memory of the Python process. */
  peakMemoryBytes: number;
  /** Parameters of the PyTorch model (equal to the lab model's: the same network). */
  params: number;
  /** CPU seconds (all threads, OpenMP's spinning included) per wall second while training. */
  trainCoresUsed: number;
  /** The same while predicting. */
  inferCoresUsed: number;
}

/** One width's results. */
export interface BenchCase {
  /** e.g. `width 8`. */
  name: string;
  /** Filters of the first block. */
  width: number;
  /** Images per step and per inference batch. */
  batch: number;
  /** Side of the images. */
  imageSize: number;
  /** Training images per second of the headline run (the fastest-training of the three). */
  trainImagesPerSecond: number;
  /** Inference images per second of the headline run. */
  inferImagesPerSecond: number;
  /** How the headline numbers were run: backend, and the loop or the replicas and micro-batch. */
  method: string;
  /** Achieved GFLOP/s of training and inference (operations from the layer shapes). */
  gflops: { train: number; infer: number };
  /** Achieved GFLOP/s as a percentage of the machine's measured peak. */
  percentOfPeak: { train: number; infer: number } | null;
  /** Operations per image (bench/flops.ts). */
  flopsPerImage: { train: number; infer: number };
  /** Peak resident memory of the headline run. */
  peakMemoryBytes: number | null;
  /** Measured steps and inference batches. */
  steps: number;
  /** The lab's loop in one thread, or why it was not run. */
  lab: CaseResult | { skipped: string };
  /** One replica in one worker (the speed-up's baseline). */
  oneWorker: CaseResult;
  /** The data-parallel run. */
  parallel: CaseResult;
  /** Data-parallel over one worker. */
  speedup: { train: number; infer: number };
  /** PyTorch CPU, or null with `referenceMissing` saying why. */
  reference: ReferenceResult | null;
  /** Why there is no reference. */
  referenceMissing?: string;
  /** Ours over PyTorch's (at least 1 means as fast or faster). */
  ratio: { train: number; infer: number } | null;
}

/** What the machine is and could do while the benchmark ran. */
export interface MachineInfo {
  /** CPU model name. */
  cpu: string;
  /** Logical cores. */
  cores: number;
  /** Total memory. */
  memoryBytes: number;
  /** Operating system and architecture. */
  os: string;
  /** Deno and TensorFlow.js versions. */
  runtime: string;
  /** 1-, 5- and 15-minute load averages when the run started and ended (Linux). */
  loadAverage: { start: number[] | null; end: number[] | null };
  /** Measured peaks, GFLOP/s, and how. */
  peak: {
    /** Native float32 GEMM with all cores (PyTorch), or null without PyTorch. */
    nativeGflops: number | null;
    /** The same in one thread. */
    nativeGflopsOneThread: number | null;
    /** The wasm backend's matrix product in one thread. */
    wasmGflopsOneThread: number;
    /** oneDNN's matrix product with all cores, or null where oneDNN cannot run. */
    onednnGflops: number | null;
    /** How the peaks were measured. */
    method: string;
  };
}

/** The benchmark's report (`deno task bench --json`). */
export interface BenchReport {
  /** The machine. */
  machine: MachineInfo;
  /** One case per width. */
  cases: BenchCase[];
  /** Seconds the benchmark took. */
  seconds: number;
  /** Whether this was a `--quick` smoke run. */
  quick: boolean;
}

async function runJson<T>(command: string, args: string[]): Promise<T> {
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "inherit" })
    .output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(`${command} ${args.join(" ")} exited with ${output.code}`);
  }
  return JSON.parse(text.split("\n").at(-1)!) as T;
}

function runDenoCase<T>(command: string, spec: CaseSpec | MatMulShape): Promise<T> {
  return runJson<T>(Deno.execPath(), [
    "run",
    "-A",
    "--quiet",
    "--config",
    CONFIG,
    CASE_SCRIPT,
    command,
    JSON.stringify(spec),
  ]);
}

type TorchAnswer<T> = T | { unavailable: string };

async function runTorch<T>(command: string, spec: object): Promise<TorchAnswer<T>> {
  try {
    await Deno.stat(PYTHON);
  } catch {
    return { unavailable: `${PYTHON} is not installed` };
  }
  return await runJson<TorchAnswer<T>>(PYTHON, [TORCH_SCRIPT, command, JSON.stringify(spec)]);
}

function loadAverage(): number[] | null {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return null;
  }
}

function cpuName(): string {
  try {
    return Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m)?.[1] ??
      Deno.build.arch;
  } catch {
    return Deno.build.arch;
  }
}

async function measurePeaks(shape: MatMulShape, log: (line: string) => void) {
  const wasm = await runDenoCase<MatMulResult>("matmul", shape);
  const native = await runTorch<{ gflops: number; gflopsOneThread: number }>("matmul", shape);
  const peak = {
    nativeGflops: "unavailable" in native ? null : native.gflops,
    nativeGflopsOneThread: "unavailable" in native ? null : native.gflopsOneThread,
    wasmGflopsOneThread: wasm.gflops,
    onednnGflops: wasm.onednnGflops,
    method: `best of 5 float32 matrix products [${shape.m}, ${shape.k}] x [${shape.k}, ` +
      `${shape.n}], 2mkn operations: native = PyTorch torch.mm with all cores (and one ` +
      `thread); wasm = tfjs matMul on ${wasm.backend}; oneDNN = its matmul with all cores; ` +
      "percentages of peak are of the higher of native and oneDNN",
  };
  log(
    `peak: native ${peak.nativeGflops?.toFixed(1) ?? "n/a"} GFLOP/s (${
      peak.nativeGflopsOneThread?.toFixed(1) ?? "n/a"
    } one thread), wasm ${peak.wasmGflopsOneThread.toFixed(1)} GFLOP/s one thread, oneDNN ${
      peak.onednnGflops?.toFixed(1) ?? "n/a"
    } GFLOP/s`,
  );
  return peak;
}

function rate(result: CaseResult | ReferenceResult): string {
  const cores = result.trainCoresUsed === null
    ? ""
    : ` (${result.trainCoresUsed.toFixed(2)} cores busy)`;
  return `train ${result.trainImagesPerSecond.toFixed(2)} img/s${cores}, infer ${
    result.inferImagesPerSecond.toFixed(2)
  } img/s`;
}

interface CaseSettings {
  width: number;
  batch: number;
  imageSize: number;
  steps: number;
  workers: number;
  peakGflops: number | null;
  log: (line: string) => void;
}

async function benchCase(settings: CaseSettings): Promise<BenchCase> {
  const { width, batch, imageSize, steps, workers, log } = settings;
  const base = { width, batch, imageSize, steps };
  const name = `width ${width}`;
  const torch = await runTorch<ReferenceResult>("case", base);
  log(`${name}: PyTorch ${"unavailable" in torch ? torch.unavailable : rate(torch)}`);
  const fits = batch <= maxThreadBatchSize(width, imageSize);
  const lab = fits ? await runDenoCase<CaseResult>("case", { ...base, mode: "lab" }) : {
    skipped: `a batch of ${batch} needs more than the wasm heap holds in one pass ` +
      `(at most ${maxThreadBatchSize(width, imageSize)} images by lib/parallel_train.ts)`,
  };
  log(`${name}: lab loop, one thread: ${"skipped" in lab ? lab.skipped : rate(lab)}`);
  const oneWorker = await runDenoCase<CaseResult>("case", {
    ...base,
    mode: "replicas",
    workers: 1,
  });
  log(`${name}: 1 worker (micro-batch ${oneWorker.microBatchSize}): ${rate(oneWorker)}`);
  const parallel = await runDenoCase<CaseResult>("case", { ...base, mode: "replicas", workers });
  log(`${name}: ${workers} workers (micro-batch ${parallel.microBatchSize}): ${rate(parallel)}`);
  const runs: Array<[CaseResult, string]> = [
    [parallel, `${workers} replicas`],
    [oneWorker, "1 replica"],
  ];
  if (!("skipped" in lab)) runs.push([lab, "the lab's loop in one thread, the batch in one pass"]);
  const [headline, how] = runs.reduce((best, run) =>
    run[0].trainImagesPerSecond > best[0].trainImagesPerSecond ? run : best
  );
  const method = headline === lab
    ? `${lab.backend}: ${how}`
    : `${headline.backend}: ${how}, passes of at most ${headline.microBatchSize} images, ` +
      "gradients accumulated";
  const flopsPerImage = modelFlops(width, imageSize);
  const gflops = {
    train: (headline.trainImagesPerSecond * flopsPerImage.train) / 1e9,
    infer: (headline.inferImagesPerSecond * flopsPerImage.infer) / 1e9,
  };
  const reference = "unavailable" in torch ? null : torch;
  return {
    name,
    width,
    batch,
    imageSize,
    trainImagesPerSecond: headline.trainImagesPerSecond,
    inferImagesPerSecond: headline.inferImagesPerSecond,
    method,
    gflops,
    percentOfPeak: settings.peakGflops === null ? null : {
      train: (100 * gflops.train) / settings.peakGflops,
      infer: (100 * gflops.infer) / settings.peakGflops,
    },
    flopsPerImage,
    peakMemoryBytes: headline.peakMemoryBytes,
    steps,
    lab,
    oneWorker,
    parallel,
    speedup: {
      train: parallel.trainImagesPerSecond / oneWorker.trainImagesPerSecond,
      infer: parallel.inferImagesPerSecond / oneWorker.inferImagesPerSecond,
    },
    reference,
    ...(reference === null
      ? { referenceMissing: (torch as { unavailable: string }).unavailable }
      : {}),
    ratio: reference === null ? null : {
      train: headline.trainImagesPerSecond / reference.trainImagesPerSecond,
      infer: headline.inferImagesPerSecond / reference.inferImagesPerSecond,
    },
  };
}

/** Runs the benchmark (each measurement in a child process) and returns its report. */
export async function runBenchmark(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const widths = options.widths ?? (quick ? QUICK.widths : BENCH_WIDTHS);
  const workers = options.workers ?? navigator.hardwareConcurrency;
  const started = performance.now();
  const start = loadAverage();
  const peak = await measurePeaks(quick ? QUICK.matmul : PEAK_MATMUL, log);
  const cases: BenchCase[] = [];
  for (const width of widths) {
    cases.push(
      await benchCase({
        width,
        batch: quick ? QUICK.batch : BENCH_BATCH,
        imageSize: quick ? QUICK.imageSize : BENCH_IMAGE_SIZE,
        steps: quick ? QUICK.steps : MEASURED_STEPS[width] ?? 1,
        workers,
        peakGflops: highest(peak.nativeGflops, peak.onednnGflops),
        log,
      }),
    );
  }
  return {
    machine: {
      cpu: cpuName(),
      cores: navigator.hardwareConcurrency,
      memoryBytes: Deno.systemMemoryInfo().total,
      os: `${Deno.build.os} ${Deno.osRelease()} ${Deno.build.arch}`,
      runtime: `Deno ${Deno.version.deno}, TensorFlow.js ${tfVersion}`,
      loadAverage: { start, end: loadAverage() },
      peak,
    },
    cases,
    seconds: (performance.now() - started) / 1000,
    quick,
  };
}

/** The higher of two measurements, either of which may be missing (null). */
function highest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function fixed(value: number | undefined | null, digits = 2): string {
  return value === undefined || value === null ? "-" : value.toFixed(digits);
}

/** The report as a Markdown table (one row per width) with the machine and peaks below it. */
export function formatReport(report: BenchReport): string {
  const { machine } = report;
  const pair = (a: number | null | undefined, b: number | null | undefined, digits = 2) =>
    `${fixed(a, digits)} / ${fixed(b, digits)}`;
  const columns: Array<[string, (c: BenchCase) => string]> = [
    ["width", (c) => String(c.width)],
    ["batch", (c) => String(c.batch)],
    ["ours train / infer img/s", (c) => pair(c.trainImagesPerSecond, c.inferImagesPerSecond)],
    [
      "PyTorch train / infer img/s",
      (c) => pair(c.reference?.trainImagesPerSecond, c.reference?.inferImagesPerSecond),
    ],
    ["ratio train / infer", (c) => pair(c.ratio?.train, c.ratio?.infer)],
    [
      "lab loop train / infer",
      (c) =>
        "skipped" in c.lab
          ? "n/a (heap)"
          : pair(c.lab.trainImagesPerSecond, c.lab.inferImagesPerSecond),
    ],
    ["1 worker train", (c) => fixed(c.oneWorker.trainImagesPerSecond)],
    [
      "cores busy training: 1 worker / all workers / PyTorch",
      (c) =>
        `${pair(c.oneWorker.trainCoresUsed, c.parallel.trainCoresUsed, 1)} / ${
          fixed(c.reference?.trainCoresUsed, 1)
        }`,
    ],
    [
      "GFLOP/s train / infer (% of peak)",
      (c) =>
        `${pair(c.gflops.train, c.gflops.infer, 1)} (${
          pair(c.percentOfPeak?.train, c.percentOfPeak?.infer, 0)
        } %)`,
    ],
    [
      "peak memory",
      (c) => c.peakMemoryBytes === null ? "-" : `${(c.peakMemoryBytes / 2 ** 30).toFixed(2)} GiB`,
    ],
  ];
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const table = [
    row(columns.map(([title]) => title)),
    row(columns.map(() => "---")),
    ...report.cases.map((c) => row(columns.map(([, cell]) => cell(c)))),
  ];
  const load = (values: number[] | null) => values?.map((v) => v.toFixed(2)).join(" ") ?? "n/a";
  return [
    `${machine.cpu}, ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB; ` +
    `${machine.os}; ${machine.runtime}` + (report.quick ? " (quick smoke run)" : ""),
    "",
    ...table,
    "",
    ...report.cases.map((c) => `ours, ${c.name}: ${c.method}`),
    `PyTorch: ${report.cases[0]?.reference?.engine ?? report.cases[0]?.referenceMissing ?? "-"}`,
    `peak: native ${fixed(machine.peak.nativeGflops, 1)} GFLOP/s (${
      fixed(machine.peak.nativeGflopsOneThread, 1)
    } one thread), wasm ${fixed(machine.peak.wasmGflopsOneThread, 1)} GFLOP/s one thread, ` +
    `oneDNN ${fixed(machine.peak.onednnGflops, 1)} GFLOP/s; ${machine.peak.method}`,
    `load average (1, 5, 15 min): ${load(machine.loadAverage.start)} at the start, ${
      load(machine.loadAverage.end)
    } at the end; ${report.seconds.toFixed(0)} s`,
  ].join("\n");
}
