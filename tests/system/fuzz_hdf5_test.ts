/**
 * A bounded fuzz test of the HDF5 loader: mutated real lab files, a fixed seed, a time limit.
 * Every outcome must be a success or a one-line DataFileError naming the file: no other
 * exception, no hang, no abort, nothing on standard error. The files hold every dataset of the
 * schema, `patient_id` and `file` strings included; `readLabFile` leaves those strings unread
 * by default, because a damaged heap of strings makes h5wasm's HDF5 abort or loop forever (see
 * faults_test.ts).
 *
 * @module
 */
import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { FuzzReport } from "../support/fuzz_hdf5_child.ts";
import { writeLabFileWithStrings } from "../fixtures/bad_lab_files.ts";
import { writeFixtureLabFile } from "../fixtures/lab_files.ts";

const CHILD = join(LAB_ROOT, "tests", "support", "fuzz_hdf5_child.ts");
const SIZE = 16;
const SEED = 20180508;
/** Seconds of fuzzing. */
const FUZZ_SECONDS = 10;
/**
 * Mutants per run at most: h5wasm leaks about 1 KB of its 2 MiB stack per error it throws and
 * aborts after about 2,000 of them in one process, so one run stays well below.
 */
const MAX_CASES = 1200;
/** Seconds after which the child counts as hung. */
const HANG_SECONDS = 60;

/** Runs the fuzz child from mutant `start` for at most `seconds`; its report and its stderr. */
async function runChild(dir: string, start: number, seconds: number) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", "--config", join(LAB_ROOT, "deno.json"), CHILD],
      ...[join(dir, "pristine.h5"), join(dir, "donor.h5"), dir, String(SEED), String(start)],
      ...[seconds.toFixed(1), String(MAX_CASES)],
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(HANG_SECONDS * 1000),
  }).output();
  const errors = new TextDecoder().decode(stderr);
  assert.equal(code, 0, `the fuzz run died (exit ${code}) from mutant ${start}:\n${errors}`);
  return { report: JSON.parse(new TextDecoder().decode(stdout)) as FuzzReport, errors };
}

Deno.test("readLabFile() and validateLabFile() meet mutated lab files with success or a one-line DataFileError, never a crash, hang or noise", async () => {
  const dir = await Deno.makeTempDir({ prefix: "fuzz_hdf5_" });
  try {
    await writeLabFileWithStrings(join(dir, "pristine.h5"), 6, SIZE);
    await writeFixtureLabFile(join(dir, "donor.h5"), 8, SIZE);
    const reports: FuzzReport[] = [];
    const deadline = performance.now() + FUZZ_SECONDS * 1000;
    for (let next = 0; performance.now() < deadline;) {
      const seconds = (deadline - performance.now()) / 1000;
      const { report, errors } = await runChild(dir, next, seconds);
      assert.deepEqual(report.aborted, [], "mutants that made the HDF5 library abort");
      assert.equal(errors, "", "nothing on standard error (no HDF5-DIAG stacks)");
      assert.ok(report.pristineReadsAfter, "the pristine file still reads after the run");
      reports.push(report);
      next = report.next;
    }
    const total = (pick: (report: FuzzReport) => number) =>
      reports.reduce((sum, report) => sum + pick(report), 0);
    const cases = total((r) => r.cases);
    const accepted = total((r) => r.accepted);
    const refused: Record<string, number> = {};
    for (const report of reports) {
      for (const [problem, n] of Object.entries(report.refused)) {
        refused[problem] = (refused[problem] ?? 0) + n;
      }
    }
    const crashes = reports.flatMap((r) => r.crashes);
    const unclear = reports.flatMap((r) => r.unclear);
    assert.deepEqual(crashes.slice(0, 5), [], `${crashes.length} crashes`);
    assert.deepEqual(unclear.slice(0, 5), [], `${unclear.length} unclear messages`);
    assert.ok(cases >= 200, `only ${cases} cases in ${FUZZ_SECONDS} s`);
    const rejections = Object.values(refused).reduce((sum, n) => sum + n, 0);
    assert.equal(accepted + rejections, cases);
    assert.ok(accepted > 0 && rejections > 0, JSON.stringify(refused));
    assert.ok(
      Object.keys(refused).some((problem) => problem.startsWith("HDF5 cannot read it")),
      "some mutants reach HDF5 itself, past the superblock check",
    );
    const slowest = Math.max(...reports.map((r) => r.slowestMs));
    assert.ok(slowest < 5000, `slowest read ${slowest.toFixed(0)} ms`);
    console.log(
      `${cases} mutants in ${reports.length} processes: ${accepted} read, ${rejections} refused ` +
        `in ${Object.keys(refused).length} ways; slowest ${slowest.toFixed(0)} ms`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
