/**
 * Class Activation Maps (Zhou et al. 2016), the lab's section 5, and Grad-CAM. For a model that
 * ends in global average pooling and one dense layer, the class score is
 * `logit_k = mean_xy(fmap) . w[:, k] + b_k`, so the map `CAM_k = fmap (h*w x c) . w[:, k]`
 * shows where the evidence for class k lies. Notebook 05's answers compute one image's map in
 * steps (`extractFeaturesWeights`, `computeCam`, `upsample`: the student's to write, their
 * references in grading/references.ts); the library computes a batch's maps in one pass.
 *
 * @module
 */
import { requireInteger } from "../core/validate.ts";
import * as tf from "@tensorflow/tfjs";
import { UsageError } from "../core/errors.ts";
import type { PneumothoraxDetectionModel } from "../model/model.ts";
import { type GrayImage, toGrayImage } from "../core/png.ts";
import { PNEUMOTHORAX_CLASS } from "../data/schema.ts";

/**
 * What notebook 05's `extractFeaturesWeights` returns: one image's final feature maps and the
 * dense kernel; the caller disposes them.
 */
export interface FeaturesWeights {
  /** `skip4` of the image, `[h, w, c]` (16 x 16 x 512 for the lab's model). */
  fmap: tf.Tensor3D;
  /** The dense layer's kernel, `[c, 2]`. */
  weights: tf.Tensor2D;
  /** The model's probabilities for the image, `[2]`. */
  probabilities: number[];
}

/**
 * Maps `[n, h, w]` resized bilinearly to `size` `[height, width]` (half-pixel centres, as
 * TensorFlow and OpenCV resize images), one resize for the whole batch.
 */
export function resizeMaps(maps: tf.Tensor3D, size: [number, number]): tf.Tensor3D {
  return tf.tidy(() =>
    tf.image.resizeBilinear(maps.expandDims(3) as tf.Tensor4D, size, false, true)
      .squeeze([3]) as tf.Tensor3D
  );
}

/** Layer whose activations {@link gradCam} explains unless told otherwise: the final feature maps. */
export const GRAD_CAM_LAYER = "skip4";

/** An image or map for the CAM helpers: a tensor of one image, a square array or a {@link GrayImage}. */
export type CamImage = tf.Tensor | ArrayLike<number> | GrayImage;

/**
 * A {@link GrayImage} of `value`. A tensor must hold one image: `[h, w]`, `[h, w, 1]` or
 * `[1, h, w, 1]`; its values are read synchronously. `name` goes into the error message.
 *
 * @throws {UsageError} for a tensor of another shape, or an array that is not a square image
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { asGrayImage } from "./cam.ts";
 * const image = asGrayImage(tf.zeros([1, 4, 6, 1]), "image");
 * if (image.width !== 6 || image.height !== 4) throw new Error(`${image.width}x${image.height}`);
 * ```
 */
export function asGrayImage(value: CamImage, name: string): GrayImage {
  if (!(value instanceof tf.Tensor)) return toGrayImage(value, name);
  const shape = value.shape;
  const oneImage = shape.length === 2 ||
    (shape.length === 3 && shape[2] === 1) ||
    (shape.length === 4 && shape[0] === 1 && shape[3] === 1);
  if (!oneImage) {
    throw new UsageError(
      `${name}: a tensor of shape [${shape}] is not one image ([h, w], [h, w, 1] or [1, h, w, 1])`,
    );
  }
  const [height, width] = shape.length === 4 ? shape.slice(1, 3) : shape.slice(0, 2);
  return { data: value.dataSync(), width, height };
}

/** Options of {@link computeCamBatch}. */
export interface CamBatchOptions {
  /** The class whose maps to compute. Default {@link PNEUMOTHORAX_CLASS} (1). */
  classIndex?: number;
  /** Size `[height, width]` to upsample the maps to. Default: the model's image size. */
  size?: [number, number];
}

/** Maps and probabilities of a batch; the caller disposes both tensors. */
export interface CamBatch {
  /** One upsampled map per image, `[n, height, width]`. */
  cams: tf.Tensor3D;
  /** The model's probabilities `[n, 2]`. */
  probabilities: tf.Tensor2D;
}

/**
 * The class activation maps of a batch in one forward pass, upsampled by {@link resizeMaps}:
 * what notebook 05's `computeCam` and `upsample` give for one image, for many at once.
 *
 * @throws {UsageError} when the class index is not a column of the dense kernel, or the images
 * are not the model's size
 */
export function computeCamBatch(
  model: PneumothoraxDetectionModel,
  images: tf.Tensor4D,
  options: CamBatchOptions = {},
): CamBatch {
  const classIndex = options.classIndex ?? PNEUMOTHORAX_CLASS;
  const size = options.size ?? [model.imageSize, model.imageSize];
  return tf.tidy(() => {
    const { probabilities, cams: maps } = model.predictWithCams(images, classIndex);
    return { cams: resizeMaps(maps, size), probabilities };
  });
}

/** Options of {@link gradCam}. */
export interface GradCamOptions {
  /**
   * Name of the layer whose activations `[1, h, w, c]` to explain: `conv1` ... `conv8`,
   * `sum1` ... `sum4`, `skip1` ... `skip4` (or `x_image`). Default {@link GRAD_CAM_LAYER}
   * (`skip4`, where Grad-CAM equals the positive part of CAM divided by h*w).
   */
  layer?: string;
}

