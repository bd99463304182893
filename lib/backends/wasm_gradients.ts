/**
 * Convolution gradient kernels for the tfjs wasm backend (4.22), so that it trains the lab's CNN.
 *
 * The wasm backend has a fast forward convolution (XNNPACK) but no `Conv2DBackpropFilter`, so
 * `tf.grad` of any convolution throws there; and its `Conv2DBackpropInput` is a plain loop about
 * ten times slower than the forward convolution. No npm package provides better ones, so both are
 * written here as forward convolutions run by the backend's own `Conv2D` kernel (and its
 * `Slice`, `PadV2`, `Transpose`, `Reverse` kernels, through `tf.getKernel(name, "wasm")`):
 *
 * - filter gradient: `dW[a, b, i, o] = sum over n, h, w of xpad[n, h*s + a, w*s + b, i] *
 *   dy[n, h, w, o]` is a valid convolution of the padded input laid out as `[inC, H, W, n]`
 *   (channels as the batch, images as the channels) with `dy` laid out as `[outH, outW, n, outC]`
 *   (the output gradient as the filter), dilated by the stride; the result `[inC, kh, kw, outC]`
 *   is transposed to `[kh, kw, inC, outC]`. Images are processed in chunks, so the temporary
 *   buffers stay under {@link WasmGradientOptions.chunkBytes} (or one image's worth, if larger)
 *   whatever the batch; a full im2col would need `kh * kw` times the input.
 * - input gradient (stride 1): `dx` is the convolution of `dy`, padded by `k - 1 - pad`, with the
 *   filter flipped in space and its channels swapped. Strided cases keep the backend's kernel.
 *
 * It also makes `Identity` (and `Cast` to the same dtype) share the input's data instead of
 * copying it, as the cpu backend does: tfjs clones every tensor it saves for the backward pass,
 * which on wasm copied each activation of the network about nine times per training step.
 * Sharing is safe because kernels never write into their inputs.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type {
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { UsageError } from "../core/errors.ts";

/** Default bound on the temporary buffers of one chunk of images in the filter gradient. */
export const WASM_GRADIENT_CHUNK_BYTES = 128 * 1024 * 1024;

/** Options of {@link registerWasmGradients}. */
export interface WasmGradientOptions {
  /**
   * Bytes the temporary buffers of one chunk of images may take in the filter gradient; larger
   * chunks make bigger matrix products (faster) at the cost of memory. Default 128 MiB.
   */
  chunkBytes?: number;
}

const BACKEND = "wasm";
const FLOAT_BYTES = 4;
const NHWC = "NHWC";
/** Maps each replacement registered here (`Conv2DBackpropInput`, `Cast`) to the kernel it wraps. */
const WRAPPED = new WeakMap<KernelConfig, KernelConfig>();

/**
 * Registers the convolution gradient kernels for the wasm backend: `Conv2DBackpropFilter` (which
 * it lacks) and a faster `Conv2DBackpropInput` (replacing its own, which stays in use for strided
 * convolutions), and the sharing `Identity` and `Cast` (see the module's notes). Call it before
 * training on wasm; calling it again replaces the kernels with ones using the new options.
 *
 * @returns the names of the kernels registered.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import "@tensorflow/tfjs-backend-wasm";
 * import { registerWasmGradients } from "./wasm_gradients.ts";
 * registerWasmGradients();
 * await tf.setBackend("wasm");
 * const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
 * const dw = tf.grad((w) => tf.conv2d(x, w as tf.Tensor4D, 1, "same").sum())(tf.ones([3, 3, 1, 1]));
 * if (dw.dataSync()[4] !== 16) throw new Error("the centre tap sees all 16 pixels");
 * ```
 */
