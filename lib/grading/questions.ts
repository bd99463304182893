/**
 * The graded questions of the six notebooks and their checks. A check receives the names a
 * student's answer cell defines and compares them with the lab's reference on inputs it makes
 * itself; its message says which input, what was expected and what came back. Checks run in a
 * sandboxed subprocess (see grader.ts), one question at a time.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { computeCam, upsample as referenceUpsample } from "../evaluation/cam.ts";
import { PneumothoraxDataset } from "../data/dataset.ts";
import { NotAnsweredError } from "../core/errors.ts";
import { loadCheckpoint } from "../model/checkpoint/mod.ts";
import { createModel, PneumothoraxDetectionModel } from "../model/model.ts";
import { createRandom } from "../core/random.ts";
import { computeRoc as referenceRoc } from "../evaluation/roc.ts";
import { shareOnTube as referenceShareOnTube } from "./references.ts";

/** The outcome of one check. */
export interface CheckResult {
  /** Whether the answer is right. */
  passed: boolean;
  /** What a student needs to know: `ok`, `not answered`, or what went wrong. */
  message: string;
}

/** What a check gets: the answer cell's names, and a folder of fixtures made for it. */
export interface CheckContext {
  /** The names the answer cell defines. */
  answer: Record<string, unknown>;
  /** A folder the grader prepared (small data files), readable by the check. */
  fixtureDir: string;
}

/** A graded question. */
export interface Question {
  /** Id, as in the answer cell's `metadata.lab.question`. */
  id: string;
  /** Points for a right answer. */
  points: number;
  /** The names the answer cell must define. */
  names: string[];
  /** What the question asks, for reports. */
  title: string;
  /** Checks an answer. */
  check(context: CheckContext): Promise<CheckResult>;
}

const ok: CheckResult = { passed: true, message: "ok" };
const fail = (message: string): CheckResult => ({ passed: false, message });

/** Thrown inside a check to end it with a failing {@link CheckResult}. */
class CheckFailure extends Error {}

/** Runs `fn`, turning a student's exception into a failing result with its message. */
async function attempt(what: string, fn: () => unknown): Promise<unknown> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof NotAnsweredError || (error as Error)?.name === "NotAnsweredError") {
      throw new CheckFailure("not answered");
    }
    throw new CheckFailure(`${what} threw: ${(error as Error)?.message ?? error}`);
  }
}

function requireFunction(answer: Record<string, unknown>, name: string) {
  const fn = answer[name];
  if (typeof fn !== "function") {
    throw new CheckFailure(`the cell must define a function '${name}', found ${typeof fn}`);
  }
  return fn as (...args: unknown[]) => unknown;
}

function requireTensor(value: unknown, what: string, shape: number[]): tf.Tensor {
  if (!(value instanceof tf.Tensor)) {
    throw new CheckFailure(`${what} must return a tf.Tensor, got ${describe(value)}`);
  }
  if (value.shape.join() !== shape.join()) {
    throw new CheckFailure(`${what} returned shape [${value.shape}], expected [${shape}]`);
  }
  return value;
}

function describe(value: unknown): string {
  if (value instanceof tf.Tensor) return `a tensor of shape [${value.shape}]`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return value === null ? "null" : typeof value;
}

function round(values: ArrayLike<number>, digits = 4): string {
  return `[${Array.from(values, (v) => Number(v.toFixed(digits))).join(", ")}]`;
}

function closeTo(a: ArrayLike<number>, b: ArrayLike<number>, tolerance: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= tolerance * Math.max(1, Math.abs(b[i])))) return false;
  }
  return true;
}

async function guarded(fn: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof CheckFailure) return fail(error.message);
    throw error;
  }
}

const loadDataset: Question = {
  id: "load",
  points: 1,
  names: ["loadDataset"],
  title: "instantiate the dataset",
  check: ({ answer, fixtureDir }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "loadDataset");
      const dataset = await attempt(`loadDataset("${fixtureDir}")`, () => fn(fixtureDir));
      if (!(dataset instanceof PneumothoraxDataset)) {
        return fail(`loadDataset(dir) must return a PneumothoraxDataset, got ${describe(dataset)}`);
      }
      const expected = await PneumothoraxDataset.load(fixtureDir);
      if (dataset.numTrain !== expected.numTrain || dataset.numTest !== expected.numTest) {
        return fail(
          `loadDataset(dir) read ${dataset.numTrain} training and ${dataset.numTest} test ` +
            `images; the folder holds ${expected.numTrain} and ${expected.numTest}`,
        );
      }
      return ok;
    }),
};

