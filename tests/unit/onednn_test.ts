import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import {
  BACKEND_ENV,
  BACKEND_RUNGS,
  currentPrecision,
  selectBackend,
} from "../../lib/backends/backend.ts";
import { LabError, UsageError } from "../../lib/core/errors.ts";
import { join } from "node:path";
import { evaluateModel } from "../../lib/evaluation/evaluate.ts";
import { TEST_FILE, TRAIN_FILE } from "../../lib/data/dataset.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";
import { runDeno, runTask } from "../support/run_task.ts";
import { createModel } from "../../lib/model/model.ts";
import {
  type ConvShape,
  loadOneDnn,
  ONEDNN_ENV,
  ONEDNN_VERSIONS,
  type PoolShape,
} from "../../lib/backends/onednn/mod.ts";
import { createParallelTrainer } from "../../lib/training/parallel.ts";
import { createRandom, type Random } from "../../lib/core/random.ts";
import {
  type CpuFeatureProbe,
  type Precision,
  PRECISION_ENV,
  probeCpuFeatures,
} from "../../lib/backends/precision.ts";
import { computeCost } from "../../lib/grading/references.ts";

/** Why oneDNN cannot run here, or undefined when it can (the tests that need it skip then). */
const missing = (() => {
  try {
    loadOneDnn();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
})();
if (missing !== undefined) console.log(`oneDNN tests skipped: ${missing}`);
/** Why the bfloat16 tests cannot run here (no oneDNN, or a CPU without bfloat16 products). */
const noBf16 = missing ??
  (probeCpuFeatures().bf16 ? undefined : "the CPU has no AVX512_BF16 or AMX-BF16");
if (noBf16 !== undefined && missing === undefined) console.log(`bf16 tests skipped: ${noBf16}`);

type Pad = "same" | "valid" | number;

/** Seeded standard normal numbers of a shape, to make the same tensor on each backend. */
interface Values {
  data: Float32Array;
  shape: number[];
}

function normals(random: Random, shape: number[]): Values {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  });
  return { data, shape };
}

/**
 * Runs `compute` on the cpu backend and on `onednn` in `precision` with the same inputs;
 * compares every output, each error against `tolerance` times the output's largest magnitude.
 */
async function compareWithCpu(
  label: string,
  inputs: Values[],
  compute: (...inputs: tf.Tensor[]) => tf.Tensor[],
  tolerance = 1e-5,
  precision: Precision = "fp32",
) {
  const results: Float32Array[][] = [];
  for (const backend of ["cpu", "onednn"] as const) {
    await selectBackend({ backend, precision: backend === "cpu" ? "fp32" : precision });
    const made = inputs.map(({ data, shape }) => tf.tensor(data, shape));
    const outputs = compute(...made);
    results.push(outputs.map((output) => output.dataSync() as Float32Array));
    tf.dispose([...made, ...outputs]);
  }
  const [expected, actual] = results;
  expected.forEach((values, k) => {
    assert.equal(actual[k].length, values.length, `${label} output ${k}`);
    const scale = values.reduce((max, value) => Math.max(max, Math.abs(value)), 1);
    values.forEach((value, i) => {
      const error = Math.abs(actual[k][i] - value);
      assert.ok(
        error <= tolerance * scale,
        `${label} output ${k} [${i}]: ${actual[k][i]} vs ${value}`,
      );
    });
  });
}

/**
 * Stride-1 "same" convolutions `[x shape, filter shape]` on cpu and onednn: plain, fused with a
 * bias and ReLU, and both gradients.
 */
async function compareSameConvolutions(cases: number[][][], seed: number) {
  const random = createRandom(seed);
  for (const [x, filter] of cases) {
    await compareWithCpu(
      `x=${x} filter=${filter}`,
      [normals(random, x), normals(random, filter), normals(random, [filter[3]])],
      (a, w, bias) => {
        const conv = (a: tf.Tensor, w: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, "same");
        const fused = tf.fused.conv2d({
          x: a as tf.Tensor4D,
          filter: w as tf.Tensor4D,
          strides: 1,
          pad: "same",
          bias,
          activation: "relu",
        });
        return [conv(a, w), fused, ...tf.grads((a, w) => conv(a, w).square().sum())([a, w])];
      },
    );
  }
}

/**
 * Seeded random convolutions: shapes, kernel sizes, strides and paddings. A numeric pad gets a
 * square kernel: tfjs 4.22 sizes the output of a numeric pad from the kernel's height alone.
 */
