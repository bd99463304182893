import assert from "node:assert/strict";
import { decode } from "fast-png";
import { interpolateInferno, interpolateTurbo } from "d3-scale-chromatic";
import { rgb } from "d3-color";
import {
  COLOR_MAP,
  colorInterpolator,
  type ColorMapName,
  colorTable,
  HEAT_OPACITY,
  heatDomain,
  heatPixels,
  isDiverging,
  MASK_COLOR,
  maskOutline,
  overlayPixels,
  writeOverlayPng,
} from "../../lib/figures/overlay.ts";

/** The RGB bytes of a CSS colour. */
function bytes(css: string): number[] {
  const { r, g, b } = rgb(css);
  return [r, g, b];
}

/** A `side x side` image with a filled square of `value` from `start` to `end` (exclusive). */
function square(side: number, start: number, end: number, value = 1): Uint8Array {
  return Uint8Array.from({ length: side * side }, (_, i) => {
    const x = i % side, y = Math.floor(i / side);
    return x >= start && x < end && y >= start && y < end ? value : 0;
  });
}

Deno.test("colorTable() samples d3-scale-chromatic's interpolators at 256 points", () => {
  const inferno = colorTable("inferno");
  assert.deepEqual(Array.from(inferno.subarray(0, 3)), bytes(interpolateInferno(0)));
  assert.deepEqual(Array.from(inferno.subarray(765, 768)), bytes(interpolateInferno(1)));
  const turbo = colorTable("turbo");
  assert.deepEqual(
    Array.from(turbo.subarray(128 * 3, 129 * 3)),
    bytes(interpolateTurbo(128 / 255)),
  );
  assert.throws(() => colorInterpolator("jet" as ColorMapName), /colorMap 'jet' is not one of/);
});

Deno.test("heatPixels() with a sequential map colours the minimum and maximum with its ends, at the opacity", () => {
  const heat = { data: Float32Array.of(-2, 0, 2, 6), width: 2, height: 2 };
  const layer = heatPixels(heat, { colorMap: "inferno", opacity: 0.5 });
  const table = colorTable("inferno");
  assert.equal(layer.channels, 4);
  assert.deepEqual(Array.from(layer.data.subarray(0, 4)), [...table.subarray(0, 3), 128]);
  assert.deepEqual(Array.from(layer.data.subarray(12, 16)), [...table.subarray(765), 128]);
  const clamped = heatPixels(heat, { colorMap: "inferno", domain: [0, 2], opacity: 1 });
  assert.deepEqual(Array.from(clamped.data.subarray(0, 3)), Array.from(table.subarray(0, 3)));
  assert.deepEqual(Array.from(clamped.data.subarray(12, 15)), Array.from(table.subarray(765)));
  assert.throws(() => heatPixels(heat, { opacity: 1.5 }), /opacity is 1.5/);
});

Deno.test("heatPixels() by default centres the colours on 0: a map is red where its negative is blue, clear at 0", () => {
  assert.equal(COLOR_MAP, "blue-red");
  assert.ok(isDiverging(COLOR_MAP) && !isDiverging("inferno"));
  const cam = { data: Float32Array.of(-1, 0, 2, 4), width: 2, height: 2 };
  const negated = { ...cam, data: cam.data.map((v) => -v) };
  assert.deepEqual(heatDomain(cam.data, COLOR_MAP), [-4, 4], "symmetric about 0");
  assert.deepEqual(heatDomain(new Float32Array(4), COLOR_MAP), [-1, 1]);
  assert.deepEqual(heatDomain(cam.data, "inferno"), [-1, 4]);
  const layer = heatPixels(cam, { opacity: 1 });
  const opposite = heatPixels(negated, { opacity: 1 });
  const rgba = (pixels: { data: Uint8Array }, i: number) =>
    Array.from(pixels.data.subarray(i * 4, i * 4 + 4));
  const [red, green, blue, alpha] = rgba(layer, 3);
  assert.ok(
    red > 100 && red > 3 * blue && red > 3 * green,
    `the maximum is red: ${rgba(layer, 3)}`,
  );
  assert.equal(alpha, 255, "the domain's end is laid on at the full opacity");
  const [oRed, , oBlue, oAlpha] = rgba(opposite, 3);
  assert.ok(oBlue > 3 * oRed, `its negative is blue: ${rgba(opposite, 3)}`);
  assert.equal(oAlpha, 255);
  assert.equal(rgba(layer, 1)[3], 0, "0 is transparent: the X-ray shows through");
  assert.equal(rgba(layer, 2)[3], Math.round(Math.sqrt(0.5) * 255), "half the maximum");
  const image = new Uint8Array(4).fill(120);
  const over = overlayPixels(image, cam, { opacity: 0.5 });
  assert.deepEqual(
    Array.from(over.data.subarray(3, 6)),
    [120, 120, 120],
    "gray where the map is 0",
  );
  assert.equal(HEAT_OPACITY, 0.7);
});

