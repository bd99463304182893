/**
 * Renders a {@link PhantomCase} into an 8-bit chest X-ray and its pneumothorax mask: strokes
 * (bones, vessels, devices) and per-pixel fields (body, lungs, heart, mediastinum, diaphragm,
 * spine) add up to an attenuation map, which the acquisition blurs, equalises, maps through a
 * display curve and covers with quantum noise, collimation and the side marker.
 *
 * @module
 */
import {
  CANONICAL_SIZE,
  type PhantomCase,
  POLAR_BINS,
  ROW_MARGIN,
  ROW_TABLE_SIZE,
} from "./case.ts";
import { binomialBlur, boxBlur, StrokeCanvas, valueNoise } from "./raster.ts";
import { createRandom } from "../core/random.ts";

/** Side of the rendered images in pixels. */
export const PHANTOM_SIZE = CANONICAL_SIZE;

const CENTER = CANONICAL_SIZE / 2;
const LUT_SIZE = 4096;
const LUT_LOW = -0.5;
const LUT_HIGH = 2.5;
/** Attenuation shown as white before the display curve's gamma. */
const DISPLAY_TOP = 1.5;
/** Side of the texture banks: each image reads a random 256 x 256 window of them. */
const BANK_SIZE = 512;
/** Cells of the parenchymal texture across a bank (60 per image width). */
const TEXTURE_CELLS = 120;
/** Cells of the soft-tissue variation across a bank (5 per image width). */
const TISSUE_CELLS = 10;
/** Fixed seed of the banks: the same on every thread, so images do not depend on threads. */
const BANK_SEED = 0x7e57ab1e;
/** Largest |dx|, |dy| (canonical pixels) of the angle table around a lung centre. */
const ANGLE_REACH = 160;
const ANGLE_SIDE = 2 * ANGLE_REACH + 1;
/** Attenuation that the processing's dynamic-range compression leaves in place. */
const EQUALIZATION_REFERENCE = 0.75;
/** Side of the half-resolution grid of the smooth anatomy. */
const FIELD_SIZE = PHANTOM_SIZE / 2;
/**
 * Bilinear upsampling from the half-resolution grid: for each full-resolution coordinate, the
 * lower and upper grid indices and the upper one's weight (the same for rows and columns).
 */
const UPSAMPLE_LOW = new Int32Array(PHANTOM_SIZE);
const UPSAMPLE_HIGH = new Int32Array(PHANTOM_SIZE);
const UPSAMPLE_WEIGHT = new Float32Array(PHANTOM_SIZE);
for (let x = 0; x < PHANTOM_SIZE; x++) {
  const f = Math.max(0, x / 2 - 0.25);
  UPSAMPLE_LOW[x] = Math.floor(f);
  UPSAMPLE_HIGH[x] = Math.min(FIELD_SIZE - 1, UPSAMPLE_LOW[x] + 1);
  UPSAMPLE_WEIGHT[x] = f - UPSAMPLE_LOW[x];
}
/** Attenuation of the parenchymal texture in fully aerated lung. */
const TEXTURE_AMPLITUDE = 0.05;
/** Strongest compression of collapsed lung tissue. */
const MAX_COMPRESSION = 3;

/** Buffers reused across renders (one per thread). */
export interface RenderWorkspace {
  /** Attenuation. */
  attenuation: Float32Array;
  /** Vessels, max-composited. */
  vessels: Float32Array;
  /** Blurred attenuation. */
  blurred: Float32Array;
  /** Smooth anatomy's attenuation, half resolution. */
  field: Float32Array;
  /** How much of the vessels shows, half resolution. */
  vesselGain: Float32Array;
  /** How much of the texture shows, half resolution. */
  textureGain: Float32Array;
  /** Pneumothorax (1) or not (0), half resolution. */
  lesion: Float32Array;
  /** Parenchymal texture bank, BANK_SIZE^2. */
  texture: Float32Array;
  /** Soft-tissue variation bank, BANK_SIZE^2. */
  tissue: Float32Array;
  /**
   * Polar-bin position of each integer offset (dx, dy) in [-ANGLE_REACH, ANGLE_REACH]^2: a
   * table in place of a per-pixel arctangent.
   */
  angles: Float32Array;
  /** One row or column. */
  line: Float32Array;
  /** Stroke rasteriser. */
  canvas: StrokeCanvas;
  /** Display curve. */
  lut: Float32Array;
}

