import assert from "node:assert/strict";
import type { ConvShape } from "../../lib/backends/onednn/mod.ts";
import {
  pairBias,
  pairColumns,
  pairFilter,
  unpairFilterGradient,
} from "../../lib/backends/onednn/pairing.ts";
import { createRandom } from "../../lib/core/random.ts";

/** A stride-1 "same" convolution of `width` columns with a square `kernel`. */
function same(kernel: number, width: number, inChannels: number, outChannels: number): ConvShape {
  const r = (kernel - 1) / 2;
  return {
    batch: 2,
    inHeight: 6,
    inWidth: width,
    inChannels,
    outHeight: 6,
    outWidth: width,
    outChannels,
    filterHeight: kernel,
    filterWidth: kernel,
    strideHeight: 1,
    strideWidth: 1,
    padTop: r,
    padBottom: r,
    padLeft: r,
    padRight: r,
  };
}

Deno.test("pairColumns pairs 5x5 and wider 'same' convolutions of fewer than 16 channels", () => {
  assert.deepEqual(pairColumns(same(5, 256, 8, 8)), {
    ...same(5, 256, 8, 8),
    inWidth: 128,
    outWidth: 128,
    inChannels: 16,
    outChannels: 16,
    filterWidth: 3,
    padLeft: 1,
    padRight: 1,
  });
  assert.equal(pairColumns(same(7, 12, 3, 5))?.filterWidth, 5);
  assert.equal(pairColumns(same(3, 256, 8, 8)), undefined, "3x3: twice the multiplies");
  assert.equal(pairColumns(same(5, 255, 8, 8)), undefined, "odd width");
  assert.equal(pairColumns(same(5, 256, 8, 16)), undefined, "16 output channels");
  assert.equal(pairColumns(same(5, 256, 16, 8)), undefined, "16 input channels");
  assert.equal(pairColumns({ ...same(5, 256, 8, 8), strideWidth: 2 }), undefined, "stride 2");
  assert.equal(pairColumns({ ...same(5, 256, 8, 8), padRight: 1 }), undefined, "not 'same'");
});

Deno.test("the paired filter holds each tap where a column pair meets it; folding back is its transpose", () => {
  const random = createRandom(3);
  for (const shape of [same(5, 8, 2, 3), same(7, 10, 1, 2)]) {
    const paired = pairColumns(shape)!;
    const size = (s: ConvShape) => s.filterHeight * s.filterWidth * s.inChannels * s.outChannels;
    const filter = Float32Array.from({ length: size(shape) }, () => random() - 0.5);
    const gradient = Float32Array.from({ length: size(paired) }, () => random() - 0.5);
    const pairedFilter = pairFilter(shape, paired, filter);
    // Direct check of one tap: input half 1 of pair kp=1 meets output half 0 at tap 2kp+1-0+offset.
    const r = (shape.filterWidth - 1) / 2, reach = (paired.filterWidth - 1) / 2;
    const tap = 2 * 1 + 1 - 0 + r - 2 * reach;
    const { inChannels: ci, outChannels: co } = shape;
    assert.equal(
      pairedFilter[
        ((0 * paired.filterWidth + 1) * paired.inChannels + ci + 0) * paired.outChannels
      ],
      filter[((0 * shape.filterWidth + tap) * ci + 0) * co],
    );
    // <pair(W), G> = <W, unpair(G)>: the fold is the transpose of the pairing.
    const folded = new Float32Array(size(shape));
    unpairFilterGradient(shape, paired, gradient, folded);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * b[i], 0);
    assert.ok(Math.abs(dot(pairedFilter, gradient) - dot(filter, folded)) < 1e-4);
    // Every original tap appears in the paired filter: as many times as output halves reach it.
    const counts = new Float32Array(size(shape));
    unpairFilterGradient(shape, paired, new Float32Array(size(paired)).fill(1), counts);
    assert.ok(counts.every((count) => count >= 1 && count <= 2), `taps seen ${counts}`);
  }
});

Deno.test("pairBias repeats the bias for both columns of a pair", () => {
  assert.deepEqual([...pairBias(new Float32Array([1, 2, 3]))], [1, 2, 3, 1, 2, 3]);
});
