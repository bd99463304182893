/**
 * The benchmark of `deno task bench`: training and inference throughput of the lab's model on
 * the backend the lab picks, in float32 and, where the CPU multiplies bfloat16 natively, in
 * bfloat16 (`LAB_PRECISION`, lib/backends/precision.ts), side by side with the same model, cost,
 * optimizer and batch in PyTorch on the CPU, run the ways a careful PyTorch user would: PyTorch 2
 * (`python3` on the PATH, e.g. `pip install torch`) when it has it, else Debian's `python3-torch`.
 *
 * Each width has its contestants, each a process of its own that warms up once and then waits
 * for commands (bench/case.ts `serve`, bench/torch_reference.py `serve`): the lab in each
 * precision, trained as `deno task train` trains it, and PyTorch each of {@link TORCH_VARIANTS}
 * (NCHW eager, channels_last eager, channels_last as a frozen TorchScript graph for inference,
 * channels_last through `torch.compile`, channels_last under bfloat16 autocast). Then come the
 * rounds: in each, every contestant trains `steps` steps in turn, the lab's and PyTorch's
 * alternating (lab, PyTorch, lab, PyTorch, ...), then each predicts `steps` batches in the same
 * order; each step is timed, and a contestant's rate in the round is its fastest step's (a step
 * that another program's burst slowed measures that program). A round's ratio is the lab's rate
 * over the fastest PyTorch way's in that round, at the same precision and at any precision; a
 * case reports the median of its rounds' ratios and their range (`ratioRange`, `[min, max]`).
 * Load from other programs comes and goes over seconds to minutes; within a round both sides
 * meet nearly the same load, so the ratios vary less than either side's rate (`spread`). Why
 * interleaved: measured one side after the other, a rerun moved a ratio by up to 30% here.
 *
 * GFLOP/s are images per second times the operations per image counted from the layer shapes
 * (bench/flops.ts). The machine's peak is measured, not assumed: the best of five float32
 * matrix products `[2048, 2304] x [2304, 512]` with all cores, in PyTorch (native GEMM) and in
 * oneDNN, the higher of the two; the wasm backend's own ceiling is the same product on wasm in
 * one thread, times the cores. Peak memory is each process's peak resident set (its workers
 * included): `VmHWM` for the lab, `ru_maxrss` for PyTorch.
 *
 * @module
 */
import { fileURLToPath as fromFileUrl } from "node:url";
import { version_core as tfVersion } from "@tensorflow/tfjs";
import { PRECISION_ENV, probeCpuFeatures } from "../lib/backends/precision.ts";
import {
  BENCH_LEARNING_RATE,
  type LabReady,
  type LabSpec,
  type MatMulResult,
  type MatMulShape,
  type Measurement,
  median,
  type OneDnnInfo,
} from "./case.ts";
import { modelFlops } from "./flops.ts";

/** Widths of the full benchmark: the small models students train here, and the lab's 64. */
export const BENCH_WIDTHS = [8, 16, 64];
/** Images per training step and per inference batch: the lab's batch. */
export const BENCH_BATCH = 15;
/** Side of the images: the lab's. */
export const BENCH_IMAGE_SIZE = 256;
/** Steps per measurement by width (the fastest counts): fewer where a step is long. */
const MEASURED_STEPS: Record<number, number> = { 8: 3, 16: 2, 64: 2 };
/** Rounds of the full run: each contestant measured once per round. */
export const BENCH_ROUNDS = 5;
/** The matrix product that measures the peaks. */
const PEAK_MATMUL: MatMulShape = { m: 2048, k: 2304, n: 512 };
/**
 * The quick run: small images, one width, two steps, two rounds, and no `torch.compile` (its
 * compilation alone takes a minute or two).
 */
const QUICK = {
  variants: [
    "nchw",
    "channels_last",
    "channels_last_torchscript",
    "bf16_autocast",
  ] as TorchVariant[],
  widths: [8],
  batch: 4,
  imageSize: 64,
  steps: 2,
  rounds: 2,
  matmul: { m: 256, k: 256, n: 256 },
};

const ROOT = new URL("../", import.meta.url);
const CONFIG = fromFileUrl(new URL("deno.json", ROOT));
const CASE_SCRIPT = fromFileUrl(new URL("bench/case.ts", ROOT));
const TORCH_SCRIPT = fromFileUrl(new URL("bench/torch_reference.py", ROOT));
/**
 * Pythons tried for the reference, in order: the one on the PATH (where `pip install torch` puts
 * PyTorch 2), then Debian's (`python3-torch`, PyTorch 1.13).
 */
