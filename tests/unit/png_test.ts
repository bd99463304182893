import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decode } from "fast-png";
import { UsageError } from "../../lib/core/errors.ts";
import {
  encodePng,
  grayPixels,
  intensityDomain,
  pngDataUrl,
  scaleToUnit,
  toGrayImage,
  valueRange,
  writePng,
} from "../../lib/core/png.ts";

Deno.test("toGrayImage() reads a square array and checks sizes", () => {
  const image = toGrayImage(new Float32Array(9), "image");
  assert.deepEqual([image.width, image.height], [3, 3]);
  const wide = { data: new Uint8Array(6), width: 3, height: 2 };
  assert.equal(toGrayImage(wide, "image"), wide);
  assert.throws(
    () => toGrayImage(new Uint8Array(10), "image"),
    /image: 10 pixels are not a square/,
  );
  assert.throws(() => toGrayImage([], "image"), UsageError);
  assert.throws(
    () => toGrayImage({ data: new Uint8Array(5), width: 3, height: 2 }, "heat"),
    /heat: 5 pixels do not make a 3x2 image/,
  );
  assert.throws(() => toGrayImage({ data: [], width: 0, height: 0 }, "mask"), /mask: size 0x0/);
});

Deno.test("valueRange() and scaleToUnit() map a domain to [0, 1], clamped", () => {
  assert.deepEqual(valueRange([3, -1, 7, NaN]), [-1, 7]);
  assert.deepEqual(valueRange([]), [0, 0]);
  assert.deepEqual(Array.from(scaleToUnit([-1, 3, 7, 9, NaN], [-1, 7])), [0, 0.5, 1, 1, 0]);
  assert.deepEqual(Array.from(scaleToUnit([2, 2], [2, 2])), [0, 0]);
});

Deno.test("grayPixels() shows bytes as they are and floats from their minimum to maximum", () => {
  assert.deepEqual(intensityDomain(new Uint8Array([10, 20])), [0, 255]);
  assert.deepEqual(intensityDomain(new Float32Array([-2, 2])), [-2, 2]);
  const bytes = grayPixels({ data: Uint8Array.of(0, 10, 200, 255), width: 2, height: 2 });
  assert.deepEqual(Array.from(bytes.data), [0, 10, 200, 255]);
  assert.equal(bytes.channels, 1);
  const floats = grayPixels({ data: Float32Array.of(-1, 0, 0.5, 1), width: 4, height: 1 });
  assert.deepEqual(Array.from(floats.data), [0, 128, 191, 255]);
});

Deno.test("encodePng() round-trips gray and RGBA pixels through fast-png's decoder", () => {
  for (const channels of [1, 3, 4] as const) {
    const data = Uint8Array.from({ length: 5 * 3 * channels }, (_, i) => (i * 37) % 256);
    const decoded = decode(encodePng({ data, width: 5, height: 3, channels }));
    assert.deepEqual([decoded.width, decoded.height, decoded.channels], [5, 3, channels]);
    assert.deepEqual(Array.from(decoded.data), Array.from(data));
  }
  assert.throws(
    () => encodePng({ data: new Uint8Array(5), width: 2, height: 2, channels: 1 }),
    /5 bytes do not make 2x2 pixels of 1 channels/,
  );
});

Deno.test("pngDataUrl() is a base64 PNG data URL of the pixels", () => {
  const pixels = { data: Uint8Array.of(1, 2, 3, 4), width: 2, height: 2, channels: 1 } as const;
  const url = pngDataUrl(pixels);
  assert.ok(url.startsWith("data:image/png;base64,"));
  const decoded = decode(Buffer.from(url.slice(url.indexOf(",") + 1), "base64"));
  assert.deepEqual(Array.from(decoded.data), [1, 2, 3, 4]);
});

Deno.test("writePng() writes a decodable file in a new folder and wants .png", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/sub/image.png`;
    await writePng(path, { data: Uint8Array.of(9, 8, 7, 6), width: 4, height: 1, channels: 1 });
    assert.deepEqual(Array.from(decode(await Deno.readFile(path)).data), [9, 8, 7, 6]);
    await assert.rejects(
      writePng(`${dir}/image.jpg`, { data: new Uint8Array(1), width: 1, height: 1, channels: 1 }),
      /does not end in .png/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
