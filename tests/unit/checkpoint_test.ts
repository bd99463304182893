import assert from "node:assert/strict";
import { canMountTmpfs, mountTmpfs, withTempDir } from "../support/temp.ts";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  exportKerasWeights,
  findCheckpoint,
  importKerasWeights,
  loadCheckpoint,
  MANIFEST_FILE,
  MODEL_FILE,
  OPTIMIZER_FILE,
  readCheckpointManifest,
  restoreCheckpoint,
  saveCheckpoint,
  WEIGHTS_FILE,
} from "../../lib/model/checkpoint/mod.ts";
import { DataFileError, LabError } from "../../lib/core/errors.ts";
import { createModel, type PneumothoraxDetectionModel } from "../../lib/model/model.ts";
import { createRandom } from "../../lib/core/random.ts";
import { disposeOptimizer } from "../../lib/training/train.ts";
import { pythonHas, runPython } from "../support/python.ts";

await tf.setBackend("cpu");

const SIZE = 32;
const tiny = (seed = 1, width = 2) => createModel({ width, imageSize: SIZE, seed });

function weightsOf(model: PneumothoraxDetectionModel): Float32Array[] {
  return model.network.getWeights().map((w) => w.dataSync() as Float32Array);
}

function probe(model: PneumothoraxDetectionModel): number[] {
  return tf.tidy(() => {
    const x = tf.linspace(0, 255, 2 * SIZE * SIZE).reshape([2, SIZE, SIZE, 1]) as tf.Tensor4D;
    return Array.from(model.predictLogits(x).dataSync());
  });
}

async function hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** One training step of softmax cross-entropy on a fixed batch; returns the loss. */
function step(model: PneumothoraxDetectionModel, optimizer: tf.Optimizer, seed: number): number {
  return tf.tidy(() => {
    const x = tf.randomUniform([3, SIZE, SIZE, 1], 0, 255, "float32", seed) as tf.Tensor4D;
    const y = tf.oneHot(tf.tensor1d([0, 1, 1], "int32"), 2);
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(y, model.predictLogits(x)) as tf.Scalar,
      true,
      model.trainableVariables(),
    )!;
    return loss.dataSync()[0];
  });
}

Deno.test("saveCheckpoint() and loadCheckpoint() round-trip the weights and the manifest", async () => {
  await withTempDir(async (dir) => {
    const model = tiny();
    const ckpt = join(dir, "ckpt");
    const metrics = { train: { cost: 0.5, accuracy: 0.75 } };
    const saved = await saveCheckpoint(model, ckpt, { step: 12, metrics });
    const names = [...Deno.readDirSync(ckpt)].map((e) => e.name).sort();
    assert.deepEqual(names, [MANIFEST_FILE, MODEL_FILE, WEIGHTS_FILE].sort());
    for (const name of [MODEL_FILE, WEIGHTS_FILE]) {
      const bytes = await Deno.readFile(join(ckpt, name));
      assert.equal(saved.files[name].bytes, bytes.length);
      assert.equal(saved.files[name].sha256, await hex(bytes));
    }
    const manifest = JSON.parse(await Deno.readTextFile(join(ckpt, MANIFEST_FILE)));
    assert.equal(manifest.model.width, 2);
    assert.equal(manifest.model.imageSize, SIZE);
    assert.equal(manifest.model.params, model.countParams());
    assert.equal(manifest.backend, "cpu");
    const modelJson = JSON.parse(await Deno.readTextFile(join(ckpt, MODEL_FILE)));
    assert.deepEqual(modelJson.weightsManifest[0].paths, [WEIGHTS_FILE]);

    const loaded = await loadCheckpoint(ckpt);
    assert.equal(loaded.manifest.step, 12);
    assert.deepEqual(loaded.manifest.metrics, metrics);
    assert.deepEqual(weightsOf(loaded.model), weightsOf(model));
    assert.deepEqual(probe(loaded.model), probe(model));

    const other = tiny(99);
    assert.notDeepEqual(probe(other), probe(model));
    await restoreCheckpoint(other, ckpt);
    assert.deepEqual(probe(other), probe(model));
    [model, loaded.model, other].forEach((m) => m.dispose());
  });
});

