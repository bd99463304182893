/**
 * What every figure of the lab is: one `<svg>` element (rendered by Observable Plot into a
 * `linkedom` document) that the Deno Jupyter kernel shows inline, because it carries
 * `Symbol.for("Jupyter.display")` answering an `image/svg+xml` bundle, and that
 * {@link savePlot} writes to a standalone `.svg` file.
 *
 * @module
 */
import { dirname } from "node:path";
import { UsageError } from "../core/errors.ts";

/** The key under which Jupyter kernels for JavaScript look for a display method. */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display");

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

/** A label: 0/1 (the lab's class index) or a class name. */
export type Label = number | string;

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
