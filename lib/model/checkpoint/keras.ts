/**
 * Weights exchanged with Python as Keras HDF5 files, through h5wasm: written in the layout of
 * Keras 2's `model.save_weights("x.h5")` (which Keras 3 loads too), read in that layout or in
 * Keras 3's own `.weights.h5` layout.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import h5wasm from "h5wasm/node";
import { DataFileError } from "../../core/errors.ts";
import { replaceFile } from "../../core/fs.ts";
import { openHdf5, readyHdf5 } from "../../data/lab_files.ts";
import type { PneumothoraxDetectionModel } from "../model.ts";

/** The Keras name of a tfjs weight: `conv1/kernel` becomes `conv1/kernel:0`. */
function kerasWeightName(name: string): string {
  return `${name}:0`;
}

/**
 * Writes the model's weights to `path` as Keras 2's `save_weights` HDF5 layout: root
 * attributes `layer_names`, `backend`, `keras_version`; per layer a group with the attribute
 * `weight_names` (`conv1/kernel:0`, ...) and each weight as a float32 dataset at
 * `<layer>/<weight name>`. Written to `<path>.tmp` and renamed.
 */
export async function exportKerasWeights(
  model: PneumothoraxDetectionModel,
  path: string,
): Promise<void> {
  await readyHdf5();
  const temp = `${path}.tmp`;
  const file = new h5wasm.File(temp, "w");
  try {
    const layers = model.network.layers;
    file.create_attribute("layer_names", layers.map((layer) => layer.name));
    file.create_attribute("backend", "tensorflow");
    file.create_attribute("keras_version", "2.15.0");
    for (const layer of layers) {
      const group = file.create_group(layer.name);
      const names = layer.weights.map((weight) => kerasWeightName(weight.originalName));
      if (names.length === 0) {
        group.create_attribute("weight_names", [], [0], "S1");
        continue;
      }
      group.create_attribute("weight_names", names);
      layer.weights.forEach((weight, i) => {
        const parts = names[i].split("/");
        let parent = group;
        for (const part of parts.slice(0, -1)) {
          parent = (parent.get(part) as typeof group | null) ?? parent.create_group(part);
        }
        const values = weight.read().dataSync() as Float32Array;
        parent.create_dataset({
          name: parts.at(-1)!,
          data: values,
          shape: weight.shape as number[],
          dtype: "<f",
        });
      });
    }
  } finally {
    file.close();
  }
  await replaceFile(temp, path);
}

type H5Group = InstanceType<typeof h5wasm.Group>;

/** Reads an attribute of `entity` as a list of strings. */
function stringList(entity: H5Group, name: string): string[] {
  const value = entity.attrs[name]?.value;
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/**
 * Where Keras 3's `.weights.h5` layout keeps each layer's weights: `layers/<key>/vars/<i>`,
 * keyed not by the layer's name but by its class in snake case, numbered by order among the
 * model's layers of that class (`conv2d`, `conv2d_1`, ..., `dense`).
 */
function keras3Keys(layers: tf.layers.Layer[]): Map<tf.layers.Layer, string> {
  const seen = new Map<string, number>();
  return new Map(layers.map((layer) => {
    // Keras' own snake case: Conv2D -> conv2d, GlobalAveragePooling2D -> global_average_pooling2d.
    const base = layer.getClassName().replace(/(.)([A-Z][a-z]+)/g, "$1_$2")
      .replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return [layer, count === 0 ? base : `${base}_${count}`];
  }));
}

/** The weights of one layer read from a Keras file, checked against the layer's shapes. */
function readKerasLayer(
  file: H5Group,
  path: string,
  layer: tf.layers.Layer,
  keras3Key?: string,
): tf.Tensor[] {
  const fail = (problem: string): never => {
    throw new DataFileError({ file: path, dataset: layer.name }, problem);
  };
  if (keras3Key !== undefined) {
    const vars = file.get(`layers/${keras3Key}/vars`);
    if (!(vars instanceof h5wasm.Group)) return fail(`no 'layers/${keras3Key}/vars' in the file`);
    return layer.weights.map((weight, i) => {
      const dataset = vars.get(String(i));
      if (!(dataset instanceof h5wasm.Dataset)) {
        return fail(`'layers/${keras3Key}/vars/${i}' is missing`);
      }
      const shape = dataset.shape ?? [];
      if (shape.join() !== weight.shape.join()) {
        fail(
          `'layers/${keras3Key}/vars/${i}' has shape [${shape}], the model expects [${weight.shape}]`,
        );
      }
      return tf.tensor(Float32Array.from(dataset.value as ArrayLike<number>), shape);
    });
  }
  const group = file.get(layer.name);
  if (!(group instanceof h5wasm.Group)) return fail("layer missing from the file");
  const names = stringList(group, "weight_names");
  if (names.length !== layer.weights.length) {
    fail(`has ${names.length} weights, the model's layer has ${layer.weights.length}`);
  }
  const datasets = names.map((name, i) => {
    const dataset = group.get(name);
    if (!(dataset instanceof h5wasm.Dataset)) return fail(`weight '${name}' is missing`);
    const shape = dataset.shape ?? [];
    if (shape.join() !== layer.weights[i].shape.join()) {
      fail(`weight '${name}' has shape [${shape}], the model expects [${layer.weights[i].shape}]`);
    }
    return dataset;
  });
  return datasets.map((dataset) =>
    tf.tensor(Float32Array.from(dataset.value as ArrayLike<number>), dataset.shape ?? [])
  );
}

/**
 * Loads weights from a Keras `save_weights` HDF5 file into `model`: Keras 2's layout (and Keras
 * 3's legacy `.h5`), matching layers by name and weights by order within a layer (as Keras'
 * `load_weights(by_name=True)`), or Keras 3's `.weights.h5` layout, matching layers by class
 * and order (as Keras 3 itself does). Every shape is checked before anything is loaded; a
 * {@link DataFileError} names the file, the layer and the difference.
 */
export async function importKerasWeights(
  model: PneumothoraxDetectionModel,
  path: string,
): Promise<void> {
  const file = await openHdf5(path);
  const layers = model.network.layers.filter((layer) => layer.weights.length > 0);
  const keys = file.get("layers") instanceof h5wasm.Group
    ? keras3Keys(model.network.layers)
    : undefined;
  const values: tf.Tensor[][] = [];
  try {
    for (const layer of layers) values.push(readKerasLayer(file, path, layer, keys?.get(layer)));
    layers.forEach((layer, i) => layer.setWeights(values[i]));
  } finally {
    file.close();
    tf.dispose(values.flat());
  }
}
