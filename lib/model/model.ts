/**
 * The lab's CNN (`models.py` of MIT 6.S191 2018, Lab 2 Part 2), as a TensorFlow.js layers model.
 *
 * ```
 * x (S x S x 1) -> per-image standardization (x_image)
 *   block i = 1..4:  conv_a = relu(conv(in)); conv_b = relu(conv(conv_a));
 *                    skip_i = maxpool2x2(conv_a + conv_b)
 *   filters W, 2W, 4W, 8W; kernels 5x5, 5x5, 3x3, 3x3 (W = 64 in the lab)
 * g_avg_pool = mean of skip4 over height and width   (a mean, not a sum)
 * logits = dense(2)(g_avg_pool); probabilities = softmax(logits)
 * ```
 *
 * Layer names follow the lab's attribute names (`conv1` ... `conv8`, `skip1` ... `skip4`,
 * `g_avg_pool`, `logits` for the lab's `y_`, `probabilities`), so checkpoints and Keras exports
 * read like the original.
 *
 * @module
 */

import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";
import { IMAGE_SIZE, NUM_CLASSES, PNEUMOTHORAX_CLASS } from "../data/schema.ts";

/** Filters of the first block in the lab's model; the blocks have W, 2W, 4W and 8W. */
export const MODEL_WIDTH = 64;
/** Seed of the weight initialisation when none is given. */
export const DEFAULT_SEED = 42;

/** Filter multiplier and kernel size of each of the four blocks, as in the lab. */
const BLOCKS: ReadonlyArray<{ filters: number; kernel: number }> = [
  { filters: 1, kernel: 5 },
  { filters: 2, kernel: 5 },
  { filters: 4, kernel: 3 },
  { filters: 8, kernel: 3 },
];
/** Number of convolution blocks (two convolutions and a max-pool each). */
export const BLOCK_COUNT = BLOCKS.length;
/** Each block halves the side with a 2x2 max-pool. */
const DOWNSAMPLING = 2 ** BLOCKS.length;
/**
 * Standard deviation of the dense kernel at initialisation: small, so that the first logits
 * are near zero (a cost near ln 2) instead of the large values that He-initialised features
 * would give through a Glorot-initialised kernel.
 */
const LOGITS_INIT_STDDEV = 0.01;

/** Options of {@link createModel}. */
export interface ModelOptions {
  /** Filters of the first block (W); the blocks have W, 2W, 4W, 8W. Default 64, the lab's. */
  width?: number;
  /** Side of the square single-channel input, a multiple of 16. Default 256, the lab's. */
  imageSize?: number;
  /** Seed of the kernel initialisation (see {@link createModel}; biases start at zero). Default 42. */
  seed?: number;
}

/** What the lab reads from one forward pass. The caller disposes the tensors. */
export interface ModelOutputs {
  /** Unnormalised class scores `[n, 2]` (the lab's `y_`). */
  logits: tf.Tensor2D;
  /** Softmax of the logits `[n, 2]`; column 1 is the pneumothorax probability. */
  probabilities: tf.Tensor2D;
  /** Final feature maps `[n, S/16, S/16, 8W]` (16 x 16 x 512 for the lab's model). */
  skip4: tf.Tensor4D;
}

/** Arguments of the {@link PerImageStandardization} layer (those of any layer). */
export type PerImageStandardizationArgs = ConstructorParameters<typeof tf.layers.Layer>[0];

/**
 * `tf.image.per_image_standardization` as a layer: each image becomes
 * `(x - mean) / max(std, 1 / sqrt(numPixels))`, with the mean and the (population) standard
 * deviation over all its pixels and channels. It has no weights and no configuration beyond
 * the base layer's (name, dtype), and is registered for serialization, so saved models load back.
 */
export class PerImageStandardization extends tf.layers.Layer {
  /** Name under which the layer is serialized. */
  static className = "PerImageStandardization";

  /** Creates the layer; it has no weights. */
  constructor(args?: PerImageStandardizationArgs) {
    super(args ?? {});
  }

  /** Standardizes each image of the batch `[n, h, w, c]`. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = tf.cast(Array.isArray(inputs) ? inputs[0] : inputs, "float32");
      return standardizeImages(x as tf.Tensor4D);
    });
  }

  /** The output has the input's shape. */
  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    return inputShape;
  }
}
tf.serialization.registerClass(PerImageStandardization);

/**
 * Per-image standardization of a batch `[n, h, w, c]` (tf.image.per_image_standardization).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { standardizeImages } from "./model.ts";
 * await tf.setBackend("cpu");
 * const y = standardizeImages(tf.tensor4d([0, 2, 4, 6], [1, 2, 2, 1]));
 * const mean = y.mean().dataSync()[0];
 * if (Math.abs(mean) > 1e-6) throw new Error("standardized images have mean 0");
 * ```
 */
