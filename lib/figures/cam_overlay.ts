/**
 * A class activation map over its X-ray as a figure: the heat colour-mapped over the gray X-ray,
 * the lesion mask's outline, a title naming the map's class, and a colour bar.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { type GrayImage, grayPixels, pngDataUrl, toGrayImage } from "../core/png.ts";
import { CLASS_NAMES } from "../data/schema.ts";
import type { Figure, FigureElement, Label } from "./figure.ts";
import {
  COLOR_MAP,
  type ColorMapName,
  heatDomain,
  type HeatOptions,
  heatPixels,
  isDiverging,
  requireSameSize,
} from "./overlay.ts";
import { XRAY_SIZE } from "./xray.ts";
import {
  checkSize,
  className,
  compose,
  createDocument,
  type FigureDocument,
  finish,
  frameOf,
  imageMark,
  imagePlotOptions,
  imageTitle,
  imageTitleLayout,
  imageWidth,
  render,
  sizeOf,
} from "./_plot.ts";

const MASK_OUTLINE = "#00ffff";

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
 * import { plotCamOverlay } from "./cam_overlay.ts";
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