function randomConvolutions(count: number, seed: number) {
  const random = createRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  return Array.from({ length: count }, (_, i) => {
    const kh = int(1, 5), kw = i % 3 === 2 ? kh : int(1, 5);
    const x = [int(1, 3), int(kh, 12), int(kw, 12), int(1, 5)];
    const strides: [number, number] = i % 3 === 0 ? [int(1, 2), int(1, 3)] : [1, 1];
    const pads: Pad[] = ["same", "valid", int(0, 2)];
    return { x, filter: [kh, kw, x[3], int(1, 6)], strides, pad: pads[i % pads.length] };
  });
}

Deno.test({
  name: "oneDNN convolutions and their gradients equal the cpu backend's",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(1);
    for (const c of randomConvolutions(30, 2)) {
      const rounding = typeof c.pad === "number" ? "floor" : undefined;
      await compareWithCpu(
        `x=${c.x} filter=${c.filter} strides=${c.strides} pad=${c.pad}`,
        [normals(random, c.x), normals(random, c.filter)],
        (x, filter) => {
          const conv = (a: tf.Tensor, w: tf.Tensor) =>
            tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad, "NHWC", 1, rounding);
          return [conv(x, filter), ...tf.grads((a, w) => conv(a, w).square().sum())([x, filter])];
        },
      );
    }
  },
});

Deno.test({
  name: "5x5 and 7x7 convolutions of few channels, run on column pairs, equal the cpu backend's",
  ignore: missing !== undefined,
  fn: async () => {
    // [x, filter]: the lab's first two width-8 convolutions, a 7x7 filter, an odd width (not
    // paired), and 16 output channels (not paired).
    const cases = [
      [[2, 6, 8, 1], [5, 5, 1, 8]],
      [[2, 6, 8, 8], [5, 5, 8, 8]],
      [[1, 5, 12, 3], [7, 7, 3, 5]],
      [[2, 6, 7, 8], [5, 5, 8, 8]],
      [[2, 6, 8, 8], [5, 5, 8, 16]],
    ];
    await compareSameConvolutions(cases, 11);
  },
});

Deno.test({
  name:
    "3x3 convolutions, on Winograd's algorithm where this oneDNN has it, equal the cpu backend's",
  ignore: missing !== undefined,
  fn: async () => {
    // [x, filter]: 3x3 convolutions of the lab's width-8 model (its third and fourth blocks), of
    // width 64 (its widest, 512 channels), and of few channels.
    const cases = [
      [[2, 16, 16, 16], [3, 3, 16, 32]],
      [[2, 8, 8, 64], [3, 3, 64, 64]],
      [[1, 4, 4, 512], [3, 3, 512, 512]],
      [[2, 9, 7, 3], [3, 3, 3, 5]],
    ];
    await compareSameConvolutions(cases, 12);
    // Which algorithm ran: oneDNN 2 has Winograd for AVX-512, oneDNN 3 has it nowhere on CPUs.
    const onednn = loadOneDnn();
    const [batch, size, channels] = [2, 8, 64];
    const shape: ConvShape = {
      batch,
      inHeight: size,
      inWidth: size,
      inChannels: channels,
      outHeight: size,
      outWidth: size,
      outChannels: channels,
      filterHeight: 3,
      filterWidth: 3,
      strideHeight: 1,
      strideWidth: 1,
      padTop: 1,
      padBottom: 1,
      padLeft: 1,
      padRight: 1,
    };
    const array = (length: number) => new Float32Array(new ArrayBuffer(4 * length));
    const activations = batch * size * size * channels;
    onednn.conv2d(shape, array(activations), array(9 * channels * channels), array(activations));
    const [implementation] = Object.values(onednn.implementations());
    const winograd = onednn.version.startsWith("2.") && implementation.includes("avx512_core");
    assert.equal(implementation.startsWith("jit_wino"), winograd, implementation);
  },
});

Deno.test({
  name: "oneDNN fused convolutions (bias, ReLU) equal the cpu backend's",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(3);
    for (const activation of ["relu", "linear"] as const) {
      for (const withBias of [true, false]) {
        await compareWithCpu(
          `${activation} bias ${withBias}`,
          [
            normals(random, [2, 9, 7, 3]),
            normals(random, [3, 3, 3, 5]),
            normals(random, [5]),
          ],
          (x, filter, bias) => [
            tf.fused.conv2d({
              x: x as tf.Tensor4D,
              filter: filter as tf.Tensor4D,
              strides: 1,
              pad: "same",
              bias: withBias ? bias : undefined,
              activation,
            }),
          ],
        );
      }
    }
  },
});

