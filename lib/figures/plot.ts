/**
 * The lab's figures with Observable Plot, rendered into a `linkedom` document: an X-ray with
 * its label, a grid of X-rays with labels and predictions, the ROC curve, training curves and
 * CAM overlays. Every function returns one `<svg>` element that the Deno Jupyter kernel shows
 * inline (it carries `Symbol.for("Jupyter.display")`, answering an `image/svg+xml` bundle) and
 * that {@link savePlot} writes to a `.svg` file. Images are raster: PNG `data:` URLs in Plot's
 * `image` mark, inside a Plot with axes.
 *
 * Figures of several panels (the grid, the training curves, an overlay with its colour bar)
 * are separate Plots placed side by side in one `<svg>`, so that every figure saves as one
 * standalone SVG file (Plot's own legends and titles would wrap it in HTML).
 *
 * @module
 */

import { requireInteger } from "../core/validate.ts";
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { dirname } from "node:path";
import { UsageError } from "../core/errors.ts";
import {
  COLOR_MAP,
  type ColorMapName,
  heatDomain,
  type HeatOptions,
  heatPixels,
  isDiverging,
  requireSameSize,
} from "./overlay.ts";
import { type GrayImage, grayPixels, pngDataUrl, toGrayImage } from "../core/png.ts";
import type { Roc } from "../evaluation/roc.ts";
import { CLASS_NAMES } from "../data/schema.ts";

/** The key under which Jupyter kernels for JavaScript look for a display method. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");
/** Side, in pixels, of the longer edge of a single X-ray's frame unless told otherwise. */
export const XRAY_SIZE = 256;
/** Side, in pixels, of an X-ray in a grid unless told otherwise. */
export const GRID_CELL_SIZE = 160;
/** Columns of an X-ray grid unless told otherwise. */
export const GRID_COLUMNS = 4;
/** Width and height of the ROC plot unless told otherwise. */
export const ROC_SIZE = 400;

const SVG_NS = "http://www.w3.org/2000/svg";
const CURVE_COLOR = "#1f77b4";
const TEST_COLOR = "#ff7f0e";
const CHANCE_COLOR = "#888888";
const WRONG_COLOR = "#d62728";
const MASK_OUTLINE = "#00ffff";
const MARGIN = { top: 24, right: 12, bottom: 36, left: 44 };

/** The part of a DOM element that the figures use; linkedom's elements provide it. */
export interface FigureElement {
  /** Tag name, such as `svg` or `image`. */
  readonly tagName: string;
  /** The element serialized, children included. */
  readonly outerHTML: string;
  /** Text of the element and its children. */
  readonly textContent: string | null;
  /** The value of an attribute, or null. */
  getAttribute(name: string): string | null;
  /** Sets an attribute. */
  setAttribute(name: string, value: string): void;
  /** The first descendant matching a CSS selector, or null. */
  querySelector(selector: string): FigureElement | null;
  /** Descendants matching a CSS selector. */
  querySelectorAll(selector: string): ArrayLike<FigureElement> & Iterable<FigureElement>;
  /** Appends a child element and returns it. */
  appendChild(child: FigureElement): FigureElement;
  /** Child nodes, live. */
  readonly childNodes: ArrayLike<FigureElement>;
}

/** A Jupyter mime bundle: mime type to content. */
export type MimeBundle = Record<string, string>;

/** A figure: an `<svg>` element that Jupyter kernels display as `image/svg+xml`. */
export interface Figure extends FigureElement {
  /** The mime bundle the Deno kernel shows (see {@link mimeBundle}). */
  [JUPYTER_DISPLAY](): MimeBundle;
}

/** The document Plot renders into. */
interface FigureDocument {
  createElementNS(namespace: string, name: string): FigureElement;
}

/** A label: 0/1 (the lab's class index) or a class name. */
export type Label = number | string;

/** Options of {@link plotXray}. */
export interface XrayPlotOptions {
  /** The true label, shown in the title. */
  label?: Label;
  /** A title; default: the label's class name, or none. */
  title?: string;
  /** Pixels of the frame's longer side. Default {@link XRAY_SIZE} (256, one pixel per pixel). */
  size?: number;
  /** Draw the pixel axes. Default `true`. */
  axes?: boolean;
  /** Values shown black and white. Default: [0, 255] for bytes, else min and max. */
  domain?: [number, number];
}

