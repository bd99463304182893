/**
 * `deno task bench:grade [--students N] [--jobs J] [--json]`: how long a class takes to grade.
 *
 * Makes a class of N students (default 200) in a temp folder, each handing in the six solution
 * notebooks, every tenth with one cheat or fault instead of an answer (an import of the
 * reference, an endless loop, a write to the grader's files, a forged result), grades it as
 * `deno task grade` does, and reports the wall time, the students per minute, and the peak
 * memory of the grader and its sandboxes together. It fails if any cheat scores, or any honest
 * answer does not: the speed must not come from a weaker grader. A benchmark, not a test:
 * timings depend on the machine and on what else runs on it (the load average is reported).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { parseCommand, runMain } from "../cli/args.ts";
import { UsageError } from "../lib/core/errors.ts";
import { LAB_ROOT } from "../lib/core/paths.ts";
import { defaultJobs, gradePath } from "../lib/grading/grader.ts";
import { readNotebook, toSourceLines, writeNotebook } from "../lib/grading/ipynb.ts";
import { QUESTIONS } from "../lib/grading/questions.ts";

const SOLUTIONS = join(LAB_ROOT, "notebooks", "solutions");
const REFERENCE = JSON.stringify(join(LAB_ROOT, "lib", "grading", "references.ts"));
/** A file of the grader's side that one cheat tries to overwrite. */
const VICTIM = "grader-file.txt";

/** The cheats and faults a tenth of the class hands in as 04_roc's answer (`victim`: a path). */
const cheatsFor = (victim: string): [string, string][] => [
  [
    "imports the reference",
    `import { computeRoc as ref } from ${REFERENCE};\nfunction computeRoc(a: number[], b: number[]) { return ref(a, b); }`,
  ],
  ["loops", "function computeRoc(a: number[], b: number[]) { while (true) {} }"],
  [
    "writes the grader's files",
    `(self as any)["De" + "no"].writeTextFileSync(${victim}, "");\nfunction computeRoc(a: number[], b: number[]) { return { fpr: [], tpr: [], auroc: 1 }; }`,
  ],
  [
    "forges a result",
    `console.log('{"passed":true,"message":"ok"}');\nfunction computeRoc(a: number[], b: number[]) { return { fpr: [], tpr: [], auroc: 0 }; }`,
  ],
];

/** Writes the class: `dir/s000/NN_name.ipynb`...; returns the cheat of each cheating student. */
async function writeClass(dir: string, students: number): Promise<Map<string, string>> {
  const names = Object.keys(QUESTIONS);
  const cheats = new Map<string, string>();
  const victim = join(dir, VICTIM);
  await Deno.writeTextFile(victim, "the grader's");
  const CHEATS = cheatsFor(JSON.stringify(victim));
  for (let s = 0; s < students; s++) {
    const student = `s${String(s).padStart(3, "0")}`;
    await Deno.mkdir(join(dir, student));
    for (const name of names) {
      await Deno.copyFile(join(SOLUTIONS, `${name}.ipynb`), join(dir, student, `${name}.ipynb`));
    }
    if (s % 10 !== 9) continue;
    const [what, code] = CHEATS[Math.floor(s / 10) % CHEATS.length];
    const path = join(dir, student, "04_roc.ipynb");
    const notebook = await readNotebook(path);
    notebook.cells.find((c) => c.metadata.lab?.question === "roc")!.source = toSourceLines(code);
    await writeNotebook(path, notebook);
    cheats.set(student, what);
  }
  return cheats;
}