function randomLogits(seed: number, n: number): { logits: tf.Tensor2D; labels: tf.Tensor2D } {
  const random = createRandom(seed);
  const logits = tf.tensor2d(Array.from({ length: n * 2 }, () => (random() - 0.5) * 6), [n, 2]);
  const classes = Array.from({ length: n }, () => (random() < 0.5 ? 0 : 1));
  const labels = tf.oneHot(tf.tensor1d(classes, "int32"), 2).toFloat() as tf.Tensor2D;
  return { logits, labels };
}

const cost: Question = {
  id: "cost",
  points: 2,
  names: ["computeCost"],
  title: "the cost: softmax cross-entropy on the logits",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "computeCost");
      for (const [seed, n] of [[1, 6], [2, 15]]) {
        const { logits, labels } = randomLogits(seed, n);
        const expected = tf.losses.softmaxCrossEntropy(labels, logits).dataSync()[0];
        const got = await attempt("computeCost(logits, labels)", () => fn(logits, labels));
        const value = requireTensor(got, "computeCost(logits, labels)", []).dataSync()[0];
        if (!closeTo([value], [expected], 1e-4)) {
          const onProbabilities = tf.losses.softmaxCrossEntropy(labels, tf.softmax(logits))
            .dataSync()[0];
          const hint = closeTo([value], [onProbabilities], 1e-4)
            ? " (that is the loss of the probabilities: pass the logits, softmax is inside the loss)"
            : "";
          return fail(
            `computeCost on ${n} random logits ${round(logits.dataSync().slice(0, 4))}... ` +
              `returned ${value.toFixed(5)}, expected the mean softmax cross-entropy ` +
              `${expected.toFixed(5)}${hint}`,
          );
        }
      }
      return ok;
    }),
};

const prediction: Question = {
  id: "prediction",
  points: 1,
  names: ["predictClass"],
  title: "the prediction: the class with the largest logit",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "predictClass");
      const { logits } = randomLogits(3, 8);
      const expected = Array.from(logits.argMax(1).dataSync());
      const got = await attempt("predictClass(logits)", () => fn(logits));
      const values = Array.from(requireTensor(got, "predictClass(logits)", [8]).dataSync());
      if (values.join() !== expected.join()) {
        return fail(
          `predictClass on logits ${round(logits.dataSync())} returned ${round(values, 0)}, ` +
            `expected the argmax of each row ${round(expected, 0)}`,
        );
      }
      return ok;
    }),
};

function rocInputs(): [string, number[], number[]][] {
  const random = createRandom(11);
  const labels = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const scores = labels.map((y) => Math.round((random() + y * 0.4) * 20) / 20);
  return [
    ["4 scores", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]],
    ["40 scores with ties", labels, scores],
    ["constant scores", [0, 1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5, 0.5]],
  ];
}

const roc: Question = {
  id: "roc",
  points: 3,
  names: ["computeRoc"],
  title: "computeRoc: false and true positive rates, and the area under the curve",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "computeRoc");
      for (const [name, yTrue, yScore] of rocInputs()) {
        const expected = referenceRoc(yTrue, yScore);
        const got = await attempt(`computeRoc on ${name}`, () => fn(yTrue, yScore)) as Record<
          string,
          ArrayLike<number> | number
        >;
        if (typeof got !== "object" || got === null) {
          return fail(`computeRoc must return {fpr, tpr, auroc}, got ${describe(got)}`);
        }
        const auroc = Number(got.auroc);
        if (!closeTo([auroc], [expected.auroc], 1e-6)) {
          return fail(
            `computeRoc on ${name} (labels ${round(yTrue.slice(0, 6), 0)}..., scores ` +
              `${round(yScore.slice(0, 6), 2)}...) gave auroc ${auroc}, expected ` +
              `${expected.auroc.toFixed(4)}`,
          );
        }
        const curve = (key: "fpr" | "tpr") => Array.from(got[key] as ArrayLike<number> ?? []);
        const [fpr, tpr] = [curve("fpr"), curve("tpr")];
        const area = fpr.slice(1).reduce(
          (sum, x, i) => sum + (x - fpr[i]) * (tpr[i + 1] + tpr[i]) / 2,
          0,
        );
        if (fpr.length !== tpr.length || !closeTo([area], [expected.auroc], 1e-6)) {
          return fail(
            `computeRoc on ${name}: the curve (fpr ${round(fpr, 2)}, tpr ${round(tpr, 2)}) ` +
              `does not enclose the area ${expected.auroc.toFixed(4)}; plot TPR against FPR`,
          );
        }
      }
      return ok;
    }),
};

