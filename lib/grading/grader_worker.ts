/**
 * Checks one student's answers in a sandboxed process (started by sandbox.ts):
 * `grader_worker.ts FIXTURE_DIR`, with a nonce line and the JSON list of jobs (`{notebook, id,
 * answerPath}`) on standard input. For each job, in order, it prints one line: the nonce, then
 * the result as JSON.
 *
 * Answers run in this process and can change its globals, so everything grading needs is settled
 * before the first answer is imported: each job's question, the seed of the inputs its check
 * draws, its expected values (questions.ts) and module URL; the nonce lives only in this module's scope; the write, the encoder and the
 * constructors are captured; the jobs are walked by index, not by an iterator an answer could
 * replace, and the line is built from primitives (no `JSON.stringify` of an object, whose
 * `toJSON` an answer could have planted).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { pathToFileURL } from "node:url";
import { type CheckResult, drawSeed, type Question, QUESTIONS } from "./questions.ts";
import "../mod.ts";

const write = Deno.stdout.write.bind(Deno.stdout);
const encoder = new TextEncoder();
const encode = encoder.encode.bind(encoder);
const quote = JSON.stringify;
const Bytes = Uint8Array;

/** Writes all of `text` to standard output with the functions captured at start. */
async function writeAll(text: string): Promise<void> {
  let bytes = encode(text);
  while (bytes.length > 0) {
    const written = await write(bytes);
    bytes = new Bytes(bytes.buffer, bytes.byteOffset + written, bytes.length - written);
  }
}

interface Job {
  notebook: string;
  id: string;
  answerPath: string;
}

/** A job with everything settled before any answer runs. */
interface Ready {
  question?: Question;
  url: string;
  expected?: unknown;
  /** The seed of the inputs the check draws, drawn here before any answer runs. */
  seed: number;
  /** Why it cannot be checked, when it cannot. */
  error?: string;
}

const input = await new Response(Deno.stdin.readable).text();
const newline = input.indexOf("\n");
const nonce = input.slice(0, newline);
const jobs: Job[] = JSON.parse(input.slice(newline + 1));
const [fixtureDir] = Deno.args;

await tf.setBackend("cpu");
const ready: Ready[] = [];
for (const job of jobs) {
  const question = QUESTIONS[job.notebook]?.find((q) => q.id === job.id);
  const url = pathToFileURL(job.answerPath).href;
  const seed = drawSeed();
  if (!question) {
    ready.push({ url, seed, error: `unknown question ${job.notebook}/${job.id}` });
    continue;
  }
  try {
    ready.push({ question, url, seed, expected: await question.expect(fixtureDir, seed) });
  } catch (error) {
    ready.push({ url, seed, error: `the check failed: ${(error as Error)?.message ?? error}` });
  }
}
const count = ready.length;

async function check({ question, url, expected, seed, error }: Ready): Promise<CheckResult> {
  if (!question) return { passed: false, message: error ?? "no question" };
  let answer: Record<string, unknown>;
  try {
    answer = (await import(url)).answer;
  } catch (error) {
    const first = String((error as Error)?.message ?? error).split("\n")[0];
    const notAnswered = (error as Error)?.name === "NotAnsweredError";
    return { passed: false, message: notAnswered ? "not answered" : `the cell failed: ${first}` };
  }
  return await question.check({ answer, fixtureDir, expected, seed });
}

for (let i = 0; i < count; i++) {
  let result: CheckResult;
  try {
    result = await check(ready[i]);
  } catch (error) {
    result = { passed: false, message: `the check failed: ${(error as Error)?.message ?? error}` };
  }
  const passed = result.passed === true;
  const message = typeof result.message === "string" ? result.message : "no message";
  await writeAll(`\n${nonce}{"passed":${passed},"message":${quote(message)}}\n`);
}
