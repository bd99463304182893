/**
 * TensorBoard itself reads the lab's training logs. lib/training/tensorboard.ts writes TensorFlow event files
 * by hand (TFRecords of `Event` protobufs), and until these tests only its own reader had read
 * them back, which would agree with a writer that shares its misunderstanding. Here a short
 * training run writes `<run>/{train,test}`, and two readers of the real program look at it:
 * TensorBoard's Python `EventAccumulator`, and `tensorboard --logdir` serving the scalars over
 * HTTP (by default through its separate Rust data server, a second implementation). Both must find
 * `cost` and `accuracy` at the steps `train()` reported, with its values as float32.
 *
 * Python: `python3` and `tensorboard` on PATH (pyenv's CPython in CI, where `.ci/run`
 * pip-installs tensorboard). The tests skip, saying so in one line, where tensorboard is missing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { PneumothoraxDataset } from "../../lib/data/dataset.ts";
import { createModel } from "../../lib/model/model.ts";
import { type StepMetrics, train, type TrainResult } from "../../lib/training/train.ts";
import { withTempDir } from "../support/temp.ts";
import { squareImages } from "../fixtures/lab_files.ts";

await tf.setBackend("cpu");

/** The Python that has the `tensorboard` package, and its command (see the module doc). */
const PYTHON = "python3";
const TENSORBOARD = "tensorboard";
const READER = new URL("../support/tensorboard_read.py", import.meta.url).pathname;
const SIZE = 16;
const STEPS = 8;
const EVAL_EVERY = 2;
const RUN = "run1";
/** How long the server may take to start and load the run: 60 tries, 0.5 s apart. */
const TRIES = 60;

/** Why TensorBoard cannot be run here, or undefined when it can. */
function tensorboardMissing(): string | undefined {
  try {
    const result = new Deno.Command(TENSORBOARD, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    if (!result.success) return `'${TENSORBOARD} --version' failed`;
    const module = new Deno.Command(PYTHON, {
      args: ["-c", "import tensorboard.backend.event_processing.event_accumulator"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    return module.success ? undefined : `${PYTHON} cannot import tensorboard`;
  } catch (error) {
    return error instanceof Deno.errors.NotFound
      ? `no '${TENSORBOARD}' command on PATH`
      : `${TENSORBOARD}: ${(error as Error).message}`;
  }
}

const missing = tensorboardMissing();
if (missing !== undefined) {
  console.log(`TensorBoard tests skipped: ${missing} (pip install tensorboard==2.21.0)`);
}

/** A short run that logs to `<dir>/<RUN>`; returns what train() reported and when it ran. */
async function trainRun(dir: string): Promise<{ result: TrainResult; from: number; to: number }> {
  const dataset = PneumothoraxDataset.fromArrays(
    squareImages(24, { seed: 1, size: SIZE }),
    squareImages(12, { seed: 2, size: SIZE }),
    {
      imageSize: SIZE,
      seed: 3,
    },
  );
  const model = createModel({ width: 2, imageSize: SIZE, seed: 1 });
  const from = Date.now() / 1000;
  const result = await train(model, dataset, {
    steps: STEPS,
    batchSize: 4,
    evalEvery: EVAL_EVERY,
    evalSize: 8,
    optimizer: "adam",
    learningRate: 0.01,
    logDir: join(dir, RUN),
  });
  const to = Date.now() / 1000;
  model.dispose();
  // Different values at different steps, or a reader that returned one value for all would pass.
  assert.ok(new Set(result.train.map((m) => m.cost)).size > 1, "the cost never changed");
  return { result, from, to };
}

/** What a reader should find for one split and tag: [step, value as float32]. */
function expected(metrics: StepMetrics[], tag: "cost" | "accuracy"): [number, number][] {
  return metrics.map((m) => [m.step, Math.fround(m[tag])]);
}

Deno.test({
  name: "TensorBoard's EventAccumulator reads train()'s cost and accuracy at its steps and values",
  ignore: missing !== undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const { result, from, to } = await trainRun(dir);
      const output = await new Deno.Command(PYTHON, {
        args: [READER, join(dir, RUN)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const decoder = new TextDecoder();
      assert.ok(output.success, decoder.decode(output.stderr));
      const read: {
        version: string;
        splits: Record<string, Record<string, [number, number, number][]>>;
      } = JSON.parse(decoder.decode(output.stdout));
      console.log(`TensorBoard ${read.version} EventAccumulator`);
      for (const [name, metrics] of [["train", result.train], ["test", result.test]] as const) {
        const tags = read.splits[name];
        assert.deepEqual(Object.keys(tags).sort(), ["accuracy", "cost"], name);
        for (const tag of ["cost", "accuracy"] as const) {
          const events = tags[tag];
          assert.deepEqual(
            events.map(([s, v]) => [s, v]),
            expected(metrics, tag),
            `${name} ${tag}`,
          );
          for (const [, , wallTime] of events) {
            assert.ok(wallTime >= from - 1 && wallTime <= to + 1, `${name} wall time ${wallTime}`);
          }
        }
      }
      assert.deepEqual(
        read.splits.test.cost.map(([step]) => step),
        [2, 4, 6, 8],
        "a test evaluation every 2 steps",
      );
    });
  },
});

/** A free TCP port on loopback (closed again, for the server to take). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** GETs `path` from the server as JSON; undefined while it does not answer. */
async function getJson(port: number, path: string): Promise<unknown> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`);
    if (!response.ok) {
      await response.body?.cancel();
      return undefined;
    }
    return await response.json();
  } catch {
    return undefined;
  }
}

Deno.test({
  name: "tensorboard --logdir serves train()'s cost and accuracy over its HTTP API",
  ignore: missing !== undefined,
  fn: async () => {
    await withTempDir(async (dir) => {
      const { result } = await trainRun(dir);
      const port = freePort();
      const server = new Deno.Command(TENSORBOARD, {
        args: ["--logdir", dir, "--port", `${port}`, "--host", "127.0.0.1"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const log = server.output();
      try {
        const runs = [`${RUN}/test`, `${RUN}/train`];
        let tags: Record<string, Record<string, unknown>> | undefined;
        for (let i = 0; i < TRIES; i++) {
          const answer = await getJson(port, "/data/plugin/scalars/tags");
          const found = answer as typeof tags;
          if (found && runs.every((run) => Object.keys(found[run] ?? {}).length === 2)) {
            tags = found;
            console.log(`TensorBoard answered after ${i} retries of 0.5 s`);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 500));
        }
        assert.ok(tags, `no cost and accuracy for ${runs} after ${TRIES} tries`);
        assert.deepEqual(Object.keys(tags).sort(), runs);
        for (const [name, metrics] of [["train", result.train], ["test", result.test]] as const) {
          assert.deepEqual(Object.keys(tags[`${RUN}/${name}`]).sort(), ["accuracy", "cost"]);
          for (const tag of ["cost", "accuracy"] as const) {
            const query = `run=${encodeURIComponent(`${RUN}/${name}`)}&tag=${tag}`;
            const series = await getJson(port, `/data/plugin/scalars/scalars?${query}`) as
              | [number, number, number][]
              | undefined;
            assert.ok(series, `no scalars for ${name} ${tag}`);
            assert.deepEqual(series.map(([, s, v]) => [s, v]), expected(metrics, tag));
          }
        }
      } finally {
        server.kill("SIGTERM");
        // Closing stdin also stops its data server, which TensorBoard starts with --die-after-stdin.
        await server.stdin.close().catch(() => {});
        await log;
      }
    });
  },
});
