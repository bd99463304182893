/**
 * The anatomy of one phantom chest X-ray, drawn at random: body outline and arms, two lungs
 * (polar outlines) with branching vessels, ribs, clavicles, scapulae, humeri, spine, heart,
 * mediastinum and trachea, diaphragm domes, breasts, devices (ECG leads, an optional chest tube),
 * a side marker, the acquisition (pose, exposure, contrast, noise, blur, collimation), and for
 * positives a pneumothorax: a peripheral region of one pleural cavity left by the collapsing lung.
 *
 * Everything is placed in a canonical 256 x 256 frame (a PA film, the patient's right on the
 * image's left); {@link PhantomCase.pose} maps that frame onto the image. Distances are canonical
 * pixels; attenuations are in units where the soft tissue of the mid-chest is about 1.
 *
 * @module
 */
import { clamp, cubicBezier, type Point, type StrokePath } from "./raster.ts";
import { createRandom, type Random } from "../core/random.ts";

/** Side of the canonical frame (and of the images) in pixels. */
export const CANONICAL_SIZE = 256;
/** Angular bins of a lung's polar outline. */
export const POLAR_BINS = 256;
/** Margin of the per-row tables beyond the canonical frame, in rows. */
export const ROW_MARGIN = 64;
/** Rows in a per-row table: the frame plus a margin above and below. */
export const ROW_TABLE_SIZE = CANONICAL_SIZE + 2 * ROW_MARGIN;

const CENTER = CANONICAL_SIZE / 2;

/** Where a pneumothorax sits along the chest wall. */
export type PneumothoraxLocation = "apical" | "lateral" | "basal";

/** The pneumothorax of a positive case. */
export interface Pneumothorax {
  /** 0: the patient's right lung (image left); 1: the left lung. */
  lung: 0 | 1;
  /** Region of the pleural cavity. */
  location: PneumothoraxLocation;
  /** Direction of its centre from the lung centre, radians (image axes, y down). */
  angle: number;
  /** Angular half-extent, radians. */
  halfWidth: number;
  /** Collapse at its centre as a fraction of the cavity radius (0..1). */
  depth: number;
}

/** A lung's pleural cavity and the lung inside it, as radii around a centre. */
export interface LungShape {
  /** Centre, canonical pixels. */
  cx: number;
  /** Centre, canonical pixels. */
  cy: number;
  /** Radius of the pleural cavity per angular bin (bin k covers angle -pi + 2 pi k / bins). */
  cavity: Float32Array;
  /** Radius of the (possibly collapsed) lung per bin; equals `cavity` without pneumothorax. */
  lung: Float32Array;
  /** Bounding box of the cavity: [uMin, uMax, vMin, vMax]. */
  box: [number, number, number, number];
}

/** An ellipse, canonical pixels and radians. */
export interface Ellipse {
  /** Centre. */
  cx: number;
  /** Centre. */
  cy: number;
  /** Semi-axis along the rotated x axis. */
  rx: number;
  /** Semi-axis along the rotated y axis. */
  ry: number;
  /** Rotation, radians. */
  angle: number;
  /** Attenuation added at its thickest. */
  amplitude: number;
}

/** A parabolic diaphragm dome: v = apexV + drop * ((u - apexU) / halfWidth)^2. */
export interface Dome {
  /** Column of the dome's top. */
  apexU: number;
  /** Row of the dome's top. */
  apexV: number;
  /** Horizontal half-width over which it drops by `drop`. */
  halfWidth: number;
  /** Drop at `halfWidth` from the apex. */
  drop: number;
}

/** Pose of the patient on the film: canonical frame to image, about the frame's centre. */
export interface Pose {
  /** Magnification. */
  scale: number;
  /** Rotation, radians. */
  angle: number;
  /** Shift in image pixels. */
  shiftX: number;
  /** Shift in image pixels. */
  shiftY: number;
}

/** How the film was exposed and processed. */
export interface Acquisition {
  /** Attenuation mapped to mid-gray. */
  windowCenter: number;
  /** Attenuation range of the display curve's slope. */
  windowWidth: number;
  /** Gamma of the display curve. */
  gamma: number;
  /** Standard deviation of the quantum noise, gray levels at mid-gray. */
  noise: number;
  /** Passes of a [1 2 1] blur over the attenuation (0..2). */
  blurPasses: number;
  /** Extra gain of details finer than the equalisation's filter (unsharp masking). */
  equalization: number;
  /** Fraction by which the processing compresses contrast coarser than that filter. */
  compression: number;
  /** Radius of the equalisation's box filter, pixels. */
  equalizationRadius: number;
  /** Collimated margins (top, right, bottom, left) in image pixels; 0 means none. */
  collimation: [number, number, number, number];
  /** Gray level outside the collimated field. */
  collimationLevel: number;
  /** Amplitude of the anatomical low-frequency variation of soft tissue. */
  tissueVariation: number;
}