/** Options of {@link plotXrayGrid}. */
export interface XrayGridOptions {
  /** True label of each image. */
  labels?: ArrayLike<Label>;
  /** Predicted label of each image (a title turns red when it differs from the label). */
  predictions?: ArrayLike<Label>;
  /** Predicted probability of pneumothorax of each image. */
  probabilities?: ArrayLike<number>;
  /** Images per row. Default {@link GRID_COLUMNS} (4). */
  columns?: number;
  /** Pixels of each image's longer side. Default {@link GRID_CELL_SIZE} (160). */
  size?: number;
  /** Values shown black and white, for every image. Default: per image, as {@link plotXray}. */
  domain?: [number, number];
}

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

/** Options of {@link plotCamOverlay}. */
export interface CamPlotOptions extends HeatOptions {
  /** A lesion mask of the image's size (non-zero inside); its outline is drawn in cyan. */
  mask?: ArrayLike<number> | GrayImage;
  /** Title above the image (wrapped to the figure's width). */
  title?: string;
  /**
   * The class the map is of (0/1 or a class name). The title's first line then says
   * `CAM of class 1 (pneumothorax)`, and a diverging colour bar says which side is for it.
   */
  mapClass?: Label;
  /** Pixels of the frame's longer side. Default {@link XRAY_SIZE} (256). */
  size?: number;
  /** Draw the pixel axes. Default `true`. */
  axes?: boolean;
  /** X-ray values shown black and white. Default: [0, 255] for bytes, else min and max. */
  imageDomain?: [number, number];
  /**
   * Label of the colour bar. Default `"class activation"`; with a diverging colour map and a
   * `mapClass`, `"class activation: < 0 against, > 0 for <class>"`.
   */
  legendLabel?: string;
}

/** A fresh linkedom document: figures never share state (notebooks re-run cells). */
function createDocument(): FigureDocument {
  return (parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
    document: FigureDocument;
  }).document;
}

/** Renders Plot options into `document`. */
function render(document: FigureDocument, options: Plot.PlotOptions): FigureElement {
  return Plot.plot({ ...options, document } as Plot.PlotOptions) as unknown as FigureElement;
}

/**
 * The mime bundle of a figure: `image/svg+xml` (the standalone SVG text) and a `text/plain`
 * description. This is what the Deno kernel shows for a figure returned by a cell or passed
 * to `Deno.jupyter.display`.
 */
export function mimeBundle(figure: FigureElement): MimeBundle {
  return {
    "image/svg+xml": figure.outerHTML,
    "text/plain": figure.getAttribute("aria-label") ?? "figure",
  };
}

/** Makes the root `<svg>` a standalone, displayable figure described by `description`. */
function finish(svg: FigureElement, description: string): Figure {
  svg.setAttribute("xmlns", SVG_NS);
  svg.setAttribute("style", "background: white; max-width: 100%; height: auto;");
  svg.setAttribute("aria-label", description);
  Object.defineProperty(svg, JUPYTER_DISPLAY, { value: () => mimeBundle(svg) });
  return svg as Figure;
}

/** A panel of a composed figure and where it goes. */
interface Placed {
  element: FigureElement;
  x: number;
  y: number;
}

/** Width and height attributes of a rendered Plot. */
function sizeOf(element: FigureElement): { width: number; height: number } {
  return {
    width: Number(element.getAttribute("width")),
    height: Number(element.getAttribute("height")),
  };
}

/**
 * One `<svg>` holding several Plots: each Plot's `<svg>` becomes a translated `<g>` with the
 * same attributes (its class keeps Plot's scoped stylesheet working).
 */
function compose(document: FigureDocument, panels: Placed[]): FigureElement {
  const root = document.createElementNS(SVG_NS, "svg");
  let width = 0, height = 0;
  for (const { element, x, y } of panels) {
    const size = sizeOf(element);
    width = Math.max(width, x + size.width);
    height = Math.max(height, y + size.height);
    const group = document.createElementNS(SVG_NS, "g");
    for (const name of ["class", "fill", "font-family", "font-size", "text-anchor"]) {
      const value = element.getAttribute(name);
      if (value !== null) group.setAttribute(name, value);
    }
    group.setAttribute("transform", `translate(${x},${y})`);
    while (element.childNodes.length > 0) group.appendChild(element.childNodes[0]);
    root.appendChild(group);
  }
  root.setAttribute("width", String(width));
  root.setAttribute("height", String(height));
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return root;
}

