/**
 * Which TensorFlow.js backend runs the lab: a ladder tried once at start, fastest first.
 *
 * | rung | when |
 * | --- | --- |
 * | `node-gpu` | `@tensorflow/tfjs-node-gpu` is in deno.json's imports and its native library loads |
 * | `node` | `@tensorflow/tfjs-node` likewise (both optional: their install downloads libtensorflow) |
 * | `webgpu` | Deno finds a real GPU adapter through Vulkan, Metal or Direct3D 12 (not a software fallback such as lavapipe or SwiftShader) |
 * | `onednn` | oneDNN 2 or 3 (`libdnnl.so.2`, `libdnnl.so.3`) loads: the wasm backend with its convolutions, max-pools and large elementwise operations run natively on every core by lib/backends/onednn/kernels.ts |
 * | `wasm` | always (SIMD, one thread: Deno runs only module workers, so wasm threads never start); trainable through {@link registerWasmGradients} |
 * | `cpu` | the pure-JavaScript backend, the last resort |
 *
 * `LAB_BACKEND=<rung>` (or {@link BackendOptions.backend}) skips the ladder and insists on one.
 * `LAB_PRECISION=auto|fp32|bf16` (or {@link BackendOptions.precision}) chooses what the onednn
 * rung computes in (lib/backends/precision.ts): `auto` is bfloat16 with float32 weights where the
 * CPU multiplies bfloat16 natively, else float32; the backend's description says which. Every
 * other rung computes in float32.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import { getThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { LabError, UsageError } from "../core/errors.ts";
import {
  loadOneDnn,
  type OneDnn,
  ONEDNN_ENV,
  registerOneDnnKernels,
  unregisterOneDnnKernels,
} from "./onednn/mod.ts";
import { registerWasmGradients, type WasmGradientOptions } from "./wasm_gradients.ts";
import {
  choosePrecision,
  type CpuFeatureProbe,
  type Precision,
  PRECISION_ENV,
  type PrecisionChoice,
  type PrecisionSetting,
  probeCpuFeatures,
  readPrecisionEnv,
} from "./precision.ts";

/** Environment variable that chooses the backend (`auto` or a rung of {@link BACKEND_RUNGS}). */
export const BACKEND_ENV = "LAB_BACKEND";

/** The rungs of the ladder, fastest first. */
export const BACKEND_RUNGS = ["node-gpu", "node", "webgpu", "onednn", "wasm", "cpu"] as const;

/** One rung of the ladder. */
export type BackendRung = typeof BACKEND_RUNGS[number];

/** Options of {@link selectBackend}. */
export interface BackendOptions {
  /**
   * `"auto"` (the ladder) or one rung, which must then work. Default: the `LAB_BACKEND`
   * environment variable, else `"auto"`.
   */
  backend?: BackendRung | "auto";
  /** Options of the wasm gradient kernels (see {@link registerWasmGradients}). */
  wasmGradients?: WasmGradientOptions;
  /**
   * Threads of this thread's oneDNN calls (`onednn` rung), for workers that share the cores.
   * Default: one per core.
   */
  threads?: number;
  /**
   * What the onednn rung computes in: `auto` (bfloat16 where the CPU has it), `fp32` or `bf16`.
   * Default: the `LAB_PRECISION` environment variable, else `"auto"`.
   */
  precision?: PrecisionSetting;
  /** Reports the CPU's bfloat16 features (default: /proc/cpuinfo); tests pass their own. */
  cpuFeatures?: CpuFeatureProbe;
}

/** What {@link selectBackend} chose, and why it passed over the faster rungs. */
export interface BackendInfo {
  /** The rung that runs. */
  rung: BackendRung;
  /** The TensorFlow.js backend name (`tf.getBackend()`): `tensorflow`, `webgpu`, `wasm`, `cpu`. */
  tfBackend: string;
  /**
   * One line for people, e.g. `wasm (SIMD, 1 thread; convolution gradients from
   * lib/backends/wasm_gradients.ts)`; on onednn it ends with the precision.
   */
  description: string;
  /** What convolutions and matrix products compute in: `bf16` only on the onednn rung. */
  precision: Precision;
  /** The faster rungs that were tried and passed over, each with the reason. */
  skipped: Array<{ rung: BackendRung; reason: string }>;
  /** How to get a faster rung, when an install would (oneDNN, not found, on a CPU rung). */
  hint?: string;
}

/** The hint of a CPU rung chosen because oneDNN was not found. */
export const ONEDNN_HINT = "oneDNN trains 3-5x faster than wasm (README, Speed): install it " +
  "(Debian 12: sudo apt-get install libdnnl2; Debian 13: sudo apt-get install libdnnl3.6) and restart";

/** Describes a GPU adapter; the fields of `GPUAdapterInfo` that tell a real GPU from a fallback. */
export interface AdapterDescription {
  /** `GPUAdapterInfo.description`, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`. */
  description?: string;
  /** `GPUAdapterInfo.device`. */
  device?: string;
  /** `GPUAdapterInfo.vendor`. */
  vendor?: string;
  /** `GPUAdapterInfo.isFallbackAdapter` (or the adapter's own flag in older runtimes). */
  isFallbackAdapter?: boolean;
}

