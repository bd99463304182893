/**
 * Does the class activation map point at the lesion? Scored against the phantoms' lesion
 * masks with the two usual measures:
 *
 * - the **pointing game** (Zhang et al. 2016, "Top-down neural attention by excitation
 *   backprop"): a hit when the map's maximum, after upsampling to the image, lies inside the
 *   mask or within a small tolerance of it. The tolerance is 15 pixels at the lab's 256 x 256
 *   (the pointing game's customary 15 px), scaled with the image side: 3.75 px at 64 x 64;
 * - the **energy inside the mask** (the "energy-based pointing game" of Score-CAM, Wang et al.
 *   2020): the share of the map's positive part that falls inside the mask.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";
import { asGrayImage, type CamImage, computeCamBatch } from "./cam.ts";
import { PNEUMOTHORAX_CLASS } from "../data/schema.ts";
import type { PneumothoraxDataset } from "../data/dataset.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";
import type { GrayImage } from "../core/png.ts";
import { gatherImages, imageAt } from "../data/schema.ts";

/** Pointing-game tolerance in pixels at {@link TOLERANCE_IMAGE_SIZE}. */
export const POINTING_TOLERANCE = 15;
/** Image side at which the tolerance is {@link POINTING_TOLERANCE} pixels (the lab's 256). */
export const TOLERANCE_IMAGE_SIZE = 256;
/** Images per forward pass of {@link localizeDataset} unless told otherwise. */
export const LOCALIZE_BATCH_SIZE = 8;

/** The default tolerance for an image of `width` x `height`: 15 px per 256 px of the longer side. */
export function defaultTolerance(width: number, height: number): number {
  return POINTING_TOLERANCE * Math.max(width, height) / TOLERANCE_IMAGE_SIZE;
}

/** Options of {@link pointingGame}. */
export interface PointingGameOptions {
  /**
   * Largest distance in pixels (between pixel centres) from the map's maximum to the nearest
   * mask pixel that still counts as a hit. Default {@link defaultTolerance} of the image's size.
   */
  tolerance?: number;
}

/** Where a map's maximum lies and whether it hits the mask. */
export interface PointingResult {
  /** Whether the maximum is inside the mask or within the tolerance of it. */
  hit: boolean;
  /** Column of the maximum (the first one in row-major order when tied, as numpy's argmax). */
  x: number;
  /** Row of the maximum. */
  y: number;
}

/** The map and mask as images of one size; the mask must have a pixel inside. */
function mapAndMask(heat: CamImage, mask: CamImage): { map: GrayImage; lesion: GrayImage } {
  const map = asGrayImage(heat, "heat");
  const lesion = asGrayImage(mask, "mask");
  if (lesion.width !== map.width || lesion.height !== map.height) {
    throw new UsageError(
      `mask is ${lesion.width}x${lesion.height} but the map is ${map.width}x${map.height}; ` +
        "upsample the CAM to the image size first",
    );
  }
  if (!hasLesion(lesion.data)) throw new UsageError("mask is empty: no lesion to point at");
  return { map, lesion };
}

/** Whether a mask has a non-zero pixel. */
function hasLesion(mask: ArrayLike<number>): boolean {
  for (let i = 0; i < mask.length; i++) if (mask[i] !== 0) return true;
  return false;
}

/**
 * The pointing game for one map: does its maximum fall on the lesion (within `tolerance`
 * pixels)? The map must be at the mask's resolution (upsample the CAM first).
 *
 * @param heat the map, at the image's size
 * @param mask the lesion mask, non-zero inside
 * @throws {UsageError} when the sizes differ, the mask is empty or the tolerance is negative
 *
 * @example
 * ```ts
 * import { pointingGame } from "./localization.ts";
 * const heat = new Float32Array(64 * 64);
 * heat[10 * 64 + 20] = 1; // the maximum at x = 20, y = 10
 * const mask = new Uint8Array(64 * 64);
 * mask[10 * 64 + 23] = 1; // 3 px away, within 15 * 64 / 256 = 3.75 px
 * if (!pointingGame(heat, mask).hit) throw new Error("a hit within the tolerance");
 * if (pointingGame(heat, mask, { tolerance: 2 }).hit) throw new Error("a miss beyond it");
 * ```
 */
