/**
 * Floating-point operations of the lab's model, counted from its layer shapes: a multiply-add is
 * two operations; the convolutions and the dense layer are counted, the element-wise work
 * (standardization, bias, ReLU, sums, pooling, softmax) is not (under 1% at every width).
 *
 * - inference: every convolution, `2 H W k^2 C_in C_out`, plus the dense layer, `2 x 8W x 2`.
 * - training step: the forward pass, plus each convolution's filter gradient (as many operations
 *   as its forward pass) and input gradient (likewise, except the first convolution, whose input
 *   is the image and needs none), plus the dense layer's two gradients.
 *
 * @module
 */

/** Filter multiplier and kernel size of each block, as in lib/model/model.ts. */
const BLOCKS = [
  { filters: 1, kernel: 5 },
  { filters: 2, kernel: 5 },
  { filters: 4, kernel: 3 },
  { filters: 8, kernel: 3 },
];

/** Operations per image of one forward pass and of one training step. */
export interface ModelFlops {
  /** Forward pass (inference). */
  infer: number;
  /** Forward pass and both gradients (training). */
  train: number;
}

/** Counts the operations per image of the lab's model at `width` and `imageSize`. */
export function modelFlops(width: number, imageSize: number): ModelFlops {
  let forward = 0;
  let firstConv = 0;
  let channels = 1;
  BLOCKS.forEach(({ filters, kernel }, block) => {
    const side = imageSize / 2 ** block;
    const out = filters * width;
    for (const inChannels of [channels, out]) {
      const conv = 2 * side * side * kernel * kernel * inChannels * out;
      if (forward === 0) firstConv = conv;
      forward += conv;
    }
    channels = out;
  });
  const dense = 2 * channels * 2;
  return { infer: forward + dense, train: 3 * forward - firstConv + 3 * dense };
}