/** Names of software rasterizers that WebGPU may offer as an adapter on machines without a GPU. */
const SOFTWARE_ADAPTERS = /llvmpipe|lavapipe|softpipe|swiftshader|swrast|basic render|warp/i;

/** The rung {@link selectBackend} last started in this thread, and the tfjs backend it started. */
let selected: { rung: BackendRung; tfBackend: string } | undefined;

/** Modules of the native rungs: optional, used only when deno.json's imports name them. */
const NATIVE_MODULES: Record<"node-gpu" | "node", string> = {
  "node-gpu": "@tensorflow/tfjs-node-gpu",
  "node": "@tensorflow/tfjs-node",
};

/**
 * Picks the backend (the ladder, or the one `LAB_BACKEND`/`options.backend` names), makes it
 * current with `tf.setBackend`, and says which one runs. A named rung that cannot run is a
 * {@link LabError} saying why.
 *
 * @example
 * ```ts
 * import { selectBackend } from "./backend.ts";
 * const info = await selectBackend({ backend: "wasm" });
 * console.log(`backend: ${info.description}`);
 * ```
 */
export async function selectBackend(options: BackendOptions = {}): Promise<BackendInfo> {
  const choice = options.backend ?? readBackendEnv();
  const setting = options.precision ?? readPrecisionEnv();
  const rungs = choice === "auto" ? BACKEND_RUNGS : [choice];
  const skipped: BackendInfo["skipped"] = [];
  for (const rung of rungs) {
    const reason = await tryRung(rung, { ...options, precision: setting });
    if (reason === undefined) {
      if (setting === "bf16" && rung !== "onednn") {
        const why = skipped.find((s) => s.rung === "onednn")?.reason;
        throw new LabError(
          `${PRECISION_ENV}=bf16 needs the onednn backend, and ${rung} runs` +
            (why === undefined ? "" : ` (onednn: ${why})`),
        );
      }
      selected = { rung, tfBackend: tf.getBackend() };
      const missing = skipped.find((s) => s.rung === "onednn" && /not found/.test(s.reason));
      const precision = rung === "onednn" ? onednnPrecision! : undefined;
      return {
        rung,
        tfBackend: tf.getBackend(),
        description: await describe(rung) +
          (precision === undefined ? "" : `; ${precision.description}`),
        precision: precision?.precision ?? "fp32",
        skipped,
        ...(missing ? { hint: ONEDNN_HINT } : {}),
      };
    }
    if (choice !== "auto") throw new LabError(`backend ${rung} cannot run: ${reason}`);
    skipped.push({ rung, reason });
  }
  throw new LabError(
    `no TensorFlow.js backend could start: ${
      skipped.map((s) => `${s.rung}: ${s.reason}`).join("; ")
    }`,
  );
}

/**
 * The rung {@link selectBackend} last started in this thread, if TensorFlow.js still runs the
 * backend it started (not after a direct `tf.setBackend` to another).
 */
export function currentRung(): BackendRung | undefined {
  return selected?.tfBackend === tf.getBackend() ? selected.rung : undefined;
}

/**
 * What the backend {@link selectBackend} last started in this thread computes its convolutions
 * and matrix products in (`bf16` only on the onednn rung), if TensorFlow.js still runs it.
 */
export function currentPrecision(): Precision | undefined {
  const rung = currentRung();
  if (rung === undefined) return undefined;
  return rung === "onednn" ? onednnPrecision?.precision ?? "fp32" : "fp32";
}

/** Reads and validates `LAB_BACKEND`; `"auto"` when unset or empty. */
export function readBackendEnv(): BackendRung | "auto" {
  const value = Deno.env.get(BACKEND_ENV)?.trim() ?? "";
  if (value === "" || value === "auto") return "auto";
  if (!(BACKEND_RUNGS as readonly string[]).includes(value)) {
    throw new UsageError(
      `${BACKEND_ENV}=${value} is not a backend; use auto, ${BACKEND_RUNGS.join(", ")}`,
    );
  }
  return value as BackendRung;
}

/**
 * Whether a WebGPU adapter is a software fallback (llvmpipe, lavapipe, SwiftShader, WARP...), on
 * which tfjs-webgpu is slower than wasm.
 */
export function isSoftwareAdapter(adapter: AdapterDescription): boolean {
  if (adapter.isFallbackAdapter === true) return true;
  return SOFTWARE_ADAPTERS.test(`${adapter.description ?? ""} ${adapter.device ?? ""}`);
}