/** Everything needed to render one phantom. */
export interface PhantomCase {
  /** 1: pneumothorax, 0: none. */
  label: 0 | 1;
  /** Placement on the film. */
  pose: Pose;
  /** Display and noise. */
  acquisition: Acquisition;
  /** Body centre column. */
  bodyCenter: number;
  /** Body half-width per row (index v + ROW_MARGIN). */
  bodyHalfWidth: Float32Array;
  /** Relative front-to-back body depth per row (index v + ROW_MARGIN). */
  bodyDepth: Float32Array;
  /** Soft-tissue attenuation at the mid-line. */
  bodyAttenuation: number;
  /** Arms: [centre column offset from the body centre, half-width, top row]; offset 0 = none. */
  arms: [number, number, number];
  /** The two lungs: 0 = patient's right (image left), 1 = left. */
  lungs: [LungShape, LungShape];
  /** Attenuation removed by a full lung depth of air. */
  airAttenuation: number;
  /** Fraction of the air's deficit that lung tissue gives back. */
  lungTissue: number;
  /**
   * Cardiomediastinal silhouette per row: its extent left of the spine (image left, index
   * v + ROW_MARGIN).
   */
  mediastinumLeft: Float32Array;
  /** Its extent right of the spine (image right). */
  mediastinumRight: Float32Array;
  /** Attenuation the abdominal organs add below the diaphragm. */
  abdomen: number;
  /** Attenuation the heart and great vessels add inside the silhouette. */
  cardiac: number;
  /** The diaphragm: right dome (image left) and left dome. */
  domes: [Dome, Dome];
  /** Trachea: half-width and the row of the carina. */
  trachea: { halfWidth: number; carina: number; attenuation: number };
  /** Spine: column offset per row, vertebral half-width, level height, first level, attenuation. */
  spine: {
    shift: Float32Array;
    halfWidth: number;
    level: number;
    top: number;
    attenuation: number;
  };
  /** Soft-tissue ellipses: breasts, gastric bubble (negative amplitude). */
  blobs: Ellipse[];
  /** Bone strokes (added), canonical pixels. */
  bones: StrokePath[];
  /** Vessel strokes (max-composited, shown where there is aerated lung), canonical pixels. */
  vessels: StrokePath[];
  /** The visceral pleural line of a pneumothorax, canonical pixels. */
  pleura: StrokePath[];
  /** Devices, marker and tube strokes (added), canonical pixels. */
  devices: StrokePath[];
  /** Device strokes placed in image pixels (the side marker, put on the film, not the body). */
  filmMarks: StrokePath[];
  /** The pneumothorax of a positive case. */
  pneumothorax?: Pneumothorax;
  /** Whether a chest tube was drawn. */
  tube: boolean;
  /** Seed of the pixel-level randomness (noise, textures) of the renderer. */
  noiseSeed: number;
}

/** Probabilities of a chest tube given the label, for the shortcut-learning confounder. */
export interface TubeConfounder {
  /** Probability of a tube on an image with a pneumothorax (0..1). */
  positive: number;
  /** Probability of a tube on an image without one (0..1). */
  negative: number;
}

/** Options of {@link samplePhantomCase}. */
export interface SampleCaseOptions {
  /** Chest-tube probabilities by label (default: no tubes). */
  tube?: TubeConfounder;
  /**
   * Scales the pneumothorax depth distribution (default 1). Lower makes lesions smaller and the
   * task harder.
   */
  lesionScale?: number;
}

/** Smallest and largest collapse depth, fractions of the cavity radius (log-uniform between). */
const MIN_DEPTH = 0.3;
const MAX_DEPTH = 0.8;
/** Smallest angular half-extent of a pneumothorax, radians. */
const MIN_HALF_WIDTH = 0.45;

function uniform(random: Random, low: number, high: number): number {
  return low + (high - low) * random();
}

function normal(random: Random): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

function chance(random: Random, p: number): boolean {
  return random() < p;
}

