/**
 * Heat maps over X-rays as pixels: a class activation map coloured with a perceptual colour
 * map from `d3-scale-chromatic`, blended over the gray X-ray, with the lesion mask's outline;
 * {@link writeOverlayPng} writes the result for `deno task cam`. The plots in `plot.ts` use the
 * same colouring for their heat layer and colour bar.
 *
 * @module
 */

import { rgb } from "d3-color";
import {
  interpolateCividis,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateTurbo,
  interpolateViridis,
} from "d3-scale-chromatic";
import { UsageError } from "./errors.ts";
import {
  type GrayImage,
  grayPixels,
  type Pixels,
  scaleToUnit,
  toGrayImage,
  valueRange,
  writePng,
} from "./png.ts";

/** The perceptual colour maps of `d3-scale-chromatic` that the overlays offer. */
export type ColorMapName = "inferno" | "magma" | "plasma" | "viridis" | "cividis" | "turbo";

/** The colour map of heat overlays unless told otherwise. */
export const COLOR_MAP: ColorMapName = "inferno";
/** The opacity of the heat layer unless told otherwise. */
export const HEAT_OPACITY = 0.5;
/** The colour of mask outlines unless told otherwise (cyan, visible over every colour map). */
export const MASK_COLOR: [number, number, number] = [0, 255, 255];

const INTERPOLATORS: Record<ColorMapName, (t: number) => string> = {
  inferno: interpolateInferno,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  viridis: interpolateViridis,
  cividis: interpolateCividis,
  turbo: interpolateTurbo,
};

/** How a heat map is coloured. */
export interface HeatOptions {
  /** The colour map. Default {@link COLOR_MAP} (`"inferno"`). */
  colorMap?: ColorMapName;
  /** Heat values mapped to the colour map's ends. Default: the heat map's minimum and maximum. */
  domain?: [number, number];
  /** Opacity of the heat over the X-ray, in [0, 1]. Default {@link HEAT_OPACITY} (0.5). */
  opacity?: number;
}

/** Options of {@link overlayPixels} and {@link writeOverlayPng}. */
export interface OverlayOptions extends HeatOptions {
  /** A lesion mask of the image's size (non-zero inside); its outline is drawn. */
  mask?: ArrayLike<number> | GrayImage;
  /** RGB colour of the mask outline. Default {@link MASK_COLOR} (cyan). */
  maskColor?: [number, number, number];
  /** X-ray values shown black and white. Default: [0, 255] for bytes, else min and max. */
  imageDomain?: [number, number];
}

/**
 * The d3-scale-chromatic interpolator of a colour map, `t` in [0, 1] to a CSS colour.
 *
 * @throws {UsageError} for a name that is not a {@link ColorMapName}
 */
export function colorInterpolator(name: ColorMapName): (t: number) => string {
  const interpolate = INTERPOLATORS[name];
  if (interpolate === undefined) {
    throw new UsageError(
      `colorMap '${name}' is not one of ${Object.keys(INTERPOLATORS).join(", ")}`,
    );
  }
  return interpolate;
}

/** 256 RGB entries of a colour map, for colouring many pixels without parsing CSS each time. */
export function colorTable(name: ColorMapName): Uint8Array {
  const interpolate = colorInterpolator(name);
  const table = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const { r, g, b } = rgb(interpolate(i / 255));
    table.set([r, g, b], i * 3);
  }
  return table;
}

/** Checks an opacity and returns it. */
function checkOpacity(opacity: number): number {
  if (!(opacity >= 0 && opacity <= 1)) {
    throw new UsageError(`opacity is ${opacity}; it must be in [0, 1]`);
  }
  return opacity;
}

/**
 * A heat map as RGBA pixels: colour-mapped over its domain, with alpha = `opacity`; the layer
 * that goes over the X-ray.
 *
 * @example
 * ```ts
 * import { heatPixels } from "./overlay.ts";
 * const layer = heatPixels({ data: [0, 1, 2, 3], width: 2, height: 2 }, { opacity: 1 });
 * // inferno runs from black (low) to pale yellow (high)
 * if (layer.data[0] > 10 || layer.data[12] < 240 || layer.data[3] !== 255) throw new Error();
 * ```
 */
