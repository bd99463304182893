/**
 * Drawing primitives of the phantom renderer: anti-aliased strokes with a radiographic
 * cross-section (a solid tube, a hollow bone, a flat wire), Bézier sampling, smooth random
 * fields and separable blurs, all on square `Float32Array` rasters of attenuation.
 *
 * Written by hand because no maintained library rasterises line integrals through tubes: 2-D
 * canvas libraries paint colours with a coverage alpha, whereas an X-ray adds the path length
 * through each structure, so overlapping ribs must add up while the two halves of one rib must not.
 *
 * @module
 */
import type { Random } from "../core/random.ts";

/** How a stroke's attenuation varies across its width. */
export type StrokeProfile = "solid" | "bone" | "flat";

/** Vertex stride of a {@link StrokePath}: x, y, half-width, amplitude. */
const VERTEX_STRIDE = 4;

/**
 * A polyline whose vertices each carry a position (pixels), a half-width (pixels) and an
 * amplitude (attenuation at the centre, positive), linearly interpolated along each segment.
 */
export interface StrokePath {
  /** Vertices as x, y, half-width, amplitude, repeated. */
  vertices: number[];
  /** Cross-section of the stroke. */
  profile: StrokeProfile;
}

/** Thinnest drawn half-width; thinner strokes are drawn this wide and fainter, keeping their mass. */
const MIN_HALF_WIDTH = 0.75;
/** Inner radius of a bone's marrow cavity, as a fraction of its outer radius. */
const MARROW_RADIUS = 0.72;
/** How much less the marrow attenuates than the cortex. */
const MARROW_DEFICIT = 0.55;

const PROFILE_CODES: Record<StrokeProfile, number> = { solid: 0, bone: 1, flat: 2 };

/** A similarity transform applied to stroke vertices: rotation and scale, then a shift. */
export interface StrokeTransform {
  /** scale x cos(angle). */
  cos: number;
  /** scale x sin(angle). */
  sin: number;
  /** Magnification of widths. */
  scale: number;
  /** Centre of rotation and scaling (both axes). */
  origin: number;
  /** Shift after rotation. */
  shiftX: number;
  /** Shift after rotation. */
  shiftY: number;
}

const IDENTITY: StrokeTransform = { cos: 1, sin: 0, scale: 1, origin: 0, shiftX: 0, shiftY: 0 };

/**
 * A square raster with a scratch layer: strokes are max-composited into the scratch layer (so a
 * stroke's own joints never count twice) and then added to a target raster.
 */
export class StrokeCanvas {
  /** Side in pixels. */
  readonly size: number;
  readonly #scratch: Float32Array;
  readonly #touched: Int32Array;
  readonly #segment = new Float64Array(8);
  #count = 0;
  #transform: StrokeTransform = IDENTITY;

  /** Creates a canvas for `size` x `size` rasters. */
  constructor(size: number) {
    this.size = size;
    this.#scratch = new Float32Array(size * size);
    this.#touched = new Int32Array(size * size);
  }

  /** Sets the transform applied to the vertices of the strokes drawn next (default: none). */
  setTransform(transform: StrokeTransform = IDENTITY): void {
    this.#transform = transform;
  }

  /** Max-composites `path` into the scratch layer (call {@link StrokeCanvas.commit} after). */
  draw(path: StrokePath): void {
    const v = path.vertices;
    const profile = PROFILE_CODES[path.profile];
    const last = v.length - VERTEX_STRIDE;
    for (let i = 0; i === 0 || i < last; i += VERTEX_STRIDE) {
      this.#place(v, i, 0);
      this.#place(v, Math.min(i + VERTEX_STRIDE, last), 4);
      this.#rasterize(profile);
    }
  }

  /** Adds the scratch layer times `gain` to `target` and clears the scratch layer. */
  commit(target: Float32Array, gain = 1): void {
    const scratch = this.#scratch;
    const touched = this.#touched;
    for (let k = 0; k < this.#count; k++) {
      const i = touched[k];
      target[i] += gain * scratch[i];
      scratch[i] = 0;
    }
    this.#count = 0;
  }

