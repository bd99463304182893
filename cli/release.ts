/**
 * `deno task release`: make the student notebooks in notebooks/ from the answered ones in
 * notebooks/solutions/ (answer regions become TODO stubs; cell ids stay the same).
 * `--check` fails when the student notebooks differ from what release would write.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CommandSpec, parseCommand, runMain } from "./args.ts";
import { readNotebook, studentVersion } from "../lib/notebook.ts";
import { LabError } from "../lib/errors.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const SOLUTIONS = join(ROOT, "notebooks", "solutions");
const STUDENT = join(ROOT, "notebooks");

const SPEC: CommandSpec = {
  name: "release",
  summary: "Write the student notebooks (notebooks/*.ipynb) from notebooks/solutions/.",
  flags: {
    check: { type: "boolean", help: "Only check that the student notebooks are up to date." },
  },
};

async function main(): Promise<void> {
  const args = parseCommand(SPEC, Deno.args);
  const stale: string[] = [];
  for await (const entry of Deno.readDir(SOLUTIONS)) {
    if (!entry.isFile || !entry.name.endsWith(".ipynb")) continue;
    const solution = await readNotebook(join(SOLUTIONS, entry.name));
    const text = JSON.stringify(studentVersion(solution, entry.name), null, 1) + "\n";
    const target = join(STUDENT, basename(entry.name));
    const current = await Deno.readTextFile(target).catch(() => "");
    if (current === text) continue;
    if (args.values.check) stale.push(target);
    else {
      await Deno.writeTextFile(target, text);
      console.log(`wrote ${target}`);
    }
  }
  if (stale.length > 0) {
    throw new LabError(
      `student notebooks out of date with notebooks/solutions: ${stale.join(", ")} ` +
        "(run 'deno task release')",
    );
  }
}

if (import.meta.main) await runMain(main);
