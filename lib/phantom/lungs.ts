/**
 * The lungs of a phantom: the pleural cavities as polar outlines, the pneumothorax of a positive
 * case (a peripheral region of one cavity left by the collapsing lung) with its pleural line, and
 * the branching pulmonary vessels drawn into the collapsed lung.
 *
 * @module
 */
import { type Random } from "../core/random.ts";
import { chance, normal, path, uniform } from "./_draw.ts";
import {
  CANONICAL_SIZE,
  CENTER,
  type LungShape,
  type Pneumothorax,
  type PneumothoraxLocation,
  POLAR_BINS,
} from "./case.ts";
import { clamp, type Point, type StrokePath } from "./raster.ts";

/** Smallest and largest collapse depth, fractions of the cavity radius (log-uniform between). */
const MIN_DEPTH = 0.3;
const MAX_DEPTH = 0.8;
/** Smallest angular half-extent of a pneumothorax, radians. */
const MIN_HALF_WIDTH = 0.45;

/** Angular bin of angle `theta` (radians, any range). */
function polarBin(theta: number): number {
  const turn = (theta + Math.PI) / (2 * Math.PI);
  return ((Math.floor((turn - Math.floor(turn)) * POLAR_BINS) % POLAR_BINS) + POLAR_BINS) %
    POLAR_BINS;
}

/** Radius of a polar table at angle `theta`, interpolated between bins. */
function polarRadius(table: Float32Array, theta: number): number {
  const position = ((theta + Math.PI) / (2 * Math.PI)) * POLAR_BINS - 0.5;
  const k = Math.floor(position);
  const f = position - k;
  const a = table[((k % POLAR_BINS) + POLAR_BINS) % POLAR_BINS];
  const b = table[(((k + 1) % POLAR_BINS) + POLAR_BINS) % POLAR_BINS];
  return a + f * (b - a);
}

/** Closed Catmull-Rom spline through `points`, `perSegment` samples per segment. */
function closedSpline(points: Point[], perSegment: number): Point[] {
  const out: Point[] = [];
  const n = points.length;
  for (let i = 0; i < n; i++) {
    const p0 = points[(i - 1 + n) % n], p1 = points[i];
    const p2 = points[(i + 1) % n], p3 = points[(i + 2) % n];
    for (let k = 0; k < perSegment; k++) {
      const t = k / perSegment, t2 = t * t, t3 = t2 * t;
      const x = 0.5 * (2 * p1.x + (p2.x - p0.x) * t + (2 * p0.x - 5 * p1.x + 4 * p2.x - p3.x) * t2 +
        (3 * p1.x - p0.x - 3 * p2.x + p3.x) * t3);
      const y = 0.5 * (2 * p1.y + (p2.y - p0.y) * t + (2 * p0.y - 5 * p1.y + 4 * p2.y - p3.y) * t2 +
        (3 * p1.y - p0.y - 3 * p2.y + p3.y) * t3);
      out.push({ x, y });
    }
  }
  return out;
}

/** Polar radius table of a closed outline (star-shaped about the centre). */
function polarTable(outline: Point[], cx: number, cy: number): Float32Array {
  const table = new Float32Array(POLAR_BINS);
  for (const p of closedSpline(outline, 48)) {
    const bin = polarBin(Math.atan2(p.y - cy, p.x - cx));
    table[bin] = Math.max(table[bin], Math.hypot(p.x - cx, p.y - cy));
  }
  for (let k = 0; k < POLAR_BINS; k++) {
    if (table[k] > 0) continue;
    let before = 1, after = 1;
    while (table[(k - before + POLAR_BINS) % POLAR_BINS] === 0) before++;
    while (table[(k + after) % POLAR_BINS] === 0) after++;
    const a = table[(k - before + POLAR_BINS) % POLAR_BINS];
    const b = table[(k + after) % POLAR_BINS];
    table[k] = a + (b - a) * before / (before + after);
  }
  return table;
}

/** The canonical outline of the right pleural cavity (image left), clockwise from the apex. */
const RIGHT_CAVITY: Point[] = [
  { x: 82, y: 30 },
  { x: 96, y: 34 },
  { x: 108, y: 48 },
  { x: 116, y: 72 },
  { x: 120, y: 105 },
  { x: 122, y: 150 },
  { x: 121, y: 205 },
  { x: 104, y: 226 },
  { x: 64, y: 230 },
  { x: 32, y: 218 },
  { x: 25, y: 180 },
  { x: 27, y: 140 },
  { x: 33, y: 102 },
  { x: 43, y: 70 },
  { x: 57, y: 46 },
  { x: 70, y: 34 },
];