export function pointingGame(
  heat: CamImage,
  mask: CamImage,
  options: PointingGameOptions = {},
): PointingResult {
  const { map, lesion } = mapAndMask(heat, mask);
  const { width, height } = map;
  const tolerance = options.tolerance ?? defaultTolerance(width, height);
  if (!(tolerance >= 0)) throw new UsageError(`tolerance is ${tolerance}; it must be >= 0 pixels`);
  let peak = 0;
  for (let i = 1; i < map.data.length; i++) if (map.data[i] > map.data[peak]) peak = i;
  const x = peak % width, y = Math.floor(peak / width);
  const reach = Math.floor(tolerance);
  let hit = false;
  for (let v = Math.max(0, y - reach); v <= Math.min(height - 1, y + reach) && !hit; v++) {
    for (let u = Math.max(0, x - reach); u <= Math.min(width - 1, x + reach); u++) {
      if (lesion.data[v * width + u] !== 0 && Math.hypot(u - x, v - y) <= tolerance) {
        hit = true;
        break;
      }
    }
  }
  return { hit, x, y };
}

/**
 * The pointing game's chance level for one lesion: the share of the image's pixels within the
 * tolerance of the mask, which is how often a point drawn uniformly over the image would hit it.
 * A map whose peaks hit more often than the mean of this over the lesions points better than
 * chance.
 *
 * @param mask the lesion mask, non-zero inside, square or not (`CamImage`)
 * @throws {UsageError} when the mask is empty
 *
 * @example
 * ```ts
 * import { chancePointing } from "./localization.ts";
 * const mask = { data: Uint8Array.of(0, 0, 0, 1), width: 2, height: 2 };
 * if (chancePointing(mask, { tolerance: 0 }) !== 0.25) throw new Error();
 * if (chancePointing(mask, { tolerance: 1 }) !== 0.75) throw new Error();
 * ```
 */
export function chancePointing(mask: CamImage, options: PointingGameOptions = {}): number {
  const lesion = asGrayImage(mask, "mask");
  if (!hasLesion(lesion.data)) throw new UsageError("mask is empty: no lesion to point at");
  const { width, height } = lesion;
  const tolerance = options.tolerance ?? defaultTolerance(width, height);
  const reach = Math.floor(tolerance);
  const near = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (lesion.data[y * width + x] === 0) continue;
      for (let v = Math.max(0, y - reach); v <= Math.min(height - 1, y + reach); v++) {
        for (let u = Math.max(0, x - reach); u <= Math.min(width - 1, x + reach); u++) {
          if (Math.hypot(u - x, v - y) <= tolerance) near[v * width + u] = 1;
        }
      }
    }
  }
  return near.reduce((sum, v) => sum + v, 0) / near.length;
}

/**
 * The share of the map's positive energy inside the lesion: `sum over the mask of max(map, 0)`
 * divided by `sum over the image of max(map, 0)`, in [0, 1]. A map with no positive value
 * points nowhere and scores 0.
 *
 * @param heat the map, at the image's size
 * @param mask the lesion mask, non-zero inside
 * @throws {UsageError} when the sizes differ or the mask is empty
 *
 * @example
 * ```ts
 * import { energyInside } from "./localization.ts";
 * const share = energyInside([3, 1, -5, 0], [1, 0, 1, 0]);
 * if (share !== 0.75) throw new Error(`${share}`);
 * ```
 */
export function energyInside(heat: CamImage, mask: CamImage): number {
  const { map, lesion } = mapAndMask(heat, mask);
  let inside = 0, total = 0;
  for (let i = 0; i < map.data.length; i++) {
    const energy = Math.max(map.data[i], 0);
    total += energy;
    if (lesion.data[i] !== 0) inside += energy;
  }
  return total > 0 ? inside / total : 0;
}

/** Images with labels and (phantoms) lesion masks: a dataset split, or any arrays of its layout. */
export interface MaskedImages {
  /** Images, `n x S x S`, row-major. */
  images: Uint8Array;
  /** Class per image, 1 = pneumothorax. */
  labels: Uint8Array;
  /** Lesion masks, the images' layout, non-zero inside; absent for real X-rays. */
  masks?: Uint8Array;
  /** Side of the square images. */
  imageSize: number;
}