Deno.test({
  name: "oneDNN max-pools and their gradients equal the cpu backend's, negative inputs included",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(4);
    const cases: Array<[number[], number, number, "same" | "valid"]> = [
      [[2, 9, 7, 3], 2, 2, "same"],
      [[2, 8, 8, 4], 2, 2, "valid"],
      [[1, 11, 9, 2], 3, 2, "same"],
      [[3, 10, 6, 1], 2, 1, "valid"],
    ];
    for (const [shape, size, stride, pad] of cases) {
      await compareWithCpu(
        `x=${shape} size=${size} stride=${stride} pad=${pad}`,
        [normals(random, shape)],
        (x) => {
          const pool = (a: tf.Tensor) => tf.maxPool(a as tf.Tensor4D, size, stride, pad);
          return [pool(x), tf.grad((a) => pool(a).square().sum())(x)];
        },
      );
    }
  },
});

Deno.test({
  name: "oneDNN sums over leading or trailing axes; other sums fall back, all equal cpu's",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(5);
    await compareWithCpu(
      "sums",
      [normals(random, [3, 5, 4, 6])],
      (x) => [
        tf.sum(x, [0, 1, 2]),
        tf.sum(x, [2, 3], true),
        tf.sum(x, 0),
        tf.sum(x),
        tf.sum(x, [1, 2]),
        tf.sum(x, -1),
        tf.sum(tf.cast(x, "int32"), [0, 1, 2]),
      ],
    );
  },
});

Deno.test({
  name:
    "oneDNN adds, multiplies, rectifies and takes ReLU's gradient of large arrays as the cpu backend does, broadcasts too",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(9);
    const shape = [3, 64, 64, 8];
    await compareWithCpu(
      "elementwise",
      [
        normals(random, shape),
        normals(random, shape),
        normals(random, [8]),
        normals(random, [
          1,
          64,
          1,
          8,
        ]),
        normals(random, [1]),
        normals(random, [4]),
      ],
      (a, b, bias, rows, scalar, quarter) => [
        tf.add(a, b),
        tf.add(a, bias),
        tf.add(bias, a),
        tf.mul(a, b),
        tf.mul(rows, a),
        tf.relu(a),
        tf.add(bias, bias),
        tf.add(a, scalar),
        tf.mul(tf.reshape(a, [3, 64, 128, 4]), quarter),
        tf.grad((t) => tf.relu(t).mul(b).sum())(a),
        tf.grad((t) => tf.relu(t).mul(bias).sum())(bias),
        tf.add(
          tf.reshape(a, [-1]).slice(0, 256).reshape([256, 1]),
          tf.reshape(b, [-1]).slice(0, 256).reshape([1, 256]),
        ),
        tf.add(tf.cast(a, "int32"), tf.cast(b, "int32")),
      ],
    );
  },
});

Deno.test({
  name: "onednn gives ReLU a one-pass gradient while it runs; wasm puts tfjs's back",
  ignore: missing !== undefined,
  fn: async () => {
    await selectBackend({ backend: "wasm" });
    const original = tf.getGradient(tf.Relu);
    await selectBackend({ backend: "onednn" });
    assert.notEqual(tf.getGradient(tf.Relu), original);
    await selectBackend({ backend: "wasm" });
    assert.equal(tf.getGradient(tf.Relu), original);
  },
});

Deno.test({
  name: "oneDNN leaves dilated convolutions to the wasm kernels, which agree with cpu",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(6);
    await compareWithCpu(
      "dilated",
      [normals(random, [2, 10, 10, 2]), normals(random, [3, 3, 2, 3])],
      (x, filter) => [tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, "same", "NHWC", 2)],
    );
  },
});

Deno.test({
  name: "the lab's model trains on onednn with the same losses as on cpu",
  ignore: missing !== undefined,
  fn: async () => {
    const random = createRandom(7);
    const n = 4, size = 32;
    const pixels = Float32Array.from({ length: n * size * size }, () => 256 * random());
    const losses = async (backend: "cpu" | "onednn") => {
      await selectBackend({ backend, precision: "fp32" });
      const model = createModel({ width: 4, imageSize: size, seed: 9 });
      const images = tf.tensor4d(pixels, [n, size, size, 1]);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 1, 0], "int32"), 2) as tf.Tensor2D;
      const optimizer = tf.train.momentum(0.05, 0.9, true);
      const trajectory: number[] = [];
      for (let step = 0; step < 3; step++) {
        const cost = optimizer.minimize(
          () => computeCost(model.predictLogits(images), labels),
          true,
          model.trainableVariables(),
        )!;
        trajectory.push(cost.dataSync()[0]);
        cost.dispose();
      }
      tf.dispose([images, labels]);
      optimizer.dispose();
      model.dispose();
      return trajectory;
    };
    const cpu = await losses("cpu");
    const onednn = await losses("onednn");
    cpu.forEach((loss, i) =>
      assert.ok(Math.abs(onednn[i] - loss) <= 1e-4 * (1 + loss), `step ${i}: ${onednn} vs ${cpu}`)
    );
    assert.notEqual(cpu[0], cpu[2], "the weights change between steps");
  },
});

