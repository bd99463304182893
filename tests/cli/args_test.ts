import assert from "node:assert/strict";
import { type CommandSpec, helpText, integerFlag, parseCommand } from "../../cli/args.ts";
import { UsageError } from "../../lib/core/errors.ts";

const SPEC: CommandSpec = {
  name: "demo",
  summary: "A demo task.",
  flags: {
    steps: { type: "string", default: "10", help: "Steps." },
    json: { type: "boolean", help: "JSON output." },
  },
};

Deno.test("parseCommand() reads flags and defaults; unknown flags name themselves", () => {
  assert.deepEqual(parseCommand(SPEC, ["--json"]).values, { steps: "10", json: true });
  assert.throws(() => parseCommand(SPEC, ["--stpes", "3"]), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /Unknown option '--stpes'.*deno task demo --help/);
    return true;
  });
  assert.throws(() => parseCommand(SPEC, ["extra"]), UsageError);
});

Deno.test("integerFlag() names the flag and the allowed range, negatives included", () => {
  const steps = (value: string) => integerFlag(parseCommand(SPEC, ["--steps", value]), "steps");
  assert.equal(steps("7"), 7);
  assert.throws(() => steps("-3"), /--steps must be an integer >= 1, got '-3'/);
  assert.throws(() => steps("2.5"), /got '2.5'/);
  assert.throws(() => steps("many"), /got 'many'/);
  const ranged = parseCommand(SPEC, ["--steps", "0"]);
  assert.throws(() => integerFlag(ranged, "steps", { min: 1, max: 5 }), /in \[1, 5\], got '0'/);
});

Deno.test("helpText() lists every flag with its default", () => {
  const text = helpText(SPEC);
  assert.match(text, /--steps <steps>\n {6}Steps\. \(default: 10\)/);
  assert.match(text, /--json\n/);
});
