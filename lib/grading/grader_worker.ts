/**
 * Checks one student's answers in a sandboxed process (started by sandbox.ts):
 * `grader_worker.ts FIXTURE_DIR`, with a nonce line and the JSON list of jobs (`{notebook, id,
 * answerPath}`) on standard input. For each job, in order, it prints one line: the nonce, then
 * the result as JSON.
 *
 * Answers run in this process and can change its globals, so everything the reporting needs is
 * captured before the first answer is imported: the nonce lives only in this module's scope, the
 * write and the encoder are bound copies, and the line is built from primitives (no
 * `JSON.stringify` of an object, whose `toJSON` an answer could have planted).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { pathToFileURL } from "node:url";
import { type CheckResult, QUESTIONS } from "./questions.ts";
import "../mod.ts";

const write = Deno.stdout.write.bind(Deno.stdout);
const encoder = new TextEncoder();
const encode = encoder.encode.bind(encoder);
const quote = JSON.stringify;

/** Writes all of `text` to standard output with the functions captured at start. */
async function writeAll(text: string): Promise<void> {
  let bytes = encode(text);
  while (bytes.length > 0) bytes = bytes.subarray(await write(bytes));
}

interface Job {
  notebook: string;
  id: string;
  answerPath: string;
}

const input = await new Response(Deno.stdin.readable).text();
const newline = input.indexOf("\n");
const nonce = input.slice(0, newline);
const jobs: Job[] = JSON.parse(input.slice(newline + 1));
const [fixtureDir] = Deno.args;

async function check(job: Job): Promise<CheckResult> {
  const question = QUESTIONS[job.notebook]?.find((q) => q.id === job.id);
  if (!question) return { passed: false, message: `unknown question ${job.notebook}/${job.id}` };
  let answer: Record<string, unknown>;
  try {
    answer = (await import(pathToFileURL(job.answerPath).href)).answer;
  } catch (error) {
    const first = String((error as Error)?.message ?? error).split("\n")[0];
    const notAnswered = (error as Error)?.name === "NotAnsweredError";
    return { passed: false, message: notAnswered ? "not answered" : `the cell failed: ${first}` };
  }
  return await question.check({ answer, fixtureDir });
}

await tf.setBackend("cpu");
for (const job of jobs) {
  const result = await check(job).catch((error): CheckResult => ({
    passed: false,
    message: `the check failed: ${(error as Error)?.message ?? error}`,
  }));
  const passed = result.passed === true;
  const message = typeof result.message === "string" ? result.message : "no message";
  await writeAll(`\n${nonce}{"passed":${passed},"message":${quote(message)}}\n`);
}