/** Tries to start one rung; `undefined` when it runs, else why not. */
async function tryRung(rung: BackendRung, options: BackendOptions): Promise<string | undefined> {
  try {
    switch (rung) {
      case "node-gpu":
      case "node":
        return await startNative(NATIVE_MODULES[rung]);
      case "webgpu":
        return await startWebGpu();
      case "onednn":
        return await startOneDnn(options);
      case "wasm":
        unregisterOneDnnKernels();
        registerWasmGradients(options.wasmGradients);
        return await start("wasm");
      case "cpu":
        return await start("cpu");
    }
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function startNative(specifier: string): Promise<string | undefined> {
  let resolved: string;
  try {
    resolved = import.meta.resolve(specifier);
  } catch {
    return `${specifier} is not installed (not in deno.json imports)`;
  }
  await import(resolved);
  return await start("tensorflow");
}

/** The oneDNN library, loaded once per thread (a worker loads its own) and per LAB_ONEDNN. */
let onednn: OneDnn | undefined;
let onednnSetting: string | undefined;
/** The precision the onednn kernels were last registered with. */
let onednnPrecision: PrecisionChoice | undefined;

async function startOneDnn(options: BackendOptions): Promise<string | undefined> {
  const precision = choosePrecision(
    options.precision ?? readPrecisionEnv(),
    options.cpuFeatures ?? probeCpuFeatures,
  );
  const setting = Deno.env.get(ONEDNN_ENV) ?? "";
  if (onednn === undefined || setting !== onednnSetting) {
    onednn = undefined; // a load that fails leaves none, and the next selection tries again
    onednnSetting = setting;
    onednn = loadOneDnn();
  }
  unregisterOneDnnKernels();
  registerWasmGradients(options.wasmGradients);
  registerOneDnnKernels(onednn, { precision: precision.precision });
  onednnPrecision = precision;
  if (options.threads !== undefined) onednn.setThreads(options.threads);
  const reason = await start("wasm");
  if (reason !== undefined) unregisterOneDnnKernels();
  return reason;
}

/** Deno's variable for the graphics APIs its WebGPU looks for adapters through. */
export const WEBGPU_BACKEND_ENV = "DENO_WEBGPU_BACKEND";
/**
 * The graphics APIs the lab looks for a GPU through, unless {@link WEBGPU_BACKEND_ENV} says
 * otherwise: Vulkan, Metal and Direct3D 12, where GPU drivers are. Not OpenGL: on a machine
 * without a GPU, Deno's WebGPU found there only Mesa's llvmpipe, a software rasterizer the lab
 * refuses anyway, after loading Mesa and LLVM into the process, whose EGL library then freed memory
 * as the process ended while other threads still ran, crashing it now and then (glibc's
 * "corrupted size vs. prev_size in fastbins", exit 134).
 */
const WEBGPU_BACKENDS = "vulkan,metal,dx12";

/**
 * The GPU adapter Deno's WebGPU offers, looked for through {@link WEBGPU_BACKENDS} unless
 * {@link WEBGPU_BACKEND_ENV} is set; null when there is none, undefined without `navigator.gpu`.
 */
export async function requestGpuAdapter(): Promise<GPUAdapter | null | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (gpu === undefined) return undefined;
  if (Deno.env.get(WEBGPU_BACKEND_ENV) === undefined) {
    Deno.env.set(WEBGPU_BACKEND_ENV, WEBGPU_BACKENDS);
  }
  return await gpu.requestAdapter({ powerPreference: "high-performance" });
}

async function startWebGpu(): Promise<string | undefined> {
  const adapter = await requestGpuAdapter();
  if (adapter === undefined) return "this Deno has no navigator.gpu";
  if (adapter === null) return "no GPU adapter";
  const info = adapterDescription(adapter);
  if (isSoftwareAdapter(info)) {
    return `the only adapter is a software fallback (${info.description || "unnamed"})`;
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  return await start("webgpu");
}

function adapterDescription(adapter: GPUAdapter): AdapterDescription {
  const info = (adapter as GPUAdapter & { info?: AdapterDescription }).info ?? {};
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  return {
    description: info.description,
    device: info.device,
    vendor: info.vendor,
    isFallbackAdapter: info.isFallbackAdapter ?? legacy,
  };
}

async function start(name: string): Promise<string | undefined> {
  if (!(await tf.setBackend(name))) return `tf.setBackend("${name}") failed`;
  await tf.ready();
  return undefined;
}

async function describe(rung: BackendRung): Promise<string> {
  switch (rung) {
    case "node-gpu":
      return "node-gpu (libtensorflow with CUDA, through @tensorflow/tfjs-node-gpu)";
    case "node":
      return "node (native libtensorflow on the CPU, through @tensorflow/tfjs-node)";
    case "webgpu":
      return "webgpu (the GPU through Deno's WebGPU)";
    case "onednn":
      return `onednn (oneDNN ${onednn!.version} from ${onednn!.library}: convolutions, ` +
        "max-pools and large elementwise operations on every core, the rest on wasm)";
    case "wasm": {
      const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") ? "SIMD" : "no SIMD";
      const threads = getThreadsCount();
      return `wasm (${simd}, ${threads} thread${threads === 1 ? "" : "s"}; ` +
        "convolution gradients from lib/backends/wasm_gradients.ts)";
    }
    case "cpu":
      return "cpu (pure JavaScript, slow: for tests and as a last resort)";
  }
}
