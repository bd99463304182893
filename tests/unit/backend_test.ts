import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  BACKEND_ENV,
  BACKEND_RUNGS,
  currentPrecision,
  isSoftwareAdapter,
  readBackendEnv,
  requestGpuAdapter,
  selectBackend,
} from "../../lib/backends/backend.ts";
import { LabError, UsageError } from "../../lib/core/errors.ts";
import {
  choosePrecision,
  type CpuFeatureProbe,
  PRECISION_ENV,
  probeCpuFeatures,
  readPrecisionEnv,
} from "../../lib/backends/precision.ts";

/** Runs `fn` with `LAB_BACKEND` set to `value` (or unset), restoring it afterwards. */
async function withBackendEnv<T>(value: string | undefined, fn: () => Promise<T> | T): Promise<T> {
  const saved = Deno.env.get(BACKEND_ENV);
  if (value === undefined) Deno.env.delete(BACKEND_ENV);
  else Deno.env.set(BACKEND_ENV, value);
  try {
    return await fn();
  } finally {
    if (saved === undefined) Deno.env.delete(BACKEND_ENV);
    else Deno.env.set(BACKEND_ENV, saved);
  }
}

function resolvable(specifier: string): boolean {
  try {
    import.meta.resolve(specifier);
    return true;
  } catch {
    return false;
  }
}

/** The adapter WebGPU offers on this machine, if any (a CI machine may have llvmpipe or none). */
async function localAdapter(): Promise<
  { description?: string; isFallbackAdapter?: boolean } | null
> {
  const adapter = await requestGpuAdapter();
  if (!adapter) return null;
  return (adapter as GPUAdapter & { info?: { description?: string } }).info ?? {};
}

Deno.test("isSoftwareAdapter() rejects CPU fallbacks and accepts real GPUs", () => {
  assert.ok(isSoftwareAdapter({ description: "llvmpipe (LLVM 15.0.6, 256 bits)" }));
  assert.ok(isSoftwareAdapter({ description: "Google SwiftShader" }));
  assert.ok(isSoftwareAdapter({ device: "lavapipe" }));
  assert.ok(isSoftwareAdapter({ description: "NVIDIA H100", isFallbackAdapter: true }));
  assert.ok(!isSoftwareAdapter({ description: "NVIDIA H100 80GB HBM3", vendor: "4318" }));
  assert.ok(!isSoftwareAdapter({ description: "Apple M2", isFallbackAdapter: false }));
});

Deno.test("readBackendEnv() reads LAB_BACKEND, defaulting to auto and rejecting unknown names", async () => {
  assert.equal(await withBackendEnv(undefined, readBackendEnv), "auto");
  assert.equal(await withBackendEnv("", readBackendEnv), "auto");
  assert.equal(await withBackendEnv("wasm", readBackendEnv), "wasm");
  await withBackendEnv("tpu", () => {
    assert.throws(readBackendEnv, UsageError);
    assert.throws(readBackendEnv, /LAB_BACKEND=tpu is not a backend; use auto, node-gpu/);
  });
});

Deno.test("selectBackend() runs the rung LAB_BACKEND names", async () => {
  const info = await withBackendEnv("cpu", () => selectBackend());
  assert.equal(info.rung, "cpu");
  assert.equal(tf.getBackend(), "cpu");
  assert.deepEqual(info.skipped, []);
});

