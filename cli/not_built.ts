/**
 * Stands in for the tasks whose issue has not landed yet: says so and exits non-zero.
 *
 * @module
 */
const task = Deno.args[0] ?? "this task";
console.error(`error: 'deno task ${task}' is not built yet (see the open issues).`);
Deno.exit(1);