const PYTHONS = ["python3", "/usr/bin/python3"];

/** The lab's precisions. */
export type Precision = "fp32" | "bf16";

/** Options of {@link runBenchmark}. */
export interface BenchOptions {
  /** A smoke run: width 8, batch 4, 64 x 64 images, two steps, two rounds (default false). */
  quick?: boolean;
  /** Widths to measure (default {@link BENCH_WIDTHS}; `[8]` when quick). */
  widths?: number[];
  /** Rounds (default {@link BENCH_ROUNDS}; 2 when quick). */
  rounds?: number;
  /**
   * Replicas the lab trains with (default: none where a batch fits one pass, else one, as
   * `deno task train` picks).
   */
  workers?: number;
  /**
   * The lab's precisions (default: `fp32`, and `bf16` where the CPU multiplies bfloat16
   * natively).
   */
  precisions?: Precision[];
  /** Progress lines, e.g. to standard error (default none). */
  log?: (line: string) => void;
}

/** The ways bench/torch_reference.py runs PyTorch, in order. */
export const TORCH_VARIANTS = [
  "nchw",
  "channels_last",
  "channels_last_torchscript",
  "channels_last_compile",
  "bf16_autocast",
] as const;

/** One of {@link TORCH_VARIANTS}. */
export type TorchVariant = typeof TORCH_VARIANTS[number];

/** The precision each PyTorch way computes in. */
export const TORCH_PRECISION: Record<TorchVariant, Precision> = {
  nchw: "fp32",
  channels_last: "fp32",
  channels_last_torchscript: "fp32",
  channels_last_compile: "fp32",
  bf16_autocast: "bf16",
};

/** Per-round rates of one contestant: images per second, one number per round. */
export interface Rates {
  /** Training, one per round; null for a way that only predicts (TorchScript). */
  train: number[] | null;
  /** Inference, one per round. */
  infer: number[];
}

/** One way of running PyTorch (bench/torch_reference.py), measured round by round. */
export interface ReferenceVariant {
  /** e.g. `channels_last` or `bf16_autocast`. */
  variant: TorchVariant;
  /** What it computes in. */
  precision: Precision;
  /** Training images per second, the median of the rounds; null for inference only. */
  trainImagesPerSecond: number | null;
  /** Inference images per second, the median of the rounds. */
  inferImagesPerSecond: number;
  /** The slowest and fastest round of each. */
  spread: { train: [number, number] | null; infer: [number, number] };
  /** Each round's rates. */
  rounds: Rates;
  /** CPU seconds per wall second while training (median of the rounds), null for inference only. */
  trainCoresUsed: number | null;
  /** Seconds of the warm-up (compilation included, for `torch.compile` and TorchScript). */
  warmUpSeconds: number;
  /** Peak resident memory of the Python process. */
  peakMemoryBytes: number;
}

/** PyTorch's numbers for one case: every way it ran, and the fastest. */
export interface ReferenceResult {
  /** e.g. `PyTorch 2.13.0+cpu CPU, 2 threads`. */
  engine: string;
  /** Training images per second of the fastest way at the case's precision (`best.train`). */
  trainImagesPerSecond: number | null;
  /** Inference images per second of the fastest way at the case's precision (`best.infer`). */
  inferImagesPerSecond: number | null;
  /** Each way that ran, at every precision. */
  variants: ReferenceVariant[];
  /** The ways that could not run, each with the reason (e.g. no C++ compiler for Inductor). */
  notRun: Array<{ variant: string; reason: string }>;
  /** The fastest way (by median) at the case's precision, for training and for inference. */
  best: { train: string | null; infer: string | null };
  /** The fastest way at any precision. */
  bestAnyPrecision: { train: string; infer: string };
  /** Peak resident memory of the fastest-training way at the case's precision. */
  peakMemoryBytes: number | null;
  /** Parameters of the PyTorch model (equal to the lab model's: the same network). */
  params: number;
}

/** A ratio of ours to PyTorch's: the median of the rounds' ratios, and their range. */
export interface RatioPair {
  train: number;
  infer: number;
}