export function heatPixels(heat: GrayImage, options: HeatOptions = {}): Pixels {
  const table = colorTable(options.colorMap ?? COLOR_MAP);
  const alpha = Math.round(checkOpacity(options.opacity ?? HEAT_OPACITY) * 255);
  const t = scaleToUnit(heat.data, options.domain ?? valueRange(heat.data));
  const data = new Uint8Array(t.length * 4);
  for (let i = 0; i < t.length; i++) {
    const entry = Math.round(t[i] * 255) * 3;
    data.set([table[entry], table[entry + 1], table[entry + 2], alpha], i * 4);
  }
  return { data, width: heat.width, height: heat.height, channels: 4 };
}

/**
 * The pixels on a mask's edge: inside the mask with a 4-neighbour outside it or on the image
 * border. 1 on the outline, 0 elsewhere.
 */
export function maskOutline(mask: GrayImage): Uint8Array {
  const { data, width, height } = mask;
  const outline = new Uint8Array(width * height);
  const inside = (x: number, y: number) =>
    x >= 0 && y >= 0 && x < width && y < height && data[y * width + x] !== 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const edge = !inside(x - 1, y) || !inside(x + 1, y) || !inside(x, y - 1) ||
        !inside(x, y + 1);
      if (inside(x, y) && edge) outline[y * width + x] = 1;
    }
  }
  return outline;
}

/** Throws unless `other` has the size of `image`. */
export function requireSameSize(image: GrayImage, other: GrayImage, what: string): void {
  if (other.width !== image.width || other.height !== image.height) {
    throw new UsageError(
      `${what} is ${other.width}x${other.height} but the image is ${image.width}x${image.height}` +
        (what === "heat" ? "; upsample the CAM to the image size first" : ""),
    );
  }
}

/**
 * The X-ray in gray with the colour-mapped heat blended over it
 * (`(1 - opacity) * gray + opacity * colour`) and the mask outline on top, as RGB pixels.
 *
 * @param image the X-ray: a square array or a {@link GrayImage}
 * @param heat the heat map (a CAM upsampled to the X-ray's size)
 * @throws {UsageError} when the sizes differ or an option is out of range
 */
export function overlayPixels(
  image: ArrayLike<number> | GrayImage,
  heat: ArrayLike<number> | GrayImage,
  options: OverlayOptions = {},
): Pixels {
  const xray = toGrayImage(image, "image");
  const heatImage = toGrayImage(heat, "heat");
  requireSameSize(xray, heatImage, "heat");
  const gray = grayPixels(xray, options.imageDomain).data;
  const layer = heatPixels(heatImage, { ...options, opacity: 1 }).data;
  const opacity = checkOpacity(options.opacity ?? HEAT_OPACITY);
  const data = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    for (let c = 0; c < 3; c++) {
      data[i * 3 + c] = Math.round((1 - opacity) * gray[i] + opacity * layer[i * 4 + c]);
    }
  }
  if (options.mask !== undefined) {
    const mask = toGrayImage(options.mask, "mask");
    requireSameSize(xray, mask, "mask");
    const outline = maskOutline(mask);
    const color = options.maskColor ?? MASK_COLOR;
    outline.forEach((on, i) => {
      if (on) data.set(color, i * 3);
    });
  }
  return { data, width: xray.width, height: xray.height, channels: 3 };
}

/**
 * Writes {@link overlayPixels} to a PNG file (creating its folder), at the X-ray's resolution.
 *
 * @throws {UsageError} as {@link overlayPixels}, or when `path` does not end in `.png`
 */
export async function writeOverlayPng(
  path: string,
  image: ArrayLike<number> | GrayImage,
  heat: ArrayLike<number> | GrayImage,
  options: OverlayOptions = {},
): Promise<void> {
  await writePng(path, overlayPixels(image, heat, options));
}