  /** Draws `path` and adds it to `target` at once. */
  stroke(target: Float32Array, path: StrokePath, gain = 1): void {
    this.draw(path);
    this.commit(target, gain);
  }

  #place(v: ArrayLike<number>, i: number, slot: number): void {
    const t = this.#transform;
    const x = v[i] - t.origin, y = v[i + 1] - t.origin;
    const segment = this.#segment;
    segment[slot] = t.origin + t.cos * x - t.sin * y + t.shiftX;
    segment[slot + 1] = t.origin + t.sin * x + t.cos * y + t.shiftY;
    segment[slot + 2] = v[i + 2] * t.scale;
    segment[slot + 3] = v[i + 3];
  }

  /** Rasterises the segment in #segment with profile code 0 solid, 1 bone, 2 flat. */
  #rasterize(profile: number): void {
    const size = this.size;
    const g = this.#segment;
    const ax = g[0], ay = g[1], aw = g[2], aa = g[3];
    const bx = g[4], by = g[5], bw = g[6], ba = g[7];
    const reach = Math.max(aw, bw, MIN_HALF_WIDTH) + 1;
    const boxX0 = Math.max(0, Math.floor(Math.min(ax, bx) - reach));
    const boxX1 = Math.min(size - 1, Math.ceil(Math.max(ax, bx) + reach));
    const y0 = Math.max(0, Math.floor(Math.min(ay, by) - reach));
    const y1 = Math.min(size - 1, Math.ceil(Math.max(ay, by) + reach));
    if (boxX0 > boxX1 || y0 > y1) return;
    const dx = bx - ax, dy = by - ay;
    const lengthSquared = dx * dx + dy * dy;
    const inverse = lengthSquared > 1e-9 ? 1 / lengthSquared : 0;
    // Per row, the capsule spans at most reach * length / |dy| either side of the segment's line.
    const steep = Math.abs(dy) > 1e-6;
    const slope = steep ? dx / dy : 0;
    const spread = steep ? (reach * Math.sqrt(lengthSquared)) / Math.abs(dy) + 1 : 0;
    const scratch = this.#scratch, touched = this.#touched;
    let count = this.#count;
    for (let y = y0; y <= y1; y++) {
      const py = y + 0.5 - ay;
      let x0 = boxX0, x1 = boxX1;
      if (steep) {
        const lineX = ax + py * slope - 0.5;
        x0 = Math.max(boxX0, Math.floor(lineX - spread));
        x1 = Math.min(boxX1, Math.ceil(lineX + spread));
      }
      for (let x = x0; x <= x1; x++) {
        const px = x + 0.5 - ax;
        let t = (px * dx + py * dy) * inverse;
        t = t < 0 ? 0 : t > 1 ? 1 : t;
        const ex = px - t * dx, ey = py - t * dy;
        const squared = ex * ex + ey * ey;
        const width = aw + t * (bw - aw);
        const drawn = width < MIN_HALF_WIDTH ? MIN_HALF_WIDTH : width;
        let value: number;
        if (profile === 2) {
          const outer = drawn + 0.5;
          if (squared >= outer * outer) continue;
          const cover = outer - Math.sqrt(squared);
          value = cover >= 1 ? 1 : cover;
        } else {
          const r2 = squared / (drawn * drawn);
          if (r2 >= 1) continue;
          value = Math.sqrt(1 - r2);
          if (profile === 1) {
            const inner = MARROW_RADIUS * MARROW_RADIUS - r2;
            if (inner > 0) value -= MARROW_DEFICIT * Math.sqrt(inner);
          }
        }
        value *= (aa + t * (ba - aa)) * (width < MIN_HALF_WIDTH ? width / MIN_HALF_WIDTH : 1);
        const index = y * size + x;
        const previous = scratch[index];
        if (value > previous) {
          if (previous === 0) touched[count++] = index;
          scratch[index] = value;
        }
      }
    }
    this.#count = count;
  }
}

/** A point in pixels. */
export interface Point {
  /** Column. */
  x: number;
  /** Row. */
  y: number;
}