/** The class name of a label, checking it is one of the lab's. */
function className(label: Label, what: string): string {
  if (label === 0 || label === 1) return CLASS_NAMES[label];
  if (label === CLASS_NAMES[0] || label === CLASS_NAMES[1]) return label;
  throw new UsageError(`${what} is ${JSON.stringify(label)}; it must be 0, 1 or a class name`);
}

/** Checks a size option and returns it. */
function checkSize(size: number, what: string): number {
  if (!(Number.isFinite(size) && size >= 16)) {
    throw new UsageError(`${what} is ${size}; it must be a number of pixels >= 16`);
  }
  return size;
}

/** Frame size in pixels of an image whose longer side is `size` pixels. */
function frameOf(image: GrayImage, size: number): { width: number; height: number } {
  const scale = size / Math.max(image.width, image.height);
  return { width: image.width * scale, height: image.height * scale };
}

/** Plot's `image` mark filling the frame of an image plot with a PNG data URL. */
function imageMark(src: string, image: GrayImage, frame: { width: number; height: number }) {
  return Plot.image([src], {
    src: (d: string) => d,
    x: image.width / 2,
    y: image.height / 2,
    width: frame.width,
    height: frame.height,
    preserveAspectRatio: "none",
    imageRendering: "pixelated",
  });
}

/** Height of one title line, in pixels. */
const TITLE_LINE = 14;
/**
 * Width of one character of a bold title at Plot's 10 px font, in pixels: a little above the
 * widest average of common sans-serif fonts, so that wrapped lines fit the figure.
 */
const TITLE_CHAR = 6.4;

/**
 * `title` in lines that fit `width` pixels: split on "\n", then wrapped between words. A
 * wrapped line keeps its trailing space, so the figure's text reads as the title does.
 */
function wrapTitle(title: string, width: number): string[] {
  const fits = Math.max(8, Math.floor(width / TITLE_CHAR));
  return title.split("\n").flatMap((paragraph) => {
    const lines: string[] = [];
    let line = "";
    for (const word of paragraph.split(/(?<= )/)) {
      if (line !== "" && (line + word).trimEnd().length > fits) {
        lines.push(line);
        line = "";
      }
      line += word;
    }
    return [...lines, line];
  });
}

/** Where an image plot's title goes: its lines, and the top margin that holds them. */
interface ImageTitle {
  lines: string[];
  marginTop: number;
  axes: boolean;
}

/**
 * The title of an image plot `width` pixels wide, wrapped to that width. The lines start at
 * the figure's left edge (a long title right-aligned over the frame would run off the left),
 * below the y-axis label that Plot puts at the figure's top left, which keeps its own line.
 */
function imageTitleLayout(title: string | undefined, width: number, axes: boolean): ImageTitle {
  const lines = title === undefined ? [] : wrapTitle(title, width - 4);
  const titleHeight = lines.length * TITLE_LINE;
  if (!axes) return { lines, marginTop: lines.length === 0 ? 2 : titleHeight + 6, axes };
  return { lines, marginTop: MARGIN.top + titleHeight, axes };
}

/** The title mark of an image plot laid out by {@link imageTitleLayout}; null without one. */
function imageTitle(layout: ImageTitle, marginLeft: number) {
  if (layout.lines.length === 0) return null;
  return Plot.text([layout.lines.join("\n")], {
    text: (d: string) => d,
    frameAnchor: "top-left",
    textAnchor: "start",
    lineAnchor: "top",
    lineHeight: TITLE_LINE / 10,
    dx: 2 - marginLeft,
    dy: (layout.axes ? TITLE_LINE + 2 : 2) - layout.marginTop,
    fontWeight: "bold",
  });
}

/**
 * A title at the top of a plot whose top margin is `marginTop`; lines split on "\n". Plots
 * with axes align it right, clear of the y-axis label that Plot puts at the top left.
 */