Deno.test("restoreCheckpoint() restores the optimizer state, so the next step is identical", async () => {
  await withTempDir(async (dir) => {
    const model = tiny(1);
    const optimizer = tf.train.momentum(0.05, 0.9, true);
    step(model, optimizer, 1);
    step(model, optimizer, 2);
    await saveCheckpoint(model, dir + "/ckpt", { step: 2, optimizer });
    const loss = step(model, optimizer, 3);
    const after = weightsOf(model);

    const resumed = tiny(7);
    const freshOptimizer = tf.train.momentum(0.05, 0.9, true);
    await restoreCheckpoint(resumed, dir + "/ckpt", { optimizer: freshOptimizer });
    assert.equal(step(resumed, freshOptimizer, 3), loss);
    assert.deepEqual(weightsOf(resumed), after);

    const noMomentum = tiny(7);
    const zeroOptimizer = tf.train.momentum(0.05, 0.9, true);
    await restoreCheckpoint(noMomentum, dir + "/ckpt");
    step(noMomentum, zeroOptimizer, 3);
    assert.notDeepEqual(weightsOf(noMomentum), after, "the accumulators matter");
  });
});

Deno.test("restoreCheckpoint() names an architecture that does not match", async () => {
  await withTempDir(async (dir) => {
    await saveCheckpoint(tiny(1, 4), join(dir, "ckpt"));
    await assert.rejects(
      () => restoreCheckpoint(tiny(1, 2), join(dir, "ckpt")),
      (error: Error) =>
        error instanceof LabError &&
        error.message === "checkpoint has width 4, model has width 2",
    );
    const wide = createModel({ width: 4, imageSize: 16 });
    await assert.rejects(
      () => restoreCheckpoint(wide, join(dir, "ckpt")),
      /checkpoint has image size 32, model has image size 16/,
    );
    const path = join(dir, "ckpt", MANIFEST_FILE);
    const manifest = JSON.parse(await Deno.readTextFile(path));
    manifest.model.weights[0].shape = [3, 3, 1, 4];
    await Deno.writeTextFile(path, JSON.stringify(manifest));
    await assert.rejects(
      () => restoreCheckpoint(tiny(1, 4), join(dir, "ckpt")),
      /weight 'conv1\/kernel': checkpoint has shape \[3,3,1,4\], model has \[5,5,1,4\]/,
    );
  });
});

Deno.test("restoreCheckpoint() rejects missing, truncated or altered files and changes nothing", async () => {
  await withTempDir(async (dir) => {
    const ckpt = join(dir, "ckpt");
    await saveCheckpoint(tiny(1), ckpt);
    const weightsPath = join(ckpt, WEIGHTS_FILE);
    const original = await Deno.readFile(weightsPath);
    const target = tiny(5);
    const before = weightsOf(target);

    await Deno.writeFile(weightsPath, original.subarray(0, 100));
    await assert.rejects(
      () => restoreCheckpoint(target, ckpt),
      (error: Error) =>
        error instanceof LabError && error.message.includes(weightsPath) &&
        error.message.includes(`is 100 bytes but ${MANIFEST_FILE} says ${original.length}`),
    );
    const flipped = original.slice();
    flipped[40] ^= 0x01;
    await Deno.writeFile(weightsPath, flipped);
    await assert.rejects(() => restoreCheckpoint(target, ckpt), /sha256 does not match/);
    await Deno.remove(weightsPath);
    await assert.rejects(() => loadCheckpoint(ckpt), /weights\.bin is missing/);
    assert.deepEqual(weightsOf(target), before);
    assert.equal(await Deno.readTextFile(join(ckpt, MODEL_FILE)).then((t) => t.length > 0), true);
  });
});

Deno.test("readCheckpointManifest() explains a missing or malformed manifest", async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(() => readCheckpointManifest(dir), /no checkpoint in .* \(no manifest/);
    await Deno.writeTextFile(join(dir, MANIFEST_FILE), "{ not json");
    await assert.rejects(() => readCheckpointManifest(dir), /manifest\.json: not valid JSON/);
    await Deno.writeTextFile(join(dir, MANIFEST_FILE), JSON.stringify({ format: "other" }));
    await assert.rejects(() => readCheckpointManifest(dir), /format is "other"/);
  });
});

