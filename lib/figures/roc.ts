/**
 * The ROC curve as a figure: true-positive against false-positive rate, the chance diagonal,
 * operating points, and a legend with the AUC and its confidence interval.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { UsageError } from "../core/errors.ts";
import type { Roc } from "../evaluation/roc.ts";
import type { Figure } from "./figure.ts";
import {
  checkSize,
  createDocument,
  CURVE_COLOR,
  finish,
  MARGIN,
  render,
  titleMark,
} from "./_plot.ts";

/** Width and height of the ROC plot unless told otherwise. */
export const ROC_SIZE = 400;
const CHANCE_COLOR = "#888888";

/** Options of {@link plotRoc}. */
export interface RocPlotOptions {
  /** A confidence interval of the AUC (as {@link bootstrapAucInterval} returns), for the legend. */
  interval?: { low: number; high: number; level?: number };
  /** Name of the curve in the legend. Default `"model"`. */
  label?: string;
  /** Title above the plot. Default `"ROC curve"`. */
  title?: string;
  /** Points to mark on the curve, such as {@link thresholdForSensitivity} returns. */
  operatingPoints?: { sensitivity: number; specificity: number; threshold: number }[];
  /** Width and height in pixels. Default {@link ROC_SIZE} (400). */
  size?: number;
}

/** The legend text of the ROC curve: its AUC and, when given, the interval. */
function rocLegend(label: string, auroc: number, interval?: RocPlotOptions["interval"]): string {
  const area = `${label}: AUC ${auroc.toFixed(3)}`;
  if (interval === undefined) return area;
  const level = Math.round((interval.level ?? 0.95) * 100);
  return `${area} (${level}% CI ${interval.low.toFixed(3)}-${interval.high.toFixed(3)})`;
}

/** Legend rows drawn inside the frame's lower right: a swatch line and a text each. */
function legendMarks(rows: { text: string; stroke: string; dash?: string }[]) {
  const top = 0.06 + 0.08 * rows.length;
  return [
    Plot.rect([0], { x1: 0.04, x2: 0.99, y1: 0.01, y2: top, fill: "white", fillOpacity: 0.85 }),
    ...rows.map((row, k) => {
      const y = top - 0.06 - 0.08 * k;
      return Plot.line([[0.07, y], [0.14, y]], {
        stroke: row.stroke,
        strokeWidth: 2,
        strokeDasharray: row.dash,
      });
    }),
    Plot.text(rows.map((row, k) => ({ text: row.text, y: top - 0.06 - 0.08 * k })), {
      x: 0.16,
      y: "y",
      text: "text",
      textAnchor: "start",
      fontSize: 11,
    }),
  ];
}

/**
 * The ROC curve (true-positive against false-positive rate, as the lab meant) with the chance
 * diagonal, and a legend holding the AUC and its confidence interval.
 *
 * @param roc the curve and its area, as notebook 04's `computeRoc` returns them
 *
 * @example
 * ```ts
 * import { plotRoc } from "./roc.ts";
 * const figure = plotRoc({ fpr: [0, 0, 0.5, 0.5, 1], tpr: [0, 0.5, 0.5, 1, 1], auroc: 0.75 });
 * if (!figure.textContent?.includes("AUC 0.750")) throw new Error();
 * ```
 */
export function plotRoc(roc: Roc, options: RocPlotOptions = {}): Figure {
  if (roc.fpr.length !== roc.tpr.length || roc.fpr.length < 2) {
    throw new UsageError(
      `plotRoc(): fpr has ${roc.fpr.length} values and tpr ${roc.tpr.length}; need one length >= 2`,
    );
  }
  const size = checkSize(options.size ?? ROC_SIZE, "size");
  const legend = rocLegend(options.label ?? "model", roc.auroc, options.interval);
  const points = Array.from(roc.fpr, (fpr, i) => [fpr, roc.tpr[i]]);
  const marked = (options.operatingPoints ?? []).map((p) => ({
    x: 1 - p.specificity,
    y: p.sensitivity,
    text: `t=${Number(p.threshold.toPrecision(3))}`,
  }));
  const svg = render(createDocument(), {
    width: size,
    height: size,
    marginTop: MARGIN.top,
    marginLeft: MARGIN.left + 6,
    marginBottom: MARGIN.bottom + 4,
    grid: true,
    x: { domain: [0, 1], label: "False-positive rate (1 - specificity)" },
    y: { domain: [0, 1], label: "True-positive rate (sensitivity)" },
    marks: [
      Plot.line([[0, 0], [1, 1]], { stroke: CHANCE_COLOR, strokeDasharray: "4 4" }),
      Plot.areaY(points, { x: "0", y1: 0, y2: "1", fill: CURVE_COLOR, fillOpacity: 0.08 }),
      Plot.line(points, { stroke: CURVE_COLOR, strokeWidth: 2 }),
      Plot.dot(marked, { x: "x", y: "y", fill: CURVE_COLOR, r: 4 }),
      Plot.text(marked, { x: "x", y: "y", text: "text", dx: 6, dy: 8, textAnchor: "start" }),
      ...legendMarks([
        { text: legend, stroke: CURVE_COLOR },
        { text: "chance: AUC 0.5", stroke: CHANCE_COLOR, dash: "4 4" },
      ]),
      titleMark(options.title ?? "ROC curve", MARGIN.top, "right"),
    ],
  });
  return finish(svg, `ROC curve, ${legend}`);
}