Deno.test("selectBackend() starts wasm (SIMD, one thread) with trainable convolutions", async () => {
  const info = await selectBackend({ backend: "wasm" });
  assert.equal(info.rung, "wasm");
  assert.equal(tf.getBackend(), "wasm");
  assert.match(info.description, /^wasm \(SIMD, 1 thread;/);
  assert.ok(tf.getKernel(tf.Conv2DBackpropFilter, "wasm"));
  const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
  const dw = tf.grad((w) => tf.conv2d(x, w as tf.Tensor4D, 1, "same").sum())(tf.ones([3, 3, 1, 1]));
  assert.deepEqual(Array.from(dw.dataSync()), [9, 12, 9, 12, 16, 12, 9, 12, 9]);
  tf.dispose([x, dw]);
});

Deno.test({
  name: "selectBackend() says why a named native rung cannot run",
  ignore: resolvable("@tensorflow/tfjs-node"),
  fn: async () => {
    await assert.rejects(
      selectBackend({ backend: "node" }),
      (error: Error) =>
        error instanceof LabError && /backend node cannot run: .*not installed/.test(error.message),
    );
  },
});

Deno.test("selectBackend() auto walks the ladder and never picks a software GPU adapter", async () => {
  const adapter = await localAdapter();
  const info = await withBackendEnv("auto", () => selectBackend());
  const chosen = BACKEND_RUNGS.indexOf(info.rung);
  assert.deepEqual(info.skipped.map((s) => s.rung), BACKEND_RUNGS.slice(0, chosen));
  for (const { reason } of info.skipped) assert.ok(reason.length > 0);
  if (adapter === null || isSoftwareAdapter(adapter)) {
    assert.ok(
      chosen > BACKEND_RUNGS.indexOf("webgpu"),
      `chose ${info.rung} on ${adapter?.description}`,
    );
  }
  if (!resolvable("@tensorflow/tfjs-node") && !resolvable("@tensorflow/tfjs-node-gpu")) {
    assert.match(info.skipped[0].reason, /tfjs-node-gpu is not installed/);
  }
  assert.equal(tf.getBackend(), info.tfBackend);
});

const WITH_BF16: CpuFeatureProbe = () => ({ bf16: true, flags: ["avx512_bf16"] });
const WITHOUT_BF16: CpuFeatureProbe = () => ({ bf16: false, flags: [] });

Deno.test("probeCpuFeatures() finds bfloat16 products in /proc/cpuinfo's flags", () => {
  const cpuinfo = (flags: string) => `processor\t: 0\nmodel name\t: A CPU\nflags\t\t: ${flags}\n`;
  assert.deepEqual(probeCpuFeatures(cpuinfo("fpu avx2 avx512f avx512_bf16 avx512_vnni")), {
    bf16: true,
    flags: ["avx512_bf16"],
  });
  assert.deepEqual(probeCpuFeatures(cpuinfo("fpu avx512f amx_bf16 amx_tile")).flags, [
    "amx_bf16",
  ]);
  assert.deepEqual(probeCpuFeatures(cpuinfo("fpu avx2 avx512f avx512_vnni")), {
    bf16: false,
    flags: [],
  });
  assert.equal(probeCpuFeatures("no flags line").bf16, false);
});

Deno.test("choosePrecision() takes bf16 only where the CPU has it, and fp32 when asked", () => {
  assert.equal(choosePrecision("auto", WITH_BF16).precision, "bf16");
  assert.match(choosePrecision("auto", WITH_BF16).description, /^bf16 compute, fp32 weights/);
  assert.equal(choosePrecision("auto", WITHOUT_BF16).precision, "fp32");
  assert.match(choosePrecision("auto", WITHOUT_BF16).description, /no bfloat16 products/);
  assert.equal(choosePrecision("fp32", WITH_BF16).precision, "fp32");
  assert.equal(choosePrecision("bf16", WITH_BF16).precision, "bf16");
  assert.throws(
    () => choosePrecision("bf16", WITHOUT_BF16),
    (error: Error) =>
      error instanceof LabError &&
      /^LAB_PRECISION=bf16, but this CPU multiplies no bfloat16 natively/.test(error.message) &&
      !error.message.includes("\n"),
  );
});

Deno.test("readPrecisionEnv() reads LAB_PRECISION, defaulting to auto, a bad value in one line", () => {
  const saved = Deno.env.get(PRECISION_ENV);
  try {
    Deno.env.delete(PRECISION_ENV);
    assert.equal(readPrecisionEnv(), "auto");
    Deno.env.set(PRECISION_ENV, "fp32");
    assert.equal(readPrecisionEnv(), "fp32");
    Deno.env.set(PRECISION_ENV, "fp16");
    assert.throws(
      readPrecisionEnv,
      (error: Error) =>
        error instanceof UsageError &&
        error.message === "LAB_PRECISION=fp16 is not a precision; use auto, fp32, bf16",
    );
  } finally {
    if (saved === undefined) Deno.env.delete(PRECISION_ENV);
    else Deno.env.set(PRECISION_ENV, saved);
  }
});

Deno.test("bf16 needs the onednn rung: other rungs compute in fp32 and refuse LAB_PRECISION=bf16", async () => {
  const wasm = await selectBackend({ backend: "wasm", precision: "auto", cpuFeatures: WITH_BF16 });
  assert.equal(wasm.precision, "fp32");
  await assert.rejects(
    selectBackend({ backend: "wasm", precision: "bf16", cpuFeatures: WITH_BF16 }),
    (error: Error) =>
      error instanceof LabError &&
      /^LAB_PRECISION=bf16 needs the onednn backend/.test(error.message),
  );
});

Deno.test("currentPrecision() says what the current backend computes in", async () => {
  await selectBackend({ backend: "wasm" });
  assert.equal(currentPrecision(), "fp32");
  await tf.setBackend("cpu");
  assert.equal(currentPrecision(), undefined, "after a direct setBackend, the lab cannot say");
});