/** Allocates the buffers of {@link renderPhantom}. */
export function createRenderWorkspace(): RenderWorkspace {
  const n = PHANTOM_SIZE * PHANTOM_SIZE;
  const random = createRandom(BANK_SEED);
  const texture = new Float32Array(BANK_SIZE * BANK_SIZE);
  valueNoise(random, TEXTURE_CELLS, texture, BANK_SIZE);
  const tissue = new Float32Array(BANK_SIZE * BANK_SIZE);
  valueNoise(random, TISSUE_CELLS, tissue, BANK_SIZE);
  const angles = new Float32Array(ANGLE_SIDE * ANGLE_SIDE);
  for (let dy = -ANGLE_REACH; dy <= ANGLE_REACH; dy++) {
    for (let dx = -ANGLE_REACH; dx <= ANGLE_REACH; dx++) {
      const position = ((Math.atan2(dy, dx) + Math.PI) * POLAR_BINS) / (2 * Math.PI) - 0.5;
      angles[(dy + ANGLE_REACH) * ANGLE_SIDE + dx + ANGLE_REACH] = position;
    }
  }
  return {
    attenuation: new Float32Array(n),
    vessels: new Float32Array(n),
    blurred: new Float32Array(n),
    field: new Float32Array(n / 4),
    vesselGain: new Float32Array(n / 4),
    textureGain: new Float32Array(n / 4),
    lesion: new Float32Array(n / 4),
    texture,
    tissue,
    angles,
    line: new Float32Array(PHANTOM_SIZE),
    canvas: new StrokeCanvas(PHANTOM_SIZE),
    lut: new Float32Array(LUT_SIZE),
  };
}

function drawStrokes(ws: RenderWorkspace, phantom: PhantomCase): void {
  const { canvas, attenuation, vessels } = ws;
  const pose = phantom.pose;
  canvas.setTransform({
    cos: Math.cos(pose.angle) * pose.scale,
    sin: Math.sin(pose.angle) * pose.scale,
    scale: pose.scale,
    origin: CENTER,
    shiftX: pose.shiftX,
    shiftY: pose.shiftY,
  });
  for (const stroke of phantom.vessels) canvas.draw(stroke);
  canvas.commit(vessels);
  for (const list of [phantom.bones, phantom.pleura, phantom.devices]) {
    for (const stroke of list) canvas.stroke(attenuation, stroke);
  }
  canvas.setTransform();
  for (const stroke of phantom.filmMarks) canvas.stroke(attenuation, stroke);
}

/** Fills the display curve: a sigmoid window with gamma, from attenuation to 0..255. */
function fillLut(lut: Float32Array, phantom: PhantomCase): void {
  const { windowCenter, windowWidth, gamma } = phantom.acquisition;
  const sigmoid = (a: number) => 1 / (1 + Math.exp(-(a - windowCenter) / windowWidth));
  const low = sigmoid(0), high = sigmoid(DISPLAY_TOP);
  for (let i = 0; i < LUT_SIZE; i++) {
    const a = LUT_LOW + ((LUT_HIGH - LUT_LOW) * i) / (LUT_SIZE - 1);
    const t = Math.min(1, Math.max(0, (sigmoid(a) - low) / (high - low)));
    lut[i] = 255 * t ** gamma;
  }
}

/** Ellipse parameters packed for the pixel loop: cx, cy, cos/rx, sin/rx, cos/ry, sin/ry, amp, reach. */
const BLOB_STRIDE = 8;

function packBlobs(phantom: PhantomCase): Float64Array {
  const packed = new Float64Array(phantom.blobs.length * BLOB_STRIDE);
  phantom.blobs.forEach((blob, b) => {
    const c = Math.cos(blob.angle), s = Math.sin(blob.angle);
    packed.set(
      [
        blob.cx,
        blob.cy,
        c / blob.rx,
        s / blob.rx,
        c / blob.ry,
        s / blob.ry,
        blob.amplitude,
        Math.max(blob.rx, blob.ry),
      ],
      b * BLOB_STRIDE,
    );
  });
  return packed;
}

/**
 * Evaluates the smooth anatomy on the half-resolution grid (FIELD_SIZE^2 cells of 2 x 2 pixels):
 * the attenuation of body, lungs, silhouette, diaphragm, spine, trachea and blobs, how much of
 * the vessels and of the parenchymal texture shows (aerated lung; none where the pneumothorax
 * is), and the pneumothorax itself. Half resolution quarters the cost of this loop, the
 * generator's largest; edges come out about as soft as those of real films at 256 pixels.
 */
