/**
 * The graded questions of the six notebooks and their checks. A check receives the names a
 * student's answer cell defines and compares them with what a right answer gives on inputs it
 * makes itself; its message says which input, what was expected and what came back. Besides fixed
 * inputs, each check of a computed answer draws one input when it runs, from a fresh seed the
 * message names, so an answer that hard-codes the outputs of the fixed inputs fails. The
 * expected values come from TensorFlow.js and the library's building blocks, never from the
 * reference answers (grading/references.ts), which a class's handout does not hold; a test holds
 * the two equal. Checks run in a sandboxed subprocess (see sandbox.ts), a student's questions one
 * after another.
 *
 * An answer runs in the same JavaScript realm as its check, and could rewrite what the check
 * relies on (`Math.abs = () => 0`, `Array.prototype.join`, what the reference computes with). So
 * each question's expected values are computed by {@link Question.expect} before any answer is
 * loaded, as plain numbers, and compared with functions captured when this module loads, by plain
 * loops: a rewritten built-in can garble a message, not turn a wrong answer into a right one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { PneumothoraxDataset } from "../data/dataset.ts";
import { NotAnsweredError } from "../core/errors.ts";
import { loadCheckpoint } from "../model/checkpoint/mod.ts";
import { createModel, PneumothoraxDetectionModel } from "../model/model.ts";
import { createRandom } from "../core/random.ts";
import { rocAuc } from "../evaluation/roc.ts";

/** The outcome of one check. */
export interface CheckResult {
  /** Whether the answer is right. */
  passed: boolean;
  /** What a student needs to know: `ok`, `not answered`, or what went wrong. */
  message: string;
}

/** What a check gets: the answer cell's names, a folder of fixtures, the expected values. */
export interface CheckContext {
  /** The names the answer cell defines. */
  answer: Record<string, unknown>;
  /** A folder the grader prepared (small data files), readable by the check. */
  fixtureDir: string;
  /** What {@link Question.expect} computed, before any answer ran. */
  expected: unknown;
  /** The seed of the inputs drawn for this check ({@link drawSeed}), as `expect` got it. */
  seed: number;
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
  /**
   * What a right answer gives on the check's inputs (the fixed ones and those drawn from `seed`),
   * as plain values; run before any answer.
   */
  expect(fixtureDir: string, seed: number): Promise<unknown>;
  /** Checks an answer. */
  check(context: CheckContext): Promise<CheckResult>;
}

/**
 * A fresh seed for the inputs a check draws as it runs (0 to 2^31 - 1, from the system's
 * cryptographic source): drawn anew by every check cell and every grading, before any answer runs.
 */
export function drawSeed(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] >>> 1;
}

/**
 * Runs question `question`'s check: its expected values first, then the answer. The drawn inputs
 * come from `seed` (default a fresh {@link drawSeed}).
 */
export async function checkQuestion(
  question: Question,
  answer: Record<string, unknown>,
  fixtureDir: string,
  seed: number = drawSeed(),
): Promise<CheckResult> {
  const expected = await question.expect(fixtureDir, seed);
  return await question.check({ answer, fixtureDir, expected, seed });
}

// Captured before any answer runs (see the module's documentation).
const { abs, max, min } = Math;
const isInteger = Number.isInteger;
const toArray: <T>(values: ArrayLike<T> | Iterable<T>) => T[] = Array.from;
const toNumber = Number;
const toFixed: (value: number, digits: number) => string = Function.prototype.call.bind(
  Number.prototype.toFixed,
);

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

/** Whether two lists hold the same values, compared one by one. */
function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The values of a tensor the answer returned, checked to be a tensor of `shape`. */
function requireTensor(value: unknown, what: string, shape: number[]): number[] {
  if (!(value instanceof tf.Tensor)) {
    throw new CheckFailure(`${what} must return a tf.Tensor, got ${describe(value)}`);
  }
  if (!same(toArray(value.shape), shape)) {
    throw new CheckFailure(`${what} returned shape [${value.shape}], expected [${shape}]`);
  }
  return toArray(value.dataSync());
}

function describe(value: unknown): string {
  if (value instanceof tf.Tensor) return `a tensor of shape [${value.shape}]`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return value === null ? "null" : typeof value;
}

