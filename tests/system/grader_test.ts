import { LAB_ROOT } from "../../lib/core/paths.ts";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import {
  forbiddenUse,
  gradeNotebook,
  gradePath,
  notebookName,
  reportToCsv,
  reportToGradescope,
  studentOf,
} from "../../lib/grading/grader.ts";
import {
  cellText,
  type Notebook,
  readNotebook,
  studentVersion,
  toSourceLines,
  writeNotebook,
} from "../../lib/grading/ipynb.ts";
import {
  checkQuestion,
  QUESTIONS,
  TUBE_CASES,
  TUBE_SHARES,
  TUBE_SIZE,
  tubeMasks,
} from "../../lib/grading/questions.ts";
import { HAS_SOLUTIONS, SOLUTIONS } from "../support/solutions.ts";
import * as references from "../../lib/grading/references.ts";
import { groupedFolds, shareOnTube } from "../../lib/grading/references.ts";

const NAMES = Object.keys(QUESTIONS);

Deno.test(
  "gradePath() passes every question of the solution notebooks",
  { ignore: !HAS_SOLUTIONS },
  async () => {
    const report = await gradePath(SOLUTIONS);
    assert.equal(report.notebooks.length, 6);
    for (const notebook of report.notebooks) {
      for (const q of notebook.questions) {
        assert.ok(q.passed, `${notebook.path} ${q.id}: ${q.message}`);
      }
    }
    assert.equal(report.score, report.max);
    assert.equal(report.max, 17);
  },
);

Deno.test("gradeNotebook() scores the untouched student notebooks zero, 'not answered'", async () => {
  for (const name of NAMES) {
    const grade = await gradeNotebook(join(LAB_ROOT, "notebooks", `${name}.ipynb`));
    for (const q of grade.questions) {
      assert.equal(q.points, 0, `${name} ${q.id}`);
      assert.equal(q.message, "not answered", `${name} ${q.id}`);
    }
  }
});

Deno.test("the student notebooks are the release of the solutions (same cell ids, no drift)", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  for (const name of NAMES) {
    const solution = await readNotebook(join(SOLUTIONS, `${name}.ipynb`));
    const student = await Deno.readTextFile(join(LAB_ROOT, "notebooks", `${name}.ipynb`));
    assert.equal(
      student,
      JSON.stringify(studentVersion(solution, name), null, 1) + "\n",
      `${name}: run 'deno task release'`,
    );
  }
});

/** A copy of a solution notebook with one graded cell's code replaced. */
async function withAnswer(dir: string, name: string, question: string, code: string) {
  const notebook: Notebook = await readNotebook(join(SOLUTIONS, `${name}.ipynb`));
  const cell = notebook.cells.find((c) => c.metadata.lab?.question === question)!;
  cell.source = toSourceLines(code);
  const path = join(dir, `${name}.ipynb`);
  await writeNotebook(path, notebook);
  return path;
}

