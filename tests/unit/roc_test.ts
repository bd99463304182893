import assert from "node:assert/strict";
import {
  auc,
  averagePrecision,
  bootstrapAucInterval,
  operatingPoint,
  precisionRecallCurve,
  rocCurve,
  thresholdForSensitivity,
} from "../../lib/evaluation/roc.ts";
import { UsageError } from "../../lib/core/errors.ts";
import { computeRoc } from "../../lib/grading/references.ts";
import { createRandom } from "../../lib/core/random.ts";
import { pythonHas, runPython } from "../support/python.ts";

/** One case of tests/fixtures/roc_golden.json, written by make_roc_golden.py. */
interface GoldenCase {
  name: string;
  yTrue: number[];
  yScore: number[];
  roc: { fpr: number[]; tpr: number[]; thresholds: number[] };
  rocAll: { fpr: number[]; tpr: number[]; thresholds: number[] };
  auc: number;
  rocAucScore: number;
  precisionRecall: { precision: number[]; recall: number[]; thresholds: number[] };
  averagePrecision: number;
}

const golden: {
  sklearn: string;
  cases: GoldenCase[];
  auc: { x: number[]; y: number[]; auc: number }[];
} = JSON.parse(
  await Deno.readTextFile(new URL("../fixtures/roc_golden.json", import.meta.url)),
);

const TOLERANCE = 1e-12;

/** Asserts equal lengths and every element within {@link TOLERANCE}. */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= TOLERANCE,
      `${what}[${i}]: ${actual[i]} != ${expected[i]}`,
    );
  }
}

/** Labels and scores of a random case not in the fixture. */
function randomCase(n: number, seed: number): { yTrue: number[]; yScore: number[] } {
  const random = createRandom(seed);
  const yTrue = Array.from({ length: n }, (_, i) => i < 2 ? i : random() < 0.3 ? 1 : 0);
  return { yTrue, yScore: yTrue.map((y) => random() + 0.4 * y) };
}

Deno.test("the golden fixture was made by scikit-learn and covers the required cases", () => {
  assert.match(golden.sklearn, /^\d+\.\d+/);
  const names = golden.cases.map((c) => c.name);
  for (const name of ["random", "ties_one_decimal", "constant", "perfect", "inverted"]) {
    assert.ok(names.includes(name), name);
  }
});

for (const c of golden.cases) {
  Deno.test(`rocCurve() equals scikit-learn's roc_curve on '${c.name}'`, () => {
    const roc = rocCurve(c.yTrue, c.yScore);
    assertClose(roc.fpr, c.roc.fpr, "fpr");
    assertClose(roc.tpr, c.roc.tpr, "tpr");
    assertClose(roc.thresholds, c.roc.thresholds, "thresholds");
    const all = rocCurve(Uint8Array.from(c.yTrue), Float64Array.from(c.yScore), {
      dropIntermediate: false,
    });
    assertClose(all.fpr, c.rocAll.fpr, "fpr (drop_intermediate=False)");
    assertClose(all.tpr, c.rocAll.tpr, "tpr (drop_intermediate=False)");
    assertClose(all.thresholds, c.rocAll.thresholds, "thresholds (drop_intermediate=False)");
  });

  Deno.test(`computeRoc() AUC equals scikit-learn's auc and roc_auc_score on '${c.name}'`, () => {
    const { fpr, tpr, auroc } = computeRoc(c.yTrue, c.yScore);
    assertClose(fpr, c.roc.fpr, "fpr");
    assertClose(tpr, c.roc.tpr, "tpr");
    assertClose([auroc, auroc], [c.auc, c.rocAucScore], "auroc");
  });

  Deno.test(`precisionRecallCurve() and averagePrecision() equal scikit-learn on '${c.name}'`, () => {
    const pr = precisionRecallCurve(c.yTrue, c.yScore);
    assertClose(pr.precision, c.precisionRecall.precision, "precision");
    assertClose(pr.recall, c.precisionRecall.recall, "recall");
    assertClose(pr.thresholds, c.precisionRecall.thresholds, "thresholds");
    assertClose([averagePrecision(c.yTrue, c.yScore)], [c.averagePrecision], "average precision");
  });
}

Deno.test("rocCurve() reads float32 probabilities as they are", () => {
  const c = golden.cases.find((c) => c.name === "float32_probabilities")!;
  const roc = rocCurve(c.yTrue, Float32Array.from(c.yScore));
  assertClose(roc.thresholds, c.roc.thresholds, "thresholds");
});

Deno.test("computeRoc() gives a constant predictor AUC 0.5 (the lab's text said 0)", () => {
  const c = golden.cases.find((c) => c.name === "constant")!;
  assert.equal(computeRoc(c.yTrue, c.yScore).auroc, 0.5);
  assert.deepEqual(computeRoc(c.yTrue, c.yScore).fpr, [0, 1]);
});

Deno.test("rocCurve() firstThreshold 'infinity' changes only the first threshold", () => {
  const c = golden.cases[0];
  const roc = rocCurve(c.yTrue, c.yScore, { firstThreshold: "infinity" });
  assert.equal(roc.thresholds[0], Infinity);
  assertClose(roc.thresholds.slice(1), c.roc.thresholds.slice(1), "thresholds");
  assertClose(roc.fpr, c.roc.fpr, "fpr");
});

