/**
 * The lab on a real GPU: the webgpu rung trains and predicts the lab's model as the cpu backend
 * does. Skipped where Deno's WebGPU finds no GPU, or only a software one (llvmpipe, lavapipe,
 * SwiftShader), as on the CPU machines the suite usually runs on; bench/gpu.sh runs it on a
 * GPU machine, before the benchmark.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { isSoftwareAdapter, requestGpuAdapter, selectBackend } from "../../lib/backends/backend.ts";
import { createModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";
import { computeCost } from "../../lib/grading/references.ts";

/** Why there is no GPU to test on, or undefined where there is one. */
const noGpu = await (async () => {
  const adapter = await requestGpuAdapter();
  if (adapter === undefined) return "this Deno has no navigator.gpu";
  if (adapter === null) return "no GPU adapter";
  const info = (adapter as GPUAdapter & { info?: { description?: string } }).info ?? {};
  return isSoftwareAdapter(info) ? `only a software adapter (${info.description})` : undefined;
})();
if (noGpu !== undefined) console.log(`WebGPU tests skipped: ${noGpu}`);

Deno.test({
  name: "the lab's model predicts and trains on webgpu as on cpu",
  ignore: noGpu !== undefined,
  fn: async () => {
    const random = createRandom(31);
    const n = 4, size = 64;
    const pixels = Float32Array.from({ length: n * size * size }, () => 256 * random());
    const run = async (backend: "cpu" | "webgpu") => {
      const info = await selectBackend({ backend });
      assert.equal(info.rung, backend);
      const model = createModel({ width: 4, imageSize: size, seed: 5 });
      const images = tf.tensor4d(pixels, [n, size, size, 1]);
      const labels = tf.oneHot(tf.tensor1d([0, 1, 1, 0], "int32"), 2) as tf.Tensor2D;
      const logits = Array.from(await model.predictLogits(images).data());
      const optimizer = tf.train.momentum(0.01, 0.9, true);
      const costs: number[] = [];
      for (let step = 0; step < 3; step++) {
        const cost = optimizer.minimize(
          () => computeCost(model.predictLogits(images), labels),
          true,
          model.trainableVariables(),
        )!;
        costs.push((await cost.data())[0]);
        cost.dispose();
      }
      tf.dispose([images, labels]);
      optimizer.dispose();
      model.dispose();
      return { logits, costs };
    };
    const cpu = await run("cpu");
    const gpu = await run("webgpu");
    gpu.logits.forEach((value, i) =>
      assert.ok(
        Math.abs(value - cpu.logits[i]) <= 1e-3 * (1 + Math.abs(cpu.logits[i])),
        `logit ${i}`,
      )
    );
    gpu.costs.forEach((cost, i) =>
      assert.ok(
        Math.abs(cost - cpu.costs[i]) <= 1e-3 * (1 + cpu.costs[i]),
        `step ${i}: ${gpu.costs}`,
      )
    );
    await selectBackend({ backend: "cpu" });
  },
});