function evaluateFields(
  ws: RenderWorkspace,
  phantom: PhantomCase,
  tissueX: number,
  tissueY: number,
): void {
  const size = FIELD_SIZE;
  const field = ws.field, vesselGain = ws.vesselGain, textureGain = ws.textureGain;
  const lesion = ws.lesion;
  const tissue = ws.tissue, angles = ws.angles;
  const { pose, trachea, spine } = phantom;
  const [rightDome, leftDome] = phantom.domes;
  const bodyHalf = phantom.bodyHalfWidth, bodyDepth = phantom.bodyDepth;
  const bodyCenter = phantom.bodyCenter;
  const mediastinumLeft = phantom.mediastinumLeft, mediastinumRight = phantom.mediastinumRight;
  const spineShift = spine.shift, spineHalf = spine.halfWidth, spineTop = spine.top;
  const spineLevel = spine.level, spineAttenuation = spine.attenuation;
  const tracheaHalf = trachea.halfWidth, carina = trachea.carina;
  const tracheaAttenuation = trachea.attenuation;
  const bodyAttenuation = phantom.bodyAttenuation, variation = phantom.acquisition.tissueVariation;
  const airAttenuation = phantom.airAttenuation, lungTissue = phantom.lungTissue;
  const [armOffset, armHalf, armTop] = phantom.arms;
  const cavities = [phantom.lungs[0].cavity, phantom.lungs[1].cavity];
  const lungRadii = [phantom.lungs[0].lung, phantom.lungs[1].lung];
  const centers = phantom.lungs.flatMap((lung) => [lung.cx, lung.cy]);
  const boxes = phantom.lungs.flatMap((lung) => lung.box);
  const abdomen = phantom.abdomen, cardiac = phantom.cardiac;
  const blobs = packBlobs(phantom);
  const cos = Math.cos(pose.angle) / pose.scale, sin = Math.sin(pose.angle) / pose.scale;
  for (let y = 0; y < size; y++) {
    const py = 2 * y + 1 - CENTER - pose.shiftY;
    const tissueRow = (2 * y + tissueY) * BANK_SIZE + tissueX;
    for (let x = 0; x < size; x++) {
      const px = 2 * x + 1 - CENTER - pose.shiftX;
      const u = CENTER + cos * px + sin * py;
      const v = CENTER - sin * px + cos * py;
      const index = y * size + x;
      let row = Math.floor(v + 0.5) + ROW_MARGIN;
      row = row < 0 ? 0 : row >= ROW_TABLE_SIZE ? ROW_TABLE_SIZE - 1 : row;
      const du = u - bodyCenter;
      const half = bodyHalf[row];
      const r2 = (du * du) / (half * half);
      const q = 1 - r2 * r2;
      let thickness = q > 0 ? Math.sqrt(q) * bodyDepth[row] : 0;
      if (armOffset > 0 && v > armTop) {
        const d = ((du < 0 ? -du : du) - armOffset) / armHalf;
        if (d > -1 && d < 1) {
          const fade = (v - armTop) / 20;
          thickness += 0.45 * Math.sqrt(1 - d * d) * (fade < 1 ? fade : 1);
        }
      }
      if (thickness === 0) {
        field[index] =
          vesselGain[index] =
          textureGain[index] =
          lesion[index] =
            0;
        continue;
      }
      let a = bodyAttenuation * thickness * (1 + variation * tissue[tissueRow + 2 * x]);

      let air = 0, tissueFactor = 0, pneumothorax = false;
      for (let l = 0; l < 2; l++) {
        const b = 4 * l;
        if (u < boxes[b] || u > boxes[b + 1] || v < boxes[b + 2] || v > boxes[b + 3]) continue;
        const dx = u - centers[2 * l], dy = v - centers[2 * l + 1];
        if (dx < -ANGLE_REACH || dx > ANGLE_REACH || dy < -ANGLE_REACH || dy > ANGLE_REACH) {
          continue;
        }
        const cavityTable = cavities[l];
        const r = Math.sqrt(dx * dx + dy * dy);
        const position = angles[
          ((dy + ANGLE_REACH + 0.5) | 0) * ANGLE_SIDE + ((dx + ANGLE_REACH + 0.5) | 0)
        ];
        let k = Math.floor(position);
        const f = position - k;
        k = k < 0 ? k + POLAR_BINS : k;
        const k1 = k + 1 === POLAR_BINS ? 0 : k + 1;
        const cavity = cavityTable[k] + f * (cavityTable[k1] - cavityTable[k]);
        if (r >= cavity) continue;
        const s = r / cavity;
        const d = 1 - s * s;
        air = Math.sqrt(d) * (1.6 - 0.6 * d);
        const lungTable = lungRadii[l];
        const radius = lungTable[k] + f * (lungTable[k1] - lungTable[k]);
        const inside = radius - r + 0.5;
        if (inside > 0) {
          const compression = cavity / radius;
          tissueFactor = (compression < MAX_COMPRESSION ? compression : MAX_COMPRESSION) *
            (inside < 1 ? inside : 1);
        }
        pneumothorax = radius < cavity && inside < 0.5;
      }

      const spineCenter = CENTER + spineShift[row];
      const dome = u < CENTER ? rightDome : leftDome;
      const t = (u - dome.apexU) / dome.halfWidth;
      const below = v - (dome.apexV + dome.drop * t * t);
      if (below > -2) a += abdomen * thickness * (below > 4 ? 1 : (below + 2) / 6);
      const left = u - (spineCenter - mediastinumLeft[row]);
      const right = spineCenter + mediastinumRight[row] - u;
      const inner = left < right ? left : right;
      if (inner > -1.5 && v > 40) {
        const depth = (inner + 1.5) / 8;
        a += cardiac * thickness * (depth < 1 ? depth : 1) * (v < 70 ? (v - 40) / 30 : 1);
      }
      let visible = 0;
      if (air > 0) {
        visible = below < -1 ? 1 : below > 1 ? 0 : 0.5 - 0.5 * below;
        if (inner > -1.5) visible *= inner > 4.5 ? 0.2 : 1 - 0.8 * ((inner + 1.5) / 6) ** 0.7;
      }
      if (air > 0) a -= airAttenuation * air * visible * (1 - lungTissue * tissueFactor);
      textureGain[index] = TEXTURE_AMPLITUDE * air * visible * tissueFactor;
      vesselGain[index] = pneumothorax
        ? 0
        : 0.3 + 0.7 * visible * (tissueFactor > 1 ? 1 : tissueFactor);
      lesion[index] = pneumothorax && visible > 0.5 ? 1 : 0;

      const spineU = u - spineCenter;
      if (spineU > -spineHalf && spineU < spineHalf && v > spineTop) {
        const w = spineU / spineHalf;
        const level = (v - spineTop) / spineLevel;
        const f = level - Math.floor(level);
        const disc = f < 0.14 ? 0.45 : f < 0.22 || f > 0.93 ? 1.2 : 1;
        const aw = (w < 0 ? -w : w) - 0.6;
        const pedicle = (aw * aw) / 0.03 + ((f - 0.45) * (f - 0.45)) / 0.02;
        const ring = pedicle < 1 && pedicle > 0.45 ? 0.5 : 0;
        a += spineAttenuation * (Math.sqrt(1 - w * w) * disc + ring);
      }
      if (v < carina && spineU > -tracheaHalf && spineU < tracheaHalf) {
        const w = spineU / tracheaHalf;
        const fade = (carina - v) / 8;
        a -= tracheaAttenuation * Math.sqrt(1 - w * w) * (fade < 1 ? fade : 1);
      }
      for (let b = 0; b < blobs.length; b += BLOB_STRIDE) {
        const bx = u - blobs[b], by = v - blobs[b + 1], reach = blobs[b + 7];
        if (bx < -reach || bx > reach || by < -reach || by > reach) continue;
        const fx = bx * blobs[b + 2] + by * blobs[b + 3];
        const fy = by * blobs[b + 4] - bx * blobs[b + 5];
        const g = 1 - fx * fx - fy * fy;
        if (g > 0) a += blobs[b + 6] * Math.sqrt(g) * thickness;
      }
      field[index] = a;
    }
  }
}