Deno.test("maskOutline() marks the inside pixels that touch the outside", () => {
  const outline = maskOutline({ data: square(8, 2, 6), width: 8, height: 8 });
  assert.equal(outline.reduce((a, b) => a + b, 0), 12, "the ring of a 4x4 square");
  assert.equal(outline[3 * 8 + 3], 0, "interior");
  assert.equal(outline[2 * 8 + 2], 1, "corner");
  const full = maskOutline({ data: new Uint8Array(9).fill(1), width: 3, height: 3 });
  assert.deepEqual(Array.from(full), [1, 1, 1, 1, 0, 1, 1, 1, 1], "the image border is an edge");
});

Deno.test("overlayPixels() blends gray and colour by the opacity and draws the mask outline", () => {
  const image = Uint8Array.from({ length: 64 }, (_, i) => i * 4);
  const heat = Float32Array.from({ length: 64 }, (_, i) => i % 8);
  const plain = overlayPixels(image, heat, { opacity: 0 });
  assert.equal(plain.channels, 3);
  for (let i = 0; i < 64; i++) {
    assert.deepEqual(Array.from(plain.data.subarray(i * 3, i * 3 + 3)), [i * 4, i * 4, i * 4]);
  }
  const colour = overlayPixels(image, heat, { opacity: 1, colorMap: "viridis" });
  const layer = heatPixels({ data: heat, width: 8, height: 8 }, {
    colorMap: "viridis",
    opacity: 1,
  });
  for (let i = 0; i < 64; i++) {
    assert.deepEqual(
      Array.from(colour.data.subarray(i * 3, i * 3 + 3)),
      Array.from(layer.data.subarray(i * 4, i * 4 + 3)),
    );
  }
  const half = overlayPixels(image, heat, { opacity: 0.5, colorMap: "inferno" });
  const expected = Math.round(
    0.5 * image[9] + 0.5 * colorTable("inferno")[Math.round((1 / 7) * 255) * 3],
  );
  assert.equal(half.data[9 * 3], expected);
  const masked = overlayPixels(image, heat, { mask: square(8, 2, 6) });
  assert.deepEqual(
    Array.from(masked.data.subarray((2 * 8 + 2) * 3, (2 * 8 + 2) * 3 + 3)),
    MASK_COLOR,
  );
  assert.notDeepEqual(
    Array.from(masked.data.subarray((3 * 8 + 3) * 3, (3 * 8 + 3) * 3 + 3)),
    MASK_COLOR,
  );
});

Deno.test("overlayPixels() rejects a heat map or mask of another size", () => {
  assert.throws(
    () => overlayPixels(new Uint8Array(64), new Float32Array(16)),
    /heat is 4x4 but the image is 8x8; upsample the CAM/,
  );
  assert.throws(
    () => overlayPixels(new Uint8Array(64), new Float32Array(64), { mask: new Uint8Array(4) }),
    /mask is 2x2 but the image is 8x8/,
  );
});

Deno.test("writeOverlayPng() writes the overlay as an RGB PNG at the image's size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const image = square(16, 4, 12, 200);
    const heat = Float32Array.from({ length: 256 }, (_, i) => Math.floor(i / 16));
    const path = `${dir}/cam/overlay.png`;
    await writeOverlayPng(path, image, heat, { mask: square(16, 4, 12) });
    const decoded = decode(await Deno.readFile(path));
    assert.deepEqual([decoded.width, decoded.height, decoded.channels], [16, 16, 3]);
    assert.deepEqual(
      Array.from(decoded.data),
      Array.from(overlayPixels(image, heat, { mask: square(16, 4, 12) }).data),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