function titleMark(title: string, marginTop: number, align: "left" | "right", fill?: string) {
  return Plot.text([title], {
    text: (d: string) => d,
    frameAnchor: align === "left" ? "top-left" : "top-right",
    textAnchor: align === "left" ? "start" : "end",
    lineAnchor: "top",
    dy: 2 - marginTop,
    fill,
    fontWeight: "bold",
  });
}

/** Margins of an image plot other than the top one. */
function imageMargin(axes: boolean): { right: number; bottom: number; left: number } {
  return axes ? MARGIN : { right: 2, bottom: 2, left: 2 };
}

/** Width in pixels of an image plot of `frame`. */
function imageWidth(frame: { width: number }, axes: boolean): number {
  const margin = imageMargin(axes);
  return margin.left + frame.width + margin.right;
}

/** Plot options of an image plot: pixel scales with row 0 at the top, frame of the image. */
function imagePlotOptions(
  image: GrayImage,
  frame: { width: number; height: number },
  axes: boolean,
  marginTop: number,
): Plot.PlotOptions {
  const margin = imageMargin(axes);
  return {
    width: margin.left + frame.width + margin.right,
    height: marginTop + frame.height + margin.bottom,
    marginTop,
    marginRight: margin.right,
    marginBottom: margin.bottom,
    marginLeft: margin.left,
    x: { domain: [0, image.width], axis: axes ? "bottom" : null, label: "x (pixels)" },
    y: {
      domain: [0, image.height],
      reverse: true,
      axis: axes ? "left" : null,
      label: "y (pixels)",
    },
  };
}

/**
 * One X-ray with its label: a gray PNG in a Plot with pixel axes.
 *
 * @param image the X-ray: a square array (such as one image of the lab's 256x256 files) or a
 * {@link GrayImage}
 *
 * @example
 * ```ts
 * import { plotXray } from "./plot.ts";
 * const figure = plotXray(new Uint8Array(64 * 64).fill(128), { label: 1 });
 * if (!figure.outerHTML.includes("data:image/png;base64,")) throw new Error();
 * if (!figure.textContent?.includes("pneumothorax")) throw new Error();
 * ```
 */
export function plotXray(
  image: ArrayLike<number> | GrayImage,
  options: XrayPlotOptions = {},
): Figure {
  const xray = toGrayImage(image, "image");
  const frame = frameOf(xray, checkSize(options.size ?? XRAY_SIZE, "size"));
  const title = options.title ??
    (options.label === undefined ? undefined : className(options.label, "label"));
  const axes = options.axes ?? true;
  const layout = imageTitleLayout(title, imageWidth(frame, axes), axes);
  const plotOptions = imagePlotOptions(xray, frame, axes, layout.marginTop);
  const document = createDocument();
  const svg = render(document, {
    ...plotOptions,
    marks: [
      imageMark(pngDataUrl(grayPixels(xray, options.domain)), xray, frame),
      imageTitle(layout, Number(plotOptions.marginLeft)),
    ],
  });
  return finish(svg, `X-ray ${xray.width}x${xray.height}${title ? `: ${title}` : ""}`);
}

/** Checks that an optional per-image array has one entry per image. */
function checkPerImage(values: ArrayLike<unknown> | undefined, n: number, what: string): void {
  if (values !== undefined && values.length !== n) {
    throw new UsageError(`${what} has ${values.length} entries for ${n} images`);
  }
}

/** The title of grid cell `i` and whether its prediction is wrong. */
function gridTitle(i: number, options: XrayGridOptions): { text: string; wrong: boolean } {
  const { labels, predictions, probabilities } = options;
  const label = labels === undefined ? undefined : className(labels[i], `labels[${i}]`);
  const predicted = predictions === undefined
    ? undefined
    : className(predictions[i], `predictions[${i}]`);
  const lines = [label === undefined ? `#${i}` : `#${i} ${label}`];
  const prediction = [
    ...(predicted === undefined ? [] : [predicted]),
    ...(probabilities === undefined ? [] : [`p=${probabilities[i].toFixed(2)}`]),
  ];
  if (prediction.length > 0) lines.push(`pred ${prediction.join(" ")}`);
  const wrong = label !== undefined && predicted !== undefined && label !== predicted;
  return { text: lines.join("\n"), wrong };
}