const WRONG: [string, string, string, RegExp][] = [
  [
    "02_training",
    "cost",
    `function computeCost(logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(labels, tf.softmax(logits)) as tf.Scalar;
}`,
    /loss of the probabilities/,
  ],
  [
    "02_training",
    "prediction",
    `function predictClass(logits: tf.Tensor2D): tf.Tensor1D {
  return tf.argMin(logits, 1) as tf.Tensor1D;
}`,
    /expected the argmax/,
  ],
  [
    "04_roc",
    "roc",
    `function computeRoc(yTrue: ArrayLike<number>, yScore: ArrayLike<number>): Roc {
  const { fpr, tpr } = rocCurve(Array.from(yTrue, (y) => 1 - y), yScore);
  return { fpr, tpr, auroc: auc(fpr, tpr) };
}`,
    /gave auroc 0\.25, expected 0\.7500/,
  ],
  [
    "05_cam",
    "cam",
    `function computeCam(classIndex: number, fmap: tf.Tensor3D, weights: tf.Tensor2D): tf.Tensor2D {
  const [h, w, c] = fmap.shape;
  return fmap.reshape([h * w, c]).matMul(weights.slice([0, 1 - classIndex], [c, 1])).reshape([h, w]) as tf.Tensor2D;
}`,
    /computeCam\(0, fmap \[3,4,5\], weights \[5,2\]\) returned/,
  ],
  ["05_cam", "class", "const PNEUMOTHORAX_CLASS: number = 0;", /PNEUMOTHORAX_CLASS is 0/],
  [
    "05_cam",
    "upsample",
    `function upsample(cam: tf.Tensor2D, size: [number, number]): tf.Tensor2D {
  return tf.image.resizeNearestNeighbor(cam.expandDims(2) as tf.Tensor3D, size).squeeze([2]) as tf.Tensor2D;
}`,
    /expected bilinear/,
  ],
  [
    "05_cam",
    "features",
    `function extractFeaturesWeights(model: PneumothoraxDetectionModel, image: tf.Tensor4D): FeaturesWeights {
  return { fmap: tf.zeros([2, 2, 16]) as tf.Tensor3D, weights: model.denseKernel(), probabilities: [] };
}`,
    /fmap differs from the model's skip4/,
  ],
  [
    "03_restore",
    "restore",
    `async function restoreModel(dir: string): Promise<PneumothoraxDetectionModel> {
  const { model } = await loadCheckpoint(dir);
  model.network.setWeights(model.network.getWeights().map((w) => w.mul(0)));
  return model;
}`,
    /weights differ from the checkpoint's/,
  ],
  [
    "06_learned",
    "folds",
    `function groupedFolds(patientIds: string[], k: number): number[] {
  return patientIds.map((_, i) => i % k);
}`,
    /put patient '\w+' in more than one fold/,
  ],
  [
    "06_learned",
    "tube",
    `function shareOnTube(peaks: MapPeak[], masks: Uint8Array, size: number): number {
  return peaks.filter(({ index, x, y }) => masks[index * size * size + x * size + y]).length / peaks.length;
}`,
    /returned .*, expected/,
  ],
  [
    "01_dataset",
    "load",
    `async function loadDataset(dataDir: string): Promise<PneumothoraxDataset> {
  return undefined as unknown as PneumothoraxDataset;
}`,
    /must return a PneumothoraxDataset, got undefined/,
  ],
];

