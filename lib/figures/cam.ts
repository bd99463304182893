/**
 * The lab's CAM figures: `visCam` (the lab's `vis_cam`, a figure the Deno kernel shows inline)
 * and `writeCamPng` (the X-ray and its map side by side, for `deno task cam`), with the title
 * line they share. The maps themselves are computed in evaluation/cam.ts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";
import { type GrayImage, grayPixels, type Pixels, writePng } from "../core/png.ts";
import { asGrayImage, type CamImage, resizeMaps } from "../evaluation/cam.ts";
import { PNEUMOTHORAX_CLASS } from "../data/schema.ts";
import { type OverlayOptions, overlayPixels } from "./overlay.ts";
import { type CamPlotOptions, plotCamOverlay } from "./cam_overlay.ts";
import type { Figure, Label } from "./figure.ts";
import { CLASS_NAMES } from "../data/schema.ts";

/** Pixels between the X-ray and the overlay in {@link writeCamPng}'s picture. */
export const PANEL_GAP = 8;

/** `map` as a {@link GrayImage} of `size` (height, width), upsampled bilinearly when smaller or larger. */
function resizedTo(map: GrayImage, size: { width: number; height: number }): GrayImage {
  if (map.width === size.width && map.height === size.height) return map;
  const data = tf.tidy(() => {
    const small = tf.tensor3d(Float32Array.from(map.data), [1, map.height, map.width]);
    return resizeMaps(small, [size.height, size.width]).dataSync();
  });
  return { data, width: size.width, height: size.height };
}

/** What a {@link describePrediction} line says; every field is optional. */
export interface PredictionText {
  /** The true label: 0/1 or a class name. */
  label?: Label;
  /** The predicted label: 0/1 or a class name. */
  prediction?: Label;
  /** The model's probability of pneumothorax, in [0, 1]. */
  probability?: number;
}

/** The class name of a label, checking it is one of the lab's. */
function classNameOf(label: Label, what: string): string {
  if (label === 0 || label === 1) return CLASS_NAMES[label];
  if (label === CLASS_NAMES[0] || label === CLASS_NAMES[1]) return label;
  throw new UsageError(`${what} is ${JSON.stringify(label)}; it must be 0, 1 or a class name`);
}

/**
 * One line with the label, the prediction and the probability of pneumothorax, the text of
 * {@link visCam}'s title and of `deno task cam`.
 *
 * @throws {UsageError} for a label that is not 0, 1 or a class name, or a probability outside [0, 1]
 *
 * @example
 * ```ts
 * import { describePrediction } from "./cam.ts";
 * const line = describePrediction({ label: 1, prediction: 0, probability: 0.25 });
 * if (line !== "label pneumothorax, prediction normal, P(pneumothorax) = 0.250") throw new Error(line);
 * ```
 */
export function describePrediction(text: PredictionText): string {
  const parts: string[] = [];
  if (text.label !== undefined) parts.push(`label ${classNameOf(text.label, "label")}`);
  if (text.prediction !== undefined) {
    parts.push(`prediction ${classNameOf(text.prediction, "prediction")}`);
  }
  if (text.probability !== undefined) {
    const p = text.probability;
    if (!(p >= 0 && p <= 1)) throw new UsageError(`probability is ${p}; it must be in [0, 1]`);
    parts.push(`P(${CLASS_NAMES[PNEUMOTHORAX_CLASS]}) = ${p.toFixed(3)}`);
  }
  return parts.join(", ");
}

/** Options of {@link visCam}: those of {@link plotCamOverlay}, a tensor mask, and the title's parts. */
export interface VisCamOptions extends Omit<CamPlotOptions, "mask">, PredictionText {
  /** A lesion mask of the image's size (non-zero inside), outlined in cyan. Default none. */
  mask?: CamImage;
}

/**
 * The lab's `vis_cam`: the class activation map over its X-ray, as a figure the Deno kernel
 * shows inline (see {@link plotCamOverlay}; save it with `savePlot`). The map is upsampled
 * bilinearly to the X-ray's size when it is smaller (the 16 x 16 `computeCam` output can be
 * passed as is). The title says the map's class (`mapClass`, default {@link PNEUMOTHORAX_CLASS},
 * the class the lab maps; pass 0 for a map of class 0), then `options.title`, or else
 * {@link describePrediction} of the label, prediction and probability given.
 *
 * @param image the X-ray: a tensor of one image (`[1, S, S, 1]` as `getBatch` gives), an array
 * or a {@link GrayImage}
 * @param cam the map, at the map's or the image's resolution
 * @throws {UsageError} when an input is not one image, or an option is out of range
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { visCam } from "./cam.ts";
 * await tf.setBackend("cpu");
 * const image = tf.fill([1, 32, 32, 1], 128);
 * const cam = tf.tensor2d([[0, 1], [2, 3]]);
 * const figure = visCam(image, cam, { label: 1, probability: 0.9 });
 * if (!figure.textContent?.includes("P(pneumothorax) = 0.900")) throw new Error();
 * tf.dispose([image, cam]);
 * ```
 */
export function visCam(image: CamImage, cam: CamImage, options: VisCamOptions = {}): Figure {
  const xray = asGrayImage(image, "image");
  const heat = resizedTo(asGrayImage(cam, "cam"), xray);
  const { label, prediction, probability, mask, title, ...plotOptions } = options;
  const described = describePrediction({ label, prediction, probability });
  return plotCamOverlay(xray, heat, {
    mapClass: PNEUMOTHORAX_CLASS,
    ...plotOptions,
    mask: mask === undefined ? undefined : asGrayImage(mask, "mask"),
    title: title ?? (described === "" ? undefined : described),
  });
}

/**
 * Writes a PNG of the X-ray (gray) and, beside it after {@link PANEL_GAP} white pixels, the
 * map over it (as `overlayPixels` colours it, with the mask outline when given), both at the
 * X-ray's resolution. The map is upsampled to the X-ray's size when smaller. Creates the folder.
 *
 * @throws {UsageError} when `path` does not end in `.png`, an input is not one image, or an
 * option is out of range
 */
export async function writeCamPng(
  path: string,
  image: CamImage,
  cam: CamImage,
  options: CamPngOptions = {},
): Promise<void> {
  const xray = asGrayImage(image, "image");
  const heat = resizedTo(asGrayImage(cam, "cam"), xray);
  const mask = options.mask === undefined ? undefined : asGrayImage(options.mask, "mask");
  const left = grayPixels(xray, options.imageDomain);
  const right = overlayPixels(xray, heat, { ...options, mask });
  await writePng(path, sideBySide(left, right, PANEL_GAP));
}

/** Options of {@link writeCamPng}: those of `overlayPixels`, with a tensor mask allowed. */
export interface CamPngOptions extends Omit<OverlayOptions, "mask"> {
  /** A lesion mask of the image's size (non-zero inside); its outline is drawn. Default none. */
  mask?: CamImage;
}

/** Two pictures of one height as RGB, `gap` white columns between them. */
function sideBySide(left: Pixels, right: Pixels, gap: number): Pixels {
  const height = left.height;
  const width = left.width + gap + right.width;
  const data = new Uint8Array(width * height * 3).fill(255);
  const paste = (pixels: Pixels, x0: number) => {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < pixels.width; x++) {
        const from = (y * pixels.width + x) * pixels.channels;
        const to = (y * width + x0 + x) * 3;
        for (let c = 0; c < 3; c++) {
          data[to + c] = pixels.data[from + (pixels.channels === 1 ? 0 : c)];
        }
      }
    }
  };
  paste(left, 0);
  paste(right, left.width + gap);
  return { data, width, height, channels: 3 };
}