Deno.test("saveCheckpoint() refuses NaN weights and keeps the previous checkpoint", async () => {
  await withTempDir(async (dir) => {
    const model = tiny(1);
    const ckpt = join(dir, "ckpt");
    await saveCheckpoint(model, ckpt, { step: 1 });
    const layer = model.network.getLayer("logits");
    const [kernel, bias] = layer.getWeights();
    layer.setWeights([kernel.mul(NaN), bias]);
    await assert.rejects(
      () => saveCheckpoint(model, ckpt, { step: 2 }),
      (error: Error) =>
        error instanceof LabError && error.message.includes("'logits/kernel' holds NaN") &&
        error.message.includes("previous checkpoint (if any) is intact"),
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ckpt"]);
    const loaded = await loadCheckpoint(ckpt);
    assert.equal(loaded.manifest.step, 1);
    assert.ok(weightsOf(loaded.model).every((w) => w.every(Number.isFinite)));
  });
});

Deno.test("findCheckpoint() falls back to <dir>.previous when a save died between renames", async () => {
  await withTempDir(async (dir) => {
    const ckpt = join(dir, "ckpt");
    const model = tiny(1);
    await saveCheckpoint(model, ckpt, { step: 3 });
    await Deno.rename(ckpt, `${ckpt}.previous`);
    await Deno.mkdir(`${ckpt}.tmp-1-deadbeef`);
    await Deno.writeFile(join(`${ckpt}.tmp-1-deadbeef`, WEIGHTS_FILE), new Uint8Array(10));
    assert.equal(await findCheckpoint(ckpt), `${ckpt}.previous`);
    assert.equal((await loadCheckpoint(ckpt)).manifest.step, 3);

    await saveCheckpoint(model, ckpt, { step: 4 });
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ckpt"]);
    assert.equal((await readCheckpointManifest(ckpt)).manifest.step, 4);
  });
});

Deno.test("saveCheckpoint() refuses to replace a directory that is not a checkpoint", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "notes.txt"), "mine");
    await assert.rejects(
      () => saveCheckpoint(tiny(1), dir),
      /holds files but no manifest\.json, so it is not a checkpoint/,
    );
    assert.equal(await Deno.readTextFile(join(dir, "notes.txt")), "mine");
  });
});

Deno.test("saveCheckpoint() saves the optimizer state in its own file", async () => {
  await withTempDir(async (dir) => {
    const model = tiny(1);
    const optimizer = tf.train.momentum(0.05, 0.9, true);
    step(model, optimizer, 1);
    const before = tf.memory().numTensors;
    const manifest = await saveCheckpoint(model, dir + "/c", { optimizer });
    assert.equal(tf.memory().numTensors, before, "saving leaks no tensors");
    assert.ok(OPTIMIZER_FILE in manifest.files);
    assert.equal(manifest.optimizer!.weights.length, 1 + model.trainableVariables().length);
    assert.equal(manifest.optimizer!.weights[1].name.endsWith("/momentum"), true);
  });
});

Deno.test({
  name: "saveCheckpoint() on a full disk fails clearly and leaves the previous checkpoint intact",
  ignore: !canMountTmpfs,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    assert.ok(mountTmpfs(dir, 256));
    try {
      const ckpt = join(dir, "ckpt");
      await saveCheckpoint(tiny(1), ckpt, { step: 1 });
      const big = createModel({ width: 16, imageSize: SIZE });
      await assert.rejects(
        () => saveCheckpoint(big, ckpt, { step: 2 }),
        (error: Error) =>
          error instanceof LabError &&
          error.message.includes("previous checkpoint (if any) is intact"),
      );
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["ckpt"]);
      const loaded = await loadCheckpoint(ckpt);
      assert.equal(loaded.manifest.step, 1);
      assert.equal(loaded.model.width, 2);
    } finally {
      new Deno.Command("umount", { args: [dir] }).outputSync();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("exportKerasWeights() and importKerasWeights() round-trip every weight", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "weights.h5");
    const model = tiny(1);
    await exportKerasWeights(model, path);
    const other = tiny(2);
    await importKerasWeights(other, path);
    assert.deepEqual(weightsOf(other), weightsOf(model));
    await assert.rejects(
      () => importKerasWeights(tiny(1, 3), path),
      (error: Error) =>
        error instanceof DataFileError && error.dataset === "conv1" &&
        /has shape \[5,5,1,2\], the model expects \[5,5,1,3\]/.test(error.message),
    );
  });
});

