import assert from "node:assert/strict";
import {
  cellText,
  importsBefore,
  type Notebook,
  stripAnswers,
  studentVersion,
} from "../../lib/grading/ipynb.ts";
import { LabError } from "../../lib/core/errors.ts";

const solution: Notebook = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: {},
  cells: [
    { id: "intro", cell_type: "markdown", metadata: {}, source: ["# Title\n"] },
    {
      id: "setup",
      cell_type: "code",
      metadata: {},
      source: ['import * as tf from "@tensorflow/tfjs";\n', 'import { todo } from "lab";\n'],
      outputs: [{ output_type: "stream" }],
      execution_count: 3,
    },
    {
      id: "q",
      cell_type: "code",
      metadata: { lab: { question: "cost" } },
      source: [
        "function f(x: number): number {\n",
        "  // TODO: double x.\n",
        "  // ANSWER BEGIN\n",
        "  const y = x * 2;\n",
        "  return y;\n",
        "  // ANSWER END\n",
        "}\n",
        "// ANSWER BEGIN: const K = todo();\n",
        "const K = 1;\n",
        "// ANSWER END",
      ],
      outputs: [],
      execution_count: 4,
    },
  ],
};

Deno.test("studentVersion() replaces answers by stubs naming the question and function, keeps ids and TODO lines", () => {
  const student = studentVersion(solution, "demo.ipynb");
  assert.deepEqual(student.cells.map((c) => c.id), ["intro", "setup", "q"]);
  assert.equal(
    cellText(student.cells[2]),
    'function f(x: number): number {\n  // TODO: double x.\n  return todo("cost", "f");\n}\nconst K = todo();',
  );
  assert.deepEqual(student.cells[1].outputs, []);
  assert.equal(student.cells[1].execution_count, null);
  assert.equal(cellText(student.cells[0]), "# Title\n");
});

Deno.test("stripAnswers() rejects unbalanced regions, naming the cell", () => {
  assert.throws(() => stripAnswers("// ANSWER BEGIN\nx", "nb, cell q"), LabError);
  assert.throws(
    () => stripAnswers("x\n// ANSWER END", "nb, cell q"),
    /nb, cell q: ANSWER END without/,
  );
  assert.throws(
    () => stripAnswers("// ANSWER BEGIN\n// ANSWER BEGIN\n// ANSWER END", "c"),
    /inside another/,
  );
});

Deno.test("importsBefore() collects the imports of earlier code cells", () => {
  assert.deepEqual(importsBefore(solution, solution.cells[2]), [
    'import * as tf from "@tensorflow/tfjs";',
    'import { todo } from "lab";',
  ]);
});
