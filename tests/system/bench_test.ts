import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { BenchCase, BenchReport } from "../../bench/bench.ts";
import { modelFlops } from "../../bench/flops.ts";
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

function assertCase(c: BenchCase) {
  assert.equal(c.width, 8);
  assert.equal(c.batch, 4);
  assertRate(c.trainImagesPerSecond, "trainImagesPerSecond");
  assertRate(c.inferImagesPerSecond, "inferImagesPerSecond");
  assertRate(c.gflops.train, "gflops.train");
  assertRate(c.oneWorker.trainImagesPerSecond, "oneWorker.trainImagesPerSecond");
  assert.equal(c.parallel.workers, 2);
  const cores = c.parallel.trainCoresUsed;
  assert.ok(cores === null || (cores > 0 && cores <= 2.5), `cores busy: ${cores}`);
  assert.ok("trainImagesPerSecond" in c.lab, "the lab loop ran");
  if (c.reference === null) {
    assert.equal(typeof c.referenceMissing, "string");
    assert.equal(c.ratio, null);
  } else {
    assert.match(c.reference.engine, /PyTorch/);
    assertRate(c.reference.trainImagesPerSecond, "reference.trainImagesPerSecond");
    assertRate(c.reference.inferImagesPerSecond, "reference.inferImagesPerSecond");
    const model = createModel({ width: 8, imageSize: 64 });
    assert.equal(c.reference.params, model.countParams(), "PyTorch built the same network");
    model.dispose();
    assertRate(c.ratio?.train, "ratio.train");
  }
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
  assertCase(report.cases[0]);
  assert.match(stderr, /width 8: 2 workers/);
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
