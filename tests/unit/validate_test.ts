import assert from "node:assert/strict";
import { UsageError } from "../../lib/core/errors.ts";
import { requireInteger } from "../../lib/core/validate.ts";

Deno.test("requireInteger returns an integer within its bounds", () => {
  assert.equal(requireInteger("workers", 0, { min: 0 }), 0);
  assert.equal(requireInteger("blocks", 4, { min: 0, max: 4 }), 4);
  assert.equal(requireInteger("seed", -7), -7);
});

Deno.test("requireInteger names the option, its bounds and the value given", () => {
  const cases: [number, Parameters<typeof requireInteger>[2], string][] = [
    [1.5, { min: 0 }, "workers must be an integer >= 0, got 1.5"],
    [-1, { min: 0 }, "workers must be an integer >= 0, got -1"],
    [5, { min: 0, max: 4 }, "workers must be an integer in [0, 4], got 5"],
    [9, { max: 8 }, "workers must be an integer <= 8, got 9"],
    [NaN, {}, "workers must be an integer, got NaN"],
    [2 ** 53, {}, `workers must be an integer, got ${2 ** 53}`],
    [
      3,
      { min: 2, max: 2, why: "the patients" },
      "workers must be an integer in [2, 2] (the patients), got 3",
    ],
  ];
  for (const [value, bounds, message] of cases) {
    assert.throws(
      () => requireInteger("workers", value, bounds),
      (error) => error instanceof UsageError && error.message === message,
      message,
    );
  }
});
