/**
 * Heat maps over X-rays as pixels: a class activation map coloured with a colour map from
 * `d3-scale-chromatic`, blended over the gray X-ray, with the lesion mask's outline;
 * {@link writeOverlayPng} writes the result for `deno task cam`. The plots in `plot.ts` use the
 * same colouring for their heat layer and colour bar.
 *
 * A CAM is signed: positive where a region raised the class's score, negative where it lowered
 * it, and the map of class 0 is about the negative of the map of class 1. Stretched min-to-max
 * over a sequential map such as inferno, the two would look alike and the sign would be lost.
 * So the default is a diverging map centred on 0 (blue below, red above) whose colour is laid
 * over the X-ray in proportion to the value's size: where the map is near 0 the X-ray shows
 * through, and a class-0 map is blue where the class-1 map is red.
 *
 * @module
 */

import { rgb } from "d3-color";
import {
  interpolateCividis,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateRdBu,
  interpolateTurbo,
  interpolateViridis,
} from "d3-scale-chromatic";
import { UsageError } from "../core/errors.ts";
import {
  type GrayImage,
  grayPixels,
  type Pixels,
  scaleToUnit,
  toGrayImage,
  valueRange,
  writePng,
} from "../core/png.ts";

/**
 * The colour maps of `d3-scale-chromatic` that the overlays offer: sequential ones, and
 * `blue-red`, d3's diverging RdBu reversed (blue low, white in the middle, red high).
 */
export type ColorMapName =
  | "blue-red"
  | "inferno"
  | "magma"
  | "plasma"
  | "viridis"
  | "cividis"
  | "turbo";

/** The colour map of heat overlays unless told otherwise: diverging, centred on 0. */
export const COLOR_MAP: ColorMapName = "blue-red";
/** The opacity of the heat layer unless told otherwise. */
export const HEAT_OPACITY = 0.7;
/** The colour of mask outlines unless told otherwise (cyan, visible over every colour map). */
export const MASK_COLOR: [number, number, number] = [0, 255, 255];

const INTERPOLATORS: Record<ColorMapName, (t: number) => string> = {
  "blue-red": (t) => interpolateRdBu(1 - t),
  inferno: interpolateInferno,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  viridis: interpolateViridis,
  cividis: interpolateCividis,
  turbo: interpolateTurbo,
};

/** The colour maps whose middle means "nothing": centred on 0, laid on by the value's size. */
const DIVERGING: ReadonlySet<ColorMapName> = new Set(["blue-red"]);

/** Whether a colour map is diverging (see the module notes). */
export function isDiverging(name: ColorMapName): boolean {
  return DIVERGING.has(name);
}

/** How a heat map is coloured. */
export interface HeatOptions {
  /** The colour map. Default {@link COLOR_MAP} (`"blue-red"`, diverging). */
  colorMap?: ColorMapName;
  /**
   * Heat values mapped to the colour map's ends. Default {@link heatDomain}: for a diverging
   * map [-m, m] with m the largest absolute value, else the minimum and maximum.
   */
  domain?: [number, number];
  /**
   * Opacity of the heat over the X-ray, in [0, 1]; for a diverging map, of the values at the
   * domain's ends (a value's colour is laid on in proportion to its distance from the middle).
   * Default {@link HEAT_OPACITY} (0.5).
   */
  opacity?: number;
}

/**
 * The values a heat map's colours span unless told otherwise: for a diverging colour map
 * [-m, m] with m the largest absolute value (so 0 is the middle colour; [-1, 1] when all are
 * 0), else the minimum and maximum (widened by 1 when they are equal).
 *
 * @example
 * ```ts
 * import { heatDomain } from "./overlay.ts";
 * const domain = heatDomain([-1, 0, 3], "blue-red");
 * if (domain.join() !== "-3,3") throw new Error(domain.join());
 * ```
 */
export function heatDomain(values: ArrayLike<number>, colorMap: ColorMapName): [number, number] {
  const [low, high] = valueRange(values);
  if (isDiverging(colorMap)) {
    const m = Math.max(Math.abs(low), Math.abs(high));
    return m > 0 ? [-m, m] : [-1, 1];
  }
  return high > low ? [low, high] : [low, low + 1];
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

/** A heat map's colours (RGB, one per value) and how much of each to lay over the X-ray. */
interface HeatLayer {
  rgb: Uint8Array;
  weight: Float64Array;
}

/** Colours the heat over its domain; weights are `opacity`, by distance from 0 if diverging. */
function heatLayer(heat: GrayImage, options: HeatOptions): HeatLayer {
  const colorMap = options.colorMap ?? COLOR_MAP;
  const table = colorTable(colorMap);
  const opacity = checkOpacity(options.opacity ?? HEAT_OPACITY);
  const diverging = isDiverging(colorMap);
  const t = scaleToUnit(heat.data, options.domain ?? heatDomain(heat.data, colorMap));
  const rgb = new Uint8Array(t.length * 3);
  const weight = new Float64Array(t.length);
  for (let i = 0; i < t.length; i++) {
    rgb.set(table.subarray(Math.round(t[i] * 255) * 3, Math.round(t[i] * 255) * 3 + 3), i * 3);
    weight[i] = diverging ? opacity * Math.sqrt(Math.abs(2 * t[i] - 1)) : opacity;
  }
  return { rgb, weight };
}

/**
 * A heat map as RGBA pixels: colour-mapped over its domain, with alpha = `opacity` (for a
 * diverging map, scaled by the value's distance from the middle); the layer that goes over the
 * X-ray.
 *
 * @example
 * ```ts
 * import { heatPixels } from "./overlay.ts";
 * const heat = { data: [0, 1, 2, 3], width: 2, height: 2 };
 * const layer = heatPixels(heat, { colorMap: "inferno", opacity: 1 });
 * // inferno runs from black (low) to pale yellow (high)
 * if (layer.data[0] > 10 || layer.data[12] < 240 || layer.data[3] !== 255) throw new Error();
 * const signed = heatPixels({ data: [-2, 0, 1, 2], width: 2, height: 2 }, { opacity: 1 });
 * // blue-red: -2 is opaque blue, 0 transparent, 2 opaque red
 * if (signed.data[2] < 30 || signed.data[3] !== 255 || signed.data[7] !== 0) throw new Error();
 * if (signed.data[12] < 30 || signed.data[15] !== 255) throw new Error();
 * ```
 */
export function heatPixels(heat: GrayImage, options: HeatOptions = {}): Pixels {
  const { rgb, weight } = heatLayer(heat, options);
  const data = new Uint8Array(weight.length * 4);
  for (let i = 0; i < weight.length; i++) {
    data.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
    data[i * 4 + 3] = Math.round(weight[i] * 255);
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
 * (`(1 - opacity) * gray + opacity * colour`, the opacity scaled by the value's distance from
 * the middle for a diverging map) and the mask outline on top, as RGB pixels.
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
  const { rgb, weight } = heatLayer(heatImage, options);
  const data = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) {
    for (let c = 0; c < 3; c++) {
      data[i * 3 + c] = Math.round((1 - weight[i]) * gray[i] + weight[i] * rgb[i * 3 + c]);
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
