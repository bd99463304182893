/**
 * GitHub Classroom autograding for the handout: a workflow that grades the student's repository
 * on every push, one test per question (GitHub Classroom's `autograding-command-grader` action,
 * each worth the question's points, then its reporter, which sums them into the grade Classroom
 * shows), and the same tests in Classroom's older `.github/classroom/autograding.json`, which its
 * "Grading and feedback" settings can import.
 *
 * Each test is one command, `npx -y deno@2.9.6 task grade notebooks/NN_name.ipynb --question ID`,
 * which exits 1 unless that question passed: the same grader, sandbox and messages as
 * `deno task grade`, run where Classroom runs it, in the student's repository (so, unlike the
 * Gradescope bundle, the grader travels with the handout).
 *
 * @module
 */
import { QUESTIONS } from "./questions.ts";
import { DENO_VERSION } from "./autograder.ts";

/** Where the workflow goes in the handout. */
export const CLASSROOM_WORKFLOW = ".github/workflows/classroom.yml";
/** Where Classroom's test configuration goes in the handout. */
export const CLASSROOM_CONFIG = ".github/classroom/autograding.json";

/** Minutes a question's test may take on GitHub's runner (its first run installs Deno). */
const TEST_MINUTES = 10;

/** One Classroom test: a question of a notebook and the command that grades it. */
export interface ClassroomTest {
  /** Step id in the workflow (`q-roc`). */
  id: string;
  /** Test name as Classroom shows it. */
  name: string;
  /** The shell command: exit 0 when the question passed. */
  command: string;
  /** Points. */
  points: number;
}

/** The tests of `notebooks` (default: all six), one per question. */
export function classroomTests(
  notebooks: readonly string[] = Object.keys(QUESTIONS),
): ClassroomTest[] {
  return notebooks.flatMap((notebook) =>
    QUESTIONS[notebook].map((q) => ({
      id: `q-${q.id}`,
      name: `${notebook} ${q.id}: ${q.title}`,
      command:
        `npx -y deno@${DENO_VERSION} task grade notebooks/${notebook}.ipynb --question ${q.id}`,
      points: q.points,
    }))
  );
}

/** A YAML double-quoted scalar. */
function yamlString(text: string): string {
  return JSON.stringify(text);
}

/** The workflow file: checkout, install the lab's packages, one step per test, the reporter. */
export function classroomWorkflow(tests: readonly ClassroomTest[]): string {
  const steps = tests.map((t) =>
    [
      `      - name: ${yamlString(t.name)}`,
      `        id: ${t.id}`,
      "        uses: classroom-resources/autograding-command-grader@v1",
      "        with:",
      `          test-name: ${yamlString(t.name)}`,
      `          setup-command: ""`,
      `          command: ${yamlString(t.command)}`,
      `          timeout: ${TEST_MINUTES}`,
      `          max-score: ${t.points}`,
    ].join("\n")
  );
  const env = tests.map((t) =>
    `          ${t.id.toUpperCase()}_RESULTS: "\${{ steps.${t.id}.outputs.result }}"`
  );
  return `# GitHub Classroom autograding, written by \`deno task release --handout\`: every push grades
# the notebooks, one test per question, with the lab's own grader (deno task grade).
name: Autograding Tests
on:
  - push
  - workflow_dispatch
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  run-autograding-tests:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    steps:
      - name: Checkout code
        uses: actions/checkout@v4
      - name: Install Deno and the lab's packages
        run: npx -y deno@${DENO_VERSION} install
${steps.join("\n")}
      - name: Autograding Reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
${env.join("\n")}
        with:
          runners: ${tests.map((t) => t.id).join(",")}
`;
}

/** Classroom's `autograding.json`: the same tests, for its settings page. */
export function classroomConfig(tests: readonly ClassroomTest[]): string {
  const entries = tests.map((t) => ({
    name: t.name,
    setup: `npx -y deno@${DENO_VERSION} install`,
    run: t.command,
    input: "",
    output: "",
    comparison: "included",
    timeout: TEST_MINUTES,
    points: t.points,
  }));
  return JSON.stringify({ tests: entries }, null, 2) + "\n";
}