Deno.test({
  name: "replicas on onednn make the update the calling thread makes",
  ignore: missing !== undefined,
  fn: () => withPrecisionEnv("fp32", () => replicasMatchTheCallingThread(/; fp32 /)),
});

Deno.test({
  name:
    "replicas read LAB_PRECISION: in bf16 they make the update the calling thread makes in bf16",
  ignore: noBf16 !== undefined,
  fn: () => withPrecisionEnv("bf16", () => replicasMatchTheCallingThread(/; bf16 compute/)),
});

/** Runs `fn` with `LAB_PRECISION` set (workers read it), restoring it afterwards. */
async function withPrecisionEnv(value: string, fn: () => Promise<void>) {
  const saved = Deno.env.get(PRECISION_ENV);
  Deno.env.set(PRECISION_ENV, value);
  try {
    await fn();
  } finally {
    if (saved === undefined) Deno.env.delete(PRECISION_ENV);
    else Deno.env.set(PRECISION_ENV, saved);
  }
}

/**
 * Trains a step in two replicas and in this thread, on onednn in the precision `LAB_PRECISION`
 * says; the weights must agree, and the replicas' backend must say it (`precision`).
 */
async function replicasMatchTheCallingThread(precision: RegExp) {
  await selectBackend({ backend: "onednn" });
  const random = createRandom(8);
  const images = tf.tensor4d(
    Float32Array.from({ length: 6 * 32 * 32 }, () => 256 * random()),
    [6, 32, 32, 1],
  );
  const labels = tf.oneHot(tf.tensor1d([0, 1, 1, 0, 1, 0], "int32"), 2) as tf.Tensor2D;
  const step = async (parallel: boolean) => {
    const model = createModel({ width: 2, imageSize: 32, seed: 3 });
    const optimizer = tf.train.sgd(0.1);
    if (parallel) {
      const trainer = await createParallelTrainer(model, { workers: 2, microBatchSize: 2 });
      assert.match(trainer.backend, /^onednn/);
      assert.match(trainer.backend, precision);
      await trainer.trainStep(optimizer, images, labels);
      trainer.dispose();
    } else {
      optimizer.minimize(() => computeCost(model.predictLogits(images), labels));
    }
    const weights = model.trainableVariables().map((v) => v.dataSync() as Float32Array);
    optimizer.dispose();
    model.dispose();
    return weights;
  };
  const serial = await step(false);
  const parallel = await step(true);
  const initial = createModel({ width: 2, imageSize: 32, seed: 3 });
  const before = initial.trainableVariables().map((v) => v.dataSync() as Float32Array);
  initial.dispose();
  serial.forEach((weights, i) =>
    weights.forEach((value, k) => {
      const moved = Math.abs(value - before[i][k]);
      assert.ok(Math.abs(parallel[i][k] - value) <= 1e-4 * (1e-3 + moved), `weight ${i} [${k}]`);
    })
  );
  assert.ok(serial.some((w, i) => w.some((value, k) => value !== before[i][k])), "weights moved");
  tf.dispose([images, labels]);
}