/** Samples the two cavities: jittered, scaled outlines, mirrored for the left lung. */
export function sampleCavities(random: Random, bodyScale: number): [LungShape, LungShape] {
  const width = bodyScale * uniform(random, 0.93, 1.05);
  const height = uniform(random, 0.92, 1.07);
  const apex = uniform(random, -6, 6);
  return [0, 1].map((side) => {
    const sideWidth = width * uniform(random, 0.97, 1.03);
    const points = RIGHT_CAVITY.map((p) => {
      const x = CENTER - (CENTER - p.x) * sideWidth + normal(random) * 2.2;
      const y = 130 + (p.y - 130) * height + normal(random) * 2.2 + (p.y < 60 ? apex : 0);
      return { x: side === 0 ? x : CANONICAL_SIZE - x, y };
    });
    const cx = side === 0 ? CENTER - 56 * sideWidth : CENTER + 56 * sideWidth;
    const cy = 130;
    const cavity = polarTable(points, cx, cy);
    const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
    const box: [number, number, number, number] = [
      Math.min(...xs) - 4,
      Math.max(...xs) + 4,
      Math.min(...ys) - 4,
      Math.max(...ys) + 4,
    ];
    return { cx, cy, cavity, lung: cavity.slice(), box };
  }) as [LungShape, LungShape];
}

/** Draws where, how wide and how deep the pneumothorax of a positive case is. */
export function samplePneumothorax(random: Random, lesionScale: number): Pneumothorax {
  const lung = chance(random, 0.5) ? 0 : 1;
  const roll = random();
  const location: PneumothoraxLocation = roll < 0.4 ? "apical" : roll < 0.8 ? "lateral" : "basal";
  // Angles for the right lung (image left); mirrored below for the left lung.
  const base = location === "apical"
    ? uniform(random, -2.2, -1.6)
    : location === "lateral"
    ? uniform(random, 2.9, 3.4)
    : uniform(random, 2.15, 2.5);
  const angle = lung === 0 ? base : Math.PI - base;
  const halfWidth = location === "lateral"
    ? uniform(random, MIN_HALF_WIDTH + 0.2, 1.3)
    : uniform(random, MIN_HALF_WIDTH + 0.1, 0.95);
  const depth = clamp(
    lesionScale * Math.exp(uniform(random, Math.log(MIN_DEPTH), Math.log(MAX_DEPTH))),
    0.04,
    0.85,
  );
  return { lung, location, angle, halfWidth, depth };
}

/** Fraction of the collapse at angular distance `delta` from the centre of the pneumothorax. */
function collapseShape(delta: number, halfWidth: number): number {
  const x = Math.abs(delta) / halfWidth;
  if (x >= 1) return 0;
  if (x <= 0.45) return 1;
  const t = (1 - x) / 0.55;
  return t * t * (3 - 2 * t);
}

function angleDifference(a: number, b: number): number {
  let d = a - b;
  while (d > Math.PI) d -= 2 * Math.PI;
  while (d < -Math.PI) d += 2 * Math.PI;
  return d;
}

/** Shrinks the lung table of the affected side: lung radius = cavity radius x (1 - collapse). */
export function collapseLung(shape: LungShape, ptx: Pneumothorax): void {
  for (let k = 0; k < POLAR_BINS; k++) {
    const theta = -Math.PI + (2 * Math.PI * (k + 0.5)) / POLAR_BINS;
    const collapse = ptx.depth * collapseShape(angleDifference(theta, ptx.angle), ptx.halfWidth);
    shape.lung[k] = shape.cavity[k] * (1 - collapse);
  }
}

/** Moves a point of the expanded lung to where it sits in the collapsed lung. */
function toCollapsed(shape: LungShape, x: number, y: number): Point {
  const theta = Math.atan2(y - shape.cy, x - shape.cx);
  const ratio = polarRadius(shape.lung, theta) / polarRadius(shape.cavity, theta);
  return { x: shape.cx + (x - shape.cx) * ratio, y: shape.cy + (y - shape.cy) * ratio };
}