export function registerWasmGradients(options: WasmGradientOptions = {}): string[] {
  const chunkBytes = options.chunkBytes ?? WASM_GRADIENT_CHUNK_BYTES;
  if (!(chunkBytes > 0)) throw new UsageError(`chunkBytes must be positive, got ${chunkBytes}`);
  const native = backendKernel(tf.Conv2DBackpropInput);
  const input: KernelConfig = {
    kernelName: tf.Conv2DBackpropInput,
    backendName: BACKEND,
    setupFunc: native.setupFunc,
    kernelFunc: ((args: InputArgs) =>
      conv2DBackpropInput(
        args,
        native.kernelFunc as unknown as InputKernel,
      )) as unknown as KernelFunc,
  };
  const nativeCast = backendKernel(tf.Cast);
  const cast: KernelConfig = {
    kernelName: tf.Cast,
    backendName: BACKEND,
    kernelFunc:
      ((args: CastArgs) =>
        args.attrs.dtype === args.inputs.x.dtype ? share(args) : nativeCast.kernelFunc(
          args as unknown as Parameters<KernelFunc>[0],
        )) as unknown as KernelFunc,
  };
  WRAPPED.set(input, native);
  WRAPPED.set(cast, nativeCast);
  const kernels: KernelConfig[] = [
    {
      kernelName: tf.Conv2DBackpropFilter,
      backendName: BACKEND,
      kernelFunc:
        ((args: FilterArgs) => conv2DBackpropFilter(args, chunkBytes)) as unknown as KernelFunc,
    },
    input,
    { kernelName: tf.Identity, backendName: BACKEND, kernelFunc: share as unknown as KernelFunc },
    cast,
  ];
  for (const kernel of kernels) {
    if (tf.getKernel(kernel.kernelName, BACKEND) !== undefined) {
      tf.unregisterKernel(kernel.kernelName, BACKEND);
    }
    tf.registerKernel(kernel);
  }
  return kernels.map((kernel) => kernel.kernelName);
}

interface CastArgs {
  inputs: { x: TensorInfo };
  backend: BackendWasm;
  attrs: { dtype: string };
}