Deno.test("auc() equals scikit-learn's auc, decreasing x included", () => {
  for (const c of golden.auc) assertClose([auc(c.x, c.y)], [c.auc], `auc(${c.x})`);
});

Deno.test("auc() rejects non-monotonic x, too few points and a length mismatch", () => {
  assert.throws(() => auc([0, 1, 0.5], [0, 1, 1]), /neither increasing nor decreasing/);
  assert.throws(() => auc([0], [0]), /at least 2 points/);
  assert.throws(() => auc([0, 1], [0, 1, 1]), /x has 2 values but y has 3/);
});

Deno.test("rocCurve() rejects bad input with a UsageError naming it", () => {
  const cases: [number[], number[], RegExp][] = [
    [[0, 1, 1], [0.1, 0.2], /yTrue has 3 labels but yScore has 2 scores/],
    [[0, 2, 1], [0.1, 0.2, 0.3], /yTrue\[1\] is 2; labels must be 0 or 1/],
    [[0, 1, 1], [0.1, NaN, 0.3], /yScore\[1\] is NaN/],
    [[0, 1, 1], [0.1, 0.2, Infinity], /yScore\[2\] is Infinity/],
    [[], [], /empty/],
    [[0, 0, 0], [0.1, 0.2, 0.3], /only label 0 \(normal\) in 3 cases/],
    [[1, 1], [0.1, 0.2], /only label 1 \(pneumothorax\) in 2 cases/],
  ];
  for (const [yTrue, yScore, message] of cases) {
    assert.throws(
      () => rocCurve(yTrue, yScore),
      (e) => e instanceof UsageError && message.test(e.message),
    );
    assert.throws(() => computeRoc(yTrue, yScore), UsageError);
  }
});

Deno.test("precisionRecallCurve() needs a positive but accepts all positives", () => {
  assert.throws(() => precisionRecallCurve([0, 0], [0.1, 0.2]), /no positive/);
  assert.deepEqual(precisionRecallCurve([1, 1], [0.1, 0.2]).precision, [1, 1, 1]);
});

Deno.test("operatingPoint() counts the confusion matrix at score >= threshold", () => {
  const yTrue = [0, 0, 0, 1, 1, 0, 1, 1];
  const yScore = [0.1, 0.3, 0.5, 0.5, 0.6, 0.7, 0.8, 0.2];
  const point = operatingPoint(yTrue, yScore, 0.5);
  assert.deepEqual(
    [point.truePositives, point.falsePositives, point.trueNegatives, point.falseNegatives],
    [3, 2, 2, 1],
  );
  assert.equal(point.sensitivity, 3 / 4);
  assert.equal(point.specificity, 2 / 4);
  assert.equal(point.precision, 3 / 5);
  assert.equal(point.accuracy, 5 / 8);
  assert.ok(Number.isNaN(operatingPoint(yTrue, yScore, 2).precision));
  assert.throws(() => operatingPoint(yTrue, yScore, NaN), /threshold is NaN/);
});

Deno.test("operatingPoint() at each rocCurve() threshold lies on the curve", () => {
  const { yTrue, yScore } = randomCase(300, 5);
  const roc = rocCurve(yTrue, yScore);
  roc.thresholds.forEach((threshold, i) => {
    const point = operatingPoint(yTrue, yScore, threshold);
    assertClose(
      [point.sensitivity, 1 - point.specificity],
      [roc.tpr[i], roc.fpr[i]],
      `t=${threshold}`,
    );
  });
});

Deno.test("thresholdForSensitivity() picks the highest threshold reaching the target", () => {
  const { yTrue, yScore } = randomCase(300, 6);
  const roc = rocCurve(yTrue, yScore, { dropIntermediate: false });
  for (const target of [0.1, 0.5, 0.9, 0.95, 1]) {
    const point = thresholdForSensitivity(yTrue, yScore, target);
    assert.ok(point.sensitivity >= target, `target ${target}`);
    const higher = roc.thresholds.filter((t) => t > point.threshold && t < roc.thresholds[0]);
    for (const t of higher) assert.ok(operatingPoint(yTrue, yScore, t).sensitivity < target);
    assert.ok(yScore.includes(point.threshold));
  }
  assert.throws(() => thresholdForSensitivity(yTrue, yScore, 0), /target is 0/);
  assert.throws(() => thresholdForSensitivity(yTrue, yScore, 1.5), /target is 1.5/);
});

