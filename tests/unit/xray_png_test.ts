import assert from "node:assert/strict";
import { encode, type ImageData } from "fast-png";
import { DataFileError } from "../../lib/core/errors.ts";
import {
  areaResize,
  createXrayPngPool,
  type DecodedGray,
  decodeGrayPng,
  readXrayPng,
} from "../../lib/data/xray_png.ts";

function png(image: ImageData): Uint8Array {
  return encode(image);
}

/**
 * Reference resize by replication: blow each source pixel up to an `m x m` block, with `m` the
 * least common multiple of the sizes divided by the source size, then take plain block means.
 */
function replicateAndAverage(values: number[], side: number, size: number): number[] {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const fine = (side * size) / gcd(side, size);
  const up = fine / side;
  const block = fine / size;
  const out: number[] = [];
  for (let ty = 0; ty < size; ty++) {
    for (let tx = 0; tx < size; tx++) {
      let sum = 0;
      for (let fy = ty * block; fy < (ty + 1) * block; fy++) {
        for (let fx = tx * block; fx < (tx + 1) * block; fx++) {
          sum += values[Math.floor(fy / up) * side + Math.floor(fx / up)];
        }
      }
      out.push(Math.round(sum / (block * block)));
    }
  }
  return out;
}

Deno.test("decodeGrayPng() keeps 8-bit gray as is", () => {
  const data = new Uint8Array([0, 17, 128, 255]);
  const gray = decodeGrayPng(png({ width: 2, height: 2, data, channels: 1 }));
  assert.deepEqual([...gray.data], [...data]);
  assert.equal(gray.maxValue, 255);
});

Deno.test("decodeGrayPng() turns RGB and RGBA into BT.601 luma and ignores alpha", () => {
  const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 200, 100, 50]);
  const rgba = new Uint8Array([255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255, 200, 100, 50, 7]);
  const expected = [0.299 * 255, 0.587 * 255, 0.114 * 255, 0.299 * 200 + 0.587 * 100 + 0.114 * 50];
  for (const [data, channels] of [[rgb, 3], [rgba, 4]] as const) {
    const gray = decodeGrayPng(png({ width: 2, height: 2, data, channels }));
    assert.equal(gray.maxValue, 255);
    [...gray.data].forEach((value, i) =>
      assert.ok(Math.abs(value - expected[i]) < 1e-3, `${value}`)
    );
  }
});

Deno.test("decodeGrayPng() scales 16-bit, 4-bit, gray+alpha and palette images to 0..255", () => {
  const sixteen = decodeGrayPng(png({
    width: 2,
    height: 1,
    data: new Uint16Array([40000, 65535]),
    depth: 16,
    channels: 1,
  }));
  assert.deepEqual([...areaResize(sixteen, 1)], [Math.round((52767.5 * 255) / 65535)]);
  const four = decodeGrayPng(png({
    width: 3,
    height: 1,
    data: new Uint8Array([0xaf, 0x50]),
    depth: 4,
    channels: 1,
  }));
  assert.deepEqual([...four.data], [10, 15, 5]);
  assert.equal(four.maxValue, 15);
  const grayAlpha = decodeGrayPng(png({
    width: 2,
    height: 1,
    data: new Uint8Array([90, 0, 30, 255]),
    channels: 2,
  }));
  assert.deepEqual([...grayAlpha.data], [90, 30]);
  const palette = decodeGrayPng(png({
    width: 2,
    height: 1,
    data: new Uint8Array([1, 0]),
    depth: 8,
    channels: 1,
    palette: [[255, 0, 0], [10, 20, 30]],
  }));
  assert.deepEqual([...areaResize(palette, 2)].slice(0, 2), [18, 76]);
});

Deno.test("decodeGrayPng() names the file when the bytes are not a PNG", () => {
  assert.throws(
    () => decodeGrayPng(new TextEncoder().encode("<html>not found</html>"), "x/broken.png"),
    (error) =>
      error instanceof DataFileError && /x\/broken\.png: cannot decode as PNG/.test(error.message),
  );
});

Deno.test("areaResize() averages exact 4x4 blocks for a 4x downscale", () => {
  const side = 8;
  const values = Array.from({ length: side * side }, (_, i) => (i * 37) % 256);
  const image: DecodedGray = {
    width: side,
    height: side,
    data: Uint8Array.from(values),
    maxValue: 255,
  };
  const expected: number[] = [];
  for (let by = 0; by < 2; by++) {
    for (let bx = 0; bx < 2; bx++) {
      let sum = 0;
      for (let y = 0; y < 4; y++) {
        for (let x = 0; x < 4; x++) sum += values[(by * 4 + y) * side + bx * 4 + x];
      }
      expected.push(Math.round(sum / 16));
    }
  }
  assert.deepEqual([...areaResize(image, 2)], expected);
});

Deno.test("areaResize() weights partly covered pixels by area for sizes that do not divide", () => {
  for (const [side, size] of [[6, 4], [10, 4], [7, 3], [3, 5]]) {
    const values = Array.from({ length: side * side }, (_, i) => (i * 53 + 11) % 256);
    const image: DecodedGray = {
      width: side,
      height: side,
      data: Uint8Array.from(values),
      maxValue: 255,
    };
    assert.deepEqual(
      [...areaResize(image, size)],
      replicateAndAverage(values, side, size),
      `${side}->${size}`,
    );
  }
});

Deno.test("createXrayPngPool() reads the same pixels on workers as on the calling thread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths: string[] = [];
    for (let k = 0; k < 5; k++) {
      const data = Uint8Array.from({ length: 16 * 16 }, (_, i) => (i * (k + 3)) % 256);
      paths.push(`${dir}/${k}.png`);
      await Deno.writeFile(paths[k], png({ width: 16, height: 16, data, channels: 1 }));
    }
    const expected = await Promise.all(paths.map((path) => readXrayPng(path, 4)));
    const pool = createXrayPngPool({ workers: 2, size: 4 });
    try {
      assert.equal(pool.workers, 2);
      assert.deepEqual(await Promise.all(paths.map((path) => pool.read(path))), expected);
      await assert.rejects(pool.read(`${dir}/missing.png`), /missing\.png: cannot read/);
    } finally {
      pool.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