/** The input itself as the output: the same data, one more reference to it. */
function share({ inputs, backend }: { inputs: { x: TensorInfo }; backend: BackendWasm }) {
  const { x } = inputs;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** The backend's own kernel of that name, found once and kept across re-registrations. */
function backendKernel(kernelName: string): KernelConfig {
  const current = tf.getKernel(kernelName, BACKEND);
  if (current === undefined) {
    throw new Error("the wasm backend is not loaded: import '@tensorflow/tfjs-backend-wasm' first");
  }
  return WRAPPED.get(current) ?? current;
}

type InputKernel = (args: InputArgs) => TensorInfo;

interface FilterArgs {
  inputs: { x: TensorInfo; dy: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropFilterAttrs;
}

interface InputArgs {
  inputs: { dy: TensorInfo; filter: TensorInfo };
  backend: BackendWasm;
  attrs: Conv2DBackpropInputAttrs;
}

function conv2DBackpropFilter({ inputs, backend, attrs }: FilterArgs, chunkBytes: number) {
  const { x, dy } = inputs;
  const info = convInfo(x.shape, attrs.filterShape, attrs);
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = info;
  const { filterHeight, filterWidth, strideHeight, strideWidth, padInfo } = info;
  const padBottom = Math.max(
    0,
    (outHeight - 1) * strideHeight + filterHeight - inHeight - padInfo.top,
  );
  const padRight = Math.max(0, (outWidth - 1) * strideWidth + filterWidth - inWidth - padInfo.left);
  const paddings = [[0, 0], [padInfo.top, padBottom], [padInfo.left, padRight], [0, 0]];
  const paddedPixels = (inHeight + padInfo.top + padBottom) * (inWidth + padInfo.left + padRight);
  const bytesPerImage = FLOAT_BYTES * (inHeight * inWidth * inChannels +
    2 * paddedPixels * inChannels + 3 * outHeight * outWidth * outChannels);
  const chunk = Math.max(1, Math.min(batchSize, Math.floor(chunkBytes / bytesPerImage)));
  const sums = new Float32Array(filterHeight * filterWidth * inChannels * outChannels);
  for (let start = 0; start < batchSize; start += chunk) {
    const n = Math.min(chunk, batchSize - start);
    const scope = new Scope(backend);
    const xChunk = n === batchSize ? x : scope.run(tf.Slice, { x }, {
      begin: [start, 0, 0, 0],
      size: [n, inHeight, inWidth, inChannels],
    });
    const padded = paddings.some(([before, after]) => before + after > 0)
      ? scope.run(tf.PadV2, { x: xChunk }, { paddings, constantValue: 0 })
      : xChunk;
    const images = scope.run(tf.Transpose, { x: padded }, { perm: [3, 1, 2, 0] });
    const dyChunk = n === batchSize ? dy : scope.run(tf.Slice, { x: dy }, {
      begin: [start, 0, 0, 0],
      size: [n, outHeight, outWidth, outChannels],
    });
    const filter = scope.run(tf.Transpose, { x: dyChunk }, { perm: [1, 2, 0, 3] });
    const product = scope.run(tf.Conv2D, { x: images, filter }, {
      strides: 1,
      pad: "valid",
      dataFormat: NHWC,
      dilations: [strideHeight, strideWidth],
    });
    const cropped = scope.run(tf.Slice, { x: product }, {
      begin: [0, 0, 0, 0],
      size: [inChannels, filterHeight, filterWidth, outChannels],
    });
    const gradient = scope.run(tf.Transpose, { x: cropped }, { perm: [1, 2, 0, 3] });
    const values = backend.typedArrayFromHeap(gradient);
    for (let k = 0; k < sums.length; k++) sums[k] += values[k];
    scope.dispose();
  }
  const out = backend.makeOutput(attrs.filterShape, "float32");
  backend.typedArrayFromHeap(out).set(sums);
  return out;
}

function conv2DBackpropInput({ inputs, backend, attrs }: InputArgs, native: InputKernel) {
  const { dy, filter } = inputs;
  const info = convInfo(attrs.inputShape, filter.shape, attrs);
  const { filterHeight, filterWidth, inHeight, inWidth, outHeight, outWidth, padInfo } = info;
  const top = filterHeight - 1 - padInfo.top;
  const left = filterWidth - 1 - padInfo.left;
  const bottom = inHeight + filterHeight - 1 - outHeight - top;
  const right = inWidth + filterWidth - 1 - outWidth - left;
  const strided = info.strideHeight !== 1 || info.strideWidth !== 1;
  if (strided || Math.min(top, left, bottom, right) < 0) {
    return native({ inputs, backend, attrs });
  }
  const scope = new Scope(backend);
  const flipped = scope.run(tf.Reverse, { x: filter }, { dims: [0, 1] });
  const swapped = scope.run(tf.Transpose, { x: flipped }, { perm: [0, 1, 3, 2] });
  const dx = run(backend, tf.Conv2D, { x: dy, filter: swapped }, {
    strides: 1,
    pad: [[0, 0], [top, bottom], [left, right], [0, 0]],
    dataFormat: NHWC,
    dilations: 1,
  });
  scope.dispose();
  return dx;
}

function convInfo(
  inShape: number[],
  filterShape: number[],
  attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs,
): tf.backend_util.Conv2DInfo {
  if (attrs.dataFormat !== NHWC) {
    throw new Error(`the wasm convolution gradients support NHWC only, got ${attrs.dataFormat}`);
  }
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
}

/** Backend tensors made by one step of a kernel, freed together. */
class Scope {
  private readonly made: TensorInfo[] = [];

  constructor(private readonly backend: BackendWasm) {}

  /** Runs a wasm kernel and keeps its output for {@link Scope.dispose}. */
  run(name: string, inputs: Record<string, TensorInfo>, attrs: NamedAttrMap): TensorInfo {
    const output = run(this.backend, name, inputs, attrs);
    this.made.push(output);
    return output;
  }

  /** Frees every output made in this scope. */
  dispose(): void {
    for (const info of this.made) this.backend.disposeData(info.dataId);
  }
}

/** Runs one of the wasm backend's own kernels on backend tensors, outside the engine. */
function run(
  backend: BackendWasm,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap,
): TensorInfo {
  const kernel = tf.getKernel(name, BACKEND);
  if (kernel === undefined) throw new Error(`the wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}
