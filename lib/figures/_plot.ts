/**
 * The machinery the lab's figures share: a fresh document per figure, Plot rendering, panels
 * composed side by side into one `<svg>` (so that every figure saves as one standalone SVG file;
 * Plot's own legends and titles would wrap it in HTML), image frames and marks, wrapped titles,
 * and the lab's colours and margins. Images are raster: PNG `data:` URLs in Plot's `image` mark,
 * inside a Plot with axes.
 *
 * @module
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";
import { UsageError } from "../core/errors.ts";
import type { GrayImage } from "../core/png.ts";
import { CLASS_NAMES } from "../data/schema.ts";
import {
  type Figure,
  type FigureElement,
  JUPYTER_DISPLAY,
  type Label,
  mimeBundle,
} from "./figure.ts";

export const SVG_NS = "http://www.w3.org/2000/svg";
export const CURVE_COLOR = "#1f77b4";
export const MARGIN = { top: 24, right: 12, bottom: 36, left: 44 };

/** The document Plot renders into. */
export interface FigureDocument {
  createElementNS(namespace: string, name: string): FigureElement;
}

/** A fresh linkedom document: figures never share state (notebooks re-run cells). */
export function createDocument(): FigureDocument {
  return (parseHTML("<!DOCTYPE html><html><body></body></html>") as unknown as {
    document: FigureDocument;
  }).document;
}

/** Renders Plot options into `document`. */
export function render(document: FigureDocument, options: Plot.PlotOptions): FigureElement {
  return Plot.plot({ ...options, document } as Plot.PlotOptions) as unknown as FigureElement;
}

/** Makes the root `<svg>` a standalone, displayable figure described by `description`. */
export function finish(svg: FigureElement, description: string): Figure {
  svg.setAttribute("xmlns", SVG_NS);
  svg.setAttribute("style", "background: white; max-width: 100%; height: auto;");
  svg.setAttribute("aria-label", description);
  Object.defineProperty(svg, JUPYTER_DISPLAY, { value: () => mimeBundle(svg) });
  return svg as Figure;
}

/** A panel of a composed figure and where it goes. */
export interface Placed {
  element: FigureElement;
  x: number;
  y: number;
}

/** Width and height attributes of a rendered Plot. */
export function sizeOf(element: FigureElement): { width: number; height: number } {
  return {
    width: Number(element.getAttribute("width")),
    height: Number(element.getAttribute("height")),
  };
}

/**
 * One `<svg>` holding several Plots: each Plot's `<svg>` becomes a translated `<g>` with the
 * same attributes (its class keeps Plot's scoped stylesheet working).
 */
export function compose(document: FigureDocument, panels: Placed[]): FigureElement {
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
export function className(label: Label, what: string): string {
  if (label === 0 || label === 1) return CLASS_NAMES[label];
  if (label === CLASS_NAMES[0] || label === CLASS_NAMES[1]) return label;
  throw new UsageError(`${what} is ${JSON.stringify(label)}; it must be 0, 1 or a class name`);
}

/** Checks a size option and returns it. */
export function checkSize(size: number, what: string): number {
  if (!(Number.isFinite(size) && size >= 16)) {
    throw new UsageError(`${what} is ${size}; it must be a number of pixels >= 16`);
  }
  return size;
}

/** Frame size in pixels of an image whose longer side is `size` pixels. */
export function frameOf(image: GrayImage, size: number): { width: number; height: number } {
  const scale = size / Math.max(image.width, image.height);
  return { width: image.width * scale, height: image.height * scale };
}

/** Plot's `image` mark filling the frame of an image plot with a PNG data URL. */
export function imageMark(src: string, image: GrayImage, frame: { width: number; height: number }) {
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
export function wrapTitle(title: string, width: number): string[] {
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
export interface ImageTitle {
  lines: string[];
  marginTop: number;
  axes: boolean;
}

/**
 * The title of an image plot `width` pixels wide, wrapped to that width. The lines start at
 * the figure's left edge (a long title right-aligned over the frame would run off the left),
 * below the y-axis label that Plot puts at the figure's top left, which keeps its own line.
 */
export function imageTitleLayout(
  title: string | undefined,
  width: number,
  axes: boolean,
): ImageTitle {
  const lines = title === undefined ? [] : wrapTitle(title, width - 4);
  const titleHeight = lines.length * TITLE_LINE;
  if (!axes) return { lines, marginTop: lines.length === 0 ? 2 : titleHeight + 6, axes };
  return { lines, marginTop: MARGIN.top + titleHeight, axes };
}

/** The title mark of an image plot laid out by {@link imageTitleLayout}; null without one. */
export function imageTitle(layout: ImageTitle, marginLeft: number) {
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
export function titleMark(
  title: string,
  marginTop: number,
  align: "left" | "right",
  fill?: string,
) {
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
export function imageMargin(axes: boolean): { right: number; bottom: number; left: number } {
  return axes ? MARGIN : { right: 2, bottom: 2, left: 2 };
}

/** Width in pixels of an image plot of `frame`. */
export function imageWidth(frame: { width: number }, axes: boolean): number {
  const margin = imageMargin(axes);
  return margin.left + frame.width + margin.right;
}

/** Plot options of an image plot: pixel scales with row 0 at the top, frame of the image. */
export function imagePlotOptions(
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
