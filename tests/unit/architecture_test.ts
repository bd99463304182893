/**
 * The rules of the code's layout, checked on the source: imports point one way through the
 * layers, the worker threads load no plotting code, only the grader reaches the reference
 * answers, every task exports `main(argv)`, and each constant of the data schema has one home.
 */
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";
import { LAB_ROOT } from "../../lib/core/paths.ts";

/**
 * The layers of `lib/`, lowest first: a module may import its own layer and those below, never
 * one above. The phantom generator is a data source (its own folder, the data layer); the
 * backends sit beside the model, under training. The curated "lab" (`mod.ts`) shares the
 * grader's layer: it exports the notebooks' check cells, and the grader's worker loads it to run
 * answers against what the notebooks see.
 */
const LAYERS: Record<string, number> = {
  core: 0,
  data: 1,
  phantom: 1,
  model: 2,
  backends: 2,
  training: 3,
  evaluation: 4,
  figures: 5,
  notebook: 6,
  grading: 7,
  "mod.ts": 7,
};

/** Worker threads: each loads its own module graph, which should be no bigger than its job. */
const WORKERS = [
  "lib/training/parallel_worker.ts",
  "lib/phantom/worker.ts",
  "lib/data/xray_png_worker.ts",
];

/** Every `.ts` file under `dir` (relative to the repository), recursively. */
function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of Deno.readDirSync(join(LAB_ROOT, dir))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) files.push(...sourceFiles(path));
    else if (entry.name.endsWith(".ts")) files.push(path);
  }
  return files.sort();
}

/** The repository-relative paths `file` imports (static, dynamic, re-exports and worker URLs). */
function localImports(file: string): string[] {
  const text = Deno.readTextFileSync(join(LAB_ROOT, file));
  const pattern = /(?:\bfrom\s+|\bimport\s*\(?\s*|new URL\(\s*)["'](\.{1,2}\/[^"']+\.ts)["']/g;
  return [...text.matchAll(pattern)].map((match) => normalize(join(dirname(file), match[1])));
}

/** The layer of a file under `lib/`: its folder, or `mod.ts`. */
function layerOf(file: string): string {
  return relative("lib", file).split("/")[0];
}

Deno.test("every module under lib/ is in a known layer", () => {
  const unknown = sourceFiles("lib").filter((file) => !(layerOf(file) in LAYERS));
  assert.deepEqual(unknown, [], `add these folders to LAYERS: ${unknown.join(", ")}`);
});

Deno.test("imports in lib/ point down the layers, never up", () => {
  const upward: string[] = [];
  for (const file of sourceFiles("lib")) {
    for (const target of localImports(file).filter((path) => path.startsWith("lib/"))) {
      if (LAYERS[layerOf(target)] > LAYERS[layerOf(file)]) upward.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});

Deno.test("the worker threads load no figures, notebook or grading code, nor a plotting package", async () => {
  for (const worker of WORKERS) {
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", join(LAB_ROOT, worker)],
      cwd: LAB_ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(info.success, new TextDecoder().decode(info.stderr));
    const graph = JSON.parse(new TextDecoder().decode(info.stdout));
    const specifiers: string[] = graph.modules.map((module: { specifier: string }) =>
      module.specifier
    );
    assert.ok(specifiers.length > 1, `${worker}: deno info listed no modules`);
    const unwanted = specifiers.filter((specifier) =>
      /\/lib\/(figures|notebook|grading)\/|@observablehq\/plot|linkedom/.test(specifier)
    );
    assert.deepEqual(unwanted, [], `${worker} loads ${unwanted.join(", ")}`);
  }
});

Deno.test("only the grader imports the reference answers", () => {
  const importers = ["lib", "cli", "tools", "bench"].flatMap(sourceFiles).filter((file) =>
    localImports(file).includes("lib/grading/references.ts")
  );
  assert.ok(importers.length > 0, "nothing imports lib/grading/references.ts: is it still there?");
  const outside = importers.filter((file) => !file.startsWith("lib/grading/"));
  assert.deepEqual(outside, []);
});

Deno.test("every task in cli/ exports main(argv)", async () => {
  const tasks = sourceFiles("cli").filter((file) => file !== "cli/args.ts");
  assert.ok(tasks.length >= 10, `only ${tasks.length} tasks found`);
  for (const task of tasks) {
    const module = await import(join(LAB_ROOT, task));
    assert.equal(typeof module.main, "function", `${task} exports no main`);
    assert.equal(module.main.length, 1, `${task}: main should take argv`);
  }
});

Deno.test("each constant of the data schema is defined once, in data/schema.ts", () => {
  const names = ["IMAGE_SIZE", "NUM_CLASSES", "PNEUMOTHORAX_CLASS", "CLASS_NAMES"];
  const files = ["lib", "cli", "tools", "bench"].flatMap(sourceFiles);
  for (const name of names) {
    const homes = files.filter((file) =>
      new RegExp(`\\bconst\\s+${name}\\b\\s*[:=]`).test(Deno.readTextFileSync(join(LAB_ROOT, file)))
    );
    assert.deepEqual(homes, ["lib/data/schema.ts"], name);
  }
});

Deno.test("the lab loads and picks a backend with read and env permissions only, as the grader runs it", async () => {
  const probe = [
    `import { selectBackend } from ${JSON.stringify(join(LAB_ROOT, "lib/backends/backend.ts"))};`,
    `import * as lab from ${JSON.stringify(join(LAB_ROOT, "lib/mod.ts"))};`,
    "const backend = await selectBackend();",
    "console.log(Object.keys(lab).length, backend.tfBackend);",
  ].join("\n");
  const dir = await Deno.makeTempDir();
  const file = join(dir, "probe.ts");
  await Deno.writeTextFile(file, probe);
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--config", join(LAB_ROOT, "deno.json"), "--allow-read", "--allow-env", file],
    cwd: LAB_ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output().finally(() => Deno.remove(dir, { recursive: true }));
  const stderr = new TextDecoder().decode(run.stderr);
  assert.ok(run.success, stderr);
  assert.match(new TextDecoder().decode(run.stdout), /^\d+ wasm\n$/);
});
