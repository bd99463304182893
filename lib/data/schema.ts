/**
 * The lab's data contract in one home: the image size, the classes and which label column is
 * pneumothorax. Every layer reads them from here (the loaders, the model, the CAM, the figures,
 * the grader), so none keeps a copy that could drift.
 *
 * @module
 */

/** Side of the lab's square X-rays in pixels. */
export const IMAGE_SIZE = 256;
/** Number of classes: column 0 = no pneumothorax, column 1 = pneumothorax. */
export const NUM_CLASSES = 2;
/** Column of the pneumothorax class in labels, logits and the dense kernel. */
export const PNEUMOTHORAX_CLASS = 1;
/** Names of the lab's classes: label 0 and label 1. */
export const CLASS_NAMES = ["normal", "pneumothorax"] as const;