export function standardizeImages(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const [, height, width, channels] = images.shape;
    const { mean, variance } = tf.moments(images, [1, 2, 3], true);
    const minStd = 1 / Math.sqrt(height * width * channels);
    const std = tf.maximum(tf.sqrt(variance), minStd);
    return tf.div(tf.sub(images, mean), std);
  });
}

/**
 * Builds the lab's model with fresh weights. The convolution kernels start He-normal (the
 * initialisation made for ReLU networks) and the dense kernel near zero, not Glorot-uniform
 * as in the original lab: with Glorot kernels at the lab's learning rate this unnormalised network
 * stayed at chance on the phantoms for a thousand steps, and at lower rates it learned more slowly
 * than with these (see the README).
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createModel } from "./model.ts";
 * await tf.setBackend("cpu");
 * const model = createModel({ width: 2, imageSize: 32, seed: 1 });
 * const { logits, probabilities, skip4 } = model.predictWithFeatures(tf.zeros([1, 32, 32, 1]));
 * if (skip4.shape.join() !== "1,2,2,16") throw new Error(`skip4 is ${skip4.shape}`);
 * tf.dispose([logits, probabilities, skip4]);
 * model.dispose();
 * ```
 */
export function createModel(options: ModelOptions = {}): PneumothoraxDetectionModel {
  const width = options.width ?? MODEL_WIDTH;
  const imageSize = options.imageSize ?? IMAGE_SIZE;
  const seed = options.seed ?? DEFAULT_SEED;
  requireInteger("width", width, { min: 1 });
  requireInteger("imageSize", imageSize, { min: 1 });
  if (imageSize % DOWNSAMPLING !== 0) {
    throw new UsageError(
      `imageSize must be a multiple of ${DOWNSAMPLING} (four 2x2 max-pools), got ${imageSize}`,
    );
  }
  requireInteger("seed", seed);
  return new PneumothoraxDetectionModel(buildNetwork(width, imageSize, seed));
}

/**
 * The lab's `PneumothoraxDetectionModel`: a layers model with input `x` `[n, S, S, 1]` and the
 * outputs `[logits, probabilities, skip4]`, plus the helpers the lab's notebooks use.
 * Built by {@link createModel}, or wrapped around a restored network.
 */
export class PneumothoraxDetectionModel {
  /** The underlying model; outputs, in order: logits, probabilities, skip4. */
  readonly network: tf.LayersModel;
  /** Filters of the first block (W). */
  readonly width: number;
  /** Side of the square input images. */
  readonly imageSize: number;

  /**
   * Wraps a network with the lab's layout (as built by {@link createModel}, or as loaded from a
   * checkpoint). Throws a {@link UsageError} naming what does not match.
   */
  constructor(network: tf.LayersModel) {
    const shape = network.inputs[0]?.shape;
    if (network.inputs.length !== 1 || shape?.length !== 4 || shape[3] !== 1) {
      throw new UsageError(`model input must be [n, S, S, 1], got ${JSON.stringify(shape)}`);
    }
    const names = network.outputs.map((output) => output.sourceLayer.name);
    if (names.join() !== "logits,probabilities,skip4") {
      throw new UsageError(`model outputs must be logits, probabilities, skip4; got ${names}`);
    }
    this.network = network;
    this.imageSize = shape[1] as number;
    this.width = network.getLayer("conv1").getConfig().filters as number;
  }