/** Options of {@link localizeDataset}. */
export interface LocalizeOptions extends PointingGameOptions {
  /** Split to score when given a {@link PneumothoraxDataset}. Default `"test"`. */
  split?: "train" | "test";
  /** Images per forward pass. Default {@link LOCALIZE_BATCH_SIZE} (8); bounds the memory. */
  batchSize?: number;
  /** Class whose map is scored. Default {@link PNEUMOTHORAX_CLASS} (1). */
  classIndex?: number;
  /** Called before the first batch (0 done) and after each batch, with the images scored. */
  onProgress?: (done: number, total: number) => void;
}

/** The localization of one image. */
export interface ImageLocalization {
  /** Index of the image in its split. */
  index: number;
  /** Whether the map's maximum hits the lesion ({@link pointingGame}). */
  hit: boolean;
  /** Column of the map's maximum. */
  x: number;
  /** Row of the map's maximum. */
  y: number;
  /** Share of the positive map inside the mask ({@link energyInside}). */
  energyInside: number;
  /** The model's probability of pneumothorax for the image. */
  probability: number;
}

/** Localization over the positives of a dataset that have a lesion mask. */
export interface LocalizationReport {
  /** Share of the scored images whose map's maximum hits the lesion. */
  pointingGame: number;
  /** The pointing game of a point drawn uniformly over each image: {@link chancePointing}'s mean. */
  chance: number;
  /** Mean over the scored images of the share of positive map energy inside the lesion. */
  energyInside: number;
  /** Images scored: pneumothorax images with a non-empty mask. */
  n: number;
  /** Pneumothorax images left out because their mask is empty. */
  skipped: number;
  /** Tolerance of the pointing game, in pixels. */
  tolerance: number;
  /** Per image, in index order. */
  perImage: ImageLocalization[];
}

function isDataset(data: PneumothoraxDataset | MaskedImages): data is PneumothoraxDataset {
  return "getBatch" in data;
}

/**
 * Scores the class activation maps of every pneumothorax image that has a lesion mask: the
 * pointing game's hit rate and the mean share of map energy inside the lesion, with the
 * per-image results. Maps are computed {@link LocalizeOptions.batchSize} images at a time
 * (one forward pass each, upsampled as `upsample` does), so memory depends on the batch size,
 * not on the number of images. Returns null when the images have no masks (real X-rays) or no
 * pneumothorax image has a non-empty mask.
 *
 * @param dataset a {@link PneumothoraxDataset} (its `options.split`, the test split by default)
 * or one split's arrays
 * @throws {UsageError} when the images are not the model's size or an option is out of range
 */
