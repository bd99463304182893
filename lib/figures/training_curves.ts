/**
 * Training curves as the lab's TensorBoard showed them: cost and accuracy against the step, for
 * training and test batches, in two panels; notebook 02 redraws it live.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { UsageError } from "../core/errors.ts";
import type { Figure, FigureElement } from "./figure.ts";
import {
  checkSize,
  compose,
  createDocument,
  CURVE_COLOR,
  type FigureDocument,
  finish,
  MARGIN,
  render,
} from "./_plot.ts";

const TEST_COLOR = "#ff7f0e";

/** One value of a training series. */
export interface StepValue {
  /** Training step. */
  step: number;
  /** The value at that step. */
  value: number;
}

/** Series of {@link plotTrainingCurves}; any may be missing or empty. */
export interface TrainingCurves {
  /** Cost (cross-entropy) on training batches. */
  trainCost?: StepValue[];
  /** Cost on test batches. */
  testCost?: StepValue[];
  /** Accuracy on training batches, in [0, 1]. */
  trainAccuracy?: StepValue[];
  /** Accuracy on test batches, in [0, 1]. */
  testAccuracy?: StepValue[];
}

/** Options of {@link plotTrainingCurves}. */
export interface TrainingPlotOptions {
  /** Width of each of the two panels. Default 360. */
  width?: number;
  /** Height of each panel. Default 260. */
  height?: number;
}

/** One panel of the training curves: train and test series against the step. */
function trainingPanel(
  document: FigureDocument,
  title: string,
  series: { train?: StepValue[]; test?: StepValue[] },
  size: { width: number; height: number; accuracy: boolean },
): FigureElement {
  const line = (values: StepValue[] | undefined, stroke: string) =>
    Plot.line(values ?? [], { x: "step", y: "value", stroke, strokeWidth: 1.5 });
  return render(document, {
    width: size.width,
    height: size.height,
    marginTop: MARGIN.top,
    marginLeft: MARGIN.left,
    marginBottom: MARGIN.bottom,
    grid: true,
    x: { label: "step" },
    y: { label: title, ...(size.accuracy ? { domain: [0, 1] } : { zero: true }) },
    marks: [
      line(series.train, CURVE_COLOR),
      line(series.test, TEST_COLOR),
      Plot.text(["train"], { frameAnchor: "top-right", dx: -36, dy: -14, fill: CURVE_COLOR }),
      Plot.text(["test"], { frameAnchor: "top-right", dy: -14, fill: TEST_COLOR }),
    ],
  });
}

/**
 * Training curves as the lab's TensorBoard showed them: cost and accuracy against the step,
 * training batches and test batches, in two panels. Redraw it from `onStep`/`onEval`
 * callbacks to watch training in a notebook.
 *
 * @example
 * ```ts
 * import { plotTrainingCurves } from "./training_curves.ts";
 * const figure = plotTrainingCurves({
 *   trainCost: [{ step: 0, value: 0.7 }, { step: 10, value: 0.6 }],
 *   testAccuracy: [{ step: 0, value: 0.5 }, { step: 10, value: 0.6 }],
 * });
 * if (figure.querySelectorAll("path").length === 0) throw new Error();
 * ```
 */
export function plotTrainingCurves(
  curves: TrainingCurves,
  options: TrainingPlotOptions = {},
): Figure {
  const width = checkSize(options.width ?? 360, "width");
  const height = checkSize(options.height ?? 260, "height");
  for (const [name, values] of Object.entries(curves)) {
    (values as StepValue[] | undefined)?.forEach((point, i) => {
      if (!Number.isFinite(point.step) || typeof point.value !== "number") {
        throw new UsageError(`${name}[${i}] is ${JSON.stringify(point)}; need {step, value}`);
      }
    });
  }
  const document = createDocument();
  const cost = trainingPanel(document, "cost", {
    train: curves.trainCost,
    test: curves.testCost,
  }, { width, height, accuracy: false });
  const accuracy = trainingPanel(document, "accuracy", {
    train: curves.trainAccuracy,
    test: curves.testAccuracy,
  }, { width, height, accuracy: true });
  const last = (values?: StepValue[]) => values?.[values.length - 1]?.step ?? 0;
  const steps = Math.max(...Object.values(curves).map(last));
  return finish(
    compose(document, [{ element: cost, x: 0, y: 0 }, { element: accuracy, x: width + 16, y: 0 }]),
    `training curves to step ${steps}`,
  );
}