/** A tiny model and one image for the CAM questions (cpu, seeded). */
function tinyModel(): { model: PneumothoraxDetectionModel; image: tf.Tensor4D } {
  const model = createModel({ width: 2, imageSize: 32, seed: 5 });
  const random = createRandom(9);
  const image = tf.tensor4d(
    Array.from({ length: 32 * 32 }, () => Math.floor(random() * 256)),
    [1, 32, 32, 1],
  );
  return { model, image };
}

const features: Question = {
  id: "features",
  points: 1,
  names: ["extractFeaturesWeights"],
  title: "extract the final feature maps and the dense weights",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "extractFeaturesWeights");
      const { model, image } = tinyModel();
      const got = await attempt("extractFeaturesWeights(model, image)", () => fn(model, image)) as {
        fmap?: unknown;
        weights?: unknown;
      };
      const fmap = requireTensor(got?.fmap, "extractFeaturesWeights(...).fmap", [2, 2, 16]);
      const weights = requireTensor(got?.weights, "extractFeaturesWeights(...).weights", [16, 2]);
      const outputs = model.predictWithFeatures(image);
      if (!closeTo(fmap.dataSync(), outputs.skip4.dataSync(), 1e-4)) {
        return fail("fmap differs from the model's skip4 feature maps for that image");
      }
      if (!closeTo(weights.dataSync(), model.denseKernel().dataSync(), 1e-6)) {
        return fail("weights differ from the kernel of the model's dense ('logits') layer");
      }
      return ok;
    }),
};

const cam: Question = {
  id: "cam",
  points: 2,
  names: ["computeCam"],
  title: "compute the class activation map",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "computeCam");
      const random = createRandom(4);
      const fmap = tf.tensor3d(Array.from({ length: 3 * 4 * 5 }, () => random()), [3, 4, 5]);
      const weights = tf.tensor2d(Array.from({ length: 10 }, () => random() - 0.5), [5, 2]);
      for (const classIndex of [0, 1]) {
        const expected = computeCam(classIndex, fmap, weights).dataSync();
        const got = await attempt(
          `computeCam(${classIndex}, fmap, weights)`,
          () => fn(classIndex, fmap, weights),
        );
        const values = requireTensor(got, `computeCam(${classIndex}, fmap [3,4,5], weights)`, [
          3,
          4,
        ])
          .dataSync();
        if (!closeTo(values, expected, 1e-4)) {
          return fail(
            `computeCam(${classIndex}, fmap [3,4,5], weights [5,2]) returned ${
              round(values.slice(0, 4))
            }..., ` +
              `expected ${round(expected.slice(0, 4))}... (fmap reshaped to [h*w, c] times ` +
              `weights[:, ${classIndex}])`,
          );
        }
      }
      return ok;
    }),
};

const pneumothoraxClass: Question = {
  id: "class",
  points: 1,
  names: ["PNEUMOTHORAX_CLASS"],
  title: "the class index of pneumothorax",
  check: ({ answer }) =>
    guarded(async () => {
      const value = await attempt("PNEUMOTHORAX_CLASS", () => answer.PNEUMOTHORAX_CLASS);
      return value === 1 ? ok : fail(
        `PNEUMOTHORAX_CLASS is ${value}, expected 1 (labels are one-hot and column 1 is ` +
          "pneumothorax)",
      );
    }),
};

const upsampling: Question = {
  id: "upsample",
  points: 1,
  names: ["upsample"],
  title: "upsample the map to the image size",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "upsample");
      const map = tf.tensor2d([[0, 1, 2], [3, 4, 5]]);
      const expected = referenceUpsample(map, [4, 6]).dataSync();
      const got = await attempt("upsample(cam [2,3], [4, 6])", () => fn(map, [4, 6]));
      const values = requireTensor(got, "upsample(cam [2,3], [4, 6])", [4, 6]).dataSync();
      if (!closeTo(values, expected, 1e-4)) {
        return fail(
          `upsample([[0,1,2],[3,4,5]], [4, 6]) returned ${round(values.slice(0, 6), 3)}... ` +
            `expected bilinear ${round(expected.slice(0, 6), 3)}... (tf.image.resizeBilinear ` +
            "with halfPixelCenters)",
        );
      }
      return ok;
    }),
};

/** Folder, inside the fixtures, of the small checkpoint the restore question loads. */
export const FIXTURE_CHECKPOINT = "checkpoint";