  /** The logits `[n, 2]` of a batch `[n, S, S, 1]`; differentiable, for training. */
  predictLogits(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.forward(images)[0] as tf.Tensor2D);
  }

  /** The softmax probabilities `[n, 2]` of a batch `[n, S, S, 1]`. */
  predictProbabilities(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.forward(images)[1] as tf.Tensor2D);
  }

  /** Logits, probabilities and the final feature maps `skip4` of a batch, in one pass. */
  predictWithFeatures(images: tf.Tensor4D): ModelOutputs {
    return tf.tidy(() => {
      const [logits, probabilities, skip4] = this.forward(images);
      return {
        logits: logits as tf.Tensor2D,
        probabilities: probabilities as tf.Tensor2D,
        skip4: skip4 as tf.Tensor4D,
      };
    });
  }

  /**
   * The logits `[n, 2]`, probabilities `[n, 2]` and each image's class activation map of class
   * `classIndex` (default pneumothorax) `[n, S/16, S/16]` (`skip4` times that column of the dense
   * kernel, before it is upsampled) from one pass. Differentiable through the kernel itself, so
   * that training can shape the maps (lib/training/lesion_maps.ts).
   *
   * @throws {UsageError} when the class index is not a column of the dense kernel
   */
  predictWithCams(
    images: tf.Tensor4D,
    classIndex = PNEUMOTHORAX_CLASS,
  ): { logits: tf.Tensor2D; probabilities: tf.Tensor2D; cams: tf.Tensor3D } {
    requireInteger("class index", classIndex, { min: 0, max: NUM_CLASSES - 1 });
    return tf.tidy(() => {
      const [logits, probabilities, skip4] = this.forward(images) as [
        tf.Tensor2D,
        tf.Tensor2D,
        tf.Tensor4D,
      ];
      const [n, h, w, c] = skip4.shape;
      const kernel = this.network.getLayer("logits").weights[0].read();
      const column = kernel.slice([0, classIndex], [c, 1]);
      const cams = skip4.reshape([n * h * w, c]).matMul(column).reshape([n, h, w]) as tf.Tensor3D;
      return { logits, probabilities, cams };
    });
  }

  /** A copy of the dense layer's kernel `[8W, 2]` (the CAM weights); the caller disposes it. */
  denseKernel(): tf.Tensor2D {
    return this.network.getLayer("logits").getWeights()[0].clone() as tf.Tensor2D;
  }

  /** The trainable variables (kernels and biases), in layer order. */
  trainableVariables(): tf.Variable[] {
    return this.network.trainableWeights.map((weight) => weight.read() as tf.Variable);
  }

  /** Number of trainable parameters (80,890 at width 8; 5,145,026 at width 64). */
  countParams(): number {
    return this.network.countParams();
  }

  /** Frees the weights. */
  dispose(): void {
    this.network.dispose();
  }

  private forward(images: tf.Tensor4D): tf.Tensor[] {
    const [, height, width, channels] = images.shape;
    if (
      images.rank !== 4 || height !== this.imageSize || width !== this.imageSize || channels !== 1
    ) {
      throw new UsageError(
        `images must be [n, ${this.imageSize}, ${this.imageSize}, 1], got [${images.shape}]`,
      );
    }
    return this.network.apply(images) as tf.Tensor[];
  }
}

/**
 * Makes the convolutions of the first `blocks` blocks not trainable (`conv1` to
 * `conv<2 * blocks>`), so that training updates only the later blocks and the logits: with few
 * images, the early edge and texture filters of a model trained elsewhere are kept. Returns a
 * function that makes them trainable again.
 *
 * @example
 * ```ts
 * import { createModel, freezeBlocks } from "./model.ts";
 * const model = createModel({ width: 1, imageSize: 16 });
 * const thaw = freezeBlocks(model, 1);
 * if (model.trainableVariables().length !== 14) throw new Error("conv1 and conv2 are frozen");
 * thaw();
 * model.dispose();
 * ```
 */
export function freezeBlocks(model: PneumothoraxDetectionModel, blocks: number): () => void {
  requireInteger("blocks to freeze", blocks, { min: 0, max: BLOCK_COUNT });
  const layers = Array.from(
    { length: 2 * blocks },
    (_, i) => model.network.getLayer(`conv${i + 1}`),
  );
  layers.forEach((layer) => layer.trainable = false);
  return () => layers.forEach((layer) => layer.trainable = true);
}

function buildNetwork(width: number, imageSize: number, seed: number): tf.LayersModel {
  const x = tf.input({ shape: [imageSize, imageSize, 1], name: "x" });
  let hidden = new PerImageStandardization({ name: "x_image" }).apply(x) as tf.SymbolicTensor;
  let conv = 0;
  const convolution = (filters: number, kernel: number) => {
    conv += 1;
    return tf.layers.conv2d({
      name: `conv${conv}`,
      filters,
      kernelSize: kernel,
      padding: "same",
      activation: "relu",
      kernelInitializer: tf.initializers.heNormal({ seed: seed + conv }),
      biasInitializer: "zeros",
    });
  };
  BLOCKS.forEach(({ filters, kernel }, index) => {
    const first = convolution(filters * width, kernel).apply(hidden) as tf.SymbolicTensor;
    const second = convolution(filters * width, kernel).apply(first) as tf.SymbolicTensor;
    const sum = tf.layers.add({ name: `sum${index + 1}` }).apply([first, second]);
    hidden = tf.layers.maxPooling2d({ name: `skip${index + 1}`, poolSize: 2, strides: 2 })
      .apply(sum) as tf.SymbolicTensor;
  });
  const skip4 = hidden;
  const pooled = tf.layers.globalAveragePooling2d({ name: "g_avg_pool" }).apply(skip4);
  const logits = tf.layers.dense({
    name: "logits",
    units: NUM_CLASSES,
    kernelInitializer: tf.initializers.randomNormal({
      stddev: LOGITS_INIT_STDDEV,
      seed: seed + conv + 1,
    }),
    biasInitializer: "zeros",
  }).apply(pooled) as tf.SymbolicTensor;
  const probabilities = tf.layers.softmax({ name: "probabilities" }).apply(
    logits,
  ) as tf.SymbolicTensor;
  return tf.model({
    name: "PneumothoraxDetectionModel",
    inputs: x,
    outputs: [logits, probabilities, skip4],
  });
}