/** Normalised radius of (x, y) in the cavity (1 at the chest wall). */
function cavityRadius(shape: LungShape, x: number, y: number): number {
  const theta = Math.atan2(y - shape.cy, x - shape.cx);
  return Math.hypot(x - shape.cx, y - shape.cy) / polarRadius(shape.cavity, theta);
}

/** Deepest branching level of the vessel trees. */
const VESSEL_LEVELS = 5;
/** How far out (fraction of the cavity radius) vessels reach. */
const VESSEL_REACH = 0.93;

/** Grows the pulmonary vessel tree of one lung from its hilum, as strokes. */
export function sampleVessels(
  random: Random,
  shape: LungShape,
  side: 0 | 1,
  out: StrokePath[],
): void {
  const outward = side === 0 ? -1 : 1;
  const hilum = { x: CENTER + outward * uniform(random, 24, 32), y: uniform(random, 106, 122) };
  const width = uniform(random, 0.85, 1.15);
  const amplitude = uniform(random, 0.06, 0.09);
  for (const spread of [-1.3, -0.85, -0.4, 0, 0.4, 0.8, 1.2]) {
    const angle = spread + normal(random) * 0.15;
    const direction = { x: outward * Math.cos(angle), y: Math.sin(angle) };
    grow(hilum, direction, uniform(random, 18, 26), 2.6 * width, amplitude, 0);
  }

  function grow(
    start: Point,
    dir: Point,
    length: number,
    halfWidth: number,
    amp: number,
    level: number,
  ) {
    const bend = normal(random) * 0.2;
    const c = Math.cos(bend), s = Math.sin(bend);
    const d = { x: dir.x * c - dir.y * s, y: dir.x * s + dir.y * c };
    let end = { x: start.x + d.x * length, y: start.y + d.y * length };
    const reach = cavityRadius(shape, end.x, end.y);
    if (reach > VESSEL_REACH) {
      const startReach = cavityRadius(shape, start.x, start.y);
      if (startReach >= VESSEL_REACH) return;
      const f = (VESSEL_REACH - startReach) / (reach - startReach);
      end = { x: start.x + (end.x - start.x) * f, y: start.y + (end.y - start.y) * f };
    }
    const endWidth = halfWidth * 0.8;
    const fade = clamp(1.1 - cavityRadius(shape, end.x, end.y), 0.2, 1);
    const a = toCollapsed(shape, start.x, start.y), b = toCollapsed(shape, end.x, end.y);
    out.push({
      vertices: [a.x, a.y, halfWidth, amp, b.x, b.y, endWidth, amp * fade],
      profile: "solid",
    });
    if (level >= VESSEL_LEVELS || reach > VESSEL_REACH) return;
    const children = level < 1 || chance(random, 0.8) ? 2 : 1;
    for (let k = 0; k < children; k++) {
      const turn = (k === 0 ? 1 : -1) * uniform(random, 0.25, 0.55) * (children === 1 ? 0.3 : 1);
      const ct = Math.cos(turn), st = Math.sin(turn);
      const next = { x: d.x * ct - d.y * st, y: d.x * st + d.y * ct };
      grow(end, next, length * uniform(random, 0.72, 0.88), endWidth * 0.8, amp * fade, level + 1);
    }
  }
}

/** The visceral pleural line: a thin stroke along the edge of the collapsed lung. */
export function samplePleuralLine(
  random: Random,
  shape: LungShape,
  ptx: Pneumothorax,
  out: StrokePath[],
) {
  const amplitude = uniform(random, 0.2, 0.3);
  const points: Point[] = [];
  const fades: number[] = [];
  for (let k = 0; k <= 40; k++) {
    const theta = ptx.angle - ptx.halfWidth + (2 * ptx.halfWidth * k) / 40;
    const cavity = polarRadius(shape.cavity, theta);
    const lung = polarRadius(shape.lung, theta);
    points.push({ x: shape.cx + lung * Math.cos(theta), y: shape.cy + lung * Math.sin(theta) });
    fades.push(clamp((cavity - lung - 1) / 3, 0, 1));
  }
  out.push(path(points, 1.2, (t) => amplitude * fades[Math.round(t * 40)], "solid"));
}