const restore: Question = {
  id: "restore",
  points: 2,
  names: ["restoreModel"],
  title: "restore the trained model from its checkpoint",
  check: ({ answer, fixtureDir }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "restoreModel");
      const dir = `${fixtureDir}/${FIXTURE_CHECKPOINT}`;
      const model = await attempt(`restoreModel("${dir}")`, () => fn(dir));
      if (!(model instanceof PneumothoraxDetectionModel)) {
        return fail(
          `restoreModel(dir) must return a PneumothoraxDetectionModel, got ${describe(model)}`,
        );
      }
      const expected = (await loadCheckpoint(dir)).model;
      const weights = (m: PneumothoraxDetectionModel) =>
        m.network.getWeights().flatMap((w) => Array.from(w.dataSync()));
      if (model.width !== expected.width || !closeTo(weights(model), weights(expected), 1e-6)) {
        return fail(
          "restoreModel(dir) returned a model whose weights differ from the checkpoint's " +
            "(a new model instead of the restored one?)",
        );
      }
      return ok;
    }),
};

/** Image i's patient in the folds question: 20 images of 12 patients, some with several. */
const FOLD_PATIENTS = [
  "a",
  "a",
  "b",
  "c",
  "c",
  "c",
  "d",
  "e",
  "f",
  "f",
  "g",
  "h",
  "i",
  "i",
  "j",
  "k",
  "l",
  "l",
  "b",
  "e",
];

const folds: Question = {
  id: "folds",
  points: 2,
  names: ["groupedFolds"],
  title: "patient-grouped folds for cross-validation",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "groupedFolds");
      for (const k of [2, 3, 5]) {
        const call = `groupedFolds(20 images of 12 patients, ${k})`;
        const got = await attempt(call, () => fn(FOLD_PATIENTS, k)) as ArrayLike<number>;
        if (!got || got.length !== FOLD_PATIENTS.length) {
          return fail(`${call} must return one fold per image (20), got ${describe(got)}`);
        }
        const values = Array.from(got);
        const bad = values.findIndex((f) => !Number.isInteger(f) || f < 0 || f >= k);
        if (bad >= 0) {
          return fail(`${call} gave image ${bad} fold ${values[bad]}; folds are 0 to ${k - 1}`);
        }
        const split = FOLD_PATIENTS.findIndex((p, i) =>
          FOLD_PATIENTS.some((q, j) => q === p && values[j] !== values[i])
        );
        if (split >= 0) {
          return fail(
            `${call} put patient '${
              FOLD_PATIENTS[split]
            }' in more than one fold: a model would be ` +
              "tested on a patient it was trained on",
          );
        }
        const sizes = Array.from({ length: k }, (_, f) => values.filter((v) => v === f).length);
        if (Math.min(...sizes) === 0 || Math.max(...sizes) > 2 * Math.min(...sizes)) {
          return fail(
            `${call} made folds of ${sizes.join(", ")} images; every fold must be used, and none ` +
              "more than twice the size of another",
          );
        }
      }
      return ok;
    }),
};

const tube: Question = {
  id: "tube",
  points: 1,
  names: ["shareOnTube"],
  title: "the share of maps that peak on the chest tube",
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "shareOnTube");
      const size = 4;
      const masks = new Uint8Array(3 * size * size);
      masks.set([1, 1], 1 * size); // image 0: row 1, columns 0-1
      masks.set([1], size * size + 3 * size + 2); // image 1: (x 2, y 3)
      const cases: [string, { index: number; x: number; y: number }[]][] = [
        ["3 peaks on 4x4 images", [
          { index: 0, x: 1, y: 1 },
          { index: 1, x: 3, y: 2 },
          { index: 2, x: 0, y: 0 },
        ]],
        ["2 peaks", [{ index: 1, x: 2, y: 3 }, { index: 0, x: 0, y: 0 }]],
        ["no peaks", []],
      ];
      for (const [name, peaks] of cases) {
        const expected = referenceShareOnTube(peaks, masks, size);
        const got = Number(await attempt(`shareOnTube on ${name}`, () => fn(peaks, masks, size)));
        if (!closeTo([got], [expected], 1e-9)) {
          return fail(
            `shareOnTube on ${name} ${JSON.stringify(peaks)} returned ${got}, expected ` +
              `${expected} (the share of peaks whose pixel, masks[index * size * size + y * ` +
              "size + x], is on the tube)",
          );
        }
      }
      return ok;
    }),
};

/** The graded questions of each notebook, by notebook name (file name without `.ipynb`). */
export const QUESTIONS: Record<string, Question[]> = {
  "01_dataset": [loadDataset],
  "02_training": [cost, prediction],
  "03_restore": [restore],
  "04_roc": [roc],
  "05_cam": [features, cam, pneumothoraxClass, upsampling],
  "06_learned": [folds, tube],
};