Deno.test({
  name: "exportKerasWeights() writes Keras' save_weights layout, as h5py reads it",
  ignore: !pythonHas("h5py", "numpy"),
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "weights.h5");
      const model = tiny(1);
      await exportKerasWeights(model, path);
      const script = `
import json, sys, h5py
f = h5py.File(sys.argv[1], "r")
names = lambda a: [n.decode() if hasattr(n, "decode") else str(n) for n in a]
out = {"layer_names": names(f.attrs["layer_names"]), "backend": str(f.attrs["backend"]), "weights": {}}
for layer in out["layer_names"]:
    for w in names(f[layer].attrs["weight_names"]):
        d = f[layer][w]
        out["weights"][layer + "/" + w] = {"shape": list(d.shape), "dtype": str(d.dtype),
                                           "values": [float(v) for v in d[()].ravel()]}
print(json.dumps(out))
`;
      const read = JSON.parse(await runPython(script, [path]));
      assert.deepEqual(read.layer_names, model.network.layers.map((l) => l.name));
      assert.equal(read.backend, "tensorflow");
      const expected = model.network.weights;
      assert.deepEqual(
        Object.keys(read.weights),
        expected.map((w) => `${w.originalName.split("/")[0]}/${w.originalName}:0`),
      );
      expected.forEach((weight) => {
        const got = read.weights[`${weight.originalName.split("/")[0]}/${weight.originalName}:0`];
        assert.deepEqual(got.shape, weight.shape);
        assert.equal(got.dtype, "float32");
        assert.deepEqual(got.values, Array.from(weight.read().dataSync()));
      });
    });
  },
});

Deno.test({
  name: "importKerasWeights() reads a file written by h5py in Keras' layout",
  ignore: !pythonHas("h5py", "numpy"),
  fn: async () => {
    await withTempDir(async (dir) => {
      const path = join(dir, "from_python.h5");
      const model = tiny(1);
      const shapes = Object.fromEntries(
        model.network.layers.map((l) => [l.name, l.weights.map((w) => [w.originalName, w.shape])]),
      );
      const script = `
import json, sys, h5py, numpy as np
layers = json.loads(sys.argv[2])
with h5py.File(sys.argv[1], "w") as f:
    f.attrs["layer_names"] = np.array([n.encode() for n in layers], dtype="S")
    f.attrs["backend"] = b"tensorflow"
    for layer, weights in layers.items():
        g = f.create_group(layer)
        g.attrs["weight_names"] = np.array([(n + ":0").encode() for n, _ in weights], dtype="S")
        for k, (name, shape) in enumerate(weights):
            size = int(np.prod(shape))
            g.create_dataset(name + ":0", data=(np.arange(size, dtype="float32") / 1000 + k).reshape(shape))
`;
      await runPython(script, [path, JSON.stringify(shapes)]);
      await importKerasWeights(model, path);
      for (const layer of model.network.layers) {
        layer.weights.forEach((weight, k) => {
          const values = weight.read().dataSync();
          const expected = Float32Array.from(values, (_, i) => i / 1000 + k);
          assert.deepEqual(values, expected, weight.originalName);
        });
      }
    });
  },
});

/** How long the fuzz test below may run, and its most cases. */
const FUZZ_SECONDS = 4;
const FUZZ_CASES = 400;
const FUZZ_VALUES = [null, -1, 0, 1.5, "x", [], {}, true, 1e12];

