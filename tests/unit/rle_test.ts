import assert from "node:assert/strict";
import { decodeRleMask, parseRle, resizeMaskAny } from "../../lib/data/rle.ts";
import { pickImages, pydicomPython, siimSkipReason, unpackRleCsv } from "../fixtures/siim.ts";

if (siimSkipReason) console.log(`RLE tests against SIIM's CSV skipped: ${siimSkipReason}`);

/** NumPy's decode: relative starts, column-major (so transposed), rows united; block maximum. */
const NUMPY_DECODE = `
import json, sys
import numpy as np
spec = json.load(open(sys.argv[1]))
with open(sys.argv[2], "wb") as out:
    for case in spec:
        w, h = case["width"], case["height"]
        flat = np.zeros(w * h, dtype=np.uint8)
        for encoded in case["rows"]:
            if encoded.strip() == "-1":
                continue
            numbers = np.array(encoded.split(), dtype=np.int64)
            position = 0
            for start, length in zip(numbers[0::2], numbers[1::2]):
                position += start
                flat[position:position + length] = 1
                position += length
        mask = flat.reshape(w, h).T
        out.write(mask.tobytes())
        if case.get("block"):
            b = case["block"]
            out.write(mask.reshape(h // b, b, w // b, b).max(axis=(1, 3)).tobytes())
`;

interface Case {
  width: number;
  height: number;
  rows: string[];
  block?: number;
}

/** Runs NumPy's decode on `cases`; returns each case's full mask and its block maximum. */
async function numpyDecode(cases: Case[]): Promise<{ full: Uint8Array; small?: Uint8Array }[]> {
  const dir = await Deno.makeTempDir({ prefix: "rle_test_" });
  try {
    await Deno.writeTextFile(`${dir}/spec.json`, JSON.stringify(cases));
    const result = await new Deno.Command(pydicomPython!, {
      args: ["-c", NUMPY_DECODE, `${dir}/spec.json`, `${dir}/out.u8`],
    }).output();
    assert.ok(result.success, new TextDecoder().decode(result.stderr));
    const bytes = await Deno.readFile(`${dir}/out.u8`);
    let at = 0;
    return cases.map(({ width, height, block }) => {
      const full = bytes.slice(at, at += width * height);
      const small = block ? bytes.slice(at, at += (width / block) * (height / block)) : undefined;
      return { full, small };
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseRle() reads -1 and start/length pairs, and says what is wrong with bad text", () => {
  assert.deepEqual([...parseRle(" -1")], []);
  assert.deepEqual([...parseRle("557374 2 1015 8")], [557374, 2, 1015, 8]);
  assert.throws(() => parseRle(""), /EncodedPixels is empty/);
  assert.throws(() => parseRle("1 2 3"), /has 3 numbers; start\/length pairs need an even count/);
  assert.throws(() => parseRle("1 -2"), /holds '-2', not a non-negative integer/);
  assert.throws(() => parseRle("1 2.5"), /holds '2.5'/);
  assert.throws(() => parseRle("4 0"), /a run of length 0 \(pair 1\)/);
});

Deno.test("decodeRleMask() refuses a run past the image, naming the row", () => {
  assert.throws(
    () => decodeRleMask([parseRle("0 4"), parseRle("3 4")], 3, 2),
    /row 2: a run ends at pixel 7, past the image's 3x2 = 6 pixels/,
  );
});

Deno.test("resizeMaskAny() keeps any covered pixel, also at a scale that is not a whole number", () => {
  for (let pixel = 0; pixel < 16 * 16; pixel++) {
    const mask = new Uint8Array(16 * 16);
    mask[pixel] = 1;
    const small = resizeMaskAny(mask, { width: 16, height: 16 }, 4);
    const [x, y] = [pixel % 16, Math.floor(pixel / 16)];
    const expected = new Uint8Array(16);
    expected[Math.floor(y / 4) * 4 + Math.floor(x / 4)] = 1;
    assert.deepEqual(small, expected, `pixel (${x}, ${y})`);
  }
  // 5 -> 2: target 0 covers source [0, 2.5), target 1 covers [2.5, 5); pixel 2 is in both.
  const row = (x: number) => {
    const mask = new Uint8Array(5 * 5);
    mask[2 * 5 + x] = 1;
    return [...resizeMaskAny(mask, { width: 5, height: 5 }, 2)];
  };
  assert.deepEqual(row(2), [1, 1, 1, 1]);
  assert.deepEqual(row(1), [1, 0, 1, 0]);
  assert.deepEqual(row(4), [0, 1, 0, 1]);
});

Deno.test({
  name: "decodeRleMask() equals NumPy's decode on SIIM's real rows, one and several per image",
  ignore: siimSkipReason !== undefined,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "rle_test_" });
    try {
      const { rows } = await unpackRleCsv(dir);
      const picked = pickImages(rows, { single: 6, several: 6, negative: 1 });
      const ids = [...picked.single, ...picked.several, ...picked.negative];
      const cases: Case[] = [
        ...ids.map((id) => ({ width: 1024, height: 1024, rows: rows.get(id)!, block: 4 })),
        // Not square: column-major order is not the transpose of a square here.
        { width: 7, height: 3, rows: ["2 3 4 2", "19 2"] },
      ];
      const expected = await numpyDecode(cases);
      cases.forEach((c, i) => {
        const mask = decodeRleMask(c.rows.map(parseRle), c.width, c.height);
        assert.deepEqual(mask, expected[i].full, ids[i] ?? "7x3");
        if (c.block) {
          const small = resizeMaskAny(mask, c, c.width / c.block);
          assert.deepEqual(small, expected[i].small, `${ids[i]} at 256`);
        }
      });
      const lesion = expected.slice(0, -2).map(({ full }) => full.reduce((s, v) => s + v, 0));
      assert.ok(lesion.every((pixels) => pixels > 0), "every positive has lesion pixels");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