/** One width at one precision of the lab. */
export interface BenchCase {
  /** e.g. `width 8, bf16`. */
  name: string;
  /** Filters of the first block. */
  width: number;
  /** What the lab computed in. */
  precision: Precision;
  /** Images per step and per inference batch. */
  batch: number;
  /** Side of the images. */
  imageSize: number;
  /** Training images per second, the median of the rounds. */
  trainImagesPerSecond: number;
  /** Inference images per second, the median of the rounds. */
  inferImagesPerSecond: number;
  /** The slowest and fastest round of each. */
  spread: { train: [number, number]; infer: [number, number] };
  /** Each round's rates. */
  rounds: { train: number[]; infer: number[] };
  /** The backend, and how the lab trained (the loop, or replicas and their passes). */
  method: string;
  /** Achieved GFLOP/s of training and inference (operations from the layer shapes). */
  gflops: RatioPair;
  /** Achieved GFLOP/s as a percentage of the machine's measured float32 peak. */
  percentOfPeak: RatioPair | null;
  /** Operations per image (bench/flops.ts). */
  flopsPerImage: RatioPair;
  /** Peak resident memory of the lab's process. */
  peakMemoryBytes: number | null;
  /** Cores the lab's process kept busy while training (median of the rounds). */
  trainCoresUsed: number | null;
  /** Steps and inference batches per measurement. */
  steps: number;
  /** PyTorch CPU, or null with `referenceMissing` saying why. */
  reference: ReferenceResult | null;
  /** Why there is no reference. */
  referenceMissing?: string;
  /**
   * Ours over PyTorch's fastest way at the same precision, round by round: the median; null
   * without a reference at that precision.
   */
  ratio: RatioPair | null;
  /** The smallest and largest of those rounds' ratios. */
  ratioRange: { train: [number, number]; infer: [number, number] } | null;
  /** `(max - min) / median` of the rounds' ratios, in percent. */
  ratioSpreadPercent: RatioPair | null;
  /** Ours over PyTorch's fastest way at any precision, round by round: the median. */
  ratioAnyPrecision: RatioPair | null;
  /** The smallest and largest of those rounds' ratios. */
  ratioAnyPrecisionRange: { train: [number, number]; infer: [number, number] } | null;
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
  /** The widest vector instructions the CPU has for float32: `AVX-512`, `AVX2` or another. */
  isa: string;
  /** The CPU's native bfloat16 products (`avx512_bf16`, `amx_bf16`), empty without. */
  bf16Flags: string[];
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
    /** The oneDNN that ran it (version, library, runtime, kernel), or null. */
    onednn: OneDnnInfo | null;
    /** How the peaks were measured. */
    method: string;
  };
}

/** The lab's bf16 over its fp32 at one width, round by round (both run in every round). */
export interface PrecisionSpeedup {
  width: number;
  /** The median of the rounds' ratios. */
  ratio: RatioPair;
  /** Their smallest and largest. */
  range: { train: [number, number]; infer: [number, number] };
}

/** The benchmark's report (`deno task bench --json`). */
export interface BenchReport {
  /** The machine. */
  machine: MachineInfo;
  /** One case per width and precision of the lab. */
  cases: BenchCase[];
  /** bf16 over fp32, per width where both ran. */
  bf16OverFp32: PrecisionSpeedup[];
  /** Rounds of each width. */
  rounds: number;
  /** Seconds the benchmark took. */
  seconds: number;
  /** Whether this was a `--quick` smoke run. */
  quick: boolean;
}

/**
 * A contestant: a process that warmed up and answers one JSON line per command. Lines that are
 * not JSON objects (tfjs's greeting) are skipped.
 */
class Contestant {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncGenerator<string>;

  constructor(command: string, args: string[], env: Record<string, string> = {}) {
    this.#child = new Deno.Command(command, {
      args,
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = jsonLines(this.#child.stdout);
  }

  /** The next answer. */
  async read<T>(): Promise<T> {
    const next = await this.#lines.next();
    if (next.done) {
      const status = await this.#child.status;
      throw new Error(`a contestant ended with exit ${status.code} before answering`);
    }
    return JSON.parse(next.value) as T;
  }

  /** Sends a command and reads its answer. */
  async ask<T>(command: string): Promise<T> {
    await this.#writer.write(new TextEncoder().encode(`${command}\n`));
    return await this.read<T>();
  }

  /** Asks for the peak memory, and waits for the process to end. */
  async finish(): Promise<number | null> {
    const { peakMemoryBytes } = await this.ask<{ peakMemoryBytes: number | null }>("done");
    await this.#writer.close();
    await this.#child.status;
    return peakMemoryBytes;
  }

  /** Ends a contestant that will not be asked again. */
  async kill(): Promise<void> {
    try {
      this.#child.kill();
    } catch {
      // already ended
    }
    await this.#child.status;
  }
}

/** The lines of a stream that hold JSON objects. */
async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, end).trim();
      pending = pending.slice(end + 1);
      if (line.startsWith("{")) yield line;
    }
  }
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

