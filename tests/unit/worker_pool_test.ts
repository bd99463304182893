import assert from "node:assert/strict";
import { createWorkerPool, defaultWorkerCount } from "../../lib/core/worker_pool.ts";

const CHILD = new URL("../support/worker_pool_child.ts", import.meta.url);

Deno.test("a worker pool answers every request with its own result, whatever the order", async () => {
  const pool = createWorkerPool<number, Float64Array>(CHILD, { workers: 3, name: "doubling" });
  try {
    const inputs = Array.from({ length: 20 }, (_, i) => i);
    const results = await Promise.all(inputs.map((n) => pool.run(n)));
    assert.deepEqual(results.map((r) => r[0]), inputs.map((n) => 2 * n));
  } finally {
    pool.close();
  }
});

Deno.test("a request that throws in the worker rejects with its message; the pool goes on", async () => {
  const pool = createWorkerPool<number, Float64Array>(CHILD, { workers: 2, name: "doubling" });
  try {
    await assert.rejects(pool.run(-4), { message: "cannot double -4" });
    assert.equal((await pool.run(5))[0], 10);
  } finally {
    pool.close();
  }
});

Deno.test("closing a pool rejects the requests still pending", async () => {
  const pool = createWorkerPool<number, Float64Array>(CHILD, { workers: 1, name: "doubling" });
  const pending = pool.run(3);
  pool.close();
  await assert.rejects(pending, { message: "doubling pool closed" });
  await assert.rejects(pool.run(1), { message: "doubling pool closed" });
});

Deno.test("with 0 workers a pool runs the same function on the calling thread", async () => {
  const double = (n: number) => {
    if (n < 0) throw new Error(`cannot double ${n}`);
    return Float64Array.of(2 * n);
  };
  const pool = createWorkerPool<number, Float64Array>(CHILD, {
    workers: 0,
    name: "doubling",
    handle: double,
  });
  assert.equal(pool.workers, 0);
  assert.equal((await pool.run(21))[0], 42);
  await assert.rejects(pool.run(-1), { message: "cannot double -1" });
  pool.close();
  assert.throws(
    () => createWorkerPool(CHILD, { workers: 0, name: "doubling" }),
    { message: "doubling pool: 0 workers needs a handle" },
  );
  assert.throws(
    () => createWorkerPool(CHILD, { workers: 1.5, name: "doubling" }),
    { message: "workers must be an integer >= 0, got 1.5" },
  );
});

Deno.test("the default worker count is the logical cores, between 1 and 8", () => {
  const cores = navigator.hardwareConcurrency;
  assert.equal(defaultWorkerCount(), Math.max(1, Math.min(8, cores)));
});
