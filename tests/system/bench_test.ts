import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type BenchCase,
  type BenchReport,
  HEADLINE_TIE,
  pickHeadline,
  TORCH_VARIANTS,
} from "../../bench/bench.ts";
import { median } from "../../bench/case.ts";
import { modelFlops } from "../../bench/flops.ts";
import { selectBackend } from "../../lib/backends/backend.ts";
import { createModel } from "../../lib/model/model.ts";

const CLI = fileURLToPath(new URL("../../cli/bench.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../deno.json", import.meta.url));

async function bench(args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", CONFIG, CLI, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

function assertRate(value: unknown, what: string) {
  assert.ok(typeof value === "number" && value > 0 && Number.isFinite(value), `${what}: ${value}`);
}

function assertSpread(spread: [number, number] | null, value: number | null, what: string) {
  assert.ok(spread !== null && value !== null, what);
  assert.ok(spread[0] <= value && value <= spread[1], `${what}: ${value} outside ${spread}`);
}

function assertCase(c: BenchCase) {
  assert.equal(c.width, 8);
  assert.equal(c.batch, 4);
  assert.equal(c.repeats, 2);
  assertRate(c.trainImagesPerSecond, "trainImagesPerSecond");
  assertRate(c.inferImagesPerSecond, "inferImagesPerSecond");
  assertSpread(c.spread.train, c.trainImagesPerSecond, "ours, training: median within the spread");
  assertSpread(c.spread.infer, c.inferImagesPerSecond, "ours, inference: median within the spread");
  assertRate(c.gflops.train, "gflops.train");
  assertRate(c.oneWorker.trainImagesPerSecond, "oneWorker.trainImagesPerSecond");
  assert.equal(c.parallel.workers, 2);
  const cores = c.parallel.trainCoresUsed;
  assert.ok(cores === null || (cores > 0 && cores <= 2.5), `cores busy: ${cores}`);
  assert.ok("trainImagesPerSecond" in c.lab, "the lab loop ran");
  if (c.reference === null) {
    assert.equal(typeof c.referenceMissing, "string");
    assert.equal(c.ratio, null);
    return;
  }
  const { reference } = c;
  assert.match(reference.engine, /PyTorch/);
  const names = [...reference.variants.map((v) => v.name), ...reference.notRun.map((n) => n.name)];
  assert.deepEqual(names.sort(), ["channels_last", "channels_last_torchscript", "nchw"]);
  for (const v of reference.variants) {
    assert.ok(TORCH_VARIANTS.includes(v.name), v.name);
    assertRate(v.inferImagesPerSecond, `${v.name}.inferImagesPerSecond`);
    assertSpread(v.spread.infer, v.inferImagesPerSecond, `${v.name}, inference`);
    if (v.name === "channels_last_torchscript") {
      assert.equal(v.trainImagesPerSecond, null, "a frozen graph does not train");
    } else {
      assertRate(v.trainImagesPerSecond, `${v.name}.trainImagesPerSecond`);
      assertSpread(v.spread.train, v.trainImagesPerSecond, `${v.name}, training`);
    }
  }
  const trains = reference.variants.flatMap((v) => v.trainImagesPerSecond ?? []);
  const infers = reference.variants.map((v) => v.inferImagesPerSecond);
  assert.equal(reference.trainImagesPerSecond, Math.max(...trains), "best training is the max");
  assert.equal(reference.inferImagesPerSecond, Math.max(...infers), "best inference is the max");
  const named = (name: string) => reference.variants.find((v) => v.name === name)!;
  assert.equal(named(reference.best.train).trainImagesPerSecond, reference.trainImagesPerSecond);
  assert.equal(named(reference.best.infer).inferImagesPerSecond, reference.inferImagesPerSecond);
  const model = createModel({ width: 8, imageSize: 64 });
  assert.equal(reference.params, model.countParams(), "PyTorch built the same network");
  model.dispose();
  assert.equal(c.ratio?.train, c.trainImagesPerSecond / reference.trainImagesPerSecond);
  assert.equal(c.ratio?.infer, c.inferImagesPerSecond / reference.inferImagesPerSecond);
  const range = c.ratioRange!;
  assert.ok(range.train[0] <= c.ratio!.train && c.ratio!.train <= range.train[1], "train range");
  assert.ok(range.infer[0] <= c.ratio!.infer && c.ratio!.infer <= range.infer[1], "infer range");
}

Deno.test("bench --quick --json runs and reports every field of the contract", async () => {
  const { code, stdout, stderr } = await bench(["--quick", "--json", "--workers", "2"]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout) as BenchReport;
  assert.equal(report.quick, true);
  assert.equal(typeof report.machine.cpu, "string");
  assert.ok(report.machine.cores >= 1);
  assertRate(report.machine.peak.wasmGflopsOneThread, "peak.wasmGflopsOneThread");
  const { onednnGflops } = report.machine.peak;
  if (onednnGflops !== null) assertRate(onednnGflops, "peak.onednnGflops");
  assert.equal(report.cases.length, 1);
  await selectBackend({ backend: "cpu" }); // to count the lab model's parameters
  assertCase(report.cases[0]);
  assert.match(stderr, /width 8: 2 workers/);
  assert.match(report.machine.isa, /^(AVX-512|AVX2|x86_64|aarch64)$/);
  const onednn = report.machine.peak.onednn;
  if (onednn !== null) assert.match(onednn.version, /^[23]\.\d+\.\d+$/);
});

Deno.test("the headline is the fastest run, or of runs tied within 5%, the one with least memory", () => {
  const run = (rate: number, gib: number | null) => ({
    trainImagesPerSecond: rate,
    peakMemoryBytes: gib === null ? null : gib * 2 ** 30,
  });
  assert.equal(HEADLINE_TIE, 0.05);
  assert.equal(pickHeadline([[run(1.40, 3.7), "2"], [run(1.38, 2.1), "1"]])[1], "1");
  assert.equal(pickHeadline([[run(58.8, 1.2), "2"], [run(55.0, 1.1), "1"]])[1], "2");
  assert.equal(pickHeadline([[run(20, null), "a"], [run(19.5, 1.9), "b"]])[1], "b");
  assert.equal(pickHeadline([[run(20, 1.0), "a"]])[1], "a");
});

Deno.test("median() takes the middle value, or the mean of the middle two", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([7]), 7);
});

Deno.test("bench rejects a bad flag with one line and exit 1", async () => {
  const { code, stderr } = await bench(["--widths", "8,x"]);
  assert.equal(code, 1);
  assert.match(stderr.trim(), /^error: --widths must be positive integers/);
});

Deno.test("modelFlops() counts the lab model's operations from its layer shapes", () => {
  // Width 1 at 16 x 16: the convolutions by hand, 2 H W k^2 Cin Cout each.
  const convs = [
    [16, 5, 1, 1],
    [16, 5, 1, 1],
    [8, 5, 1, 2],
    [8, 5, 2, 2],
    [4, 3, 2, 4],
    [4, 3, 4, 4],
    [2, 3, 4, 8],
    [2, 3, 8, 8],
  ].map(([side, k, cin, cout]) => 2 * side * side * k * k * cin * cout);
  const forward = convs.reduce((a, b) => a + b, 0) + 2 * 8 * 2;
  const flops = modelFlops(1, 16);
  assert.equal(flops.infer, forward);
  assert.equal(flops.train, 3 * forward - convs[0]);
  assert.ok(modelFlops(64, 256).infer > 45e9 && modelFlops(64, 256).infer < 50e9);
});
