/**
 * A child process for tests/unit/onednn_test.ts: picks a backend as the lab does (`auto`, which
 * probes WebGPU before oneDNN), predicts a few batches with the lab's model, prints the backend,
 * and ends. Before oneDNN and OpenMP were kept loaded to the end (lib/backends/onednn/load.ts),
 * this process crashed as it ended, every time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../lib/backends/backend.ts";
import { createModel } from "../../lib/model/model.ts";

const backend = await selectBackend();
const model = createModel({ width: 8, imageSize: 64 });
const images = tf.randomUniform([4, 64, 64, 1]) as tf.Tensor4D;
for (let i = 0; i < 3; i++) tf.tidy(() => model.predictLogits(images).dataSync());
console.log(backend.rung);
