/**
 * The random draws and the stroke builder that the anatomy's parts share.
 *
 * @module
 */
import { type Random } from "../core/random.ts";
import { type Point, type StrokePath } from "./raster.ts";

export function uniform(random: Random, low: number, high: number): number {
  return low + (high - low) * random();
}

export function normal(random: Random): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export function chance(random: Random, p: number): boolean {
  return random() < p;
}

/** Builds a stroke from points with constant or per-point half-width and amplitude. */
export function path(
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
