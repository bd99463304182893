/**
 * What lies on or in the patient besides anatomy: ECG electrodes and leads, the chest tube (the
 * shortcut-learning confounder), and the film's side marker.
 *
 * @module
 */
import { type Random } from "../core/random.ts";
import { chance, normal, path, uniform } from "./_draw.ts";
import { CENTER, ROW_MARGIN, ROW_TABLE_SIZE } from "./case.ts";
import { clamp, cubicBezier, type Point, type StrokePath } from "./raster.ts";

/** Samples ECG electrodes with their lead wires. */
export function sampleElectrodes(random: Random, out: StrokePath[]): void {
  const count = chance(random, 0.45) ? 0 : 1 + Math.floor(random() * 5);
  for (let i = 0; i < count; i++) {
    const c = { x: uniform(random, 30, 226), y: uniform(random, 30, 220) };
    const r = uniform(random, 3.5, 5);
    const ring: Point[] = [];
    for (let k = 0; k <= 16; k++) {
      const a = (2 * Math.PI * k) / 16;
      ring.push({ x: c.x + r * Math.cos(a), y: c.y + r * Math.sin(a) });
    }
    out.push(path(ring, 0.8, uniform(random, 0.35, 0.6), "flat"));
    out.push(path([c], 1.6, 0.8, "solid"));
    const edge = random() < 0.5
      ? { x: uniform(random, 0, 256), y: 256 }
      : { x: random() < 0.5 ? 0 : 256, y: uniform(random, 60, 256) };
    const wire = cubicBezier(
      c,
      { x: c.x + normal(random) * 40, y: c.y + uniform(random, 10, 50) },
      { x: edge.x + normal(random) * 40, y: edge.y - uniform(random, 20, 70) },
      edge,
      24,
    );
    out.push(path(wire, uniform(random, 0.5, 0.8), uniform(random, 0.25, 0.45), "flat"));
  }
}

/** Samples a chest tube entering through the lateral chest wall and running up to the apex. */
export function sampleTube(
  random: Random,
  side: 0 | 1,
  body: Float32Array,
  out: StrokePath[],
): void {
  const s = side === 0 ? -1 : 1;
  const wall = body[clamp(170 + ROW_MARGIN, 0, ROW_TABLE_SIZE - 1)];
  const entry = { x: CENTER + s * (wall + 20), y: uniform(random, 175, 200) };
  const tip = { x: CENTER + s * uniform(random, 35, 60), y: uniform(random, 45, 70) };
  const points = cubicBezier(
    entry,
    { x: CENTER + s * (wall - 8), y: entry.y - 20 },
    { x: CENTER + s * (wall - uniform(random, 14, 26)), y: uniform(random, 80, 110) },
    tip,
    28,
  );
  out.push(path(points, uniform(random, 2.6, 3.4), 0.14, "bone"));
  const holes = new Set([20, 24]);
  for (let k = 0; k + 1 < points.length; k++) {
    if (!holes.has(k)) out.push(path([points[k], points[k + 1]], 0.7, 0.7, "flat"));
  }
}

/** Stroke-font glyphs of the side marker, in a unit box (x right, y down). */
const GLYPHS: Record<"L" | "R", Point[][]> = {
  L: [[{ x: 0, y: 0 }, { x: 0, y: 1 }, { x: 0.65, y: 1 }]],
  R: [
    [{ x: 0, y: 1 }, { x: 0, y: 0 }, { x: 0.45, y: 0 }],
    cubicBezier({ x: 0.45, y: 0 }, { x: 0.75, y: 0 }, { x: 0.75, y: 0.5 }, { x: 0.45, y: 0.5 }, 8),
    [{ x: 0.45, y: 0.5 }, { x: 0, y: 0.5 }],
    [{ x: 0.3, y: 0.5 }, { x: 0.7, y: 1 }],
  ],
};

/** Samples the lead side marker, in image pixels inside the collimated field. */
export function sampleMarker(
  random: Random,
  field: [number, number, number, number],
  out: StrokePath[],
) {
  if (!chance(random, 0.8)) return;
  const letter = chance(random, 0.8) ? "L" : "R";
  const height = uniform(random, 9, 15);
  const right = chance(random, 0.8);
  const x = right
    ? 256 - field[1] - uniform(random, 8, 30) - height * 0.7
    : field[3] + uniform(random, 6, 30);
  const y = field[0] + uniform(random, 5, 30);
  const width = uniform(random, 0.9, 1.4);
  for (const stroke of GLYPHS[letter]) {
    out.push(
      path(stroke.map((p) => ({ x: x + p.x * height, y: y + p.y * height })), width, 1.5, "flat"),
    );
  }
}