/**
 * Adds the half-resolution fields, bilinearly upsampled, to the attenuation together with the
 * vessels and the texture they let show, and writes the mask (1 where the upsampled pneumothorax
 * is at least one half).
 */
function composeFields(
  ws: RenderWorkspace,
  mask: Uint8Array,
  textureX: number,
  textureY: number,
): void {
  const size = PHANTOM_SIZE;
  const low = UPSAMPLE_LOW, high = UPSAMPLE_HIGH, weight = UPSAMPLE_WEIGHT;
  const attenuation = ws.attenuation, vessels = ws.vessels, texture = ws.texture;
  const field = ws.field, vesselGain = ws.vesselGain, textureGain = ws.textureGain;
  const lesion = ws.lesion;
  for (let y = 0; y < size; y++) {
    const y0 = low[y] * FIELD_SIZE, y1 = high[y] * FIELD_SIZE, wy = weight[y];
    const textureRow = (y + textureY) * BANK_SIZE + textureX;
    for (let x = 0; x < size; x++) {
      const x0 = low[x], x1 = high[x], wx = weight[x];
      const a = y0 + x0, b = y0 + x1, c = y1 + x0, d = y1 + x1;
      const w00 = (1 - wx) * (1 - wy), w01 = wx * (1 - wy), w10 = (1 - wx) * wy, w11 = wx * wy;
      const index = y * size + x;
      const gain = w00 * vesselGain[a] + w01 * vesselGain[b] + w10 * vesselGain[c] +
        w11 * vesselGain[d];
      const shown = w00 * textureGain[a] + w01 * textureGain[b] + w10 * textureGain[c] +
        w11 * textureGain[d];
      attenuation[index] += w00 * field[a] + w01 * field[b] + w10 * field[c] + w11 * field[d] +
        gain * vessels[index] + shown * texture[textureRow + x];
      const inside = w00 * lesion[a] + w01 * lesion[b] + w10 * lesion[c] + w11 * lesion[d];
      mask[index] = inside >= 0.5 ? 1 : 0;
    }
  }
}