/** `count` points along the cubic Bézier curve p0..p3, both ends included. */
export function cubicBezier(p0: Point, p1: Point, p2: Point, p3: Point, count: number): Point[] {
  const points: Point[] = [];
  for (let k = 0; k < count; k++) {
    const t = k / (count - 1);
    const s = 1 - t;
    const a = s * s * s, b = 3 * s * s * t, c = 3 * s * t * t, d = t * t * t;
    points.push({
      x: a * p0.x + b * p1.x + c * p2.x + d * p3.x,
      y: a * p0.y + b * p1.y + c * p2.y + d * p3.y,
    });
  }
  return points;
}

/**
 * Fills `field` (size x size) with a smooth random field: a `cells` x `cells` grid of values
 * uniform in [-1, 1], bilinearly interpolated (value noise).
 */
export function valueNoise(random: Random, cells: number, field: Float32Array, size: number): void {
  const grid = new Float32Array((cells + 1) * (cells + 1));
  for (let i = 0; i < grid.length; i++) grid[i] = 2 * random() - 1;
  const step = cells / size;
  for (let y = 0; y < size; y++) {
    const gy = (y + 0.5) * step;
    const iy = Math.min(cells - 1, Math.floor(gy));
    const fy = gy - iy;
    for (let x = 0; x < size; x++) {
      const gx = (x + 0.5) * step;
      const ix = Math.min(cells - 1, Math.floor(gx));
      const fx = gx - ix;
      const g = iy * (cells + 1) + ix;
      const top = grid[g] + fx * (grid[g + 1] - grid[g]);
      const bottom = grid[g + cells + 1] + fx * (grid[g + cells + 2] - grid[g + cells + 1]);
      field[y * size + x] = top + fy * (bottom - top);
    }
  }
}

/** Blurs `data` (size x size) in place with the kernel [1 2 1]/4 along rows and columns. */
export function binomialBlur(data: Float32Array, size: number, line: Float32Array): void {
  for (let y = 0; y < size; y++) {
    const row = y * size;
    for (let x = 0; x < size; x++) line[x] = data[row + x];
    for (let x = 0; x < size; x++) {
      const left = line[x > 0 ? x - 1 : 0];
      const right = line[x < size - 1 ? x + 1 : size - 1];
      data[row + x] = 0.25 * left + 0.5 * line[x] + 0.25 * right;
    }
  }
  for (let x = 0; x < size; x++) {
    for (let y = 0; y < size; y++) line[y] = data[y * size + x];
    for (let y = 0; y < size; y++) {
      const up = line[y > 0 ? y - 1 : 0];
      const down = line[y < size - 1 ? y + 1 : size - 1];
      data[y * size + x] = 0.25 * up + 0.5 * line[y] + 0.25 * down;
    }
  }
}

/**
 * Writes into `out` the mean of `data` (size x size) over a (2r+1)^2 box, edges clamped, with
 * running sums (cost independent of r).
 */
export function boxBlur(
  data: Float32Array,
  out: Float32Array,
  size: number,
  radius: number,
  line: Float32Array,
): void {
  const scale = 1 / (2 * radius + 1);
  for (let y = 0; y < size; y++) {
    const row = y * size;
    let sum = 0;
    for (let k = -radius; k <= radius; k++) sum += data[row + clamp(k, 0, size - 1)];
    for (let x = 0; x < size; x++) {
      out[row + x] = sum * scale;
      sum += data[row + Math.min(size - 1, x + radius + 1)] - data[row + Math.max(0, x - radius)];
    }
  }
  for (let x = 0; x < size; x++) {
    for (let y = 0; y < size; y++) line[y] = out[y * size + x];
    let sum = 0;
    for (let k = -radius; k <= radius; k++) sum += line[clamp(k, 0, size - 1)];
    for (let y = 0; y < size; y++) {
      out[y * size + x] = sum * scale;
      sum += line[Math.min(size - 1, y + radius + 1)] - line[Math.max(0, y - radius)];
    }
  }
}

/** `value` limited to [low, high]. */
export function clamp(value: number, low: number, high: number): number {
  return value < low ? low : value > high ? high : value;
}
