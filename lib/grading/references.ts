/**
 * The reference answers of notebook 06's questions that the library itself does not need (the
 * other references are the library's own functions: the cost, the ROC, the CAM). Only the
 * grader and the tests import this module; `"lab"` never exports it.
 *
 * @module
 */
import type { MapPeak } from "../evaluation/tube_masks.ts";

/**
 * The lab's answer to notebook 06's question `tube`: the share of `peaks` (as `localizeDataset`
 * gives them in `perImage`) that fall inside the region of their image in `masks` (n x size x
 * size, non-zero inside); 0 for no peaks.
 */
export function shareOnTube(peaks: readonly MapPeak[], masks: Uint8Array, size: number): number {
  if (peaks.length === 0) return 0;
  const hits = peaks.filter(({ index, x, y }) => masks[index * size * size + y * size + x] !== 0);
  return hits.length / peaks.length;
}

/**
 * The lab's answer to notebook 06's question `folds`: the fold (0 to `folds` - 1) of each image,
 * all images of a patient in one fold, patients dealt in turn so fold sizes stay close.
 */
export function groupedFolds(patientIds: readonly string[], folds: number): number[] {
  const patients = [...new Set(patientIds)];
  const foldOfPatient = new Map(patients.map((id, k) => [id, k % folds]));
  return patientIds.map((id) => foldOfPatient.get(id)!);
}
