import assert from "node:assert/strict";
import { createProgressBar, formatBytes, formatDuration } from "../../lib/core/progress.ts";

Deno.test("createProgressBar() shows slow rates with decimals, not as 0", async () => {
  const lines: string[] = [];
  const bar = createProgressBar(10, {
    label: "train",
    unit: "steps",
    write: (text) => lines.push(text),
    interactive: false,
    intervalMs: 0,
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  bar.update(1);
  assert.match(lines.at(-1)!, /^train \[##-+\] 1\/10 \d+\.\d\d steps\/s ETA/);
  bar.done("end");
  assert.match(lines.at(-1)!, /10\/10 .* end\n$/);
});

Deno.test("createProgressBar() made after the work began counts the rate from startedAt", () => {
  const lines: string[] = [];
  const bar = createProgressBar(10, {
    label: "train",
    unit: "steps",
    write: (text) => lines.push(text),
    interactive: false,
    intervalMs: 0,
    startedAt: performance.now() - 2000,
  });
  bar.update(1);
  const rate = Number(lines.at(-1)!.match(/ ([\d.]+) steps\/s/)![1]);
  assert.ok(rate > 0.4 && rate <= 0.5, `1 step in 2 s: ${lines.at(-1)}`);
});

Deno.test("formatBytes() and formatDuration() read like people write them", () => {
  assert.equal(formatBytes(999), "999 B");
  assert.equal(formatBytes(4_300_000), "4.3 MB");
  assert.equal(formatDuration(12.4), "12s");
  assert.equal(formatDuration(185), "3m05s");
  assert.equal(formatDuration(3720), "1h02m");
  assert.equal(formatDuration(Infinity), "?");
});
