/**
 * The anatomy of one phantom chest X-ray, drawn at random in a fixed order from one generator:
 * the body (`body.ts`), two lungs with vessels and, for positives, a pneumothorax (`lungs.ts`),
 * diaphragm domes, breasts and bowel gas, the spine, devices and the side marker (`devices.ts`),
 * and the acquisition (pose, exposure, contrast, noise, blur, collimation). The order of the draws
 * is part of the dataset: the default phantoms' bytes are pinned by a digest in the tests.
 *
 * Everything is placed in a canonical 256 x 256 frame (a PA film, the patient's right on the
 * image's left); {@link PhantomCase.pose} maps that frame onto the image (see `case.ts`).
 *
 * @module
 */
import { createRandom, type Random } from "../core/random.ts";
import { chance, normal, uniform } from "./_draw.ts";
import { sampleBody, sampleBones, sampleSilhouette } from "./body.ts";
import {
  type Acquisition,
  CANONICAL_SIZE,
  CENTER,
  type Dome,
  type Ellipse,
  type PhantomCase,
  ROW_MARGIN,
  ROW_TABLE_SIZE,
  type TubeConfounder,
} from "./case.ts";
import { sampleElectrodes, sampleMarker, sampleTube } from "./devices.ts";
import {
  collapseLung,
  sampleCavities,
  samplePleuralLine,
  samplePneumothorax,
  sampleVessels,
} from "./lungs.ts";
import { type StrokePath } from "./raster.ts";

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
