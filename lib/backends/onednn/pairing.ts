/**
 * Convolutions on few channels run as convolutions on pairs of columns, with twice the channels.
 *
 * Why: oneDNN's AVX-512 kernels put 16 channels in a register, so a convolution with 8 (the
 * first block of the lab's width-8 model, the benchmark's smallest) wastes half of every
 * multiply: its 5x5 convolution of 8 channels ran at about 100 GFLOP/s on the benchmark's
 * machine, the same with 16 channels at about 190. No oneDNN setting changes that; this does.
 *
 * How: an NHWC array `[n, h, w, c]` of even width is, byte for byte, the array
 * `[n, h, w / 2, 2c]` whose pixels are pairs of columns (channel `s * c + i` of pair `p` is
 * channel `i` of column `2p + s`). A stride-1 convolution whose filter is `2r + 1` columns wide,
 * padded by `r` columns on each side ("same"), is then exactly a stride-1 convolution of the
 * pairs: output pair `j` needs input columns `2j - r` to `2j + 1 + r`, pairs `j - R` to `j + R`
 * with `R = ceil(r / 2)`, so its filter is `2R + 1` pairs wide, padded by `R`, and holds tap
 * `2kp + s - t + r - 2R` of the original filter from input half `s` to output half `t` (zero where
 * that falls outside the filter). The inputs and outputs are the tensors as tfjs holds them; only
 * the small filter is rearranged, and its gradient folded back (the paired filter is a linear
 * function of the original, so the original's gradient is the transposed map of the paired one's).
 *
 * The paired convolution does `2 (2R + 1) / (2r + 1)` times the multiplies (1.2 for the lab's
 * 5x5 filters, 2 for 3x3 ones, which are never paired), so it is used only where the channels
 * are few enough for the wider registers to win (see {@link pairColumns}).
 *
 * @module
 */

import type { ConvShape } from "./api.ts";

/** Channels (input and output) below which a 5x5 or wider convolution is run on column pairs. */
const FEW_CHANNELS = 16;

/**
 * The convolution on column pairs equal to `shape`, or `undefined` where pairing does not apply
 * (a stride or padding other than "same" at stride 1, an odd width, a filter narrower than 5
 * columns) or would not pay (16 or more input or output channels).
 */
export function pairColumns(shape: ConvShape): ConvShape | undefined {
  const { filterWidth, inWidth, outWidth, padLeft, padRight, strideWidth } = shape;
  const r = (filterWidth - 1) / 2;
  const applies = strideWidth === 1 && Number.isInteger(r) && r >= 2 && padLeft === r &&
    padRight === r && inWidth % 2 === 0 && outWidth === inWidth;
  if (!applies || shape.inChannels >= FEW_CHANNELS || shape.outChannels >= FEW_CHANNELS) return;
  const reach = Math.ceil(r / 2);
  return {
    ...shape,
    inWidth: inWidth / 2,
    outWidth: outWidth / 2,
    inChannels: 2 * shape.inChannels,
    outChannels: 2 * shape.outChannels,
    filterWidth: 2 * reach + 1,
    padLeft: reach,
    padRight: reach,
  };
}

/**
 * Visits each tap of the paired filter that holds a tap of the original: `paired` and `original`
 * are flat indices into `[kh, 2R + 1, 2 in, 2 out]` and `[kh, 2r + 1, in, out]`.
 */
function forEachTap(
  shape: ConvShape,
  paired: ConvShape,
  visit: (paired: number, original: number) => void,
): void {
  const { filterHeight, filterWidth, inChannels, outChannels } = shape;
  const offset = (filterWidth - 1) / 2 - (paired.filterWidth - 1);
  for (let a = 0; a < filterHeight; a++) {
    for (let kp = 0; kp < paired.filterWidth; kp++) {
      for (let s = 0; s < 2; s++) {
        for (let t = 0; t < 2; t++) {
          const b = 2 * kp + s - t + offset;
          if (b < 0 || b >= filterWidth) continue;
          for (let i = 0; i < inChannels; i++) {
            const from = ((a * filterWidth + b) * inChannels + i) * outChannels;
            const to = ((a * paired.filterWidth + kp) * paired.inChannels + s * inChannels + i) *
                paired.outChannels + t * outChannels;
            for (let o = 0; o < outChannels; o++) visit(to + o, from + o);
          }
        }
      }
    }
  }
}

/**
 * The paired filter `[kh, 2R + 1, 2 in, 2 out]` of a filter `[kh, 2r + 1, in, out]`, over an
 * `ArrayBuffer` of its own (oneDNN reads it through a pointer; see binding.ts).
 */
export function pairFilter(
  shape: ConvShape,
  paired: ConvShape,
  filter: Float32Array,
): Float32Array {
  const out = new Float32Array(new ArrayBuffer(4 * filterSize(paired)));
  forEachTap(shape, paired, (to, from) => out[to] = filter[from]);
  return out;
}

/** The bias of the paired convolution: each output pair's halves get the same bias. */
export function pairBias(bias: Float32Array): Float32Array {
  const out = new Float32Array(new ArrayBuffer(8 * bias.length));
  out.set(bias);
  out.set(bias, bias.length);
  return out;
}

/**
 * Folds the gradient of the paired filter back into the original's, `dFilter`
 * (`[kh, 2r + 1, in, out]`): each original tap's gradient is the sum over the paired taps
 * that hold it.
 */
export function unpairFilterGradient(
  shape: ConvShape,
  paired: ConvShape,
  pairedGradient: Float32Array,
  dFilter: Float32Array,
): void {
  dFilter.fill(0);
  forEachTap(shape, paired, (from, to) => dFilter[to] += pairedGradient[from]);
}

/** A scratch array for the paired filter's gradient, over an `ArrayBuffer` of its own. */
export function pairedFilterBuffer(paired: ConvShape): Float32Array {
  return new Float32Array(new ArrayBuffer(4 * filterSize(paired)));
}

function filterSize(shape: ConvShape): number {
  return shape.filterHeight * shape.filterWidth * shape.inChannels * shape.outChannels;
}