/** Every path into a JSON value (object keys and array indices), the root excluded. */
function jsonPaths(
  value: unknown,
  prefix: Array<string | number> = [],
): Array<Array<string | number>> {
  if (typeof value !== "object" || value === null) return [];
  const entries = Array.isArray(value)
    ? value.map((v, i) => [i, v] as const)
    : Object.entries(value);
  return entries.flatMap((
    [key, child],
  ) => [[...prefix, key], ...jsonPaths(child, [...prefix, key])]);
}

/** Applies one random mutation to one file of the checkpoint `dir`; returns what it did. */
async function mutate(dir: string, random: () => number, files: Record<string, Uint8Array>) {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const name = pick(Object.keys(files));
  const bytes = files[name].slice();
  const path = join(dir, name);
  const kind = pick(["flip", "truncate", "delete", "extend", "json", "json"] as const);
  if (kind === "flip") {
    const at = Math.floor(random() * bytes.length);
    bytes[at] ^= 1 << Math.floor(random() * 8);
    await Deno.writeFile(path, bytes);
  } else if (kind === "truncate") {
    await Deno.writeFile(path, bytes.subarray(0, Math.floor(random() * bytes.length)));
  } else if (kind === "delete") {
    await Deno.remove(path);
  } else if (kind === "extend") {
    await Deno.writeFile(path, Uint8Array.from([...bytes, ...[1, 2, 3].map(() => random() * 256)]));
  } else {
    const target = name.endsWith(".json") ? name : MANIFEST_FILE;
    const json = JSON.parse(new TextDecoder().decode(files[target]));
    const route = pick(jsonPaths(json));
    let parent = json;
    for (const key of route.slice(0, -1)) parent = parent[key];
    parent[route.at(-1)!] = pick(FUZZ_VALUES);
    await Deno.writeTextFile(join(dir, target), JSON.stringify(json));
    return `${target}: ${route.join(".")} replaced`;
  }
  return `${name}: ${kind}`;
}

Deno.test("loadCheckpoint() and restoreCheckpoint() meet mutated files with a LabError, never a crash", async () => {
  await withTempDir(async (dir) => {
    const model = tiny(1);
    const optimizer = tf.train.momentum(0.05, 0.9, true);
    step(model, optimizer, 1);
    const pristine = join(dir, "pristine");
    await saveCheckpoint(model, pristine, {
      step: 1,
      optimizer,
      training: {
        batchSize: 3,
        learningRate: 0.05,
        momentum: 0.9,
        nesterov: true,
        dataSeed: 0,
        batchState: { trainPointer: 3, testBatches: 0 },
      },
    });
    const files: Record<string, Uint8Array> = {};
    for (const entry of Deno.readDirSync(pristine)) {
      files[entry.name] = await Deno.readFile(join(pristine, entry.name));
    }
    const victim = tiny(5);
    const random = createRandom(2024);
    const target = join(dir, "fuzzed");
    const baseline = tf.memory().numTensors;
    const deadline = performance.now() + FUZZ_SECONDS * 1000;
    let rejected = 0;
    let cases = 0;
    for (; cases < FUZZ_CASES && performance.now() < deadline; cases++) {
      await Deno.remove(target, { recursive: true }).catch(() => {});
      await Deno.mkdir(target);
      for (const [name, bytes] of Object.entries(files)) {
        await Deno.writeFile(join(target, name), bytes);
      }
      const mutation = await mutate(target, random, files);
      const attempts = [
        async () => (await loadCheckpoint(target)).model.dispose(),
        async () => {
          const fresh = tf.train.momentum(0.05, 0.9, true);
          try {
            await restoreCheckpoint(victim, target, { optimizer: fresh });
          } finally {
            disposeOptimizer(fresh);
          }
        },
      ];
      for (const attempt of attempts) {
        try {
          await attempt();
        } catch (error) {
          if (!(error instanceof LabError)) {
            throw new Error(`case ${cases} (${mutation}) crashed: ${error}`, { cause: error });
          }
          rejected++;
        }
      }
      assert.equal(tf.memory().numTensors, baseline, `case ${cases} (${mutation}) leaked tensors`);
    }
    assert.ok(cases >= 20, `only ${cases} cases ran`);
    assert.ok(rejected >= cases, `${rejected} rejections in ${cases} cases`);
  });
});