function runDenoCase<T>(command: string, spec: MatMulShape): Promise<T> {
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

/** The Python whose PyTorch is the reference, or why there is none. */
type Torch = { python: string; engine: string } | { unavailable: string };

/** The first of {@link PYTHONS} that has PyTorch. */
async function findTorch(): Promise<Torch> {
  const reasons: string[] = [];
  for (const python of PYTHONS) {
    let answer: TorchAnswer<{ engine: string }>;
    try {
      answer = await runJson(python, [TORCH_SCRIPT, "info"]);
    } catch (error) {
      reasons.push(`${python}: ${(error as Error).message.split("\n")[0]}`);
      continue;
    }
    if (!("unavailable" in answer)) return { python, engine: answer.engine };
    reasons.push(answer.unavailable);
  }
  return { unavailable: reasons.join("; ") };
}

async function runTorch<T>(torch: Torch, command: string, spec: object): Promise<TorchAnswer<T>> {
  if ("unavailable" in torch) return torch;
  return await runJson<TorchAnswer<T>>(torch.python, [
    TORCH_SCRIPT,
    command,
    JSON.stringify(spec),
  ]);
}

function loadAverage(): number[] | null {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return null;
  }
}

/** `AVX-512` or `AVX2` from the CPU's flags (Linux), else the architecture. */
function vectorIsa(): string {
  try {
    const flags = Deno.readTextFileSync("/proc/cpuinfo").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
    const has = (flag: string) => flags.split(" ").includes(flag);
    return has("avx512f") ? "AVX-512" : has("avx2") ? "AVX2" : Deno.build.arch;
  } catch {
    return Deno.build.arch;
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

async function measurePeaks(torch: Torch, shape: MatMulShape, log: (line: string) => void) {
  const wasm = await runDenoCase<MatMulResult>("matmul", shape);
  const native = await runTorch<{ gflops: number; gflopsOneThread: number }>(
    torch,
    "matmul",
    shape,
  );
  const peak = {
    nativeGflops: "unavailable" in native ? null : native.gflops,
    nativeGflopsOneThread: "unavailable" in native ? null : native.gflopsOneThread,
    wasmGflopsOneThread: wasm.gflops,
    onednnGflops: wasm.onednnGflops,
    onednn: wasm.onednn,
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

function onednnName(onednn: OneDnnInfo | null): string {
  return onednn === null
    ? "no oneDNN"
    : `oneDNN ${onednn.version} (${onednn.library}, ${onednn.runtime}, matmul ${onednn.matMulImplementation})`;
}

/** The higher of two measurements, either of which may be missing (null). */
function highest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

function fixed(value: number | undefined | null, digits = 2): string {
  return value === undefined || value === null ? "-" : value.toFixed(digits);
}

/** What bench/torch_reference.py answers once a way has warmed up. */
interface TorchReady {
  ready: true;
  engine: string;
  params: number;
  warmUpSeconds: number;
}

/** A contestant that warmed up, and what it measured so far. */
interface Entrant {
  side: "lab" | "torch";
  precision: Precision;
  contestant: Contestant;
  /** The PyTorch way (`torch` side). */
  variant?: TorchVariant;
  /** One measurement per round and phase. */
  train: Measurement[];
  infer: Measurement[];
  peakMemoryBytes: number | null;
}

interface WidthSettings {
  torch: Torch;
  torchVariants: TorchVariant[];
  precisions: Precision[];
  width: number;
  batch: number;
  imageSize: number;
  steps: number;
  rounds: number;
  workers?: number;
  peakGflops: number | null;
  log: (line: string) => void;
}

/** Starts the lab in `precision` and waits for its warm-up; why not where it cannot run. */
async function startLab(
  spec: LabSpec,
  precision: Precision,
): Promise<{ entrant: Entrant; ready: LabReady } | { skipped: string }> {
  const contestant = new Contestant(Deno.execPath(), [
    "run",
    "-A",
    "--quiet",
    "--config",
    CONFIG,
    CASE_SCRIPT,
    "serve",
    JSON.stringify(spec),
  ], { [PRECISION_ENV]: precision });
  let ready: LabReady;
  try {
    ready = await contestant.read<LabReady>();
  } catch (error) {
    await contestant.kill();
    return { skipped: (error as Error).message };
  }
  return {
    entrant: { side: "lab", precision, contestant, train: [], infer: [], peakMemoryBytes: null },
    ready,
  };
}

/** Starts one PyTorch way and waits for its warm-up (compilation included). */
async function startTorch(
  torch: Torch,
  spec: object,
  variant: TorchVariant,
): Promise<{ entrant: Entrant; ready: TorchReady } | { unavailable: string }> {
  if ("unavailable" in torch) return torch;
  const contestant = new Contestant(torch.python, [
    TORCH_SCRIPT,
    "serve",
    JSON.stringify({ ...spec, variant }),
  ]);
  const ready = await contestant.read<TorchReady | { unavailable: string }>();
  if ("unavailable" in ready) {
    await contestant.kill();
    return ready;
  }
  return {
    entrant: {
      side: "torch",
      precision: TORCH_PRECISION[variant],
      variant,
      contestant,
      train: [],
      infer: [],
      peakMemoryBytes: null,
    },
    ready,
  };
}

/** The lab's and PyTorch's contestants alternating: lab, PyTorch, lab, PyTorch, ... */
export function interleave<T>(labs: T[], torches: T[]): T[] {
  const order: T[] = [];
  for (let i = 0; i < Math.max(labs.length, torches.length); i++) {
    if (i < labs.length) order.push(labs[i]);
    if (i < torches.length) order.push(torches[i]);
  }
  return order;
}

/**
 * Round by round, ours over the fastest of `theirs` in that round: the median and the range of
 * those ratios, and their spread in percent of the median. Null when none of `theirs` ran.
 */
export function roundRatios(
  ours: number[],
  theirs: Array<Array<number | null>>,
): { ratio: number; range: [number, number]; spreadPercent: number } | null {
  const ratios = ours.map((rate, round) => {
    const fastest = Math.max(...theirs.map((rates) => rates[round] ?? 0));
    return fastest > 0 ? rate / fastest : null;
  });
  if (ratios.some((ratio) => ratio === null) || ratios.length === 0) return null;
  const values = ratios as number[];
  const ratio = median(values);
  const range: [number, number] = [Math.min(...values), Math.max(...values)];
  return { ratio, range, spreadPercent: (100 * (range[1] - range[0])) / ratio };
}

/** The rates of a phase, one per round (null for a way that does not train). */
function ratesOf(entrant: Entrant, phase: "train" | "infer"): Array<number | null> {
  return entrant[phase].map((m) => m.imagesPerSecond);
}

function summary(rates: number[]): { median: number; spread: [number, number] } {
  return { median: median(rates), spread: [Math.min(...rates), Math.max(...rates)] };
}

/** Measures one width: every contestant warms up, then the rounds interleave them. */
async function benchWidth(settings: WidthSettings): Promise<BenchCase[]> {
  const { width, batch, imageSize, steps, rounds, log } = settings;
  const spec: LabSpec = {
    width,
    batch,
    imageSize,
    steps,
    ...(settings.workers === undefined ? {} : { workers: settings.workers }),
  };
  const labs: Array<{ entrant: Entrant; ready: LabReady }> = [];
  const torches: Array<{ entrant: Entrant; ready: TorchReady }> = [];
  const notRun: ReferenceResult["notRun"] = [];
  try {
    for (const precision of settings.precisions) {
      const started = await startLab(spec, precision);
      if ("skipped" in started) {
        log(`width ${width}: lab ${precision} cannot run: ${started.skipped}`);
      } else if (started.ready.precision !== precision) {
        log(`width ${width}: lab ${precision} ran ${started.ready.precision}; left out`);
        await started.entrant.contestant.kill();
      } else {
        labs.push(started);
        log(
          `width ${width}: lab ${precision} ready (${started.ready.method}; warm-up ` +
            `${started.ready.warmUpSeconds.toFixed(0)} s)`,
        );
      }
    }
    if (labs.length === 0) throw new Error(`width ${width}: the lab could not run`);
    const torchSpec = { width, batch, imageSize, steps, learningRate: BENCH_LEARNING_RATE };
    for (const variant of settings.torchVariants) {
      const started = await startTorch(settings.torch, torchSpec, variant);
      if ("unavailable" in started) {
        notRun.push({ variant, reason: started.unavailable });
        log(`width ${width}: PyTorch ${variant}: ${started.unavailable}`);
      } else {
        torches.push(started);
        log(
          `width ${width}: PyTorch ${variant} ready (warm-up ` +
            `${started.ready.warmUpSeconds.toFixed(0)} s)`,
        );
      }
    }
    const order = interleave(labs.map((l) => l.entrant), torches.map((t) => t.entrant));
    for (let round = 0; round < rounds; round++) {
      for (const phase of ["train", "infer"] as const) {
        for (const entrant of order) {
          entrant[phase].push(await entrant.contestant.ask<Measurement>(phase));
        }
      }
      log(
        `width ${width}, round ${round + 1}/${rounds} (train / infer img/s): ` +
          order.map((e) =>
            `${e.side === "lab" ? `lab ${e.precision}` : e.variant} ` +
            `${fixed(e.train[round].imagesPerSecond)} / ${fixed(e.infer[round].imagesPerSecond)}`
          ).join(", "),
      );
    }
    for (const entrant of order) entrant.peakMemoryBytes = await entrant.contestant.finish();
  } catch (error) {
    await Promise.all([...labs, ...torches].map((c) => c.entrant.contestant.kill()));
    throw error;
  }
  const variants: ReferenceVariant[] = torches.map(({ entrant, ready }) => {
    const train = ratesOf(entrant, "train");
    const trains = train.every((rate) => rate !== null) ? train as number[] : null;
    const infer = ratesOf(entrant, "infer") as number[];
    return {
      variant: entrant.variant!,
      precision: entrant.precision,
      trainImagesPerSecond: trains === null ? null : median(trains),
      inferImagesPerSecond: median(infer),
      spread: {
        train: trains === null ? null : summary(trains).spread,
        infer: summary(infer).spread,
      },
      rounds: { train: trains, infer },
      trainCoresUsed: trains === null ? null : median(entrant.train.map((m) => m.coresUsed ?? 0)),
      warmUpSeconds: ready.warmUpSeconds,
      peakMemoryBytes: entrant.peakMemoryBytes ?? 0,
    };
  });
  const engine = torches[0]?.ready.engine;
  const params = torches[0]?.ready.params;
  return labs.map(({ entrant, ready }) =>
    labCase(entrant, ready, variants, { engine, params, notRun }, settings)
  );
}

/** One width at one of the lab's precisions, from the rounds' measurements. */
function labCase(
  lab: Entrant,
  ready: LabReady,
  variants: ReferenceVariant[],
  torch: { engine?: string; params?: number; notRun: ReferenceResult["notRun"] },
  settings: WidthSettings,
): BenchCase {
  const { width, batch, imageSize, steps, precision } = { ...settings, ...lab };
  const train = ratesOf(lab, "train") as number[], infer = ratesOf(lab, "infer") as number[];
  const trained = summary(train), inferred = summary(infer);
  const flopsPerImage = modelFlops(width, imageSize);
  const gflops = {
    train: (trained.median * flopsPerImage.train) / 1e9,
    infer: (inferred.median * flopsPerImage.infer) / 1e9,
  };
  const same = variants.filter((v) => v.precision === precision);
  const trainsOf = (among: ReferenceVariant[]) =>
    among.filter((v) => v.rounds.train !== null).map((v) => v.rounds.train!);
  const infersOf = (among: ReferenceVariant[]) => among.map((v) => v.rounds.infer);
  const against = (among: ReferenceVariant[]) => {
    const t = roundRatios(train, trainsOf(among)), i = roundRatios(infer, infersOf(among));
    return t === null || i === null ? null : { train: t, infer: i };
  };
  const sameRatio = against(same), anyRatio = against(variants);
  const fastest = (
    among: ReferenceVariant[],
    key: "trainImagesPerSecond" | "inferImagesPerSecond",
  ) =>
    among.filter((v) => v[key] !== null).reduce<ReferenceVariant | null>(
      (best, v) => best === null || v[key]! > best[key]! ? v : best,
      null,
    );
  const bestTrain = fastest(same, "trainImagesPerSecond");
  const bestInfer = fastest(same, "inferImagesPerSecond");
  const reference: ReferenceResult | null = variants.length === 0 ? null : {
    engine: torch.engine!,
    trainImagesPerSecond: bestTrain?.trainImagesPerSecond ?? null,
    inferImagesPerSecond: bestInfer?.inferImagesPerSecond ?? null,
    variants,
    notRun: torch.notRun,
    best: { train: bestTrain?.variant ?? null, infer: bestInfer?.variant ?? null },
    bestAnyPrecision: {
      train: fastest(variants, "trainImagesPerSecond")?.variant ?? "-",
      infer: fastest(variants, "inferImagesPerSecond")!.variant,
    },
    peakMemoryBytes: bestTrain?.peakMemoryBytes ?? null,
    params: torch.params!,
  };
  const pair = (
    ratios: typeof sameRatio,
    key: "ratio" | "range" | "spreadPercent",
  ) => ratios === null ? null : { train: ratios.train[key], infer: ratios.infer[key] };
  return {
    name: `width ${width}, ${precision}`,
    width,
    precision,
    batch,
    imageSize,
    trainImagesPerSecond: trained.median,
    inferImagesPerSecond: inferred.median,
    spread: { train: trained.spread, infer: inferred.spread },
    rounds: { train, infer },
    method: ready.method,
    gflops,
    percentOfPeak: settings.peakGflops === null ? null : {
      train: (100 * gflops.train) / settings.peakGflops,
      infer: (100 * gflops.infer) / settings.peakGflops,
    },
    flopsPerImage,
    peakMemoryBytes: lab.peakMemoryBytes,
    trainCoresUsed: median(lab.train.map((m) => m.coresUsed ?? 0)),
    steps,
    reference,
    ...(reference === null ? { referenceMissing: torchMissing(settings.torch, torch.notRun) } : {}),
    ratio: pair(sameRatio, "ratio") as RatioPair | null,
    ratioRange: pair(sameRatio, "range") as BenchCase["ratioRange"],
    ratioSpreadPercent: pair(sameRatio, "spreadPercent") as RatioPair | null,
    ratioAnyPrecision: pair(anyRatio, "ratio") as RatioPair | null,
    ratioAnyPrecisionRange: pair(anyRatio, "range") as BenchCase["ratioAnyPrecisionRange"],
  };
}

/** The lab's bf16 over its fp32, round by round, at each width where both ran. */
export function bf16OverFp32(cases: BenchCase[]): PrecisionSpeedup[] {
  return cases.filter((c) => c.precision === "bf16").flatMap((bf16) => {
    const fp32 = cases.find((c) => c.precision === "fp32" && c.width === bf16.width);
    if (fp32 === undefined) return [];
    const train = roundRatios(bf16.rounds.train, [fp32.rounds.train])!;
    const infer = roundRatios(bf16.rounds.infer, [fp32.rounds.infer])!;
    return [{
      width: bf16.width,
      ratio: { train: train.ratio, infer: infer.ratio },
      range: { train: train.range, infer: infer.range },
    }];
  });
}

function torchMissing(torch: Torch, notRun: ReferenceResult["notRun"]): string {
  if ("unavailable" in torch) return torch.unavailable;
  return notRun.map((n) => `${n.variant}: ${n.reason}`).join("; ") || "no PyTorch way ran";
}

/** Runs the benchmark (each contestant in a child process) and returns its report. */
export async function runBenchmark(options: BenchOptions = {}): Promise<BenchReport> {
  const quick = options.quick ?? false;
  const log = options.log ?? (() => {});
  const widths = options.widths ?? (quick ? QUICK.widths : BENCH_WIDTHS);
  const rounds = options.rounds ?? (quick ? QUICK.rounds : BENCH_ROUNDS);
  const features = probeCpuFeatures();
  const precisions = options.precisions ??
    (features.bf16 ? ["fp32", "bf16"] as Precision[] : ["fp32"] as Precision[]);
  const started = performance.now();
  const start = loadAverage();
  const torch = await findTorch();
  log(
    `reference: ${
      "unavailable" in torch ? torch.unavailable : `${torch.engine} (${torch.python})`
    }`,
  );
  const peak = await measurePeaks(torch, quick ? QUICK.matmul : PEAK_MATMUL, log);
  const cases: BenchCase[] = [];
  for (const width of widths) {
    cases.push(
      ...await benchWidth({
        torch,
        torchVariants: quick ? QUICK.variants : [...TORCH_VARIANTS],
        precisions,
        width,
        batch: quick ? QUICK.batch : BENCH_BATCH,
        imageSize: quick ? QUICK.imageSize : BENCH_IMAGE_SIZE,
        steps: quick ? QUICK.steps : MEASURED_STEPS[width] ?? 1,
        rounds,
        workers: options.workers,
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
      isa: vectorIsa(),
      bf16Flags: features.flags,
      runtime: `Deno ${Deno.version.deno}, TensorFlow.js ${tfVersion}`,
      loadAverage: { start, end: loadAverage() },
      peak,
    },
    cases,
    bf16OverFp32: bf16OverFp32(cases),
    rounds,
    seconds: (performance.now() - started) / 1000,
    quick,
  };
}

/** The report as a Markdown table (one row per width and precision), the machine below it. */
export function formatReport(report: BenchReport): string {
  const { machine } = report;
  const pair = (a: number | null | undefined, b: number | null | undefined, digits = 2) =>
    `${fixed(a, digits)} / ${fixed(b, digits)}`;
  const range = (spread: [number, number] | null | undefined) =>
    spread === null || spread === undefined ? "" : ` (${fixed(spread[0])}-${fixed(spread[1])})`;
  const gib = (bytes: number | null | undefined) =>
    bytes === null || bytes === undefined ? "-" : (bytes / 2 ** 30).toFixed(2);
  const ratio = (
    value: RatioPair | null,
    ranges: { train: [number, number]; infer: [number, number] } | null,
  ) =>
    value === null
      ? "-"
      : `${fixed(value.train)}${range(ranges?.train)} / ${fixed(value.infer)}${
        range(ranges?.infer)
      }`;
  const variant = (c: BenchCase, name: string) =>
    c.reference?.variants.find((v) => v.variant === name);
  const columns: Array<[string, (c: BenchCase) => string]> = [
    ["width", (c) => String(c.width)],
    ["precision", (c) => c.precision],
    [
      "ours train / infer img/s (slowest-fastest round)",
      (c) =>
        `${fixed(c.trainImagesPerSecond)}${range(c.spread.train)} / ` +
        `${fixed(c.inferImagesPerSecond)}${range(c.spread.infer)}`,
    ],
    ...TORCH_VARIANTS.map((name): [string, (c: BenchCase) => string] => [
      `PyTorch ${name} train / infer`,
      (c) => {
        const v = variant(c, name);
        return v === undefined ? "-" : pair(v.trainImagesPerSecond, v.inferImagesPerSecond);
      },
    ]),
    [
      "ratio to PyTorch's best at the same precision, train / infer (range of rounds)",
      (c) => ratio(c.ratio, c.ratioRange),
    ],
    [
      "ratio to PyTorch's best at any precision (range)",
      (c) => ratio(c.ratioAnyPrecision, c.ratioAnyPrecisionRange),
    ],
    [
      "spread of the ratio train / infer %",
      (c) => pair(c.ratioSpreadPercent?.train, c.ratioSpreadPercent?.infer, 0),
    ],
    [
      "GFLOP/s train / infer (% of fp32 peak)",
      (c) =>
        `${pair(c.gflops.train, c.gflops.infer, 1)} (${
          pair(c.percentOfPeak?.train, c.percentOfPeak?.infer, 0)
        } %)`,
    ],
    [
      "peak memory ours / PyTorch's best GiB",
      (c) => `${gib(c.peakMemoryBytes)} / ${gib(c.reference?.peakMemoryBytes)}`,
    ],
  ];
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const table = [
    row(columns.map(([title]) => title)),
    row(columns.map(() => "---")),
    ...report.cases.map((c) => row(columns.map(([, cell]) => cell(c)))),
  ];
  const load = (values: number[] | null) => values?.map((v) => v.toFixed(2)).join(" ") ?? "n/a";
  const first = report.cases[0];
  const notRun = first?.reference?.notRun ?? [];
  return [
    `${machine.cpu} (${machine.isa}${
      machine.bf16Flags.length ? `, ${machine.bf16Flags.join(", ")}` : ""
    }), ${machine.cores} cores, ` +
    `${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB; ${machine.os}; ${machine.runtime}; ` +
    `${onednnName(machine.peak.onednn)}; batch ${first?.batch ?? "-"}, ${
      first?.imageSize ?? "-"
    } px, ${report.rounds} interleaved rounds, medians` +
    (report.quick ? " (quick smoke run)" : ""),
    "",
    ...table,
    "",
    ...report.cases.map((c) =>
      `ours, ${c.name}: ${c.method}; PyTorch's best at ${c.precision}: ` +
      `${c.reference?.best.train ?? "-"} (training), ${c.reference?.best.infer ?? "-"} ` +
      `(inference); at any precision: ${c.reference?.bestAnyPrecision.train ?? "-"}, ` +
      `${c.reference?.bestAnyPrecision.infer ?? "-"}`
    ),
    ...(notRun.length
      ? [`not run: ${notRun.map((n) => `${n.variant} (${n.reason})`).join(", ")}`]
      : []),
    ...report.bf16OverFp32.map((s) =>
      `ours, width ${s.width}: bf16 over fp32, train / infer (range of rounds): ` +
      ratio(s.ratio, s.range)
    ),
    `PyTorch: ${first?.reference?.engine ?? first?.referenceMissing ?? "-"}`,
    `peak: native ${fixed(machine.peak.nativeGflops, 1)} GFLOP/s (${
      fixed(machine.peak.nativeGflopsOneThread, 1)
    } one thread), wasm ${fixed(machine.peak.wasmGflopsOneThread, 1)} GFLOP/s one thread, ` +
    `oneDNN ${fixed(machine.peak.onednnGflops, 1)} GFLOP/s; ${machine.peak.method}`,
    `load average (1, 5, 15 min): ${load(machine.loadAverage.start)} at the start, ${
      load(machine.loadAverage.end)
    } at the end; ${report.seconds.toFixed(0)} s`,
  ].join("\n");
}