/** `[0.1235, 2]`: values rounded for a message, with functions captured at load. */
function round(values: ArrayLike<number>, digits = 4): string {
  let text = "";
  for (let i = 0; i < values.length; i++) {
    text += `${i === 0 ? "" : ", "}${toNumber(toFixed(values[i], digits))}`;
  }
  return `[${text}]`;
}

function closeTo(a: ArrayLike<number>, b: ArrayLike<number>, tolerance: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (!(abs(a[i] - b[i]) <= tolerance * max(1, abs(b[i])))) return false;
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

/** The values of a tensor the lab computed (for {@link Question.expect}), disposed of. */
function valuesOf(tensor: tf.Tensor): number[] {
  const values = toArray(tensor.dataSync());
  tensor.dispose();
  return values;
}

const load: Question = {
  id: "load",
  points: 1,
  names: ["loadDataset"],
  title: "instantiate the dataset",
  async expect(fixtureDir) {
    const dataset = await PneumothoraxDataset.load(fixtureDir);
    return [dataset.numTrain, dataset.numTest];
  },
  check: ({ answer, fixtureDir, expected }) =>
    guarded(async () => {
      const [numTrain, numTest] = expected as number[];
      const fn = requireFunction(answer, "loadDataset");
      const dataset = await attempt(`loadDataset("${fixtureDir}")`, () => fn(fixtureDir));
      if (!(dataset instanceof PneumothoraxDataset)) {
        return fail(`loadDataset(dir) must return a PneumothoraxDataset, got ${describe(dataset)}`);
      }
      if (dataset.numTrain !== numTrain || dataset.numTest !== numTest) {
        return fail(
          `loadDataset(dir) read ${dataset.numTrain} training and ${dataset.numTest} test ` +
            `images; the folder holds ${numTrain} and ${numTest}`,
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

/** The cost question's inputs: seed, number of rows and what the message calls them. */
function costCases(drawn: number): [number, number, string][] {
  return [[1, 6, "6 random logits"], [2, 15, "15 random logits"], [
    drawn,
    10,
    `10 logits drawn at check time (seed ${drawn})`,
  ]];
}

const cost: Question = {
  id: "cost",
  points: 2,
  names: ["computeCost"],
  title: "the cost: softmax cross-entropy on the logits",
  expect: (_, drawn) =>
    Promise.resolve(
      costCases(drawn).map(([seed, n]) => {
        const { logits, labels } = randomLogits(seed, n);
        return {
          cost: valuesOf(tf.losses.softmaxCrossEntropy(labels, logits))[0],
          onProbabilities: valuesOf(tf.losses.softmaxCrossEntropy(labels, tf.softmax(logits)))[0],
        };
      }),
    ),
  check: ({ answer, expected, seed: drawn }) =>
    guarded(async () => {
      const costs = expected as { cost: number; onProbabilities: number }[];
      const fn = requireFunction(answer, "computeCost");
      const cases = costCases(drawn);
      for (let c = 0; c < cases.length; c++) {
        const [seed, n, name] = cases[c];
        const { logits, labels } = randomLogits(seed, n);
        const got = await attempt("computeCost(logits, labels)", () => fn(logits, labels));
        const value = requireTensor(got, "computeCost(logits, labels)", [])[0];
        if (!closeTo([value], [costs[c].cost], 1e-4)) {
          const hint = closeTo([value], [costs[c].onProbabilities], 1e-4)
            ? " (that is the loss of the probabilities: pass the logits, softmax is inside the loss)"
            : "";
          return fail(
            `computeCost on ${name} ${round(logits.dataSync().slice(0, 4))}... ` +
              `returned ${value.toFixed(5)}, expected the mean softmax cross-entropy ` +
              `${costs[c].cost.toFixed(5)}${hint}`,
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
  expect: (_, drawn) =>
    Promise.resolve([3, drawn].map((seed) => valuesOf(randomLogits(seed, 8).logits.argMax(1)))),
  check: ({ answer, expected, seed: drawn }) =>
    guarded(async () => {
      const classes = expected as number[][];
      const fn = requireFunction(answer, "predictClass");
      const seeds = [3, drawn];
      for (let c = 0; c < seeds.length; c++) {
        const { logits } = randomLogits(seeds[c], 8);
        const got = await attempt("predictClass(logits)", () => fn(logits));
        const values = requireTensor(got, "predictClass(logits)", [8]);
        if (!same(values, classes[c])) {
          const drawnText = c === 0 ? "" : ` (drawn at check time, seed ${drawn})`;
          return fail(
            `predictClass on logits${drawnText} ${round(logits.dataSync())} returned ` +
              `${round(values, 0)}, expected the argmax of each row ${round(classes[c], 0)}`,
          );
        }
      }
      return ok;
    }),
};

/** `n` labels, a third positive, and scores in steps of 0.05 (so with ties) drawn from `seed`. */
function tiedScores(seed: number, n: number): [number[], number[]] {
  const random = createRandom(seed);
  const labels = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0));
  const scores = labels.map((y) => Math.round((random() + y * 0.4) * 20) / 20);
  return [labels, scores];
}

function rocInputs(drawn: number): [string, number[], number[]][] {
  return [
    ["4 scores", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]],
    ["40 scores with ties", ...tiedScores(11, 40)],
    ["constant scores", [0, 1, 0, 1, 1], [0.5, 0.5, 0.5, 0.5, 0.5]],
    [`30 scores drawn at check time (seed ${drawn})`, ...tiedScores(drawn, 30)],
  ];
}

const roc: Question = {
  id: "roc",
  points: 3,
  names: ["computeRoc"],
  title: "computeRoc: false and true positive rates, and the area under the curve",
  expect: (_, drawn) =>
    Promise.resolve(rocInputs(drawn).map(([, yTrue, yScore]) => rocAuc(yTrue, yScore))),
  check: ({ answer, expected, seed: drawn }) =>
    guarded(async () => {
      const aurocs = expected as number[];
      const fn = requireFunction(answer, "computeRoc");
      const inputs = rocInputs(drawn);
      for (let c = 0; c < inputs.length; c++) {
        const [name, yTrue, yScore] = inputs[c];
        const want = aurocs[c];
        const got = await attempt(`computeRoc on ${name}`, () => fn(yTrue, yScore)) as Record<
          string,
          ArrayLike<number> | number
        >;
        if (typeof got !== "object" || got === null) {
          return fail(`computeRoc must return {fpr, tpr, auroc}, got ${describe(got)}`);
        }
        const auroc = Number(got.auroc);
        if (!closeTo([auroc], [want], 1e-6)) {
          return fail(
            `computeRoc on ${name} (labels ${round(yTrue.slice(0, 6), 0)}..., scores ` +
              `${round(yScore.slice(0, 6), 2)}...) gave auroc ${auroc}, expected ` +
              `${want.toFixed(4)}`,
          );
        }
        const curve = (key: "fpr" | "tpr") =>
          toArray((got[key] ?? []) as ArrayLike<number>).map(Number);
        const [fpr, tpr] = [curve("fpr"), curve("tpr")];
        let area = 0;
        for (let i = 1; i < fpr.length; i++) {
          area += (fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1]) / 2;
        }
        if (fpr.length !== tpr.length || !closeTo([area], [want], 1e-6)) {
          return fail(
            `computeRoc on ${name}: the curve (fpr ${round(fpr, 2)}, tpr ${round(tpr, 2)}) ` +
              `does not enclose the area ${want.toFixed(4)}; plot TPR against FPR`,
          );
        }
      }
      return ok;
    }),
};

/** A tiny model and one image for the features question (cpu), both from `seed`. */
function tinyModel(seed: number): { model: PneumothoraxDetectionModel; image: tf.Tensor4D } {
  const model = createModel({ width: 2, imageSize: 32, seed });
  const random = createRandom(seed + 4);
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
  expect: (_, drawn) =>
    Promise.resolve([5, drawn].map((seed) => {
      const { model, image } = tinyModel(seed);
      const fmap = valuesOf(model.predictWithFeatures(image).skip4);
      const weights = toArray(model.denseKernel().dataSync());
      model.dispose();
      return { fmap, weights };
    })),
  check: ({ answer, expected, seed: drawn }) =>
    guarded(async () => {
      const wanted = expected as { fmap: number[]; weights: number[] }[];
      const fn = requireFunction(answer, "extractFeaturesWeights");
      const seeds = [5, drawn];
      for (let c = 0; c < seeds.length; c++) {
        const want = wanted[c];
        const { model, image } = tinyModel(seeds[c]);
        const got = await attempt(
          "extractFeaturesWeights(model, image)",
          () => fn(model, image),
        ) as {
          fmap?: unknown;
          weights?: unknown;
        };
        const fmap = requireTensor(got?.fmap, "extractFeaturesWeights(...).fmap", [2, 2, 16]);
        const weights = requireTensor(got?.weights, "extractFeaturesWeights(...).weights", [16, 2]);
        const which = c === 0 ? "" : ` (a model drawn at check time, seed ${drawn})`;
        if (!closeTo(fmap, want.fmap, 1e-4)) {
          return fail(`fmap differs from the model's skip4 feature maps for that image${which}`);
        }
        if (!closeTo(weights, want.weights, 1e-6)) {
          return fail(
            `weights differ from the kernel of the model's dense ('logits') layer${which}`,
          );
        }
      }
      return ok;
    }),
};

/** The CAM question's cases: the fixed one, then one drawn at check time, of another shape. */
function camCases(
  drawn: number,
): { seed: number; shape: [number, number, number]; name: string }[] {
  return [
    { seed: 4, shape: [3, 4, 5], name: "" },
    { seed: drawn, shape: [4, 3, 6], name: ` (drawn at check time, seed ${drawn})` },
  ];
}

/** A CAM case's inputs: feature maps of `shape` [h, w, c] and weights [c, 2], from `seed`. */
function camInputs(
  seed: number,
  [h, w, c]: [number, number, number],
): { fmap: tf.Tensor3D; weights: tf.Tensor2D } {
  const random = createRandom(seed);
  const fmap = tf.tensor3d(Array.from({ length: h * w * c }, () => random()), [h, w, c]);
  const weights = tf.tensor2d(Array.from({ length: c * 2 }, () => random() - 0.5), [c, 2]);
  return { fmap, weights };
}

const cam: Question = {
  id: "cam",
  points: 2,
  names: ["computeCam"],
  title: "compute the class activation map",
  expect: (_, drawn) =>
    Promise.resolve(
      camCases(drawn).map(({ seed, shape: [h, w, c] }) => {
        const { fmap, weights } = camInputs(seed, [h, w, c]);
        const maps = valuesOf(tf.tidy(() => tf.matMul(fmap.reshape([h * w, c]), weights))); // [hw, 2]
        tf.dispose([fmap, weights]);
        return [0, 1].map((k) => maps.filter((_, i) => i % 2 === k));
      }),
    ),
  check: ({ answer, expected, seed: drawn }) =>
    guarded(async () => {
      const wanted = expected as number[][][];
      const fn = requireFunction(answer, "computeCam");
      const cases = camCases(drawn);
      for (let k = 0; k < cases.length; k++) {
        const { seed, shape: [h, w, c], name } = cases[k];
        const { fmap, weights } = camInputs(seed, [h, w, c]);
        for (const classIndex of [0, 1]) {
          const got = await attempt(
            `computeCam(${classIndex}, fmap, weights)`,
            () => fn(classIndex, fmap, weights),
          );
          const what = `computeCam(${classIndex}, fmap [${h},${w},${c}], weights)${name}`;
          const values = requireTensor(got, what, [h, w]);
          const want = wanted[k][classIndex];
          if (!closeTo(values, want, 1e-4)) {
            return fail(
              `computeCam(${classIndex}, fmap [${h},${w},${c}], weights [${c},2])${name} returned ${
                round(values.slice(0, 4))
              }..., expected ${round(want.slice(0, 4))}... (fmap reshaped to ` +
                `[h*w, c] times weights[:, ${classIndex}])`,
            );
          }
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
  expect: () => Promise.resolve(1),
  check: ({ answer, expected }) =>
    guarded(async () => {
      const value = await attempt("PNEUMOTHORAX_CLASS", () => answer.PNEUMOTHORAX_CLASS);
      return value === expected ? ok : fail(
        `PNEUMOTHORAX_CLASS is ${value}, expected 1 (labels are one-hot and column 1 is ` +
          "pneumothorax)",
      );
    }),
};

/** The upsampling question's fixed map. */
const UPSAMPLE_MAP = [[0, 1, 2], [3, 4, 5]];

/** An upsampling case: the map `[h, w]`, the size asked for, and how the message names it. */
interface UpsampleCase {
  map: number[][];
  size: [number, number];
  name: string;
}

/** The fixed case, then a 3 x 2 map drawn at check time, upsampled to 6 x 5. */
function upsampleCases(drawn: number): UpsampleCase[] {
  const random = createRandom(drawn);
  const map = [0, 1, 2].map(() => [0, 1].map(() => toNumber(toFixed(random() * 10, 2))));
  return [
    { map: UPSAMPLE_MAP, size: [4, 6], name: "upsample([[0,1,2],[3,4,5]], [4, 6])" },
    { map, size: [6, 5], name: `upsample(${JSON.stringify(map)}, [6, 5]) (drawn, seed ${drawn})` },
  ];
}

const upsampling: Question = {
  id: "upsample",
  points: 1,
  names: ["upsample"],
  title: "upsample the map to the image size",
  expect: (_, drawn) =>
    Promise.resolve(
      upsampleCases(drawn).map(({ map, size }) =>
        valuesOf(tf.tidy(() =>
          tf.image.resizeBilinear(
            tf.tensor3d(map.flat(), [map.length, map[0].length, 1]),
            size,
            false,
            true,
          )
        ))
      ),
    ),
  check: ({ answer, expected, seed: drawn }) =>
    guarded(async () => {
      const wanted = expected as number[][];
      const fn = requireFunction(answer, "upsample");
      const cases = upsampleCases(drawn);
      for (let c = 0; c < cases.length; c++) {
        const { map, size, name } = cases[c];
        const shape = `upsample(cam [${map.length},${map[0].length}], [${size}])`;
        const got = await attempt(shape, () => fn(tf.tensor2d(map), [...size]));
        const values = requireTensor(got, shape, size);
        if (!closeTo(values, wanted[c], 1e-4)) {
          return fail(
            `${name} returned ${round(values.slice(0, 6), 3)}... expected bilinear ` +
              `${round(wanted[c].slice(0, 6), 3)}... (tf.image.resizeBilinear with ` +
              "halfPixelCenters)",
          );
        }
      }
      return ok;
    }),
};

/** Folder, inside the fixtures, of the small checkpoint the restore question loads. */
export const FIXTURE_CHECKPOINT = "checkpoint";

/** All the weights of a model, in order, as one list. */
function weightsOf(model: PneumothoraxDetectionModel): number[] {
  const all: number[] = [];
  for (const weight of model.network.getWeights()) {
    const values = weight.dataSync();
    for (let i = 0; i < values.length; i++) all.push(values[i]);
  }
  return all;
}

const restore: Question = {
  id: "restore",
  points: 2,
  names: ["restoreModel"],
  title: "restore the trained model from its checkpoint",
  async expect(fixtureDir) {
    const { model } = await loadCheckpoint(`${fixtureDir}/${FIXTURE_CHECKPOINT}`);
    const expected = { width: model.width, weights: weightsOf(model) };
    model.dispose();
    return expected;
  },
  check: ({ answer, fixtureDir, expected }) =>
    guarded(async () => {
      const want = expected as { width: number; weights: number[] };
      const fn = requireFunction(answer, "restoreModel");
      const dir = `${fixtureDir}/${FIXTURE_CHECKPOINT}`;
      const model = await attempt(`restoreModel("${dir}")`, () => fn(dir));
      if (!(model instanceof PneumothoraxDetectionModel)) {
        return fail(
          `restoreModel(dir) must return a PneumothoraxDetectionModel, got ${describe(model)}`,
        );
      }
      if (model.width !== want.width || !closeTo(weightsOf(model), want.weights, 1e-6)) {
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

/** The folds question's numbers of folds (its check tests properties, not one right answer). */
const FOLD_COUNTS = [2, 3, 5];

const folds: Question = {
  id: "folds",
  points: 2,
  names: ["groupedFolds"],
  title: "patient-grouped folds for cross-validation",
  expect: () => Promise.resolve(FOLD_COUNTS),
  check: ({ answer }) =>
    guarded(async () => {
      const fn = requireFunction(answer, "groupedFolds");
      const n = FOLD_PATIENTS.length;
      for (const k of FOLD_COUNTS) {
        const call = `groupedFolds(20 images of 12 patients, ${k})`;
        const got = await attempt(call, () => fn([...FOLD_PATIENTS], k)) as ArrayLike<number>;
        if (!got || got.length !== n) {
          return fail(`${call} must return one fold per image (20), got ${describe(got)}`);
        }
        const values = toArray(got);
        for (let i = 0; i < n; i++) {
          const f = values[i];
          if (!isInteger(f) || f < 0 || f >= k) {
            return fail(`${call} gave image ${i} fold ${f}; folds are 0 to ${k - 1}`);
          }
        }
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            if (FOLD_PATIENTS[i] === FOLD_PATIENTS[j] && values[i] !== values[j]) {
              return fail(
                `${call} put patient '${FOLD_PATIENTS[i]}' in more than one fold: a model would ` +
                  "be tested on a patient it was trained on",
              );
            }
          }
        }
        const sizes: number[] = [];
        for (let f = 0; f < k; f++) {
          let size = 0;
          for (let i = 0; i < n; i++) if (values[i] === f) size++;
          sizes[f] = size;
        }
        let smallest = n;
        let largest = 0;
        for (let f = 0; f < k; f++) {
          smallest = min(smallest, sizes[f]);
          largest = max(largest, sizes[f]);
        }
        if (smallest === 0 || largest > 2 * smallest) {
          return fail(
            `${call} made folds of ${sizes.join(", ")} images; every fold must be used, and none ` +
              "more than twice the size of another",
          );
        }
      }
      return ok;
    }),
};

/** The tube question's cases: peaks on three 4x4 images, masks made by {@link tubeMasks}. */
export const TUBE_CASES: [string, { index: number; x: number; y: number }[]][] = [
  ["3 peaks on 4x4 images", [
    { index: 0, x: 1, y: 1 },
    { index: 1, x: 3, y: 2 },
    { index: 2, x: 0, y: 0 },
  ]],
  ["2 peaks", [{ index: 1, x: 2, y: 3 }, { index: 0, x: 0, y: 0 }]],
  ["no peaks", []],
];
export const TUBE_SIZE = 4;
/**
 * The right answers to {@link TUBE_CASES}: 1 peak of 3 on its tube, 1 of 2, none of none. Written
 * out, not computed, so the handout needs no reference of `shareOnTube` (references.ts, which
 * stays out of it); a test holds them equal to the reference's.
 */
export const TUBE_SHARES: readonly number[] = [1 / 3, 1 / 2, 0];

/** The tube question's masks: image 0 row 1 columns 0-1, image 1 the pixel (x 2, y 3). */
export function tubeMasks(): Uint8Array {
  const masks = new Uint8Array(3 * TUBE_SIZE * TUBE_SIZE);
  masks.set([1, 1], 1 * TUBE_SIZE);
  masks.set([1], TUBE_SIZE * TUBE_SIZE + 3 * TUBE_SIZE + 2);
  return masks;
}

const tube: Question = {
  id: "tube",
  points: 1,
  names: ["shareOnTube"],
  title: "the share of maps that peak on the chest tube",
  expect: () => Promise.resolve(TUBE_SHARES),
  check: ({ answer, expected }) =>
    guarded(async () => {
      const shares = expected as number[];
      const fn = requireFunction(answer, "shareOnTube");
      for (let c = 0; c < TUBE_CASES.length; c++) {
        const [name, peaks] = TUBE_CASES[c];
        const input = peaks.map((peak) => ({ ...peak }));
        const got = Number(
          await attempt(`shareOnTube on ${name}`, () => fn(input, tubeMasks(), TUBE_SIZE)),
        );
        if (!closeTo([got], [shares[c]], 1e-9)) {
          return fail(
            `shareOnTube on ${name} ${JSON.stringify(peaks)} returned ${got}, expected ` +
              `${shares[c]} (the share of peaks whose pixel, masks[index * size * size + y * ` +
              "size + x], is on the tube)",
          );
        }
      }
      return ok;
    }),
};

/** The graded questions of each notebook, by notebook name (file name without `.ipynb`). */
export const QUESTIONS: Record<string, Question[]> = {
  "01_dataset": [load],
  "02_training": [cost, prediction],
  "03_restore": [restore],
  "04_roc": [roc],
  "05_cam": [features, cam, pneumothoraxClass, upsampling],
  "06_learned": [folds, tube],
};
