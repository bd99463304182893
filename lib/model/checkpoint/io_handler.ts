/**
 * The checkpoint's `model.json` and `weights.bin` as a TensorFlow.js IOHandler on Deno's file
 * APIs, and the check that no weight written holds NaN or an infinity.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { LabError } from "../../core/errors.ts";
import { writeSynced } from "../../core/fs.ts";
import { MODEL_FILE, readJson, WEIGHTS_FILE } from "./manifest.ts";

/** Bytes of one value of a weight of this dtype in the tfjs weights format. */
export function bytesPerValue(dtype: string): number {
  return dtype === "float32" || dtype === "int32" ? 4 : dtype === "bool" ? 1 : NaN;
}

/** The name of the first weight holding NaN or an infinity, if any. */
export function findNonFinite(
  data: ArrayBuffer,
  specs: tf.io.WeightsManifestEntry[],
): string | undefined {
  let offset = 0;
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === "float32") {
      const values = new Float32Array(data, offset, count);
      if (!values.every(Number.isFinite)) return spec.name;
    }
    offset += count * bytesPerValue(spec.dtype);
  }
  return undefined;
}

/**
 * A TensorFlow.js IOHandler that saves and loads a layers model as `model.json` and
 * `weights.bin` in `dir`, through Deno's file APIs (tfjs's own `file://` handler needs
 * tfjs-node). Saving creates `dir` and flushes both files to the disk; it refuses weights
 * holding NaN or infinities.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { checkpointIOHandler } from "./io_handler.ts";
 * await tf.setBackend("cpu");
 * const dir = await Deno.makeTempDir();
 * const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
 * await model.save(checkpointIOHandler(dir));
 * const loaded = await tf.loadLayersModel(checkpointIOHandler(dir));
 * if (loaded.countParams() !== 3) throw new Error("dense(1) on 2 inputs has 3 weights");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function checkpointIOHandler(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const weightData = tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? []);
      const specs = artifacts.weightSpecs ?? [];
      const bad = findNonFinite(weightData, specs);
      if (bad !== undefined) {
        throw new LabError(`refusing to save: weight '${bad}' holds NaN or infinite values`);
      }
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: specs }],
      };
      await Deno.mkdir(dir, { recursive: true });
      await writeSynced(join(dir, WEIGHTS_FILE), new Uint8Array(weightData));
      await writeSynced(
        join(dir, MODEL_FILE),
        new TextEncoder().encode(JSON.stringify(modelJson)),
      );
      return {
        modelArtifactsInfo: {
          dateSaved: new Date(),
          modelTopologyType: "JSON",
          weightDataBytes: weightData.byteLength,
        },
      };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const modelPath = join(dir, MODEL_FILE);
      const modelJson = await readJson(modelPath) as tf.io.ModelJSON;
      if (typeof modelJson !== "object" || !Array.isArray(modelJson?.weightsManifest)) {
        throw new LabError(`${modelPath}: not a TensorFlow.js layers model (no weightsManifest)`);
      }
      return tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const buffers = [];
        for (const path of manifest.flatMap((group) => group.paths)) {
          buffers.push((await Deno.readFile(join(dir, path))).slice().buffer);
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}
