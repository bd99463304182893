/**
 * Which numbers the onednn backend computes its convolutions and matrix products in: float32, or
 * bfloat16 with float32 accumulation and float32 weights (mixed precision, see
 * lib/backends/onednn/binding.ts). bfloat16 pays only where the CPU multiplies it natively
 * (AVX512_BF16: AMD Zen 4 and later, Intel Cooper Lake; AMX: Intel Sapphire Rapids and later),
 * where oneDNN's bfloat16 kernels do twice the float32 multiplies per instruction; elsewhere
 * oneDNN would emulate it, slower than float32, so there the lab stays on float32.
 *
 * `LAB_PRECISION=auto|fp32|bf16` chooses: `auto` (the default) is bfloat16 where the CPU has it;
 * `bf16` insists, and is an error where the CPU lacks it. The CPU's features come from a probe
 * that tests replace, so that the choice on a CPU without bfloat16 is tested on one with it.
 *
 * @module
 */

import { LabError, UsageError } from "../core/errors.ts";
import type { Precision } from "./onednn/api.ts";

export type { Precision };

/** Environment variable that chooses the precision: `auto`, `fp32` or `bf16`. */
export const PRECISION_ENV = "LAB_PRECISION";

/** The settings of {@link PRECISION_ENV}. */
export const PRECISION_SETTINGS = ["auto", "fp32", "bf16"] as const;

/** One of {@link PRECISION_SETTINGS}. */
export type PrecisionSetting = typeof PRECISION_SETTINGS[number];

/** The CPU features that decide the precision. */
export interface CpuFeatures {
  /** Native bfloat16 products: AVX512_BF16 or AMX-BF16. */
  bf16: boolean;
  /** The flags that said so (e.g. `avx512_bf16`), for the backend line; empty without. */
  flags: string[];
}

/** A function that reports the CPU's features (tests pass their own). */
export type CpuFeatureProbe = () => CpuFeatures;

/** The /proc/cpuinfo flags of native bfloat16 products. */
const BF16_FLAGS = ["avx512_bf16", "amx_bf16"];

/**
 * The CPU's bfloat16 features from the `flags` line of Linux's /proc/cpuinfo (`cpuinfo` to read
 * another text); none where there is no such file (other systems stay on float32).
 */
export function probeCpuFeatures(cpuinfo?: string): CpuFeatures {
  let text = cpuinfo;
  if (text === undefined) {
    try {
      text = Deno.readTextFileSync("/proc/cpuinfo");
    } catch {
      return { bf16: false, flags: [] };
    }
  }
  const flags = (text.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/);
  const found = BF16_FLAGS.filter((flag) => flags.includes(flag));
  return { bf16: found.length > 0, flags: found };
}

/** Reads and validates `LAB_PRECISION`; `auto` when unset or empty. */
export function readPrecisionEnv(): PrecisionSetting {
  const value = Deno.env.get(PRECISION_ENV)?.trim() ?? "";
  if (value === "") return "auto";
  if (!(PRECISION_SETTINGS as readonly string[]).includes(value)) {
    throw new UsageError(
      `${PRECISION_ENV}=${value} is not a precision; use ${PRECISION_SETTINGS.join(", ")}`,
    );
  }
  return value as PrecisionSetting;
}

/** What {@link choosePrecision} chose, and why, in words for the backend line. */
export interface PrecisionChoice {
  precision: Precision;
  /** e.g. `bf16 compute, fp32 weights (LAB_PRECISION=auto; the CPU has avx512_bf16)`. */
  description: string;
}

/**
 * The precision a setting gives on a CPU with `features`: `auto` is bfloat16 where the CPU has
 * it, else float32; `bf16` where it lacks it is a {@link LabError}.
 *
 * @example
 * ```ts
 * import { choosePrecision } from "./precision.ts";
 * const noBf16 = () => ({ bf16: false, flags: [] });
 * console.log(choosePrecision("auto", noBf16).precision); // "fp32"
 * ```
 */
export function choosePrecision(
  setting: PrecisionSetting,
  probe: CpuFeatureProbe = probeCpuFeatures,
): PrecisionChoice {
  const source = `${PRECISION_ENV}=${setting}`;
  if (setting === "fp32") return { precision: "fp32", description: `fp32 (${source})` };
  const features = probe();
  if (features.bf16) {
    return {
      precision: "bf16",
      description: `bf16 compute, fp32 weights (${source}; the CPU has ${
        features.flags.join(", ")
      })`,
    };
  }
  if (setting === "bf16") {
    throw new LabError(
      `${source}, but this CPU multiplies no bfloat16 natively (no ${
        BF16_FLAGS.join(" or ")
      } in /proc/cpuinfo); use ${PRECISION_ENV}=auto or fp32`,
    );
  }
  return { precision: "fp32", description: `fp32 (${source}; the CPU has no bfloat16 products)` };
}