Deno.test({
  name: "selectBackend() runs onednn on the wasm backend, says so, and auto prefers it to wasm",
  ignore: missing !== undefined,
  fn: async () => {
    const info = await selectBackend({ backend: "onednn" });
    assert.equal(info.rung, "onednn");
    assert.equal(tf.getBackend(), "wasm");
    assert.match(info.description, /^onednn \(oneDNN [23]\.\d+\.\d+ from \S*libdnnl/);
    const auto = await selectBackend({ backend: "auto" });
    assert.ok(BACKEND_RUNGS.indexOf(auto.rung) <= BACKEND_RUNGS.indexOf("onednn"), auto.rung);
    const wasm = await selectBackend({ backend: "wasm" });
    assert.match(wasm.description, /^wasm \(SIMD, 1 thread;/);
  },
});

Deno.test({
  name: "oneDNN runs the lab's layers with JIT kernels, never its slow reference ones",
  ignore: missing !== undefined,
  fn: () => {
    const onednn = loadOneDnn();
    const major = Number(onednn.version.split(".")[0]);
    assert.ok((ONEDNN_VERSIONS as readonly number[]).includes(major), onednn.version);
    assert.match(onednn.runtime, /^(OpenMP|TBB|sequential|threadpool)$/);
    console.log(`oneDNN ${onednn.version} (${onednn.runtime}) from ${onednn.library}`);
    const floats = (n: number) => new Float32Array(n).fill(0.5);
    const layers = [[1, 8, 5], [8, 8, 5], [8, 16, 5], [16, 32, 3], [64, 64, 3]];
    for (const [inChannels, outChannels, k] of layers) {
      const side = 32, batch = 2, pad = (k - 1) / 2;
      const shape: ConvShape = {
        batch,
        inHeight: side,
        inWidth: side,
        inChannels,
        outHeight: side,
        outWidth: side,
        outChannels,
        filterHeight: k,
        filterWidth: k,
        strideHeight: 1,
        strideWidth: 1,
        padTop: pad,
        padBottom: pad,
        padLeft: pad,
        padRight: pad,
      };
      const x = floats(batch * side * side * inChannels);
      const filter = floats(k * k * inChannels * outChannels);
      const y = floats(batch * side * side * outChannels);
      onednn.conv2d(shape, x, filter, y, { bias: floats(outChannels), relu: true });
      onednn.conv2dBackpropInput(shape, y, filter, x);
      onednn.conv2dBackpropFilter(shape, x, y, filter);
      const pool: PoolShape = { ...shape, outHeight: side / 2, outWidth: side / 2 };
      Object.assign(pool, { filterHeight: 2, filterWidth: 2, strideHeight: 2, strideWidth: 2 });
      Object.assign(pool, { padTop: 0, padBottom: 0, padLeft: 0, padRight: 0 });
      const pooled = floats(y.length / 4);
      onednn.maxPool(pool, x, floats(x.length / 4));
      onednn.maxPoolGrad({ ...pool, inChannels: outChannels }, y, pooled, floats(y.length));
      onednn.sum(batch * side * side, outChannels, "rows", y, floats(outChannels));
      onednn.binary(
        "add",
        [batch, side, side, outChannels],
        [1, 1, 1, outChannels],
        y,
        floats(outChannels),
        floats(y.length),
      );
      onednn.relu(y.length, y, floats(y.length));
    }
    const chosen = Object.entries(onednn.implementations());
    const convolutions = chosen.filter(([operation]) => operation.startsWith("conv"));
    assert.equal(convolutions.length, 3 * layers.length, "forward, input and filter gradients");
    for (const [operation, implementation] of chosen) {
      assert.doesNotMatch(implementation, /^ref/, `${operation}: ${implementation}`);
    }
    assert.throws(
      () => onednn.relu(1000, floats(1000), floats(999)),
      (error: Error) =>
        error instanceof UsageError &&
        /relu 1000: array 2 holds 999 numbers, the operation takes 1000/.test(error.message),
    );
  },
});

Deno.test({
  name: "deno task train and evaluate run on onednn as a user runs them",
  ignore: missing !== undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "onednn_cli_" });
    try {
      const data = join(dir, "data");
      await Deno.mkdir(data);
      await writeFixtureLabFile(join(data, TRAIN_FILE), 20, 32);
      await writeFixtureLabFile(join(data, TEST_FILE), 8, 32);
      const out = join(dir, "checkpoint");
      const common = ["--data", data, "--image-size", "32"];
      const trained = await runTask(
        "train",
        [
          ...[...common, "--out", out, "--width", "4", "--batch", "5", "--steps", "3"],
          ...["--eval-every", "2", "--checkpoint-every", "3"],
        ],
        dir,
        "onednn",
      );
      assert.equal(trained.code, 0, trained.stderr);
      assert.match(trained.stdout, /^backend: onednn \(oneDNN [23]\..*; (fp32|bf16 compute)/m);
      const evaluated = await runTask(
        "evaluate",
        ["--checkpoint", out, "--data", data, "--json"],
        dir,
        "onednn",
      );
      assert.equal(evaluated.code, 0, evaluated.stderr);
      const report = JSON.parse(evaluated.stdout);
      assert.equal(report.backend, "onednn");
      assert.equal(report.n, 8);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "evaluateModel() names the onednn rung as its backend",
  ignore: missing !== undefined,
  fn: async () => {
    await selectBackend({ backend: "onednn" });
    const model = createModel({ width: 2, imageSize: 32 });
    const labels = Uint8Array.from([0, 1, 1, 0]);
    const images = Uint8Array.from({ length: 4 * 32 * 32 }, (_, i) => i % 251);
    const report = await evaluateModel(model, { images, labels, imageSize: 32 }, {
      bootstrapSamples: 10,
    });
    model.dispose();
    assert.equal(report.backend, "onednn");
  },
});

Deno.test({
  name: "a process that ran oneDNN ends without crashing: oneDNN and OpenMP stay loaded to the end",
  ignore: missing !== undefined,
  fn: async () => {
    const child = new URL("../support/onednn_exit_child.ts", import.meta.url);
    const { [BACKEND_ENV]: _, ...env } = Deno.env.toObject();
    const result = await runDeno(["run", "-A", child.pathname], { env });
    assert.equal(result.code, 0, `exit ${result.code}: ${result.stderr}`);
    assert.equal(result.stdout.trim(), "onednn");
  },
});

Deno.test("wasm's Identity and same-dtype Cast share the data instead of copying it", async () => {
  await selectBackend({ backend: "wasm" });
  const backend = tf.backend() as BackendWasm;
  const x = tf.tensor([1, 2, 3]);
  const copy = tf.clone(x);
  const cast = tf.cast(x, "float32");
  assert.equal(backend.refCount(x.dataId), 3);
  x.dispose();
  assert.deepEqual(Array.from(copy.dataSync()), [1, 2, 3]);
  assert.deepEqual(Array.from(tf.cast(cast, "int32").dataSync()), [1, 2, 3]);
  tf.dispose([copy, cast]);
});

Deno.test("auto without oneDNN runs wasm and says how to get it; LAB_ONEDNN=off only says why", async () => {
  const before = Deno.env.get(ONEDNN_ENV);
  try {
    Deno.env.set(ONEDNN_ENV, "/nonexistent/libdnnl.so.2");
    const missing = await selectBackend({ backend: "auto" });
    assert.ok(BACKEND_RUNGS.indexOf(missing.rung) >= BACKEND_RUNGS.indexOf("wasm"), missing.rung);
    assert.match(missing.skipped.find((s) => s.rung === "onednn")!.reason, /not found/);
    assert.match(missing.hint ?? "", /sudo apt-get install libdnnl2/);
    Deno.env.set(ONEDNN_ENV, "off");
    const off = await selectBackend({ backend: "auto" });
    assert.match(off.skipped.find((s) => s.rung === "onednn")!.reason, /LAB_ONEDNN=off/);
    assert.equal(off.hint, undefined);
  } finally {
    if (before === undefined) Deno.env.delete(ONEDNN_ENV);
    else Deno.env.set(ONEDNN_ENV, before);
  }
});

Deno.test("LAB_ONEDNN=off, a library that is not there, or one that is not oneDNN keeps the lab off oneDNN with a reason", () => {
  const before = Deno.env.get(ONEDNN_ENV);
  try {
    Deno.env.set(ONEDNN_ENV, "off");
    assert.throws(
      () => loadOneDnn(),
      (error: Error) => error instanceof LabError && /LAB_ONEDNN=off/.test(error.message),
    );
    if (Deno.build.os === "linux") {
      Deno.env.set(ONEDNN_ENV, "libc.so.6");
      assert.throws(
        () => loadOneDnn(),
        (error: Error) =>
          error instanceof LabError &&
          /^libc\.so\.6 is not oneDNN \(it has no dnnl_version\)$/.test(error.message),
      );
    }
    Deno.env.set(ONEDNN_ENV, "/nonexistent/libdnnl.so.2");
    assert.throws(
      () => loadOneDnn(),
      (error: Error) =>
        error instanceof LabError &&
        /oneDNN not found \(\/nonexistent\/libdnnl\.so\.2: /.test(error.message),
    );
  } finally {
    if (before === undefined) Deno.env.delete(ONEDNN_ENV);
    else Deno.env.set(ONEDNN_ENV, before);
  }
});

/** A stride-1 "same" convolution of `k` x `k` filters on `side` x `side` images. */
function sameShape(
  batch: number,
  side: number,
  inChannels: number,
  outChannels: number,
  k: number,
): ConvShape {
  const pad = (k - 1) / 2;
  return {
    batch,
    inHeight: side,
    inWidth: side,
    inChannels,
    outHeight: side,
    outWidth: side,
    outChannels,
    filterHeight: k,
    filterWidth: k,
    strideHeight: 1,
    strideWidth: 1,
    padTop: pad,
    padBottom: pad,
    padLeft: pad,
    padRight: pad,
  };
}

/**
 * bfloat16 keeps 8 bits of mantissa: each input and weight is rounded by up to 2^-9 of itself,
 * and a sum of many such products, accumulated in float32, strays by about that much of its
 * largest terms. 2% of an output's largest magnitude leaves room for that, and none for a wrong
 * index or a missing term.
 */
const BF16_TOLERANCE = 2e-2;

Deno.test({
  name:
    "bf16 convolutions, both their gradients and the dense layer's products equal cpu's float32 within bfloat16's tolerance",
  ignore: noBf16 !== undefined,
  fn: async () => {
    const random = createRandom(21);
    // The lab's convolutions at width 8 (paired 5x5 of 1 and 8 channels, 3x3) and 16 channels.
    const convolutions = [
      [[2, 12, 12, 1], [5, 5, 1, 8]],
      [[2, 12, 12, 8], [5, 5, 8, 8]],
      [[2, 8, 8, 16], [5, 5, 16, 32]],
      [[2, 8, 8, 32], [3, 3, 32, 64]],
    ];
    for (const [x, filter] of convolutions) {
      await compareWithCpu(
        `bf16 x=${x} filter=${filter}`,
        [normals(random, x), normals(random, filter), normals(random, [filter[3]])],
        (a, w, bias) => {
          const conv = (a: tf.Tensor, w: tf.Tensor) =>
            tf.conv2d(a as tf.Tensor4D, w as tf.Tensor4D, 1, "same");
          const fused = tf.fused.conv2d({
            x: a as tf.Tensor4D,
            filter: w as tf.Tensor4D,
            strides: 1,
            pad: "same",
            bias,
            activation: "relu",
          });
          return [conv(a, w), fused, ...tf.grads((a, w) => conv(a, w).square().sum())([a, w])];
        },
        BF16_TOLERANCE,
        "bf16",
      );
    }
    // The dense layer (a fused product with a bias), its gradients (products of transposes),
    // and a product whose inputs are both transposed.
    await compareWithCpu(
      "bf16 dense",
      [normals(random, [15, 64]), normals(random, [64, 2]), normals(random, [2])],
      (x, kernel, bias) => {
        const dense = (x: tf.Tensor, kernel: tf.Tensor) =>
          tf.fused.matMul({ a: x as tf.Tensor2D, b: kernel as tf.Tensor2D, bias });
        return [
          dense(x, kernel),
          ...tf.grads((x, kernel) => dense(x, kernel).square().sum())([x, kernel]),
          tf.matMul(kernel, x, true, true),
        ];
      },
      BF16_TOLERANCE,
      "bf16",
    );
    // bf16 did run: oneDNN chose bfloat16 kernels, whose results differ from float32's.
    const onednn = loadOneDnn();
    const shape = sameShape(2, 16, 16, 32, 5);
    const x = normals(random, [2, 16, 16, 16]).data, filter = normals(random, [5, 5, 16, 32]).data;
    const [fp32, bf16] = [new Float32Array(2 * 16 * 16 * 32), new Float32Array(2 * 16 * 16 * 32)];
    onednn.conv2d(shape, x, filter, fp32, { precision: "fp32" });
    onednn.conv2d(shape, x, filter, bf16, { precision: "bf16" });
    const [, implementation] = Object.entries(onednn.implementations()).find(([name]) =>
      name.startsWith("conv bf16")
    )!;
    assert.match(implementation, /bf16/);
    const largest = fp32.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
    const error = fp32.reduce((max, value, i) => Math.max(max, Math.abs(bf16[i] - value)), 0);
    assert.ok(error > 1e-6 * largest && error < BF16_TOLERANCE * largest, `error ${error}`);
  },
});

Deno.test({
  name:
    "on a CPU without bfloat16, auto keeps onednn on float32: the same results, wasm's products",
  ignore: missing !== undefined,
  fn: async () => {
    const withoutBf16: CpuFeatureProbe = () => ({ bf16: false, flags: [] });
    await selectBackend({ backend: "wasm" });
    const wasmMatMul = tf.getKernel(tf.BatchMatMul, "wasm")!.kernelFunc;
    const random = createRandom(22);
    const x = normals(random, [2, 12, 12, 16]), filter = normals(random, [5, 5, 16, 16]);
    const convolve = () =>
      tf.tidy(() =>
        tf.conv2d(
          tf.tensor4d(x.data, x.shape as never),
          tf.tensor4d(filter.data, filter.shape as never),
          1,
          "same",
        )
          .dataSync() as Float32Array
      );
    const fp32 = await selectBackend({ backend: "onednn", precision: "fp32" });
    const expected = convolve();
    const auto = await selectBackend({
      backend: "onednn",
      precision: "auto",
      cpuFeatures: withoutBf16,
    });
    assert.equal(auto.precision, "fp32");
    assert.equal(currentPrecision(), "fp32");
    assert.match(
      auto.description,
      /; fp32 \(LAB_PRECISION=auto; the CPU has no bfloat16 products\)$/,
    );
    assert.deepEqual(convolve(), expected);
    assert.equal(tf.getKernel(tf.BatchMatMul, "wasm")!.kernelFunc, wasmMatMul);
    assert.equal(fp32.precision, "fp32");
    if (noBf16 === undefined) {
      const bf16 = await selectBackend({ backend: "onednn", precision: "auto" });
      assert.equal(bf16.precision, "bf16");
      assert.equal(currentPrecision(), "bf16");
      assert.notDeepEqual(convolve(), expected, "auto on this CPU computes in bf16");
      assert.notEqual(tf.getKernel(tf.BatchMatMul, "wasm")!.kernelFunc, wasmMatMul);
    }
    await selectBackend({ backend: "wasm" });
  },
});

Deno.test({
  name: "a short training run in bf16 follows float32's cost curve within noise",
  ignore: noBf16 !== undefined,
  fn: async () => {
    // A task the model learns in a few steps: a bright square marks class 1.
    const random = createRandom(23);
    const n = 8, size = 32;
    const classes = Array.from({ length: n }, (_, i) => i % 2);
    const pixels = new Float32Array(n * size * size).map(() => 100 * random());
    classes.forEach((label, i) => {
      if (label === 0) return;
      const [top, left] = [4 + Math.floor(20 * random()), 4 + Math.floor(20 * random())];
      for (let r = top; r < top + 6; r++) {
        for (let c = left; c < left + 6; c++) pixels[(i * size + r) * size + c] = 250;
      }
    });
    const curve = async (precision: Precision, seed: number) => {
      await selectBackend({ backend: "onednn", precision });
      const model = createModel({ width: 4, imageSize: size, seed });
      const images = tf.tensor4d(pixels, [n, size, size, 1]);
      const labels = tf.oneHot(tf.tensor1d(classes, "int32"), 2) as tf.Tensor2D;
      const optimizer = tf.train.momentum(0.005, 0.9, true);
      const costs: number[] = [];
      for (let step = 0; step < STEPS; step++) {
        const cost = optimizer.minimize(
          () => computeCost(model.predictLogits(images), labels),
          true,
          model.trainableVariables(),
        )!;
        costs.push(cost.dataSync()[0]);
        cost.dispose();
      }
      tf.dispose([images, labels]);
      optimizer.dispose();
      model.dispose();
      return costs;
    };
    const STEPS = 30;
    const fp32 = await curve("fp32", 1);
    const bf16 = await curve("bf16", 1);
    const otherSeed = await curve("fp32", 2);
    // The noise: how far float32 runs from another initialisation differ (here about 0.4 per
    // step). bf16 stays within a quarter of it, and within 10% of float32's mean cost (measured:
    // 0.044 per step, the largest at float32's early spike, 4.8 against 5.3), and learns as it does.
    const meanGap = (a: number[], b: number[]) =>
      a.reduce((sum, value, i) => sum + Math.abs(value - b[i]), 0) / a.length;
    const mean = fp32.reduce((sum, value) => sum + value, 0) / STEPS;
    const gap = meanGap(bf16, fp32), noise = meanGap(otherSeed, fp32);
    assert.ok(gap <= 0.25 * noise, `bf16 strays ${gap} per step; seeds differ by ${noise}`);
    assert.ok(gap <= 0.1 * mean, `bf16 strays ${gap} per step from a mean cost of ${mean}`);
    assert.ok(bf16[STEPS - 1] < 0.85 * bf16[0], `bf16 learns: ${bf16[0]} -> ${bf16[STEPS - 1]}`);
    assert.ok(
      Math.abs(bf16[STEPS - 1] - fp32[STEPS - 1]) <= 0.05,
      `final costs ${bf16[STEPS - 1]} and ${fp32[STEPS - 1]}`,
    );
    await selectBackend({ backend: "wasm" });
  },
});
