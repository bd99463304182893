/**
 * Seeded augmentation of chest X-rays that keeps laterality: small rotations, scalings and
 * shifts, and a gamma change of the contrast, drawn per image. No horizontal flips: on a
 * frontal film the heart lies on the patient's left, and a flipped film is an anatomy no test
 * image has (and the side of a pneumothorax is part of the finding).
 *
 * The contrast change is a gamma curve, not a linear stretch, because the model standardizes
 * every image (mean 0, standard deviation 1) first, which undoes any linear change of the
 * pixel values.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";
import { createRandom, type Random } from "../core/random.ts";
import type { Augmentation } from "./train.ts";

/** Options of {@link createAugmentation}; every range is symmetric around no change. */
export interface AugmentOptions {
  /** Seed of the draws (default 0). */
  seed?: number;
  /** Largest rotation, in degrees (default 7). */
  maxRotation?: number;
  /** Largest shift along each axis, as a fraction of the image side (default 0.06). */
  maxShift?: number;
  /** Largest relative change of scale (default 0.06: 0.94 to 1.06). */
  maxScale?: number;
  /** Largest gamma factor: the gamma lies in [1 / maxGamma, maxGamma] (default 1.3). */
  maxGamma?: number;
}

/** The transforms drawn for one batch, as `tf.image.transform` and the gamma step take them. */
interface Draws {
  /** Per image, the 8 projective coefficients mapping an output pixel to its input pixel. */
  transforms: Float32Array;
  /** Per image, the gamma exponent. */
  gammas: Float32Array;
}

function uniform(random: Random, halfWidth: number): number {
  return (2 * random() - 1) * halfWidth;
}

function requireRange(name: string, value: number, max: number): void {
  if (!(value >= 0 && value <= max)) {
    throw new UsageError(`${name} must be a number in [0, ${max}], got ${value}`);
  }
}

/**
 * The affine maps of `count` images of side `size`: rotation by the angle, scaling and shift,
 * all about the image's centre, written as the inverse map `tf.image.transform` wants.
 */
function drawBatch(random: Random, count: number, size: number, options: Required<AugmentOptions>) {
  const draws: Draws = {
    transforms: new Float32Array(8 * count),
    gammas: new Float32Array(count),
  };
  const centre = (size - 1) / 2;
  for (let i = 0; i < count; i++) {
    const angle = uniform(random, options.maxRotation) * Math.PI / 180;
    const scale = 1 + uniform(random, options.maxScale);
    const [shiftX, shiftY] = [uniform(random, options.maxShift), uniform(random, options.maxShift)]
      .map((fraction) => fraction * size);
    const [cos, sin] = [Math.cos(angle) / scale, Math.sin(angle) / scale];
    draws.transforms.set([
      cos,
      -sin,
      centre - cos * centre + sin * centre + shiftX,
      sin,
      cos,
      centre - sin * centre - cos * centre + shiftY,
      0,
      0,
    ], 8 * i);
    draws.gammas[i] = Math.exp(uniform(random, Math.log(options.maxGamma)));
  }
  return draws;
}

/**
 * An {@link Augmentation} for `train`'s `augment` option: each call draws, per image, a
 * rotation, a scale, a shift (pixels from outside the image repeat the nearest edge) and a
 * gamma, from a generator seeded once, so a run repeats its augmentations.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createAugmentation } from "./augment.ts";
 * await tf.setBackend("cpu");
 * const augment = createAugmentation({ seed: 1 });
 * const images = tf.fill([2, 16, 16, 1], 100) as tf.Tensor4D;
 * const out = augment(images);
 * if (out.shape.join() !== "2,16,16,1") throw new Error(`shape ${out.shape}`);
 * tf.dispose([images, out]);
 * ```
 */
export function createAugmentation(options: AugmentOptions = {}): Augmentation {
  const settings: Required<AugmentOptions> = {
    seed: options.seed ?? 0,
    maxRotation: options.maxRotation ?? 7,
    maxShift: options.maxShift ?? 0.06,
    maxScale: options.maxScale ?? 0.06,
    maxGamma: options.maxGamma ?? 1.3,
  };
  requireRange("maxRotation", settings.maxRotation, 45);
  requireRange("maxShift", settings.maxShift, 0.5);
  requireRange("maxScale", settings.maxScale, 0.5);
  if (!(settings.maxGamma >= 1 && settings.maxGamma <= 3)) {
    throw new UsageError(`maxGamma must be a number in [1, 3], got ${settings.maxGamma}`);
  }
  const random = createRandom(settings.seed);
  return (images) => {
    const [count, size] = images.shape;
    const { transforms, gammas } = drawBatch(random, count, size, settings);
    return tf.tidy(() => {
      // One image per call: the cpu backend's Transform of tfjs 4.22 returns after the first
      // image of a batch and leaves the others at the fill value.
      const moved = tf.concat(
        tf.split(images, count).map((image, i) =>
          tf.image.transform(
            image as tf.Tensor4D,
            tf.tensor2d(transforms.subarray(8 * i, 8 * i + 8), [1, 8]),
            "bilinear",
            "nearest",
          )
        ),
      );
      const unit = tf.clipByValue(tf.div(moved, 255), 0, 1);
      return tf.mul(tf.pow(unit, tf.tensor4d(gammas, [count, 1, 1, 1])), 255) as tf.Tensor4D;
    });
  };
}