/** Builds a stroke from points with constant or per-point half-width and amplitude. */
function path(
  points: Point[],
  halfWidth: number | ((t: number) => number),
  amplitude: number | ((t: number) => number),
  profile: StrokePath["profile"],
): StrokePath {
  const vertices: number[] = [];
  points.forEach((p, k) => {
    const t = points.length > 1 ? k / (points.length - 1) : 0;
    vertices.push(
      p.x,
      p.y,
      typeof halfWidth === "number" ? halfWidth : halfWidth(t),
      typeof amplitude === "number" ? amplitude : amplitude(t),
    );
  });
  return { vertices, profile };
}

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
function sampleCavities(random: Random, bodyScale: number): [LungShape, LungShape] {
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
function samplePneumothorax(random: Random, lesionScale: number): Pneumothorax {
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
function collapseLung(shape: LungShape, ptx: Pneumothorax): void {
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
function sampleVessels(random: Random, shape: LungShape, side: 0 | 1, out: StrokePath[]): void {
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

/**
 * Samples the body outline per row: half-widths of neck, shoulders and chest, and the relative
 * front-to-back depth (the neck is thinner than the chest).
 */
function sampleBody(random: Random, bodyScale: number): [Float32Array, Float32Array] {
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
function sampleSilhouette(random: Random): [Float32Array, Float32Array] {
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
function sampleBones(
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

/** Samples ECG electrodes with their lead wires. */
function sampleElectrodes(random: Random, out: StrokePath[]): void {
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
function sampleTube(random: Random, side: 0 | 1, body: Float32Array, out: StrokePath[]): void {
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
function sampleMarker(random: Random, field: [number, number, number, number], out: StrokePath[]) {
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

/** The visceral pleural line: a thin stroke along the edge of the collapsed lung. */
function samplePleuralLine(random: Random, shape: LungShape, ptx: Pneumothorax, out: StrokePath[]) {
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

/** Samples the collimated margins of the film, in image pixels. */
function sampleCollimation(random: Random): [number, number, number, number] {
  if (!chance(random, 0.35)) return [0, 0, 0, 0];
  return [0, 1, 2, 3].map(() => (chance(random, 0.5) ? Math.round(uniform(random, 3, 22)) : 0)) as [
    number,
    number,
    number,
    number,
  ];
}

/** Samples how the film was taken and processed. */
function sampleAcquisition(random: Random): Acquisition {
  const roll = random();
  const collimation = sampleCollimation(random);
  return {
    windowCenter: uniform(random, 0.47, 0.62),
    windowWidth: uniform(random, 0.17, 0.26),
    gamma: uniform(random, 0.85, 1.25),
    noise: uniform(random, 0.8, 3),
    blurPasses: roll < 0.3 ? 0 : roll < 0.9 ? 1 : 2,
    equalization: uniform(random, 0.3, 1.2),
    compression: uniform(random, 0.3, 0.65),
    equalizationRadius: Math.round(uniform(random, 20, 36)),
    collimation,
    collimationLevel: chance(random, 0.6) ? uniform(random, 0, 25) : uniform(random, 215, 250),
    tissueVariation: uniform(random, 0.03, 0.08),
  };
}

/**
 * Draws the anatomy, devices and acquisition of one phantom with label `label` (1 = a
 * pneumothorax), using only `random`: the same generator state gives the same case.
 */
export function samplePhantomCase(
  random: Random,
  label: 0 | 1,
  options: SampleCaseOptions = {},
): PhantomCase {
  const bodyScale = uniform(random, 0.92, 1.06);
  const [bodyHalfWidth, bodyDepth] = sampleBody(random, bodyScale);
  const lungs = sampleCavities(random, bodyScale);
  const inspiration = uniform(random, -12, 12);
  const domes: [Dome, Dome] = [
    {
      apexU: CENTER - uniform(random, 44, 56),
      apexV: 178 + inspiration,
      halfWidth: uniform(random, 50, 60),
      drop: uniform(random, 18, 32),
    },
    {
      apexU: CENTER + uniform(random, 44, 56),
      apexV: 178 + inspiration + uniform(random, 2, 12),
      halfWidth: uniform(random, 50, 60),
      drop: uniform(random, 18, 32),
    },
  ];
  const pneumothorax = label === 1
    ? samplePneumothorax(random, options.lesionScale ?? 1)
    : undefined;
  const [mediastinumLeft, mediastinumRight] = sampleSilhouette(random);
  if (pneumothorax) collapseLung(lungs[pneumothorax.lung], pneumothorax);
  const vessels: StrokePath[] = [];
  sampleVessels(random, lungs[0], 0, vessels);
  sampleVessels(random, lungs[1], 1, vessels);
  const pleura: StrokePath[] = [];
  if (pneumothorax) samplePleuralLine(random, lungs[pneumothorax.lung], pneumothorax, pleura);
  const bones: StrokePath[] = [];
  const armOffset = chance(random, 0.7) ? 128 * bodyScale + uniform(random, 8, 24) : 0;
  const ribTop = sampleBones(random, bodyHalfWidth, armOffset, bones);
  const scoliosis = uniform(random, -4, 4);
  const spineShift = new Float32Array(ROW_TABLE_SIZE);
  for (let i = 0; i < ROW_TABLE_SIZE; i++) {
    spineShift[i] = scoliosis * Math.sin(((i - ROW_MARGIN) / CANONICAL_SIZE) * Math.PI);
  }
  const blobs: Ellipse[] = [];
  if (chance(random, 0.45)) {
    const size = uniform(random, 0.8, 1.3);
    const row = uniform(random, 172, 198);
    const amplitude = uniform(random, 0.1, 0.22);
    for (const s of [-1, 1]) {
      blobs.push({
        cx: CENTER + s * uniform(random, 62, 78),
        cy: row + normal(random) * 3,
        rx: 46 * size,
        ry: 34 * size,
        angle: s * uniform(random, 0, 0.3),
        amplitude,
      });
    }
  }
  const gas = Math.floor(random() * 5);
  for (let k = 0; k < gas; k++) {
    const dome = domes[random() < 0.5 ? 0 : 1];
    blobs.push({
      cx: dome.apexU + uniform(random, -40, 40),
      cy: dome.apexV + dome.drop + uniform(random, 10, 60),
      rx: uniform(random, 4, 14),
      ry: uniform(random, 3, 8),
      angle: uniform(random, -1, 1),
      amplitude: -uniform(random, 0.06, 0.16),
    });
  }
  if (chance(random, 0.5)) {
    blobs.push({
      cx: domes[1].apexU + uniform(random, -12, 8),
      cy: domes[1].apexV + uniform(random, 14, 22),
      rx: uniform(random, 10, 18),
      ry: uniform(random, 6, 10),
      angle: uniform(random, -0.2, 0.2),
      amplitude: -uniform(random, 0.1, 0.22),
    });
  }
  const devices: StrokePath[] = [];
  sampleElectrodes(random, devices);
  // The tube draws from a stream of its own, seeded by the one number the main stream gives it:
  // the rest of the case is the same with or without a tube, so the same seed with and without
  // tubes makes the same images but for the tube (and their difference is the tube's mask).
  const tubeRandom = createRandom(Math.floor(random() * 4294967296));
  const tubeProbability = label === 1 ? options.tube?.positive ?? 0 : options.tube?.negative ?? 0;
  const tube = chance(tubeRandom, tubeProbability);
  if (tube) {
    const side = pneumothorax ? pneumothorax.lung : chance(tubeRandom, 0.5) ? 0 : 1;
    sampleTube(tubeRandom, side, bodyHalfWidth, devices);
  }
  const acquisition = sampleAcquisition(random);
  const filmMarks: StrokePath[] = [];
  sampleMarker(random, acquisition.collimation, filmMarks);
  return {
    label,
    pose: {
      scale: uniform(random, 0.9, 1.1),
      angle: normal(random) * 0.05,
      shiftX: uniform(random, -10, 10),
      shiftY: uniform(random, -8, 14),
    },
    acquisition,
    bodyCenter: CENTER,
    bodyHalfWidth,
    bodyDepth,
    bodyAttenuation: uniform(random, 0.95, 1.1),
    arms: [armOffset, uniform(random, 16, 24), uniform(random, 36, 50)],
    lungs,
    airAttenuation: uniform(random, 0.55, 0.72),
    lungTissue: uniform(random, 0.32, 0.45),
    mediastinumLeft,
    mediastinumRight,
    abdomen: uniform(random, 0.12, 0.25),
    cardiac: uniform(random, 0.04, 0.14),
    domes,
    trachea: {
      halfWidth: uniform(random, 5, 7.5),
      carina: uniform(random, 92, 108),
      attenuation: uniform(random, 0.05, 0.1),
    },
    spine: {
      shift: spineShift,
      halfWidth: uniform(random, 10, 13),
      level: uniform(random, 14, 17),
      top: ribTop - uniform(random, 6, 12),
      attenuation: uniform(random, 0.08, 0.14),
    },
    blobs,
    bones,
    vessels,
    pleura,
    devices,
    filmMarks,
    pneumothorax,
    tube,
    noiseSeed: Math.floor(random() * 4294967296),
  };
}