/** Blurs, equalises, maps through the display curve and adds noise, writing 0..255 into `image`. */
function develop(
  ws: RenderWorkspace,
  phantom: PhantomCase,
  image: Uint8Array,
  mask: Uint8Array,
): void {
  const size = PHANTOM_SIZE;
  const attenuation = ws.attenuation, blurred = ws.blurred, line = ws.line, lut = ws.lut;
  const acquisition = phantom.acquisition;
  for (let p = 0; p < acquisition.blurPasses; p++) binomialBlur(attenuation, size, line);
  boxBlur(attenuation, blurred, size, acquisition.equalizationRadius, line);
  fillLut(lut, phantom);
  const detail = 1 + acquisition.equalization, coarse = 1 - acquisition.compression;
  const reference = acquisition.compression * EQUALIZATION_REFERENCE;
  const lutScale = (LUT_SIZE - 1) / (LUT_HIGH - LUT_LOW);
  let state = ((phantom.noiseSeed ^ 0x9e3779b9) | 0) || 1;
  const sigma = (acquisition.noise * Math.sqrt(6)) / 65536;
  const [top, right, bottom, left] = acquisition.collimation;
  const level = Math.round(acquisition.collimationLevel);
  for (let y = 0; y < size; y++) {
    const collimatedRow = y < top || y >= size - bottom;
    for (let x = 0; x < size; x++) {
      const i = y * size + x;
      if (collimatedRow || x < left || x >= size - right) {
        image[i] = level;
        mask[i] = 0;
        continue;
      }
      const a = coarse * blurred[i] + detail * (attenuation[i] - blurred[i]) + reference;
      let position = Math.floor((a - LUT_LOW) * lutScale + 0.5);
      position = position < 0 ? 0 : position >= LUT_SIZE ? LUT_SIZE - 1 : position;
      const gray = lut[position];
      // Triangular noise: the two 16-bit halves of one xorshift32 draw, scaled to unit variance.
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const triangular = (state & 0xffff) + (state >>> 16) - 65535;
      const value = Math.floor(gray + triangular * sigma * (0.45 + gray / 340) + 0.5);
      image[i] = value < 0 ? 0 : value > 255 ? 255 : value;
    }
  }
}

/**
 * Renders `phantom` into `image` (PHANTOM_SIZE^2 gray levels) and `mask` (1 where the
 * pneumothorax is, else 0), reusing the buffers of `ws`.
 */
export function renderPhantom(
  phantom: PhantomCase,
  image: Uint8Array,
  mask: Uint8Array,
  ws: RenderWorkspace = createRenderWorkspace(),
): void {
  const size = PHANTOM_SIZE;
  ws.attenuation.fill(0);
  ws.vessels.fill(0);
  const random = createRandom(phantom.noiseSeed);
  const offsets = [0, 1, 2, 3].map(() => Math.floor(random() * (BANK_SIZE - size)));
  drawStrokes(ws, phantom);
  evaluateFields(ws, phantom, offsets[2], offsets[3]);
  composeFields(ws, mask, offsets[0], offsets[1]);
  develop(ws, phantom, image, mask);
}
