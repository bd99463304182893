/**
 * Batches of phantoms: per-image seeds derived from the dataset seed, the split and the image's
 * index (so an image never depends on which thread drew it or on how many images come before
 * it), label assignment, and the rendering of a contiguous range of images. Workers run
 * {@link renderPhantomJob}; so does the calling thread when it draws without workers.
 *
 * @module
 */
import { samplePhantomCase } from "./anatomy.ts";
import type { TubeConfounder } from "./case.ts";
import { createRenderWorkspace, PHANTOM_SIZE, renderPhantom } from "./render.ts";
import { createRandom, shuffleInPlace } from "../core/random.ts";

/** The two splits of the lab: each has its own stream of seeds, so no image repeats across them. */
export type PhantomSplit = "train" | "test";

const SPLIT_BITS: Record<PhantomSplit, number> = { train: 0, test: 1 };

/** MurmurHash3's 32-bit finaliser: a bijection on 32-bit integers that mixes all bits. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The generator seed of image `index` of `split`: distinct for every (split, index) pair under one
 * dataset seed (index below 2^31), because base + 2 index + split is injective modulo 2^32 and
 * {@link mix32} is a bijection.
 */
export function phantomImageSeed(seed: number, split: PhantomSplit, index: number): number {
  return mix32((mix32(seed) + 2 * index + SPLIT_BITS[split]) >>> 0);
}

/**
 * Class indices of `count` images: exactly round(count x positiveFraction) ones, in an order
 * shuffled by a generator seeded from (seed, split).
 */
export function phantomLabels(
  seed: number,
  split: PhantomSplit,
  count: number,
  positiveFraction: number,
): Uint8Array {
  const positives = Math.round(count * positiveFraction);
  const order = Array.from({ length: count }, (_, i) => (i < positives ? 1 : 0));
  const random = createRandom(mix32(mix32(seed) ^ (0x5bd1e995 + SPLIT_BITS[split])));
  return Uint8Array.from(shuffleInPlace(order, random));
}

/** A contiguous range of images to render. */
export interface PhantomJob {
  /** Dataset seed. */
  seed: number;
  /** Split whose seed stream to use. */
  split: PhantomSplit;
  /** Index of the first image. */
  start: number;
  /** Labels of the images start, start + 1, ... */
  labels: Uint8Array;
  /** Chest-tube probabilities by label. */
  tube?: TubeConfounder;
  /** Scale of the pneumothorax depth distribution. */
  lesionScale?: number;
}

/** Images and masks of a {@link PhantomJob}, `labels.length` x PHANTOM_SIZE^2 bytes each. */
export interface PhantomJobResult {
  /** Index of the first image. */
  start: number;
  /** Images, row-major uint8. */
  images: Uint8Array;
  /** Masks: 1 where the pneumothorax is. */
  masks: Uint8Array;
  /** 1 for each image that got a chest tube. */
  tubes: Uint8Array;
}

let workspace: ReturnType<typeof createRenderWorkspace> | undefined;

/** Renders the images of `job` (reusing this thread's buffers). */
export function renderPhantomJob(job: PhantomJob): PhantomJobResult {
  workspace ??= createRenderWorkspace();
  const pixels = PHANTOM_SIZE * PHANTOM_SIZE;
  const count = job.labels.length;
  const images = new Uint8Array(count * pixels);
  const masks = new Uint8Array(count * pixels);
  const tubes = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const random = createRandom(phantomImageSeed(job.seed, job.split, job.start + i));
    const phantom = samplePhantomCase(random, job.labels[i] ? 1 : 0, {
      tube: job.tube,
      lesionScale: job.lesionScale,
    });
    renderPhantom(
      phantom,
      images.subarray(i * pixels, (i + 1) * pixels),
      masks.subarray(i * pixels, (i + 1) * pixels),
      workspace,
    );
    tubes[i] = phantom.tube ? 1 : 0;
  }
  return { start: job.start, images, masks, tubes };
}
