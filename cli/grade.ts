/**
 * `deno task grade PATH [--json] [--csv FILE] [--gradescope FILE] [--notebooks LIST]
 * [--submission] [--jobs N]`: grade a notebook or a folder of submissions, with a subtotal per
 * student over the whole assignment. Paths, given and printed, are relative to the
 * folder the user ran the task from (`deno task` itself runs in the repository).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type CommandSpec, parseCommand, runMain } from "./args.ts";
import {
  assignmentNotebooks,
  gradePath,
  type GradeReport,
  GRADESCOPE_VISIBILITY,
  reportToCsv,
  reportToGradescope,
} from "../lib/grading/grader.ts";
import { LabError, UsageError } from "../lib/core/errors.ts";
import { QUESTIONS } from "../lib/grading/questions.ts";

const SPEC: CommandSpec = {
  name: "grade",
  positional: "PATH",
  summary: "Grade a lab notebook, or every lab notebook in a folder (a class's submissions): " +
    "per question, points, pass/fail and a message.",
  flags: {
    json: { type: "boolean", help: "Print the report as JSON." },
    csv: { type: "string", help: "Also write one CSV row per question to this file." },
    gradescope: {
      type: "string",
      help: "Also write a Gradescope results.json (one test per question) to this file.",
    },
    visibility: {
      type: "string",
      default: "visible",
      help: `Who sees the Gradescope tests when: ${GRADESCOPE_VISIBILITY.join(", ")}.`,
    },
    submission: {
      type: "boolean",
      help: "PATH is one student's submission: every notebook in it is theirs, and none at all " +
        "scores zero (Gradescope's submission/ folder).",
    },
    jobs: { type: "string", help: "Students graded at once (default: one per core)." },
    question: {
      type: "string",
      help: "Grade only this question (roc, cam...), and exit 1 unless it passed everywhere " +
        "(GitHub Classroom's one test per question).",
    },
    timeout: { type: "string", default: "60", help: "Seconds each question may run." },
    notebooks: {
      type: "string",
      help: "The notebooks of the assignment, by name or number (04_roc,05_cam or 4,5): a " +
        "student who did not hand one in scores zero on it (default: all six for a folder).",
    },
  },
};

function printReport(report: GradeReport): void {
  for (const notebook of report.notebooks) {
    const score = notebook.questions.reduce((sum, q) => sum + q.points, 0);
    const max = notebook.questions.reduce((sum, q) => sum + q.max, 0);
    console.log(`${notebook.path}: ${score}/${max}`);
    for (const q of notebook.questions) {
      console.log(`  ${q.passed ? "PASS" : "FAIL"} ${q.id} ${q.points}/${q.max}: ${q.message}`);
    }
  }
  if (report.students.length > 1) {
    console.log("students:");
    for (const s of report.students) {
      const missing = s.missing.length > 0 ? ` (missing ${s.missing.join(", ")})` : "";
      console.log(`  ${s.student} ${s.score}/${s.max}${missing}`);
    }
  } else if (report.students[0]?.missing.length) {
    console.log(`missing: ${report.students[0].missing.join(", ")}`);
  }
  console.log(`total: ${report.score}/${report.max}`);
}

/** The notebooks `--notebooks` names, or a {@link UsageError} naming the one it does not know. */
function assignmentOf(flag: string): string[] {
  try {
    return assignmentNotebooks(flag.split(",").map((name) => name.trim()));
  } catch (error) {
    throw new UsageError(`--notebooks: ${(error as Error).message}`);
  }
}

/** Runs the task with the command-line arguments `argv`. */
export async function main(argv: string[]): Promise<void> {
  const args = parseCommand(SPEC, argv);
  tf.enableProdMode(); // tfjs's banner on first use of its cpu backend is not for graders
  Deno.chdir(Deno.env.get("INIT_CWD") ?? Deno.cwd());
  const [path, ...extra] = args.positionals;
  if (!path || extra.length > 0) {
    throw new UsageError("give one PATH: a notebook or a folder (deno task grade --help)");
  }
  const timeoutSeconds = Number(args.values.timeout);
  if (!(timeoutSeconds > 0)) throw new UsageError("--timeout must be a positive number of seconds");
  const notebooks = typeof args.values.notebooks === "string"
    ? assignmentOf(args.values.notebooks)
    : undefined;
  const visibility = String(args.values.visibility);
  if (!GRADESCOPE_VISIBILITY.includes(visibility)) {
    throw new UsageError(
      `--visibility ${visibility}: expected one of ${GRADESCOPE_VISIBILITY.join(", ")}`,
    );
  }
  const jobs = args.values.jobs === undefined ? undefined : Number(args.values.jobs);
  if (jobs !== undefined && !(Number.isInteger(jobs) && jobs > 0)) {
    throw new UsageError("--jobs must be a positive whole number");
  }
  const student = args.values.submission ? "submission" : undefined;
  const question = typeof args.values.question === "string" ? args.values.question : undefined;
  const known = Object.values(QUESTIONS).flat().map((q) => q.id);
  if (question !== undefined && !known.includes(question)) {
    throw new UsageError(`--question ${question}: the lab's questions are ${known.join(", ")}`);
  }
  const questions = question === undefined ? undefined : [question];
  const report = await gradePath(path, { timeoutSeconds, notebooks, jobs, student, questions });
  if (typeof args.values.csv === "string") {
    await Deno.writeTextFile(args.values.csv, reportToCsv(report));
  }
  if (typeof args.values.gradescope === "string") {
    await Deno.writeTextFile(
      args.values.gradescope,
      JSON.stringify(reportToGradescope(report, { visibility }), null, 2) + "\n",
    );
  }
  if (args.values.json) console.log(JSON.stringify(report, null, 2));
  else printReport(report);
  if (question !== undefined) {
    const graded = report.notebooks.flatMap((n) => n.questions).filter((q) => q.id === question);
    if (graded.length === 0) throw new LabError(`${path}: no notebook here asks '${question}'`);
    const failed = graded.find((q) => !q.passed);
    if (failed) throw new LabError(`question ${question} failed: ${failed.message}`);
  }
}

if (import.meta.main) await runMain(() => main(Deno.args));
