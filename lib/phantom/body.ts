/**
 * The body of a phantom: its outline and depth, the mediastinal silhouette, and the bones (ribs,
 * clavicles, scapulae, humeri) as strokes.
 *
 * @module
 */
import { type Random } from "../core/random.ts";
import { chance, normal, path, uniform } from "./_draw.ts";
import { CENTER, ROW_MARGIN, ROW_TABLE_SIZE } from "./case.ts";
import { clamp, cubicBezier, type StrokePath } from "./raster.ts";

/**
 * Samples the body outline per row: half-widths of neck, shoulders and chest, and the relative
 * front-to-back depth (the neck is thinner than the chest).
 */
export function sampleBody(random: Random, bodyScale: number): [Float32Array, Float32Array] {
  const neck = uniform(random, 40, 56);
  const neckBottom = uniform(random, -10, 16);
  const shoulderRow = neckBottom + uniform(random, 40, 60);
  const shoulder = 122 * bodyScale + uniform(random, -6, 8);
  const chest = 112 * bodyScale;
  const flare = uniform(random, -4, 8);
  const neckDepth = uniform(random, 0.55, 0.75);
  const table = new Float32Array(ROW_TABLE_SIZE);
  const depth = new Float32Array(ROW_TABLE_SIZE);
  for (let i = 0; i < ROW_TABLE_SIZE; i++) {
    const v = i - ROW_MARGIN;
    let half: number;
    if (v < neckBottom) half = neck;
    else if (v < shoulderRow) {
      const t = (v - neckBottom) / (shoulderRow - neckBottom);
      half = neck + (shoulder - neck) * Math.sin((t * Math.PI) / 2);
    } else {
      const t = clamp((v - shoulderRow) / 40, 0, 1);
      half = shoulder + (chest - shoulder) * t * t * (3 - 2 * t) +
        flare * clamp((v - 120) / 120, 0, 1);
    }
    table[i] = half;
    const t = clamp((v - neckBottom) / (shoulderRow - neckBottom), 0, 1);
    depth[i] = neckDepth + (1 - neckDepth) * t * t * (3 - 2 * t);
  }
  return [table, depth];
}

/** A per-row table through (row, value) control points: linear, then smoothed twice over 15 rows. */
function rowProfile(points: [number, number][]): Float32Array {
  const table = new Float32Array(ROW_TABLE_SIZE);
  for (let i = 0; i < ROW_TABLE_SIZE; i++) {
    const v = i - ROW_MARGIN;
    const after = points.findIndex(([row]) => row >= v);
    if (after === 0) table[i] = points[0][1];
    else if (after < 0) table[i] = points[points.length - 1][1];
    else {
      const [v0, w0] = points[after - 1], [v1, w1] = points[after];
      table[i] = w0 + ((w1 - w0) * (v - v0)) / (v1 - v0);
    }
  }
  for (let pass = 0; pass < 2; pass++) {
    const copy = table.slice();
    for (let i = 0; i < ROW_TABLE_SIZE; i++) {
      let sum = 0;
      for (let k = -7; k <= 7; k++) sum += copy[clamp(i + k, 0, ROW_TABLE_SIZE - 1)];
      table[i] = sum / 15;
    }
  }
  return table;
}

/**
 * Horizontal extent [left, right] of a tilted ellipse (centre 0, semi-axes a and b, long axis
 * turned by `tilt`) at height `y`, or undefined above or below it.
 */
function ellipseChord(a: number, b: number, tilt: number, y: number): [number, number] | undefined {
  const c = Math.cos(tilt), s = Math.sin(tilt);
  const qa = (c * c) / (a * a) + (s * s) / (b * b);
  const qb = 2 * y * c * s * (1 / (a * a) - 1 / (b * b));
  const qc = y * y * ((s * s) / (a * a) + (c * c) / (b * b)) - 1;
  const discriminant = qb * qb - 4 * qa * qc;
  if (discriminant < 0) return undefined;
  const root = Math.sqrt(discriminant);
  return [(-qb - root) / (2 * qa), (-qb + root) / (2 * qa)];
}

/**
 * Samples the cardiomediastinal silhouette as its extent left and right of the spine per row:
 * the mediastinum (superior vena cava on the image's left; aortic knob on its right) joined with
 * the heart, a tilted ellipse whose lower part the diaphragm hides.
 */
