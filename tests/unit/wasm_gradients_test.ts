import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { registerWasmGradients } from "../../lib/backends/wasm_gradients.ts";
import { createModel } from "../../lib/model/model.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { createRandom, type Random } from "../../lib/core/random.ts";

registerWasmGradients();
await tf.setBackend("wasm");

type Pad = "same" | "valid" | number | [[0, 0], [number, number], [number, number], [0, 0]];

interface Case {
  x: number[];
  filter: number[];
  strides: [number, number];
  pad: Pad;
}

/** Seeded random convolutions: shapes, kernel sizes, strides, and every kind of padding. */
function randomCases(count: number, seed: number): Case[] {
  const random = createRandom(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const kh = int(1, 5), kw = int(1, 5);
    const x = [int(1, 3), int(kh, 12), int(kw, 12), int(1, 4)];
    const strides: [number, number] = i % 3 === 0 ? [int(1, 2), int(1, 3)] : [1, 1];
    const kinds: Pad[] = [
      "same",
      "valid",
      int(0, 2),
      [[0, 0], [int(0, 3), int(0, 3)], [int(0, 3), int(0, 3)], [0, 0]],
    ];
    cases.push({ x, filter: [kh, kw, x[3], int(1, 4)], strides, pad: kinds[i % kinds.length] });
  }
  return cases;
}

function normals(random: Random, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => {
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  });
}

function outputShape(c: Case): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    c.x as [number, number, number, number],
    c.filter as [number, number, number, number],
    c.strides,
    1,
    c.pad,
    "floor",
  );
  return info.outShape;
}

/** Runs a kernel on `backend` with fresh tensors made from `values`; returns its numbers. */
async function runOn(
  backend: string,
  kernel: string,
  values: Record<string, { data: Float32Array; shape: number[] }>,
  attrs: tf.NamedAttrMap,
): Promise<Float32Array> {
  await tf.setBackend(backend);
  const inputs = Object.fromEntries(
    Object.entries(values).map(([name, v]) => [name, tf.tensor(v.data, v.shape)]),
  );
  const result = tf.engine().runKernel(kernel, inputs, attrs) as tf.Tensor;
  const data = result.dataSync() as Float32Array;
  tf.dispose([result, ...Object.values(inputs)]);
  await tf.setBackend("wasm");
  return data;
}

function assertClose(actual: Float32Array, expected: Float32Array, label: string) {
  assert.equal(actual.length, expected.length, label);
  const scale = expected.reduce((max, value) => Math.max(max, Math.abs(value)), 1);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= 1e-5 * scale, `${label} [${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

async function compareWithCpu(kernel: string, c: Case, random: Random) {
  const dyShape = outputShape(c);
  const common = { strides: c.strides, pad: c.pad, dataFormat: "NHWC", dimRoundingMode: "floor" };
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const dy = { data: normals(random, size(dyShape)), shape: dyShape };
  const label = `${kernel} x=${c.x} filter=${c.filter} strides=${c.strides} pad=${
    JSON.stringify(c.pad)
  }`;
  const [values, attrs] = kernel === tf.Conv2DBackpropFilter
    ? [{ x: { data: normals(random, size(c.x)), shape: c.x }, dy }, {
      ...common,
      filterShape: c.filter,
    }]
    : [{ dy, filter: { data: normals(random, size(c.filter)), shape: c.filter } }, {
      ...common,
      inputShape: c.x,
    }];
  const expected = await runOn("cpu", kernel, values, attrs);
  const actual = await runOn("wasm", kernel, values, attrs);
  assertClose(actual, expected, label);
}

Deno.test("Conv2DBackpropFilter on wasm equals the cpu backend's (shapes, strides, paddings)", async () => {
  const random = createRandom(1);
  for (const c of randomCases(40, 2)) await compareWithCpu(tf.Conv2DBackpropFilter, c, random);
});

Deno.test("Conv2DBackpropInput on wasm equals the cpu backend's (shapes, strides, paddings)", async () => {
  const random = createRandom(3);
  for (const c of randomCases(40, 4)) await compareWithCpu(tf.Conv2DBackpropInput, c, random);
});

Deno.test("registerWasmGradients() chunks the batch without changing the filter gradient", async () => {
  const random = createRandom(5);
  const c: Case = { x: [5, 9, 8, 3], filter: [3, 3, 3, 2], strides: [1, 1], pad: "same" };
  registerWasmGradients({ chunkBytes: 1 });
  try {
    await compareWithCpu(tf.Conv2DBackpropFilter, c, random);
    await compareWithCpu(tf.Conv2DBackpropFilter, { ...c, strides: [2, 1], pad: "valid" }, random);
  } finally {
    registerWasmGradients();
  }
});

Deno.test("the wasm gradient kernels free every temporary buffer", () => {
  const backend = tf.backend() as BackendWasm;
  const x = tf.randomNormal([4, 16, 16, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const filter = tf.randomNormal([5, 5, 3, 4], 0, 1, "float32", 2) as tf.Tensor4D;
  const tensors = tf.memory().numTensors;
  const dataIds = backend.numDataIds();
  const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
    tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, "same").square().sum()
  )([x, filter]);
  assert.equal(tf.memory().numTensors, tensors + 2);
  assert.equal(backend.numDataIds(), dataIds + 2);
  tf.dispose([x, filter, ...grads]);
});

Deno.test("registerWasmGradients() rejects a non-positive chunk size", () => {
  assert.throws(() => registerWasmGradients({ chunkBytes: 0 }), UsageError);
});

Deno.test("the lab's model trains on wasm with the same losses as on cpu", async () => {
  const random = createRandom(8);
  const n = 4, size = 32;
  const pixels = Float32Array.from({ length: n * size * size }, () => Math.floor(random() * 256));
  const labels = [0, 1, 1, 0];
  const losses = async (backend: string) => {
    await tf.setBackend(backend);
    const model = createModel({ width: 4, imageSize: size, seed: 9 });
    const images = tf.tensor4d(pixels, [n, size, size, 1]);
    const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), 2);
    const optimizer = tf.train.momentum(0.05, 0.9, true);
    const trajectory: number[] = [];
    for (let step = 0; step < 3; step++) {
      const loss = optimizer.minimize(
        () => tf.losses.softmaxCrossEntropy(onehot, model.predictLogits(images)),
        true,
        model.trainableVariables(),
      ) as tf.Scalar;
      trajectory.push(loss.dataSync()[0]);
      loss.dispose();
    }
    tf.dispose([images, onehot]);
    optimizer.dispose();
    model.dispose();
    return trajectory;
  };
  const cpu = await losses("cpu");
  const wasm = await losses("wasm");
  for (let i = 0; i < cpu.length; i++) {
    assert.ok(Math.abs(wasm[i] - cpu[i]) <= 1e-4 * (1 + cpu[i]), `step ${i}: ${wasm} vs ${cpu}`);
  }
  assert.notEqual(cpu[0], cpu[2], "the weights change between steps");
});
