import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type BenchCase,
  type BenchReport,
  interleave,
  roundRatios,
  TORCH_PRECISION,
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

function assertCase(c: BenchCase, rounds: number) {
  assert.equal(c.width, 8);
  assert.equal(c.batch, 4);
  assert.ok(c.precision === "fp32" || c.precision === "bf16", c.precision);
  assert.equal(c.rounds.train.length, rounds);
  assert.equal(c.rounds.infer.length, rounds);
  assertRate(c.trainImagesPerSecond, "trainImagesPerSecond");
  assertRate(c.inferImagesPerSecond, "inferImagesPerSecond");
  assert.equal(c.trainImagesPerSecond, median(c.rounds.train));
  assertSpread(c.spread.train, c.trainImagesPerSecond, "ours, training: median within the spread");
  assertSpread(c.spread.infer, c.inferImagesPerSecond, "ours, inference: median within the spread");
  assertRate(c.gflops.train, "gflops.train");
  assertRate(c.peakMemoryBytes, "peakMemoryBytes");
  if (c.reference === null) {
    assert.equal(typeof c.referenceMissing, "string");
    assert.equal(c.ratio, null);
    return;
  }
  const { reference } = c;
  assert.match(reference.engine, /PyTorch/);
  const names = [
    ...reference.variants.map((v) => v.variant),
    ...reference.notRun.map((n) => n.variant),
  ];
  assert.deepEqual(names.sort(), [
    "bf16_autocast",
    "channels_last",
    "channels_last_torchscript",
    "nchw",
  ]);
  for (const v of reference.variants) {
    assert.ok(TORCH_VARIANTS.includes(v.variant), v.variant);
    assert.equal(v.precision, TORCH_PRECISION[v.variant]);
    assert.equal(v.rounds.infer.length, rounds);
    assertRate(v.inferImagesPerSecond, `${v.variant}.inferImagesPerSecond`);
    assertSpread(v.spread.infer, v.inferImagesPerSecond, `${v.variant}, inference`);
    assertRate(v.peakMemoryBytes, `${v.variant}.peakMemoryBytes`);
    if (v.variant === "channels_last_torchscript") {
      assert.equal(v.trainImagesPerSecond, null, "a frozen graph does not train");
    } else {
      assertRate(v.trainImagesPerSecond, `${v.variant}.trainImagesPerSecond`);
      assertSpread(v.spread.train, v.trainImagesPerSecond, `${v.variant}, training`);
    }
  }
  const same = reference.variants.filter((v) => v.precision === c.precision);
  const trains = same.flatMap((v) => v.trainImagesPerSecond ?? []);
  assert.equal(reference.trainImagesPerSecond, Math.max(...trains), "best training is the max");
  const named = (name: string | null) => reference.variants.find((v) => v.variant === name)!;
  assert.equal(named(reference.best.train).trainImagesPerSecond, reference.trainImagesPerSecond);
  assert.equal(named(reference.best.infer).inferImagesPerSecond, reference.inferImagesPerSecond);
  const model = createModel({ width: 8, imageSize: 64 });
  assert.equal(reference.params, model.countParams(), "PyTorch built the same network");
  model.dispose();
  // Each round's ratio is against that round's fastest way at the same precision.
  const perRound = c.rounds.train.map((rate, round) =>
    rate / Math.max(...same.flatMap((v) => v.rounds.train?.[round] ?? []))
  );
  assert.equal(c.ratio!.train, median(perRound));
  assert.deepEqual(c.ratioRange!.train, [Math.min(...perRound), Math.max(...perRound)]);
  const range = c.ratioRange!;
  assert.ok(range.infer[0] <= c.ratio!.infer && c.ratio!.infer <= range.infer[1], "infer range");
  assert.ok(c.ratioAnyPrecision!.train <= c.ratio!.train, "any precision includes the same");
  assert.ok(c.ratioAnyPrecision!.infer <= c.ratio!.infer, "any precision includes the same");
}

Deno.test("bench --quick --json runs and reports every field of the contract", async () => {
  const { code, stdout, stderr } = await bench(["--quick", "--json"]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(stdout) as BenchReport;
  assert.equal(report.quick, true);
  assert.equal(report.rounds, 2);
  assert.equal(typeof report.machine.cpu, "string");
  assert.ok(report.machine.cores >= 1);
  assertRate(report.machine.peak.wasmGflopsOneThread, "peak.wasmGflopsOneThread");
  const { onednnGflops } = report.machine.peak;
  if (onednnGflops !== null) assertRate(onednnGflops, "peak.onednnGflops");
  const precisions = report.cases.map((c) => c.precision);
  const bf16 = report.machine.bf16Flags.length > 0 && onednnGflops !== null;
  assert.deepEqual(precisions, bf16 ? ["fp32", "bf16"] : ["fp32"]);
  await selectBackend({ backend: "cpu" }); // to count the lab model's parameters
  for (const c of report.cases) assertCase(c, 2);
  assert.equal(report.bf16OverFp32.length, bf16 ? 1 : 0);
  for (const speedup of report.bf16OverFp32) {
    const [fp32, bf16] = report.cases;
    const perRound = bf16.rounds.train.map((rate, round) => rate / fp32.rounds.train[round]);
    assert.equal(speedup.ratio.train, median(perRound), "bf16 over fp32, round by round");
  }
  assert.match(stderr, /width 8, round 2\/2 \(train \/ infer img\/s\): lab fp32 /);
  assert.match(report.machine.isa, /^(AVX-512|AVX2|x86_64|aarch64)$/);
  const onednn = report.machine.peak.onednn;
  if (onednn !== null) assert.match(onednn.version, /^[23]\.\d+\.\d+$/);
});

Deno.test("interleave() alternates the lab's contestants and PyTorch's", () => {
  assert.deepEqual(interleave(["L1", "L2"], ["T1", "T2", "T3"]), ["L1", "T1", "L2", "T2", "T3"]);
  assert.deepEqual(interleave(["L1"], []), ["L1"]);
});

Deno.test("roundRatios() takes each round's ratio to its fastest way: median, range, spread", () => {
  // Round 1: 10 / max(5, 8) = 1.25; round 2: 12 / max(6, 4) = 2; round 3: 9 / 6 = 1.5.
  const result = roundRatios([10, 12, 9], [[5, 6, 6], [8, 4, null]]);
  assert.deepEqual(result, { ratio: 1.5, range: [1.25, 2], spreadPercent: 50 });
  assert.equal(roundRatios([10], [[null]]), null, "no way ran that round");
  assert.equal(roundRatios([10], []), null, "no way at all");
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
  const precision = await bench(["--precisions", "fp16"]);
  assert.equal(precision.code, 1);
  assert.equal(
    precision.stderr.trim(),
    "error: --precisions must be fp32, bf16 or both, got 'fp16'",
  );
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