Deno.test("gradeNotebook() fails each question on a deliberately wrong answer, saying why", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, question, code, message] of WRONG) {
      const grade = await gradeNotebook(await withAnswer(dir, name, question, code));
      const q = grade.questions.find((each) => each.id === question)!;
      assert.equal(q.points, 0, `${name} ${question} must fail: ${q.message}`);
      assert.match(q.message, message, `${name} ${question}`);
      const others = grade.questions.filter((each) => each.id !== question);
      assert.ok(others.every((each) => each.passed), `${name}: other questions unaffected`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gradeNotebook() contains answers that loop, throw, break syntax or write files", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const dir = await Deno.makeTempDir();
  const victim = join(LAB_ROOT, "lib", "grading", "questions.ts");
  const before = await Deno.readTextFile(victim);
  try {
    const cases: [string, RegExp][] = [
      ["function computeRoc(a: number[], b: number[]) { while (true) {} }", /stopped after 3 s/],
      ["function computeRoc(a: number[], b: number[]) { throw new Error('boom'); }", /threw: boom/],
      ["function computeRoc(a: number[], b: number[]) { return {{ }", /does not run|failed/],
      [
        `(self as any)["De" + "no"].writeTextFileSync(${JSON.stringify(victim)}, "hacked");
function computeRoc(a: number[], b: number[]) { return { fpr: [], tpr: [], auroc: 1 }; }`,
        /NotCapable|write access/,
      ],
    ];
    for (const [code, message] of cases) {
      const loops = code.includes("while (true)");
      const grade = await gradeNotebook(await withAnswer(dir, "04_roc", "roc", code), {
        timeoutSeconds: loops ? 3 : 60,
      });
      assert.equal(grade.questions[0].points, 0, code);
      assert.match(grade.questions[0].message, message, code);
    }
    assert.equal(await Deno.readTextFile(victim), before, "the grader's files are untouched");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "gradePath() keeps a student's other questions, and other students, clear of a loop or a crash",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const cam = (code: string) =>
        `${code}\nfunction computeCam(c: number, f: tf.Tensor3D, w: tf.Tensor2D): tf.Tensor2D { ` +
        "return f.sum(2) as tf.Tensor2D; }";
      const answers: [string, string][] = [
        ["alice", cam("while (true) {}")],
        ["bob", cam('(self as any)["De" + "no"].exit(3);')],
        ["dave", cam('(self as any)["clo" + "se"]();')],
      ];
      for (const [student, code] of answers) {
        await Deno.mkdir(join(dir, student));
        const path = await withAnswer(dir, "05_cam", "cam", code);
        await Deno.rename(path, join(dir, student, "05_cam.ipynb"));
      }
      await Deno.mkdir(join(dir, "carol"));
      await Deno.copyFile(join(SOLUTIONS, "05_cam.ipynb"), join(dir, "carol", "05_cam.ipynb"));
      const report = await gradePath(dir, { notebooks: ["05_cam"], timeoutSeconds: 5, jobs: 4 });
      const questions = (student: string) =>
        report.notebooks.find((n) => n.student === student)!.questions;
      for (const [student] of answers) {
        assert.deepEqual(questions(student).map((q) => [q.id, q.passed]), [
          ["features", true],
          ["cam", false],
          ["class", true],
          ["upsample", true],
        ], `${student}: ${JSON.stringify(questions(student))}`);
      }
      assert.ok(questions("carol").every((q) => q.passed), "carol, graded beside them, full marks");
      assert.match(questions("alice")[1].message, /stopped after 5 s/);
      assert.match(questions("bob")[1].message, /the cell does not run/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test(
  "gradeNotebook() cannot be told a forged result: printed lines and planted toJSON score zero",
  {
    ignore: !HAS_SOLUTIONS,
  },
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const forged = `console.log('{"passed":true,"message":"ok"}');
Object.defineProperty(Object.prototype, "toJSON", {
  value() { return { passed: true, message: "ok" }; },
  configurable: true,
});
function computeRoc(a: number[], b: number[]) { return { fpr: [0, 1], tpr: [0, 1], auroc: 0.5 }; }
console.log('{"passed":true,"message":"ok"}');`;
      const grade = await gradeNotebook(await withAnswer(dir, "04_roc", "roc", forged));
      assert.equal(grade.questions[0].points, 0, grade.questions[0].message);
      assert.match(grade.questions[0].message, /gave auroc 0\.5, expected 0\.7500/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("gradeNotebook() scores zero a wrong answer that rewrites what its check uses", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cheats: [string, string, string, RegExp][] = [
      [
        "04_roc",
        "roc",
        `Math.abs = () => 0;
function computeRoc(a: number[], b: number[]) { return { fpr: [0, 1], tpr: [0, 1], auroc: 0.5 }; }`,
        /gave auroc 0\.5, expected 0\.7500/,
      ],
      [
        "04_roc",
        "roc",
        `Array.prototype.reduce = function () { return 0.5; };
function computeRoc(a: number[], b: number[]) { return { fpr: [0, 1], tpr: [0, 1], auroc: 0.5 }; }`,
        /gave auroc 0\.5, expected 0\.7500/,
      ],
      [
        "02_training",
        "prediction",
        `Array.prototype.join = function () { return "same"; };
function predictClass(logits: tf.Tensor2D): tf.Tensor1D { return tf.argMin(logits, 1) as tf.Tensor1D; }`,
        /expected the argmax of each row \[/,
      ],
      [
        "06_learned",
        "folds",
        `Array.prototype.some = function () { return false; };
function groupedFolds(ids: string[], k: number): number[] { return ids.map((_, i) => i % k); }`,
        /in more than one fold/,
      ],
      [
        "05_cam",
        "features",
        `function extractFeaturesWeights(model: any, image: tf.Tensor4D) {
  model.network.setWeights(model.network.getWeights().map((w: tf.Tensor) => tf.zerosLike(w)));
  return { fmap: tf.zeros([2, 2, 16]), weights: tf.zeros([16, 2]) };
}`,
        /fmap differs from the model's skip4/,
      ],
    ];
    for (const [name, question, code, message] of cheats) {
      const grade = await gradeNotebook(await withAnswer(dir, name, question, code));
      const q = grade.questions.find((each) => each.id === question)!;
      assert.equal(q.points, 0, `${code}: ${q.message}`);
      assert.match(q.message, message, code);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A copy of 04_roc's solution with a cell of `code` inserted before its answer cell. */
async function withCellBeforeAnswer(dir: string, code: string): Promise<string> {
  const notebook: Notebook = await readNotebook(join(SOLUTIONS, "04_roc.ipynb"));
  const at = notebook.cells.findIndex((c) => c.metadata.lab?.question === "roc");
  notebook.cells.splice(at, 0, {
    id: "extra",
    cell_type: "code",
    metadata: {},
    source: toSourceLines(code),
    outputs: [],
    execution_count: null,
  });
  const path = join(dir, "04_roc.ipynb");
  await writeNotebook(path, notebook);
  return path;
}

const REFERENCE = JSON.stringify(join(LAB_ROOT, "lib", "grading", "references.ts"));

Deno.test("gradeNotebook() scores zero every way of importing or reading the reference", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const answers: [string, RegExp][] = [
      [
        `import { computeRoc as ref } from "lab";
function computeRoc(a: number[], b: number[]) { return ref(a, b); }`,
        /uses an import statement; answers may not import/,
      ],
      [
        `const ref = (await import(${REFERENCE})).computeRoc;
function computeRoc(a: number[], b: number[]) { return ref(a, b); }`,
        /uses import\(\.\.\.\)/,
      ],
      [
        `const source = Deno.readTextFileSync(${REFERENCE});
function computeRoc(a: number[], b: number[]) { return { fpr: [], tpr: [], auroc: source.length }; }`,
        /uses the Deno API/,
      ],
      [
        `const ref = (0, eval)("globalThis").computeRoc;
function computeRoc(a: number[], b: number[]) { return ref(a, b); }`,
        /uses eval/,
      ],
      [
        `const source = (self as any)["De" + "no"].readTextFileSync(${REFERENCE});
function computeRoc(a: number[], b: number[]) { return { fpr: [], tpr: [], auroc: 0.5 }; }`,
        /Requires read access|NotCapable/,
      ],
    ];
    for (const [code, message] of answers) {
      const grade = await gradeNotebook(await withAnswer(dir, "04_roc", "roc", code));
      assert.equal(grade.questions[0].points, 0, code);
      assert.match(grade.questions[0].message, message, code);
    }
    const earlier: [string, RegExp][] = [
      [
        `import { computeRoc as ref } from ${REFERENCE};`,
        /the notebook imports ".*lib\/grading\/references\.ts"; a graded notebook may import only from "lab"/,
      ],
      [`import { computeRoc as ref } from "lab";`, /does not provide an export named/],
    ];
    for (const [code, message] of earlier) {
      const path = await withCellBeforeAnswer(dir, code);
      const notebook = await readNotebook(path);
      const answer = notebook.cells.find((c) => c.metadata.lab?.question === "roc")!;
      answer.source = toSourceLines(
        "function computeRoc(a: number[], b: number[]) { return ref(a, b); }",
      );
      await writeNotebook(path, notebook);
      const grade = await gradeNotebook(path);
      assert.equal(grade.questions[0].points, 0, code);
      assert.match(grade.questions[0].message, message, code);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// A handout holds a stand-in for references.ts (see cli/release.ts), and no solutions either.
Deno.test("shareOnTube() and groupedFolds(), the references of notebook 06", {
  ignore: !HAS_SOLUTIONS,
}, () => {
  const masks = new Uint8Array(2 * 9);
  masks[4] = 1; // image 0, (x 1, y 1) on 3x3 images
  assert.equal(shareOnTube([{ index: 0, x: 1, y: 1 }, { index: 1, x: 1, y: 1 }], masks, 3), 0.5);
  assert.equal(shareOnTube([], masks, 3), 0);
  const folds: number[] = groupedFolds(["a", "b", "a", "c", "d"], 2);
  assert.equal(folds[0], folds[2], "patient a in one fold");
  assert.deepEqual([...new Set(folds)].sort(), [0, 1]);
});

Deno.test("the tube question's written-out answers are the reference's", {
  ignore: !HAS_SOLUTIONS,
}, () => {
  assert.deepEqual(
    TUBE_CASES.map(([, peaks]) => shareOnTube(peaks, tubeMasks(), TUBE_SIZE)),
    TUBE_SHARES,
  );
});

// The checks' expected values come from TensorFlow.js and the library's building blocks, so that
// a handout's check cells work without the references; each reference must still pass.
Deno.test("every reference answer passes its own question's check", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const graded = Object.values(QUESTIONS).flat()
    .filter((q) => q.names.every((name) => name in references));
  assert.deepEqual(
    graded.map((q) => q.id).sort(),
    ["cam", "cost", "features", "folds", "prediction", "roc", "tube", "upsample"],
  );
  for (const question of graded) {
    const answer = Object.fromEntries(
      question.names.map((name) => [name, references[name as keyof typeof references]]),
    );
    assert.deepEqual(await checkQuestion(question, answer, ""), { passed: true, message: "ok" });
  }
});

/** A value with its tensors turned to plain data, so that it can be given back later. */
function frozen(value: unknown): unknown {
  if (value instanceof tf.Tensor) {
    return { tensor: Array.from(value.dataSync()), shape: value.shape };
  }
  if (Array.isArray(value)) return value.map(frozen);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, frozen(v)]));
  }
  return value;
}

function thawed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(thawed);
  if (value !== null && typeof value === "object") {
    const { tensor, shape } = value as { tensor?: number[]; shape?: number[] };
    if (tensor && shape) return tf.tensor(tensor, shape);
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, thawed(v)]));
  }
  return value;
}

// A student who runs a right answer once and hard-codes what it returned: the replay passes the
// same inputs, and fails the input the next check draws.
Deno.test("an answer that replays another check's outputs fails the input drawn at check time", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const drawing = ["cost", "prediction", "roc", "features", "cam", "upsample"];
  for (const question of Object.values(QUESTIONS).flat().filter((q) => drawing.includes(q.id))) {
    const [name] = question.names;
    const reference = references[name as keyof typeof references] as (...a: unknown[]) => unknown;
    const outputs: unknown[] = [];
    const recorder = (...args: unknown[]) => {
      const result = reference(...args);
      outputs.push(frozen(result));
      return result;
    };
    const recorded = await checkQuestion(question, { [name]: recorder }, "", 1234);
    assert.equal(recorded.passed, true, `${question.id}: ${recorded.message}`);
    const replayer = () => {
      let next = 0;
      return { [name]: () => thawed(outputs[next++]) };
    };
    const again = await checkQuestion(question, replayer(), "", 1234);
    assert.equal(again.passed, true, `${question.id} replayed on the same draw: ${again.message}`);
    const drawn = await checkQuestion(question, replayer(), "", 98765);
    assert.equal(drawn.passed, false, `${question.id} replayed on another draw`);
    assert.match(drawn.message, /seed 98765/, question.id);
  }
});

Deno.test('"lab" exports no graded answer', async () => {
  const lab = await import("../../lib/mod.ts");
  const answers = Object.values(QUESTIONS).flat().flatMap((q) => q.names);
  assert.deepEqual(answers.filter((name) => name in lab), []);
  assert.ok("check" in lab && "train" in lab, "but what the notebooks use");
});

Deno.test("gradePath() grades the rest of a folder when one notebook is broken", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "01_dataset.ipynb"), "{ not json");
    await Deno.copyFile(join(SOLUTIONS, "04_roc.ipynb"), join(dir, "04_roc.ipynb"));
    const report = await gradePath(dir);
    assert.deepEqual(report.notebooks.map((n) => n.questions.map((q) => q.passed)), [
      [false],
      [true],
    ]);
    assert.match(report.notebooks[0].questions[0].message, /01_dataset\.ipynb: not a notebook/);
    assert.equal(report.score, 3);
    assert.equal(report.max, 17);
    assert.deepEqual(report.students, [{
      student: "-",
      score: 3,
      max: 17,
      missing: ["02_training", "03_restore", "05_cam", "06_learned"],
    }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("gradePath() holds every student to the class's notebooks, listing the missing ones", {
  ignore: !HAS_SOLUTIONS,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const handedIn: [string, string[]][] = [["alice", ["01_dataset", "04_roc"]], ["bob", [
      "04_roc",
    ]]];
    for (const [student, names] of handedIn) {
      await Deno.mkdir(join(dir, student));
      for (const name of names) {
        await Deno.copyFile(join(SOLUTIONS, `${name}.ipynb`), join(dir, student, `${name}.ipynb`));
      }
    }
    await Deno.copyFile(
      join(SOLUTIONS, "04_roc.ipynb"),
      join(dir, "bob", "bob_04_roc-Copy1.ipynb"),
    );
    const all = await gradePath(dir);
    assert.deepEqual(all.assignment, NAMES);
    assert.deepEqual(all.students, [
      {
        student: "alice",
        score: 4,
        max: 17,
        missing: ["02_training", "03_restore", "05_cam", "06_learned"],
      },
      {
        student: "bob",
        score: 3,
        max: 17,
        missing: ["01_dataset", "02_training", "03_restore", "05_cam", "06_learned"],
      },
    ], "3 of 3 points twice (two copies of 04_roc) count once");
    assert.deepEqual([all.score, all.max], [7, 34]);
    const csv = reportToCsv(all).trim().split("\n");
    assert.ok(
      csv.includes("bob,01_dataset (missing),load,0,1,false,not handed in"),
      csv.join("\n"),
    );
    assert.equal(
      csv.filter((row) => row.startsWith("bob,")).length,
      2 + 10,
      "two copies graded, ten questions missing",
    );

    const two = await gradePath(dir, { notebooks: ["4", "01_dataset"] });
    assert.deepEqual(two.assignment, ["04_roc", "01_dataset"]);
    assert.deepEqual(two.students.map((s) => [s.student, s.score, s.max, s.missing]), [
      ["alice", 4, 4, []],
      ["bob", 3, 4, ["01_dataset"]],
    ]);
    const one = await gradePath(dir, { notebooks: ["04_roc"] });
    assert.ok(
      one.notebooks.every((n) => n.path.endsWith("04_roc.ipynb") || n.path.endsWith("Copy1.ipynb")),
    );
    await assert.rejects(
      () => gradePath(dir, { notebooks: ["07"] }),
      /'07' is not one of the lab's notebooks/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reportToCsv() writes one row per question; notebookName() reads submissions", () => {
  const csv = reportToCsv({
    score: 1,
    max: 3,
    assignment: ["04_roc"],
    students: [{ student: "alice", score: 1, max: 3, missing: [] }],
    notebooks: [{
      path: "class/alice/04_roc.ipynb",
      student: "alice",
      questions: [{ id: "roc", points: 1, max: 3, passed: false, message: 'said "no", twice' }],
    }],
  });
  assert.equal(
    csv,
    "student,notebook,question,points,max,passed,message\n" +
      'alice,class/alice/04_roc.ipynb,roc,1,3,false,"said ""no"", twice"\n',
  );
  assert.equal(notebookName("subs/bob_05_cam.ipynb"), "05_cam");
  assert.equal(notebookName("notes.ipynb"), undefined);
  assert.ok(
    cellText({ id: "x", cell_type: "code", metadata: {}, source: ["a\n", "b"] }) === "a\nb",
  );
});

Deno.test("studentOf() names a student by folder or by file-name prefix", () => {
  assert.equal(studentOf("class/alice/04_roc.ipynb", "class"), "alice");
  assert.equal(studentOf("class/alice/lab/04_roc.ipynb", "class"), "alice");
  assert.equal(studentOf("class/bob_04_roc.ipynb", "class"), "bob");
  assert.equal(studentOf("class/Carol Smith - 05_cam.ipynb", "class"), "Carol Smith");
  assert.equal(studentOf("class/04_roc.ipynb", "class"), "-");
});

Deno.test("forbiddenUse() ignores comments and allows the notebook's own imports", () => {
  const imports = ['import * as tf from "@tensorflow/tfjs";', 'import { todo } from "lab";'];
  assert.equal(forbiddenUse("// see import(...) and Deno docs\nconst x = 1;", imports), undefined);
  assert.match(forbiddenUse("const x = 1;", ['import x from "npm:lodash";'])!, /"npm:lodash"/);
});

Deno.test("reportToGradescope() gives one test per question of the assignment, missing notebooks too", () => {
  const results = reportToGradescope({
    score: 2,
    max: 5,
    assignment: ["02_training", "03_restore"],
    students: [{ student: "bob", score: 2, max: 5, missing: ["03_restore"] }],
    notebooks: [{
      path: "bob/02_training.ipynb",
      student: "bob",
      questions: [
        { id: "cost", points: 2, max: 2, passed: true, message: "ok" },
        { id: "prediction", points: 0, max: 1, passed: false, message: "not answered" },
      ],
    }],
  }, { visibility: "after_due_date" });
  const test = (name: string, score: number, max_score: number, output: string) => ({
    name,
    score,
    max_score,
    output,
    visibility: "after_due_date",
  });
  assert.deepEqual(results, {
    score: 2,
    visibility: "after_due_date",
    stdout_visibility: "hidden",
    tests: [
      test("02_training cost: the cost: softmax cross-entropy on the logits", 2, 2, "ok"),
      test(
        "02_training prediction: the prediction: the class with the largest logit",
        0,
        1,
        "not answered",
      ),
      test(
        "03_restore restore: restore the trained model from its checkpoint",
        0,
        2,
        "03_restore.ipynb was not handed in",
      ),
    ],
  });
});
