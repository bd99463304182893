/**
 * X-rays as figures: one X-ray with its label, and a grid of X-rays titled with their labels,
 * predictions and probabilities of pneumothorax (red where the prediction is wrong), with the
 * outline of each lesion where a mask is given.
 *
 * @module
 */
import { UsageError } from "../core/errors.ts";
import { type GrayImage, grayPixels, type Pixels, pngDataUrl, toGrayImage } from "../core/png.ts";
import { MASK_COLOR, maskOutline, requireSameSize } from "./overlay.ts";
import { requireInteger } from "../core/validate.ts";
import type { Figure, Label } from "./figure.ts";
import {
  checkSize,
  className,
  compose,
  createDocument,
  finish,
  frameOf,
  imageMark,
  imagePlotOptions,
  imageTitle,
  imageTitleLayout,
  imageWidth,
  type Placed,
  render,
  titleMark,
} from "./_plot.ts";

/** Side, in pixels, of the longer edge of a single X-ray's frame unless told otherwise. */
export const XRAY_SIZE = 256;
/** Side, in pixels, of an X-ray in a grid unless told otherwise. */
export const GRID_CELL_SIZE = 160;
/** Columns of an X-ray grid unless told otherwise. */
export const GRID_COLUMNS = 4;
const WRONG_COLOR = "#d62728";

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
  /** A lesion mask per image (non-zero inside; `undefined` for none), outlined in cyan. */
  masks?: ArrayLike<ArrayLike<number> | GrayImage | undefined>;
  /**
   * A point per image (`undefined` for none), such as where a class activation map peaks, drawn
   * as a red ring of {@link PEAK_RING_RADIUS} pixels: the pointing game's reach at 256x256.
   */
  peaks?: ArrayLike<{ x: number; y: number } | undefined>;
}

/** Radius in image pixels of the ring around a grid's `peaks`. */
export const PEAK_RING_RADIUS = 15;
const PEAK_COLOR: [number, number, number] = [255, 40, 40];

/**
 * One X-ray with its label: a gray PNG in a Plot with pixel axes.
 *
 * @param image the X-ray: a square array (such as one image of the lab's 256x256 files) or a
 * {@link GrayImage}
 *
 * @example
 * ```ts
 * import { plotXray } from "./xray.ts";
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

/**
 * The X-ray's gray pixels as RGB, with the outline of `mask` in {@link MASK_COLOR} and a ring
 * around `peak`, either of them optional.
 */
function markedPixels(
  xray: GrayImage,
  marks: { mask?: ArrayLike<number> | GrayImage; peak?: { x: number; y: number } },
  domain?: [number, number],
): Pixels {
  const gray = grayPixels(xray, domain).data;
  let outline: Uint8Array | undefined;
  if (marks.mask !== undefined) {
    const lesion = toGrayImage(marks.mask, "mask");
    requireSameSize(xray, lesion, "mask");
    outline = maskOutline(lesion);
  }
  const { peak } = marks;
  const data = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    const x = i % xray.width, y = Math.floor(i / xray.width);
    const ring = peak !== undefined &&
      Math.abs(Math.hypot(x - peak.x, y - peak.y) - PEAK_RING_RADIUS) < 1.5;
    if (ring) data.set(PEAK_COLOR, i * 3);
    else if (outline?.[i]) data.set(MASK_COLOR, i * 3);
    else data.fill(gray[i], i * 3, i * 3 + 3);
  }
  return { data, width: xray.width, height: xray.height, channels: 3 };
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
 * pneumothorax; a title is red where the prediction is wrong; a lesion is outlined in cyan where
 * its mask is given, and a point (a map's peak) ringed in red where one is given.
 *
 * @throws {UsageError} when the images are none, or a per-image option has another length
 *
 * @example
 * ```ts
 * import { plotXrayGrid } from "./xray.ts";
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
  checkPerImage(options.masks, n, "masks");
  checkPerImage(options.peaks, n, "peaks");
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
    const marks = { mask: options.masks?.[i], peak: options.peaks?.[i] };
    const pixels = marks.mask === undefined && marks.peak === undefined
      ? grayPixels(xray, options.domain)
      : markedPixels(xray, marks, options.domain);
    const cell = render(document, {
      ...imagePlotOptions(xray, frame, false, marginTop),
      marks: [
        imageMark(pngDataUrl(pixels), xray, frame),
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
