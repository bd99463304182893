/**
 * What one phantom chest X-ray is made of, as data: the canonical frame, the lungs and their
 * pneumothorax, domes, blobs, pose and acquisition, gathered in a {@link PhantomCase} that
 * `anatomy.ts` draws and `render.ts` renders. Distances are canonical pixels; attenuations are in
 * units where the soft tissue of the mid-chest is about 1.
 *
 * @module
 */
import { type StrokePath } from "./raster.ts";

/** Side of the canonical frame (and of the images) in pixels. */
export const CANONICAL_SIZE = 256;
/** Angular bins of a lung's polar outline. */
export const POLAR_BINS = 256;
/** Margin of the per-row tables beyond the canonical frame, in rows. */
export const ROW_MARGIN = 64;
/** Rows in a per-row table: the frame plus a margin above and below. */
export const ROW_TABLE_SIZE = CANONICAL_SIZE + 2 * ROW_MARGIN;

export const CENTER = CANONICAL_SIZE / 2;

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