export function sampleSilhouette(random: Random): [Float32Array, Float32Array] {
  const neck = uniform(random, 34, 46);
  const vena = uniform(random, 16, 22);
  const aorta = uniform(random, 17, 22);
  const knob = aorta + uniform(random, 5, 13);
  const knobRow = uniform(random, 74, 88);
  const right = rowProfile([[8, neck], [36, vena + 2], [60, vena], [100, vena + 2], [
    130,
    vena + 4,
  ]]);
  const left = rowProfile([
    [8, neck],
    [36, aorta],
    [knobRow, knob],
    [knobRow + 18, aorta + 2],
    [knobRow + 36, aorta + 6],
  ]);
  const enlarged = chance(random, 0.15) ? uniform(random, 1.1, 1.25) : 1;
  const a = uniform(random, 48, 58) * enlarged, b = uniform(random, 34, 42) * enlarged;
  const tilt = uniform(random, 0.2, 0.5);
  const cx = uniform(random, 14, 22), cy = uniform(random, 150, 166);
  const heartRight = new Float32Array(ROW_TABLE_SIZE), heartLeft = new Float32Array(ROW_TABLE_SIZE);
  for (let i = 0; i < ROW_TABLE_SIZE; i++) {
    const chord = ellipseChord(a, b, tilt, i - ROW_MARGIN - cy);
    if (chord) [heartRight[i], heartLeft[i]] = [-(cx + chord[0]), cx + chord[1]];
  }
  // Above its widest row, each heart border runs as a convex arc up into the mediastinum.
  const join = (profile: Float32Array, heart: Float32Array, startRow: number) => {
    const widest = heart.indexOf(Math.max(...heart));
    const start = Math.round(startRow) + ROW_MARGIN;
    for (let i = 0; i < ROW_TABLE_SIZE; i++) {
      let extent = heart[i];
      if (i >= start && i < widest) {
        const t = (i - start) / (widest - start);
        extent = profile[start] + (heart[widest] - profile[start]) * Math.sin((Math.PI / 2) * t);
      }
      if (i >= start) profile[i] = Math.max(profile[i], extent);
    }
  };
  join(right, heartRight, uniform(random, 95, 115));
  join(left, heartLeft, knobRow + uniform(random, 16, 26));
  return [right, left];
}

/** Samples the ribs, clavicles, scapulae and humeri of both sides, as bone strokes. */
export function sampleBones(
  random: Random,
  body: Float32Array,
  armOffset: number,
  out: StrokePath[],
): number {
  const top = uniform(random, 34, 44);
  const spacing = uniform(random, 13.5, 16.5);
  const posteriorAmp = uniform(random, 0.07, 0.11);
  const anteriorAmp = posteriorAmp * uniform(random, 0.4, 0.6);
  const ribWidth = uniform(random, 3.2, 4.0);
  const wallAt = (v: number) => body[clamp(Math.round(v) + ROW_MARGIN, 0, ROW_TABLE_SIZE - 1)] - 11;
  for (const s of [-1, 1]) {
    for (let k = 0; k < 12; k++) {
      const y0 = top + k * spacing * (1 + 0.015 * k) + normal(random) * 0.8;
      const wall = Math.min(wallAt(y0 + 10), 108);
      const w = k === 0 ? wall * 0.6 : wall;
      const rise = k === 0 ? 12 : 13 + 0.3 * k;
      const drop = k === 0 ? 12 : 32 + 1.5 * k;
      const posterior = cubicBezier(
        { x: CENTER + s * 12, y: y0 + 2 },
        { x: CENTER + s * 0.35 * w, y: y0 - rise },
        { x: CENTER + s * 0.9 * w, y: y0 + 2 },
        { x: CENTER + s * w, y: y0 + drop },
        11,
      );
      const amplitude = posteriorAmp * (k < 9 ? 1 : 0.6);
      out.push(path(posterior, (t) => ribWidth * (1.05 - 0.15 * t), amplitude, "bone"));
      const lateral = posterior[posterior.length - 1];
      const reachIn = k === 0 ? 0.45 : uniform(random, 0.28, 0.36);
      const slope = k === 0 ? 14 : 34 + k;
      const anterior = cubicBezier(
        lateral,
        { x: lateral.x - s * 12, y: lateral.y + 9 },
        { x: CENTER + s * 0.6 * w, y: lateral.y + slope * 0.65 },
        { x: CENTER + s * reachIn * w, y: lateral.y + slope },
        9,
      );
      out.push(path(anterior, ribWidth * 1.15, (t) => anteriorAmp * (1 - t * t), "bone"));
    }
    const medial = { x: CENTER + s * uniform(random, 10, 16), y: uniform(random, 58, 70) };
    const lateralEnd = { x: CENTER + s * uniform(random, 86, 100), y: uniform(random, 34, 48) };
    const clavicle = cubicBezier(
      medial,
      { x: CENTER + s * 40, y: medial.y + uniform(random, 0, 8) },
      { x: CENTER + s * 66, y: lateralEnd.y - uniform(random, 0, 8) },
      lateralEnd,
      14,
    );
    out.push(
      path(clavicle, (t) => 5.2 - 1 * Math.sin(Math.PI * t), uniform(random, 0.1, 0.15), "solid"),
    );
    const wall = wallAt(60);
    const scapula = cubicBezier(
      { x: CENTER + s * (wall - 4), y: 48 },
      { x: CENTER + s * (wall - 18), y: 80 },
      { x: CENTER + s * (wall - 16), y: 120 },
      { x: CENTER + s * (wall + 6), y: uniform(random, 135, 150) },
      12,
    );
    out.push(path(scapula, 3, uniform(random, 0.04, 0.08), "bone"));
    const head = { x: CENTER + s * (wall + uniform(random, 8, 20)), y: uniform(random, 44, 58) };
    out.push(path([head], uniform(random, 14, 18), 0.22, "bone"));
    const elbow = armOffset > 0 ? CENTER + s * armOffset : head.x + s * uniform(random, 10, 30);
    out.push(path([head, { x: elbow, y: 260 }], 7, 0.22, "bone"));
  }
  return top;
}
