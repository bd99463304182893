import assert from "node:assert/strict";
import { filmHalves, mirroredHalf } from "../../lib/data/halves.ts";

Deno.test("mirroredHalf() keeps one half in place and reflects it into the other", () => {
  const size = 6;
  const film = Uint8Array.from({ length: size * size }, (_, i) => i);
  for (const half of ["left", "right"] as const) {
    const out = mirroredHalf(film, size, half);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        assert.equal(out[y * size + x], out[y * size + size - 1 - x], `${half} symmetric`);
        const kept = half === "left" ? x < size / 2 : x >= size / 2;
        if (kept) assert.equal(out[y * size + x], film[y * size + x], `${half} kept at ${x},${y}`);
      }
    }
  }
});

Deno.test("filmHalves() moves a one-sided lesion's mask into its half only", () => {
  const size = 4;
  const film = new Uint8Array(16).fill(7);
  const mask = new Uint8Array(16);
  mask[1 * size + 0] = 1;
  const halves = filmHalves(film, mask, size);
  assert.deepEqual([...halves.left.mask.subarray(4, 8)], [1, 0, 0, 1]);
  assert.equal(halves.right.mask.reduce((a, b) => a + b, 0), 0);
});

Deno.test("mirroredHalf() names an odd or mismatched size", () => {
  assert.throws(() => mirroredHalf(new Uint8Array(9), 3, "left"), /not an even 3x3/);
  assert.throws(() => mirroredHalf(new Uint8Array(10), 4, "left"), /10 pixels/);
});
