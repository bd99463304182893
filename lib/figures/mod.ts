/**
 * The lab's plots, re-exported from their files, one idea per file: what a figure is
 * (`figure.ts`), X-rays and grids (`xray.ts`), the ROC curve (`roc.ts`), training curves
 * (`training_curves.ts`) and a CAM over its X-ray (`cam_overlay.ts`); `_plot.ts` holds what they
 * share. Beside them: the CAM figure with its prediction (`cam.ts`), heat-map colours and PNG
 * overlays (`overlay.ts`), and the phantoms' contact sheet (`contact_sheet.ts`). Figures are
 * leaves: nothing below the notebooks imports them.
 *
 * @module
 */
export { type CamPlotOptions, plotCamOverlay } from "./cam_overlay.ts";
export {
  type Figure,
  type FigureElement,
  JUPYTER_DISPLAY,
  type Label,
  type MimeBundle,
  mimeBundle,
  savePlot,
} from "./figure.ts";
export { plotRoc, ROC_SIZE, type RocPlotOptions } from "./roc.ts";
export {
  plotTrainingCurves,
  type StepValue,
  type TrainingCurves,
  type TrainingPlotOptions,
} from "./training_curves.ts";
export {
  GRID_CELL_SIZE,
  GRID_COLUMNS,
  plotXray,
  plotXrayGrid,
  XRAY_SIZE,
  type XrayGridOptions,
  type XrayPlotOptions,
} from "./xray.ts";