Deno.test("bootstrapAucInterval() brackets the AUC, repeats with a seed and narrows with n", () => {
  const small = randomCase(80, 7);
  const large = randomCase(2000, 8);
  const { auroc } = computeRoc(small.yTrue, small.yScore);
  const a = bootstrapAucInterval(small.yTrue, small.yScore, { samples: 500, seed: 3 });
  assert.deepEqual(a, bootstrapAucInterval(small.yTrue, small.yScore, { samples: 500, seed: 3 }));
  assert.notDeepEqual(
    a,
    bootstrapAucInterval(small.yTrue, small.yScore, { samples: 500, seed: 4 }),
  );
  assert.ok(a.low < auroc && auroc < a.high, `${a.low} < ${auroc} < ${a.high}`);
  assert.equal(a.samples + a.skipped, 500);
  assert.equal(a.level, 0.95);
  const b = bootstrapAucInterval(large.yTrue, large.yScore, { samples: 200, seed: 3 });
  assert.ok(b.high - b.low < (a.high - a.low) / 2, "a 25x larger set gives a narrower interval");
  const narrow = bootstrapAucInterval(small.yTrue, small.yScore, {
    samples: 500,
    seed: 3,
    level: 0.5,
  });
  assert.ok(narrow.low > a.low && narrow.high < a.high, "a lower level gives a narrower interval");
});

Deno.test("bootstrapAucInterval() skips one-class resamples unless stratified", () => {
  const yTrue = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  const yScore = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.95];
  const plain = bootstrapAucInterval(yTrue, yScore, { samples: 300, seed: 1 });
  assert.ok(plain.skipped > 0, "with one positive in 10, about 35% of resamples lack it");
  assert.equal(plain.samples + plain.skipped, 300);
  const stratified = bootstrapAucInterval(yTrue, yScore, {
    samples: 300,
    seed: 1,
    stratified: true,
  });
  assert.equal(stratified.skipped, 0);
  assert.equal(stratified.samples, 300);
  assert.ok(stratified.low <= 0.8 && 0.8 <= stratified.high);
});

Deno.test("bootstrapAucInterval() rejects bad options", () => {
  const { yTrue, yScore } = randomCase(20, 9);
  assert.throws(
    () => bootstrapAucInterval(yTrue, yScore, { samples: 0 }),
    /samples must be an integer >= 1, got 0/,
  );
  assert.throws(() => bootstrapAucInterval(yTrue, yScore, { level: 1 }), /level is 1/);
  assert.throws(() => bootstrapAucInterval([0, 0], [0.1, 0.2]), /only label 0/);
});

Deno.test("bootstrapAucInterval() with one resample gives that resample's computeRoc() AUC", () => {
  const { yTrue, yScore } = randomCase(60, 10);
  const tied = yScore.map((s) => Math.round(s * 5) / 5);
  const random = createRandom(11);
  const drawn = Array.from({ length: 60 }, () => Math.floor(random() * 60));
  // The resample is the multiset of drawn cases; bootstrapAucInterval draws the same indices.
  const expected = computeRoc(drawn.map((i) => yTrue[i]), drawn.map((i) => tied[i])).auroc;
  const interval = bootstrapAucInterval(yTrue, tied, { samples: 1, seed: 11 });
  assertClose([interval.low, interval.high], [expected, expected], "AUC of the resample");
});

const SKLEARN_LIVE = `
import json, sys
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve
out = []
for case in json.load(open(sys.argv[1])):
    fpr, tpr, thresholds = roc_curve(case["yTrue"], case["yScore"])
    precision, recall, _ = precision_recall_curve(case["yTrue"], case["yScore"])
    out.append({"fpr": fpr.tolist(), "tpr": tpr.tolist(), "thresholds": thresholds.tolist(),
                "auc": roc_auc_score(case["yTrue"], case["yScore"]),
                "precision": precision.tolist(), "recall": recall.tolist(),
                "ap": average_precision_score(case["yTrue"], case["yScore"])})
print(json.dumps(out))
`;

Deno.test({
  name: "rocCurve(), computeRoc() and precisionRecallCurve() equal scikit-learn on fresh cases",
  ignore: !pythonHas("sklearn"),
  async fn() {
    const random = createRandom(2024);
    const cases = Array.from({ length: 40 }, (_, k) => {
      const { yTrue, yScore } = randomCase(5 + Math.floor(random() * 300), 100 + k);
      const levels = [0, 2, 5, 20][k % 4];
      return {
        yTrue,
        yScore: levels ? yScore.map((s) => Math.round(s * levels) / levels) : yScore,
      };
    });
    const path = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(path, JSON.stringify(cases));
      const expected = JSON.parse(await runPython(SKLEARN_LIVE, [path]));
      cases.forEach(({ yTrue, yScore }, k) => {
        const roc = rocCurve(yTrue, yScore);
        assertClose(roc.fpr, expected[k].fpr, `case ${k} fpr`);
        assertClose(roc.tpr, expected[k].tpr, `case ${k} tpr`);
        assertClose(roc.thresholds, expected[k].thresholds, `case ${k} thresholds`);
        assertClose([computeRoc(yTrue, yScore).auroc], [expected[k].auc], `case ${k} auc`);
        const pr = precisionRecallCurve(yTrue, yScore);
        assertClose(pr.precision, expected[k].precision, `case ${k} precision`);
        assertClose(pr.recall, expected[k].recall, `case ${k} recall`);
        assertClose([averagePrecision(yTrue, yScore)], [expected[k].ap], `case ${k} AP`);
      });
    } finally {
      await Deno.remove(path);
    }
  },
});