export async function localizeDataset(
  model: PneumothoraxDetectionModel,
  dataset: PneumothoraxDataset | MaskedImages,
  options: LocalizeOptions = {},
): Promise<LocalizationReport | null> {
  const data: MaskedImages = isDataset(dataset) ? dataset[options.split ?? "test"] : dataset;
  const batchSize = options.batchSize ?? LOCALIZE_BATCH_SIZE;
  requireInteger("batch size", batchSize, { min: 1 });
  const size = data.imageSize;
  if (size !== model.imageSize) {
    throw new UsageError(`images are ${size}x${size} but the model takes ${model.imageSize}`);
  }
  const pixels = size * size;
  if (data.images.length !== data.labels.length * pixels) {
    throw new UsageError(
      `${data.images.length} pixels for ${data.labels.length} labels; expected ` +
        `${data.labels.length}x${size}x${size}`,
    );
  }
  const masks = data.masks;
  if (masks === undefined) return null;
  if (masks.length !== data.images.length) {
    throw new UsageError(`masks hold ${masks.length} pixels but the images ${data.images.length}`);
  }
  const maskOf = (i: number) => imageAt({ images: masks, imageSize: size }, i);
  const positives = Array.from(data.labels.keys()).filter((i) => data.labels[i] === 1);
  const scored = positives.filter((i) => hasLesion(maskOf(i)));
  if (scored.length === 0) return null;
  const tolerance = options.tolerance ?? defaultTolerance(size, size);
  const perImage: ImageLocalization[] = [];
  options.onProgress?.(0, scored.length);
  for (let first = 0; first < scored.length; first += batchSize) {
    const indices = scored.slice(first, first + batchSize);
    const images = gatherImages(data, indices, new Float32Array(indices.length * pixels));
    const batch = tf.tensor4d(images, [indices.length, size, size, 1]);
    const { cams, probabilities } = computeCamBatch(model, batch, {
      classIndex: options.classIndex,
    });
    const [maps, probs] = await Promise.all([cams.data(), probabilities.data()]);
    tf.dispose([batch, cams, probabilities]);
    indices.forEach((index, k) => {
      const heat = { data: maps.subarray(k * pixels, (k + 1) * pixels), width: size, height: size };
      const mask = { data: maskOf(index), width: size, height: size };
      const { hit, x, y } = pointingGame(heat, mask, { tolerance });
      perImage.push({
        index,
        hit,
        x,
        y,
        energyInside: energyInside(heat, mask),
        probability: probs[2 * k + PNEUMOTHORAX_CLASS],
      });
    });
    options.onProgress?.(perImage.length, scored.length);
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return {
    pointingGame: mean(perImage.map((r) => (r.hit ? 1 : 0))),
    chance: mean(
      scored.map((i) =>
        chancePointing({ data: maskOf(i), width: size, height: size }, { tolerance })
      ),
    ),
    energyInside: mean(perImage.map((r) => r.energyInside)),
    n: perImage.length,
    skipped: positives.length - scored.length,
    tolerance,
    perImage,
  };
}

/** The pointing game of a map that ignores the image ({@link priorPointing}). */
export interface PriorPointing {
  /** Column of the fixed point: the pixel most training lesions cover. */
  x: number;
  /** Its row. */
  y: number;
  /** Share of the scored lesions that the fixed point hits (within the tolerance). */
  pointingGame: number;
  /** Lesions scored. */
  n: number;
  /**
   * Per scored lesion, in index order (the order of {@link LocalizationReport.perImage}), whether
   * the fixed point hits it: for a paired comparison with a model's maps.
   */
  hits: boolean[];
}

/**
 * The pointing game of a "map" that ignores the image: it points, on every image of `scored`, at
 * the pixel that the most lesions of `training` cover. Pneumothoraces gather where the pleura
 * lets air collect (the apices, the lateral edges), so this beats a uniformly random point; a
 * model's maps must beat it to show they find the lesion in the film, not where lesions usually
 * are. Images without a lesion are left out of both. Returns null when either holds no lesion.
 *
 * @example
 * ```ts
 * import { priorPointing } from "./localization.ts";
 * // Two 4x4 images a set; a mask lights the pixels it lists.
 * const set = (...masks: number[][]) => ({
 *   images: new Uint8Array(32),
 *   labels: Uint8Array.of(1, 1),
 *   masks: Uint8Array.from(masks.flatMap((on) => Array.from({ length: 16 }, (_, i) => on.includes(i) ? 1 : 0))),
 *   imageSize: 4,
 * });
 * const prior = priorPointing(set([0, 1], [1]), set([1], [15]), { tolerance: 0 })!;
 * if (prior.x !== 1 || prior.y !== 0 || prior.pointingGame !== 0.5) throw new Error();
 * ```
 */
export function priorPointing(
  training: MaskedImages,
  scored: MaskedImages,
  options: PointingGameOptions = {},
): PriorPointing | null {
  const size = training.imageSize;
  if (scored.imageSize !== size) {
    throw new UsageError(`training images are ${size}x${size} but scored ${scored.imageSize}`);
  }
  const lesionsOf = (data: MaskedImages) =>
    data.masks === undefined ? [] : Array.from(data.labels.keys())
      .filter((i) => data.labels[i] === 1)
      .map((i) => imageAt({ images: data.masks!, imageSize: size }, i))
      .filter(hasLesion);
  const [learned, tested] = [lesionsOf(training), lesionsOf(scored)];
  if (learned.length === 0 || tested.length === 0) return null;
  const covered = new Uint32Array(size * size);
  for (const mask of learned) mask.forEach((v, p) => covered[p] += v === 0 ? 0 : 1);
  const heat = { data: covered, width: size, height: size };
  const results = tested.map((mask) =>
    pointingGame(heat, { data: mask, width: size, height: size }, options)
  );
  return {
    x: results[0].x,
    y: results[0].y,
    pointingGame: results.filter((r) => r.hit).length / results.length,
    n: results.length,
    hits: results.map((r) => r.hit),
  };
}
