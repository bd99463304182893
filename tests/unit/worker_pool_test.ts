import assert from "node:assert/strict";
import { createWorkerPool, defaultWorkerCount } from "../../lib/core/worker_pool.ts";

const CHILD = new URL("../fixtures/worker_pool_child.ts", import.meta.url);

Deno.test("a worker pool answers every request with its own result, whatever the order", async () => {
  const pool = createWorkerPool<number, Float64Array>(CHILD, 3, "doubling");
  try {
    const inputs = Array.from({ length: 20 }, (_, i) => i);
    const results = await Promise.all(inputs.map((n) => pool.run(n)));
    assert.deepEqual(results.map((r) => r[0]), inputs.map((n) => 2 * n));
  } finally {
    pool.close();
  }
});

Deno.test("a request that throws in the worker rejects with its message; the pool goes on", async () => {
  const pool = createWorkerPool<number, Float64Array>(CHILD, 2, "doubling");
  try {
    await assert.rejects(pool.run(-4), { message: "cannot double -4" });
    assert.equal((await pool.run(5))[0], 10);
  } finally {
    pool.close();
  }
});

Deno.test("closing a pool rejects the requests still pending", async () => {
  const pool = createWorkerPool<number, Float64Array>(CHILD, 1, "doubling");
  const pending = pool.run(3);
  pool.close();
  await assert.rejects(pending, { message: "doubling pool closed" });
  await assert.rejects(pool.run(1), { message: "doubling pool closed" });
});

Deno.test("the default worker count is the logical cores, between 1 and 8", () => {
  const cores = navigator.hardwareConcurrency;
  assert.equal(defaultWorkerCount(), Math.max(1, Math.min(8, cores)));
});