/**
 * A grid of X-rays, each titled with its index, label, prediction and probability of
 * pneumothorax; a title is red where the prediction is wrong.
 *
 * @throws {UsageError} when the images are none, or a per-image option has another length
 *
 * @example
 * ```ts
 * import { plotXrayGrid } from "./plot.ts";
 * const images = [new Uint8Array(32 * 32), new Uint8Array(32 * 32).fill(255)];
 * const figure = plotXrayGrid(images, { labels: [0, 1], predictions: [0, 0], probabilities: [0.1, 0.4] });
 * if (figure.querySelectorAll("image").length !== 2) throw new Error();
 * ```
 */
export function plotXrayGrid(
  images: ArrayLike<ArrayLike<number> | GrayImage>,
  options: XrayGridOptions = {},
): Figure {
  const n = images.length;
  if (n === 0) throw new UsageError("plotXrayGrid(): no images");
  checkPerImage(options.labels, n, "labels");
  checkPerImage(options.predictions, n, "predictions");
  checkPerImage(options.probabilities, n, "probabilities");
  const columns = options.columns ?? GRID_COLUMNS;
  requireInteger("columns", columns, { min: 1 });
  const size = checkSize(options.size ?? GRID_CELL_SIZE, "size");
  const twoLines = options.predictions !== undefined || options.probabilities !== undefined;
  const marginTop = twoLines ? 28 : 16;
  const document = createDocument();
  const panels: Placed[] = [];
  for (let i = 0; i < n; i++) {
    const xray = toGrayImage(images[i], `images[${i}]`);
    const frame = frameOf(xray, size);
    const title = gridTitle(i, options);
    const cell = render(document, {
      ...imagePlotOptions(xray, frame, false, marginTop),
      marks: [
        imageMark(pngDataUrl(grayPixels(xray, options.domain)), xray, frame),
        titleMark(title.text, marginTop, "left", title.wrong ? WRONG_COLOR : undefined),
      ],
    });
    const step = size + 8;
    panels.push({
      element: cell,
      x: (i % columns) * step,
      y: Math.floor(i / columns) * (step + marginTop),
    });
  }
  return finish(compose(document, panels), `grid of ${n} X-rays`);
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
 * @param roc the curve and AUC, as {@link computeRoc} returns
 *
 * @example
 * ```ts
 * import { computeRoc } from "../evaluation/roc.ts";
 * import { plotRoc } from "./plot.ts";
 * const figure = plotRoc(computeRoc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]));
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
 * import { plotTrainingCurves } from "./plot.ts";
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

/** The outline of a mask (non-zero inside) as a contour at 0.5 over the image's pixel grid. */
function maskContour(mask: GrayImage) {
  return Plot.contour(Float64Array.from(mask.data, (v) => v !== 0 ? 1 : 0), {
    width: mask.width,
    height: mask.height,
    x1: 0,
    y1: 0,
    x2: mask.width,
    y2: mask.height,
    thresholds: [0.5],
    stroke: MASK_OUTLINE,
    strokeWidth: 1.5,
    fill: "none",
  });
}

/** A horizontal colour bar: the colour map as a PNG over an axis of heat values. */
function colorBar(
  document: FigureDocument,
  colorMap: ColorMapName,
  domain: [number, number],
  layout: { width: number; marginLeft: number; marginRight: number; label: string },
): FigureElement {
  const ramp = heatPixels({
    data: Float32Array.from({ length: 256 }, (_, i) => i),
    width: 256,
    height: 1,
  }, {
    colorMap,
    domain: [0, 255],
    opacity: 1,
  });
  return render(document, {
    width: layout.width,
    height: 52,
    marginTop: 6,
    marginBottom: 34,
    marginLeft: layout.marginLeft,
    marginRight: layout.marginRight,
    x: { domain, label: layout.label },
    marks: [
      Plot.image([pngDataUrl(ramp)], {
        src: (d: string) => d,
        x: (domain[0] + domain[1]) / 2,
        frameAnchor: "middle",
        width: layout.width - layout.marginLeft - layout.marginRight,
        height: 12,
        preserveAspectRatio: "none",
      }),
    ],
  });
}

/**
 * A class activation map over its X-ray: the gray X-ray, the heat colour-mapped (by default
 * `blue-red`, centred on 0 and laid on by the value's size, so the map's sign shows; see
 * `overlay.ts`) at `opacity`, the lesion mask's outline in cyan when given, a title naming the
 * map's class, and a colour bar of the heat values below.
 *
 * @param image the X-ray: a square array or a {@link GrayImage}
 * @param heat the heat map at the X-ray's size (upsample the CAM first)
 * @throws {UsageError} when the sizes differ or an option is out of range
 *
 * @example
 * ```ts
 * import { plotCamOverlay } from "./plot.ts";
 * const heat = Float32Array.from({ length: 32 * 32 }, (_, i) => (i % 32) - 16);
 * const mask = Uint8Array.from({ length: 32 * 32 }, (_, i) => i % 32 > 20 ? 1 : 0);
 * const figure = plotCamOverlay(new Uint8Array(32 * 32), heat, { mask, mapClass: 1 });
 * if (figure.querySelectorAll("image").length !== 3) throw new Error("X-ray, heat, colour bar");
 * if (!figure.textContent?.includes("CAM of class 1 (pneumothorax)")) throw new Error();
 * ```
 */
export function plotCamOverlay(
  image: ArrayLike<number> | GrayImage,
  heat: ArrayLike<number> | GrayImage,
  options: CamPlotOptions = {},
): Figure {
  const xray = toGrayImage(image, "image");
  const heatImage = toGrayImage(heat, "heat");
  requireSameSize(xray, heatImage, "heat");
  const mask = options.mask === undefined ? undefined : toGrayImage(options.mask, "mask");
  if (mask !== undefined) requireSameSize(xray, mask, "mask");
  const colorMap = options.colorMap ?? COLOR_MAP;
  const domain = options.domain ?? heatDomain(heatImage.data, colorMap);
  const frame = frameOf(xray, checkSize(options.size ?? XRAY_SIZE, "size"));
  const axes = options.axes ?? true;
  const mapClass = options.mapClass === undefined
    ? undefined
    : className(options.mapClass, "mapClass");
  const classLine = mapClass === undefined
    ? undefined
    : `CAM of class ${(CLASS_NAMES as readonly string[]).indexOf(mapClass)} (${mapClass})`;
  const title = [classLine, options.title].filter((line) => line !== undefined).join("\n");
  const layout = imageTitleLayout(title === "" ? undefined : title, imageWidth(frame, axes), axes);
  const plotOptions = imagePlotOptions(xray, frame, axes, layout.marginTop);
  const document = createDocument();
  const main = render(document, {
    ...plotOptions,
    marks: [
      imageMark(pngDataUrl(grayPixels(xray, options.imageDomain)), xray, frame),
      imageMark(
        pngDataUrl(heatPixels(heatImage, { colorMap, domain, opacity: options.opacity })),
        xray,
        frame,
      ),
      mask === undefined ? null : maskContour(mask),
      imageTitle(layout, Number(plotOptions.marginLeft)),
    ],
  });
  const signed = isDiverging(colorMap) && mapClass !== undefined;
  const bar = colorBar(document, colorMap, domain, {
    width: Number(plotOptions.width),
    marginLeft: Number(plotOptions.marginLeft),
    marginRight: Number(plotOptions.marginRight),
    label: options.legendLabel ??
      (signed ? `class activation: < 0 against, > 0 for ${mapClass}` : "class activation"),
  });
  const [low, high] = domain.map((v) => Number(v.toPrecision(3)));
  const described = `CAM overlay (${colorMap}, ${low} to ${high})` +
    (mask === undefined ? "" : " with the mask outline");
  return finish(
    compose(document, [{ element: main, x: 0, y: 0 }, {
      element: bar,
      x: 0,
      y: sizeOf(main).height,
    }]),
    title === "" ? described : `${title.replaceAll("\n", ": ")}: ${described}`,
  );
}

/**
 * Writes a figure to a standalone `.svg` file (creating its folder); open it in a browser or
 * put it in a README.
 *
 * @throws {UsageError} when `path` does not end in `.svg`
 */
export async function savePlot(figure: Figure, path: string): Promise<void> {
  if (!path.toLowerCase().endsWith(".svg")) {
    throw new UsageError(
      `savePlot(): '${path}' does not end in .svg (for a PNG overlay use writeOverlayPng)`,
    );
  }
  const svg = mimeBundle(figure)["image/svg+xml"];
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeTextFile(path, `<?xml version="1.0" encoding="UTF-8"?>\n${svg}\n`);
}
