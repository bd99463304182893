/**
 * Runs graded answers in sandboxed Deno processes (grader_worker.ts), one process per student.
 *
 * Why one per student and not one per question: starting Deno and loading the lab costs about
 * 0.5 s of CPU, more than most checks; at one process per question a class of 200 took about a
 * quarter of an hour. One process per student pays it once for all their questions, and keeps
 * what matters apart: one student's code never runs beside another's, and the process may read
 * only that student's answers and the fixtures (no writes, network, subprocesses or other files).
 *
 * A question that loops, crashes its process or exhausts its memory scores zero with the reason;
 * the process is killed and the student's remaining questions go on in a fresh one (a question
 * whose process ended under it after others had run is first tried again alone). Results come
 * back on standard output behind a nonce the worker reads from standard input before any answer
 * runs, and writes with functions it captured before then, so an answer can print what it likes
 * but cannot forge a result.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { LAB_ROOT } from "../core/paths.ts";
import type { CheckResult } from "./questions.ts";

const WORKER = fileURLToPath(new URL("./grader_worker.ts", import.meta.url));

/** Heap, in MiB, of a sandboxed process: the lab needs about 150, a runaway answer no more. */
export const SANDBOX_HEAP_MB = 1024;

/** One answer to check: its notebook (`04_roc`), question id, and module (see grader.ts). */
export interface SandboxJob {
  /** The lab notebook. */
  notebook: string;
  /** The question id. */
  id: string;
  /** The answer module, inside the student's folder. */
  answerPath: string;
}

/** Where a student's sandbox runs. */
export interface SandboxOptions {
  /** The folder of the student's answer modules: the process may read it and the fixtures. */
  answerDir: string;
  /** The fixtures folder (read-only to the process). */
  fixtureDir: string;
  /** Seconds each question may take; the first also pays for starting the process. */
  timeoutSeconds: number;
}

/** The message of a question stopped at its time limit. */
export function timeoutMessage(seconds: number): string {
  return `stopped after ${seconds} s (an endless loop, or very slow code?)`;
}

/** Longest line kept whole; an answer printing more on one line loses its start, not memory. */
const MAX_LINE = 1 << 20;

/** Reads lines from a byte stream (a result always starts a line of its own). */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let newline;
    while ((newline = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, newline);
      rest = rest.slice(newline + 1);
    }
    if (rest.length > MAX_LINE) rest = rest.slice(-MAX_LINE);
  }
  if (rest !== "") yield rest;
}

/** Kills `child` if it still runs (it may have ended on its own just before). */
function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch (error) {
    if (!(error instanceof TypeError)) throw error; // "Child process has already terminated"
  }
}

/** The last {@link MAX_LINE} characters of a byte stream, read to its end. */
async function tail(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    text = (text + chunk).slice(-MAX_LINE);
  }
  return text;
}

/** Runs `jobs` in one sandboxed process until they are done or it ends; returns what came back. */
async function runOnce(
  jobs: SandboxJob[],
  options: SandboxOptions,
): Promise<{ results: CheckResult[]; ending?: CheckResult; timedOut?: boolean }> {
  const nonce = crypto.randomUUID();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--config=${join(LAB_ROOT, "deno.json")}`,
      `--v8-flags=--max-old-space-size=${SANDBOX_HEAP_MB}`,
      `--allow-read=${options.answerDir},${options.fixtureDir}`,
      "--allow-env",
      WORKER,
      options.fixtureDir,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const stderr = tail(child.stderr);
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(`${nonce}\n${JSON.stringify(jobs)}\n`));
  await writer.close();

  const results: CheckResult[] = [];
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      kill(child);
    }, options.timeoutSeconds * 1000);
  };
  arm();
  for await (const line of lines(child.stdout)) {
    const at = line.indexOf(nonce);
    if (at < 0) continue;
    try {
      const { passed, message } = JSON.parse(line.slice(at + nonce.length));
      results.push({ passed: passed === true, message: String(message) });
    } catch {
      results.push({ passed: false, message: "the grader's worker sent a malformed result" });
    }
    arm();
    if (results.length === jobs.length) break;
  }
  clearTimeout(timer);
  if (results.length === jobs.length) {
    kill(child); // done: whatever an answer left running goes with the process
    await child.status;
    await stderr;
    return { results };
  }
  const status = await child.status;
  const error = (await stderr).trim().split("\n").find((line) => /error/i.test(line));
  const ending: CheckResult = timedOut
    ? { passed: false, message: timeoutMessage(options.timeoutSeconds) }
    : {
      passed: false,
      message: `the cell does not run: ${
        error ?? (status.signal ? `the process was killed (${status.signal})` : "no output")
      }`,
    };
  return { results, ending, timedOut };
}

/**
 * Checks a student's answers in sandboxed processes, in order; returns one result per job. A
 * question that ends its process scores zero with the reason, and the rest run in a new one.
 */
export async function runSandboxed(
  jobs: SandboxJob[],
  options: SandboxOptions,
): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  while (results.length < jobs.length) {
    const { results: done, ending, timedOut } = await runOnce(jobs.slice(results.length), options);
    results.push(...done);
    if (!ending || results.length === jobs.length) continue;
    // An earlier answer may have ended the process (a deferred exit) while this one ran: it is
    // tried once more alone before the ending counts against it. A time limit is not retried.
    const current = jobs[results.length];
    const alone = done.length > 0 && !timedOut ? await runOnce([current], options) : undefined;
    results.push(alone?.results[0] ?? alone?.ending ?? ending);
  }
  return results;
}

/** Runs `tasks` with at most `concurrency` at once; results in the order of `tasks`. */
export async function inPool<T>(
  tasks: (() => Promise<T>)[],
  concurrency: number,
): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await tasks[index]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, tasks.length)) }, lane));
  return results;
}