/** Names of the layers whose output is a 4-D activation `[n, h, w, c]`, in network order. */
export function convolutionalLayers(model: PneumothoraxDetectionModel): string[] {
  return model.network.layers
    .filter((layer) => !model.network.inputLayers.includes(layer))
    .filter((layer) => (layer.outputShape as number[]).length === 4)
    .map((layer) => layer.name);
}

/** Names of the layers feeding `layer`. */
function inboundNames(layer: tf.layers.Layer): string[] {
  const input = layer.input;
  return (Array.isArray(input) ? input : [input]).map((tensor) => tensor.sourceLayer.name);
}

/**
 * Runs the network eagerly from `known` (layer name to output) to its logits: each layer not
 * in `known` is applied, in network order, to its inputs' values. Returns every layer's value.
 */
function runLayers(network: tf.LayersModel, known: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  const values = new Map(known);
  for (const layer of network.layers) {
    if (values.has(layer.name)) continue;
    const inputs = inboundNames(layer).map((name) => values.get(name)!);
    values.set(layer.name, layer.apply(inputs.length === 1 ? inputs[0] : inputs) as tf.Tensor);
  }
  return values;
}

/**
 * Grad-CAM (Selvaraju et al. 2017) of class `classIndex` at any convolutional layer: with
 * `A` the layer's activations for `image` and `y` the class logit, the channel weights are the
 * spatial means of `dy/dA`, and the map is `ReLU(sum_c weight_c * A_c)`, `[h, w]` at the
 * layer's resolution (upsample it to overlay it). For this global-average-pooled model at
 * `skip4` the gradient is `w[c, k] / (h*w)` everywhere, so Grad-CAM there is
 * `ReLU(CAM) / (h*w)`. The network is run eagerly layer by layer so that `tf.grad` can
 * differentiate the logit with respect to the layer's output (TensorFlow.js layers models
 * cannot be fed an intermediate tensor); the skip connections are followed, with the
 * activations upstream of the layer held fixed.
 *
 * @param image one image, `[S, S, 1]` or `[1, S, S, 1]`
 * @throws {UsageError} for an unknown layer or one whose output is not `[n, h, w, c]`, a class
 * outside the logits, or an image of the wrong shape
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { createModel } from "../model/model.ts";
 * import { gradCam } from "./cam.ts";
 * await tf.setBackend("cpu");
 * const model = createModel({ width: 2, imageSize: 32 });
 * const image = tf.randomUniform([1, 32, 32, 1], 0, 255, "float32", 1);
 * const map = gradCam(model, image as tf.Tensor4D, 1, { layer: "conv6" });
 * if (map.shape.join() !== "8,8") throw new Error(`conv6 map is ${map.shape}`);
 * tf.dispose([image, map]);
 * model.dispose();
 * ```
 */
export function gradCam(
  model: PneumothoraxDetectionModel,
  image: tf.Tensor3D | tf.Tensor4D,
  classIndex: number,
  options: GradCamOptions = {},
): tf.Tensor2D {
  const layerName = options.layer ?? GRAD_CAM_LAYER;
  const layers = convolutionalLayers(model);
  if (!layers.includes(layerName)) {
    throw new UsageError(
      `layer '${layerName}' is not a convolutional layer of the model; one of ${layers.join(", ")}`,
    );
  }
  const network = model.network;
  const logitsName = network.outputs[0].sourceLayer.name;
  const classes = network.outputs[0].shape[1] as number;
  requireInteger("class index", classIndex, { min: 0, max: classes - 1 });
  const size = model.imageSize;
  const oneImage = image.rank === 3 || image.shape[0] === 1;
  if (!oneImage || image.shape.slice(-3).join() !== `${size},${size},1`) {
    throw new UsageError(
      `expected one image [${size}, ${size}, 1] or [1, ${size}, ${size}, 1], got [${image.shape}]`,
    );
  }
  const downstream = layersFrom(network, layerName);
  return tf.tidy(() => {
    const batch = image.reshape([1, size, size, 1]);
    const values = runLayers(network, new Map([[network.inputLayers[0].name, batch]]));
    const activations = values.get(layerName) as tf.Tensor4D;
    const upstream = new Map([...values].filter(([name]) => !downstream.has(name)));
    const classLogit = (a: tf.Tensor) => {
      const known = new Map(upstream).set(layerName, a);
      return runLayers(network, known).get(logitsName)!.slice([0, classIndex], [1, 1]).sum();
    };
    const gradients = tf.grad(classLogit)(activations) as tf.Tensor4D;
    const weights = gradients.mean([0, 1, 2]);
    const [, h, w] = activations.shape;
    return activations.reshape([h, w, -1]).mul(weights).sum(2).relu() as tf.Tensor2D;
  });
}

/** The names of `target` and of every layer computed from it. */
function layersFrom(network: tf.LayersModel, target: string): Set<string> {
  const found = new Set([target]);
  for (const layer of network.layers) {
    if (network.inputLayers.includes(layer)) continue;
    if (inboundNames(layer).some((name) => found.has(name))) found.add(layer.name);
  }
  return found;
}