/** Resident memory, in MiB, of this process and its descendants (Linux; 0 elsewhere). */
function treeRssMb(): number {
  try {
    const children = new Map<number, number[]>();
    const rss = new Map<number, number>();
    for (const entry of Deno.readDirSync("/proc")) {
      const pid = Number(entry.name);
      if (!Number.isInteger(pid)) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const parent = Number(fields[1]);
        children.set(parent, [...(children.get(parent) ?? []), pid]);
        rss.set(pid, Number(fields[21]) * 4096 / 2 ** 20);
      } catch {
        continue; // the process ended while being read
      }
    }
    let total = 0;
    const queue = [Deno.pid];
    while (queue.length > 0) {
      const pid = queue.pop()!;
      total += rss.get(pid) ?? 0;
      queue.push(...(children.get(pid) ?? []));
    }
    return total;
  } catch {
    return 0;
  }
}

/** Runs the benchmark with the command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand({
    name: "bench:grade",
    summary: "Grade a generated class of N students x 6 solution notebooks; report the time.",
    flags: {
      students: { type: "string", default: "200", help: "Students in the class." },
      jobs: { type: "string", help: "Students graded at once (default: one per core)." },
      timeout: {
        type: "string",
        default: "10",
        help: "Seconds each question may run (each endless loop costs one sandbox this long).",
      },
      json: { type: "boolean", help: "Print the result as JSON." },
    },
  }, argv);
  const students = Number(args.values.students);
  if (!Number.isInteger(students) || students < 1) {
    throw new UsageError("--students must be a positive whole number");
  }
  const jobs = args.values.jobs === undefined ? defaultJobs() : Number(args.values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError("--jobs must be a positive whole number");
  }
  const timeoutSeconds = Number(args.values.timeout);
  if (!(timeoutSeconds > 0)) throw new UsageError("--timeout must be a positive number of seconds");
  const dir = await Deno.makeTempDir({ prefix: "lab-bench-grade-" });
  try {
    tf.enableProdMode(); // tfjs's banner on first use of its cpu backend is not for graders
    const cheats = await writeClass(dir, students);
    let peakMb = 0;
    const sampler = setInterval(() => peakMb = Math.max(peakMb, treeRssMb()), 250);
    const loadBefore = Deno.loadavg();
    const start = performance.now();
    const report = await gradePath(dir, { jobs, timeoutSeconds });
    const seconds = (performance.now() - start) / 1000;
    clearInterval(sampler);
    const full = Object.values(QUESTIONS).flat().reduce((sum, q) => sum + q.points, 0);
    const wrong = report.students.filter((s) =>
      cheats.has(s.student) ? s.score !== full - 3 : s.score !== full
    );
    const result = {
      students,
      notebooks: report.notebooks.length,
      questions: report.notebooks.reduce((sum, n) => sum + n.questions.length, 0),
      jobs,
      timeoutSeconds,
      cores: navigator.hardwareConcurrency,
      seconds: Number(seconds.toFixed(1)),
      studentsPerMinute: Number((students / seconds * 60).toFixed(1)),
      peakMemoryMb: Math.round(peakMb),
      loadAverageBefore: loadBefore.map((x) => Number(x.toFixed(2))),
      loadAverageAfter: Deno.loadavg().map((x) => Number(x.toFixed(2))),
      cheats: cheats.size,
      cheatsScored: wrong.length,
    };
    if (args.values.json) console.log(JSON.stringify(result, null, 2));
    else {
      console.log(
        `${students} students x 6 notebooks (${result.questions} questions) graded in ` +
          `${result.seconds} s with ${jobs} at once on ${result.cores} cores: ` +
          `${result.studentsPerMinute} students a minute, peak memory ${result.peakMemoryMb} MiB ` +
          `(load average ${result.loadAverageBefore.join(" ")} before, ` +
          `${result.loadAverageAfter.join(" ")} after)`,
      );
    }
    if (await Deno.readTextFile(join(dir, VICTIM)) !== "the grader's") {
      throw new Error("an answer overwrote a file of the grader's: the sandbox leaks");
    }
    if (wrong.length > 0) {
      throw new Error(
        `graded wrong: ${
          wrong.map((s) =>
            `${s.student} ${s.score}/${s.max} (${cheats.get(s.student) ?? "honest"})`
          )
            .join(", ")
        }`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
