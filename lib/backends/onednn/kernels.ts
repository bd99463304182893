/**
 * tfjs kernels for the wasm backend that run on oneDNN ({@link OneDnn}): `Conv2D`,
 * `FusedConv2D` (bias and ReLU, as inference runs the lab's layers), `Conv2DBackpropInput`,
 * `Conv2DBackpropFilter`, `MaxPool`, `MaxPoolGrad`, `Sum` over leading or trailing axes (the
 * bias gradients), the large `Add`, `Multiply` and `Relu` (bias additions, skip sums), and ReLU's
 * gradient as one kernel of its own: the operations that take most of a training step of the
 * lab's CNN. Tensors stay in the wasm heap; oneDNN reads and writes them there through pointers,
 * so nothing is copied.
 * Convolutions of fewer than 16 channels with filters 5 or more columns wide run on column pairs
 * (pairing.ts), and a bias of fewer than 16 numbers is added 16 at a time: both fill AVX-512
 * registers that 8 channels would leave half empty.
 *
 * With {@link OneDnnKernelOptions.precision} `bf16`, the convolutions, both their gradients and
 * the float32 matrix products of two dimensions (`_FusedMatMul`, `BatchMatMul`: the dense layer
 * and its gradients) compute in bfloat16 with float32 accumulation (binding.ts); tensors, and so
 * the weights the optimizer updates and the checkpoints, stay float32. In `fp32` the matrix
 * products stay on wasm, as they were before bfloat16.
 *
 * Cases oneDNN is not given (other dtypes, dilations, small elementwise arrays, sums over middle
 * axes) go to the kernels that were registered before (the wasm backend's own, and
 * lib/backends/wasm_gradients.ts's gradients), which {@link unregisterOneDnnKernels} puts back.
 *
 * @module
 */

import * as tf from "@tensorflow/tfjs";
import type {
  _FusedMatMulAttrs,
  BatchMatMulAttrs,
  Conv2DAttrs,
  Conv2DBackpropFilterAttrs,
  Conv2DBackpropInputAttrs,
  FusedConv2DAttrs,
  GradConfig,
  KernelConfig,
  KernelFunc,
  MaxPoolAttrs,
  MaxPoolGradAttrs,
  SumAttrs,
  TensorInfo,
} from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import type { ConvShape, PoolShape, Precision } from "./api.ts";
import type { OneDnn } from "./binding.ts";
import {
  pairBias,
  pairColumns,
  pairedFilterBuffer,
  pairFilter,
  unpairFilterGradient,
} from "./pairing.ts";

const BACKEND = "wasm";
/**
 * Elements below which an elementwise operation stays on wasm: there a call into oneDNN costs
 * more than it saves (the optimizer's updates of small weights).
 */
const ELEMENTWISE_MIN_SIZE = 1 << 16;

/** The kernels registered before {@link registerOneDnnKernels}, by name, to fall back on. */
const previous = new Map<string, KernelConfig>();
/**
 * ReLU's gradient as one kernel: tfjs's is `dy * step(x)`, a pass of wasm for the step (on one
 * core) and one of oneDNN for the product, about 26 ms of a 300 ms width-8 training step; oneDNN's
 * ReLU backward reads `x` and `dy` once.
 */
const RELU_GRAD = "OneDnnReluGrad";
/** tfjs's gradient of `Relu`, which {@link registerOneDnnKernels} replaced, to put back. */
let previousReluGradient: GradConfig | undefined;

interface Args<Inputs, Attrs> {
  inputs: Inputs;
  backend: BackendWasm;
  attrs: Attrs;
}

/** Options of {@link registerOneDnnKernels}. */
export interface OneDnnKernelOptions {
  /**
   * What convolutions, their gradients and matrix products compute in (default `fp32`); `bf16`
   * only where the CPU multiplies bfloat16 natively (lib/backends/precision.ts decides).
   */
  precision?: Precision;
}

/**
 * Registers the oneDNN kernels on the wasm backend (replacing any registered by an earlier
 * call). Register lib/backends/wasm_gradients.ts's kernels first: they serve what oneDNN is not given.
 *
 * @returns the names of the kernels registered.
 */
export function registerOneDnnKernels(onednn: OneDnn, options: OneDnnKernelOptions = {}): string[] {
  unregisterOneDnnKernels();
  const precision = options.precision ?? "fp32";
  const kernels: Array<[string, (args: never) => TensorInfo]> = [
    [
      tf.Conv2D,
      (args: Args<{ x: TensorInfo; filter: TensorInfo }, Conv2DAttrs>) =>
        conv2D(onednn, precision, args),
    ],
    [
      tf.FusedConv2D,
      (args: Args<FusedInputs, FusedConv2DAttrs>) => fusedConv2D(onednn, precision, args),
    ],
    [
      tf.Conv2DBackpropInput,
      (args: Args<{ dy: TensorInfo; filter: TensorInfo }, Conv2DBackpropInputAttrs>) =>
        conv2DBackpropInput(onednn, precision, args),
    ],
    [
      tf.Conv2DBackpropFilter,
      (args: Args<{ x: TensorInfo; dy: TensorInfo }, Conv2DBackpropFilterAttrs>) =>
        conv2DBackpropFilter(onednn, precision, args),
    ],
    [tf.MaxPool, (args: Args<{ x: TensorInfo }, MaxPoolAttrs>) => maxPool(onednn, args)],
    [
      tf.MaxPoolGrad,
      (args: Args<{ dy: TensorInfo; input: TensorInfo; output: TensorInfo }, MaxPoolGradAttrs>) =>
        maxPoolGrad(onednn, args),
    ],
    [tf.Sum, (args: Args<{ x: TensorInfo }, SumAttrs>) => sum(onednn, args)],
    [tf.Add, (args: Args<BinaryInputs, unknown>) => binary(onednn, "add", tf.Add, args)],
    [tf.Multiply, (args: Args<BinaryInputs, unknown>) => binary(onednn, "mul", tf.Multiply, args)],
    [tf.Relu, (args: Args<{ x: TensorInfo }, unknown>) => relu(onednn, args)],
  ];
  if (precision === "bf16") {
    kernels.push(
      [
        tf.BatchMatMul,
        (args: Args<MatMulInputs, BatchMatMulAttrs>) =>
          matMul(onednn, tf.BatchMatMul, precision, args),
      ],
      [
        tf._FusedMatMul,
        (args: Args<MatMulInputs, _FusedMatMulAttrs>) =>
          matMul(onednn, tf._FusedMatMul, precision, args),
      ],
    );
  }
  for (const [kernelName, kernelFunc] of kernels) {
    const before = tf.getKernel(kernelName, BACKEND);
    if (before === undefined) {
      throw new Error(`the wasm backend has no ${kernelName} kernel to fall back on`);
    }
    previous.set(kernelName, before);
    tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel({
      kernelName,
      backendName: BACKEND,
      setupFunc: before.setupFunc,
      kernelFunc: kernelFunc as unknown as KernelFunc,
    });
  }
  tf.registerKernel({
    kernelName: RELU_GRAD,
    backendName: BACKEND,
    kernelFunc: ((args: Args<{ x: TensorInfo; dy: TensorInfo }, unknown>) =>
      reluGrad(onednn, args)) as unknown as KernelFunc,
  });
  previousReluGradient = tf.getGradient(tf.Relu);
  tf.registerGradient(reluGradient(previousReluGradient));
  return [...kernels.map(([name]) => name), RELU_GRAD];
}

/** Puts back the kernels {@link registerOneDnnKernels} replaced; nothing when none are. */
export function unregisterOneDnnKernels(): void {
  for (const [kernelName, config] of previous) {
    tf.unregisterKernel(kernelName, BACKEND);
    tf.registerKernel(config);
  }
  previous.clear();
  if (previousReluGradient !== undefined) {
    tf.unregisterKernel(RELU_GRAD, BACKEND);
    tf.registerGradient(previousReluGradient);
    previousReluGradient = undefined;
  }
}

function conv2D(
  onednn: OneDnn,
  precision: Precision,
  args: Args<{ x: TensorInfo; filter: TensorInfo }, Conv2DAttrs>,
) {
  const { x, filter } = args.inputs;
  const shape = convShape(x, filter.shape, args.attrs);
  if (shape === undefined || filter.dtype !== "float32") return fallBack(tf.Conv2D, args);
  const { backend } = args;
  const y = backend.makeOutput(
    [shape.batch, shape.outHeight, shape.outWidth, shape.outChannels],
    "float32",
  );
  const run = onColumnPairs(shape, view(backend, filter));
  onednn.conv2d(run.shape, view(backend, x), run.filter, view(backend, y), { precision });
  return y;
}

interface FusedInputs {
  x: TensorInfo;
  filter: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

function fusedConv2D(
  onednn: OneDnn,
  precision: Precision,
  args: Args<FusedInputs, FusedConv2DAttrs>,
) {
  const { x, filter, bias, preluActivationWeights } = args.inputs;
  const { activation } = args.attrs;
  const shape = convShape(x, filter.shape, args.attrs);
  const supported = shape !== undefined && filter.dtype === "float32" &&
    preluActivationWeights === undefined && (activation === "linear" || activation === "relu") &&
    (bias === undefined ||
      (bias.dtype === "float32" && bias.shape.length === 1 && bias.shape[0] === shape.outChannels));
  if (!supported) return fallBack(tf.FusedConv2D, args);
  const { backend } = args;
  const y = backend.makeOutput(
    [shape.batch, shape.outHeight, shape.outWidth, shape.outChannels],
    "float32",
  );
  const run = onColumnPairs(shape, view(backend, filter));
  const biasView = bias === undefined ? undefined : view(backend, bias);
  onednn.conv2d(run.shape, view(backend, x), run.filter, view(backend, y), {
    bias: biasView !== undefined && run.shape !== shape ? pairBias(biasView) : biasView,
    relu: activation === "relu",
    precision,
  });
  return y;
}

function conv2DBackpropInput(
  onednn: OneDnn,
  precision: Precision,
  args: Args<{ dy: TensorInfo; filter: TensorInfo }, Conv2DBackpropInputAttrs>,
) {
  const { dy, filter } = args.inputs;
  const { inputShape } = args.attrs;
  const shape = convShape({ shape: inputShape, dtype: dy.dtype }, filter.shape, args.attrs);
  if (shape === undefined || filter.dtype !== "float32") {
    return fallBack(tf.Conv2DBackpropInput, args);
  }
  const { backend } = args;
  const dx = backend.makeOutput([...inputShape], "float32");
  const run = onColumnPairs(shape, view(backend, filter));
  onednn.conv2dBackpropInput(
    run.shape,
    view(backend, dy),
    run.filter,
    view(backend, dx),
    precision,
  );
  return dx;
}

function conv2DBackpropFilter(
  onednn: OneDnn,
  precision: Precision,
  args: Args<{ x: TensorInfo; dy: TensorInfo }, Conv2DBackpropFilterAttrs>,
) {
  const { x, dy } = args.inputs;
  const shape = convShape(x, args.attrs.filterShape, args.attrs);
  if (shape === undefined || dy.dtype !== "float32") {
    return fallBack(tf.Conv2DBackpropFilter, args);
  }
  const { backend } = args;
  const dFilter = backend.makeOutput([...args.attrs.filterShape], "float32");
  const paired = pairColumns(shape);
  if (paired === undefined) {
    onednn.conv2dBackpropFilter(
      shape,
      view(backend, x),
      view(backend, dy),
      view(backend, dFilter),
      precision,
    );
  } else {
    const pairedGradient = pairedFilterBuffer(paired);
    onednn.conv2dBackpropFilter(
      paired,
      view(backend, x),
      view(backend, dy),
      pairedGradient,
      precision,
    );
    unpairFilterGradient(shape, paired, pairedGradient, view(backend, dFilter));
  }
  return dFilter;
}

/** The convolution to run and its filter: on column pairs where pairing.ts applies, else as is. */
function onColumnPairs(shape: ConvShape, filter: Float32Array) {
  const paired = pairColumns(shape);
  return paired === undefined
    ? { shape, filter }
    : { shape: paired, filter: pairFilter(shape, paired, filter) };
}

/**
 * Where each maximum of a max-pool run while gradients were recorded lies (oneDNN's workspace),
 * by the pool's output: its gradient gets that output as an input, and then need not find the
 * maxima again. Weak: an entry goes with its tensor.
 */
const poolWorkspaces = new WeakMap<DataId, Uint8Array>();

type DataId = TensorInfo["dataId"];

function maxPool(onednn: OneDnn, args: Args<{ x: TensorInfo }, MaxPoolAttrs>) {
  const { x } = args.inputs;
  const shape = poolShape(x, args.attrs);
  if (shape === undefined) return fallBack(tf.MaxPool, args);
  const { backend } = args;
  const y = backend.makeOutput(
    [shape.batch, shape.outHeight, shape.outWidth, shape.inChannels],
    "float32",
  );
  if (recordingGradients()) {
    const workspace = new Uint8Array(new ArrayBuffer(onednn.maxPoolWorkspaceBytes(shape)));
    onednn.maxPool(shape, view(backend, x), view(backend, y), workspace);
    poolWorkspaces.set(y.dataId, workspace);
  } else {
    onednn.maxPool(shape, view(backend, x), view(backend, y));
  }
  return y;
}

function maxPoolGrad(
  onednn: OneDnn,
  args: Args<{ dy: TensorInfo; input: TensorInfo; output: TensorInfo }, MaxPoolGradAttrs>,
) {
  const { dy, input, output } = args.inputs;
  const shape = poolShape(input, args.attrs);
  if (shape === undefined || dy.dtype !== "float32") return fallBack(tf.MaxPoolGrad, args);
  const { backend } = args;
  const dx = backend.makeOutput([...input.shape], "float32");
  const workspace = poolWorkspaces.get(output.dataId);
  if (workspace === undefined) {
    onednn.maxPoolGrad(shape, view(backend, input), view(backend, dy), view(backend, dx));
  } else {
    onednn.maxPoolGrad(
      shape,
      view(backend, input),
      view(backend, dy),
      view(backend, dx),
      workspace,
    );
  }
  return dx;
}

interface MatMulInputs {
  a: TensorInfo;
  b: TensorInfo;
  bias?: TensorInfo;
  preluActivationWeights?: TensorInfo;
}

/**
 * `BatchMatMul` and `_FusedMatMul` (without activation) of two float32 matrices, as rank 2 or as
 * rank 3 with one batch (tfjs's `matMul` makes 2-D products rank 3), with a bias row where given.
 */
function matMul(
  onednn: OneDnn,
  kernelName: string,
  precision: Precision,
  args: Args<MatMulInputs, Partial<_FusedMatMulAttrs>>,
) {
  const { a, b, bias, preluActivationWeights } = args.inputs;
  const { transposeA = false, transposeB = false, activation = "linear" } = args.attrs;
  const rank = a.shape.length;
  const m = a.shape[transposeA ? rank - 1 : rank - 2],
    k = a.shape[transposeA ? rank - 2 : rank - 1];
  const n = b.shape[transposeB ? rank - 2 : rank - 1];
  const supported = a.dtype === "float32" && b.dtype === "float32" &&
    b.shape.length === rank &&
    (rank === 2 || (rank === 3 && a.shape[0] === 1 && b.shape[0] === 1)) &&
    [m, k, n].every((size) => size > 0) && activation === "linear" &&
    preluActivationWeights === undefined &&
    (bias === undefined ||
      (bias.dtype === "float32" && bias.shape.length === 1 && bias.shape[0] === n));
  if (!supported) return fallBack(kernelName, args);
  const { backend } = args;
  const c = backend.makeOutput(rank === 2 ? [m, n] : [1, m, n], "float32");
  onednn.matMul(m, k, n, view(backend, a), view(backend, b), view(backend, c), {
    transposeA,
    transposeB,
    bias: bias === undefined ? undefined : view(backend, bias),
    precision,
  });
  return c;
}

/** Whether tfjs records the operations run now for a gradient (inside `tf.grads`, `minimize`). */
function recordingGradients(): boolean {
  return (tf.engine().state as unknown as { gradientDepth: number }).gradientDepth > 0;
}

/** Sums over leading axes (rows) or trailing axes (columns) of the array seen as a matrix. */
function sum(onednn: OneDnn, args: Args<{ x: TensorInfo }, SumAttrs>) {
  const { x } = args.inputs;
  const axes = tf.util.parseAxisParam(args.attrs.axis, x.shape).sort((a, b) => a - b);
  const rank = x.shape.length;
  const leading = axes.every((axis, i) => axis === i);
  const trailing = axes.every((axis, i) => axis === rank - axes.length + i);
  if (x.dtype !== "float32" || axes.length === 0 || x.shape.includes(0) || !(leading || trailing)) {
    return fallBack(tf.Sum, args);
  }
  const split = leading ? axes.length : rank - axes.length;
  const rows = tf.util.sizeFromShape(x.shape.slice(0, split));
  const columns = tf.util.sizeFromShape(x.shape.slice(split));
  const kept = x.shape.map((size, axis) => axes.includes(axis) ? 1 : size);
  const { backend } = args;
  const y = backend.makeOutput(
    args.attrs.keepDims ? kept : x.shape.filter((_, axis) => !axes.includes(axis)),
    "float32",
  );
  onednn.sum(rows, columns, leading ? "rows" : "columns", view(backend, x), view(backend, y));
  return y;
}

interface BinaryInputs {
  a: TensorInfo;
  b: TensorInfo;
}

/**
 * `a + b` or `a * b` of large float32 arrays where one input has the output's shape and the
 * other broadcasts to it (rank at most 5).
 */
function binary(
  onednn: OneDnn,
  op: "add" | "mul",
  kernelName: string,
  args: Args<BinaryInputs, unknown>,
) {
  const { a, b } = args.inputs;
  const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const size = tf.util.sizeFromShape(shape);
  const [full, other] = tf.util.arraysEqual(a.shape, shape) ? [a, b] : [b, a];
  const supported = a.dtype === "float32" && b.dtype === "float32" &&
    size >= ELEMENTWISE_MIN_SIZE && shape.length <= 5 && tf.util.arraysEqual(full.shape, shape);
  if (!supported) return fallBack(kernelName, args);
  const otherShape = [...Array(shape.length - other.shape.length).fill(1), ...other.shape];
  const { backend } = args;
  const out = backend.makeOutput(shape, "float32");
  const rowVector = widenRowVector(shape, otherShape, view(backend, other));
  onednn.binary(
    op,
    rowVector?.shape ?? shape,
    rowVector?.otherShape ?? otherShape,
    view(backend, full),
    rowVector?.other ?? view(backend, other),
    view(backend, out),
  );
  return out;
}

/** Floats in an AVX-512 register. */
const LANES = 16;

/**
 * A row vector of fewer than 16 numbers broadcast over the last axis (the bias of a convolution
 * with 8 channels) as one of 16, repeated, over rows of 16: oneDNN's broadcast runs one row per
 * register, so 8 numbers would fill half of each (measured: 9.5 ms, then about 6, for the lab's
 * width-8 bias addition on `[15, 256, 256, 8]`). `undefined` where this does not apply.
 */
function widenRowVector(shape: number[], otherShape: number[], other: Float32Array) {
  const columns = shape[shape.length - 1];
  const rowVector = otherShape[shape.length - 1] === columns &&
    otherShape.every((size, axis) => size === 1 || axis === shape.length - 1);
  const size = tf.util.sizeFromShape(shape);
  if (!rowVector || columns >= LANES || LANES % columns !== 0 || size % LANES !== 0) return;
  const widened = new Float32Array(new ArrayBuffer(4 * LANES));
  for (let start = 0; start < LANES; start += columns) widened.set(other, start);
  return { shape: [size / LANES, LANES], otherShape: [1, LANES], other: widened };
}

function relu(onednn: OneDnn, args: Args<{ x: TensorInfo }, unknown>) {
  const { x } = args.inputs;
  const size = tf.util.sizeFromShape(x.shape);
  if (x.dtype !== "float32" || size < ELEMENTWISE_MIN_SIZE) return fallBack(tf.Relu, args);
  const { backend } = args;
  const y = backend.makeOutput([...x.shape], "float32");
  onednn.relu(size, view(backend, x), view(backend, y));
  return y;
}

/**
 * `Relu`'s gradient: {@link RELU_GRAD} on wasm for large float32 arrays, tfjs's own otherwise
 * (other backends, small arrays).
 */
function reluGradient(original: GradConfig): GradConfig {
  return {
    kernelName: tf.Relu,
    inputsToSave: ["x"],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const gradient = dy as tf.Tensor;
      const large = x.dtype === "float32" && gradient.dtype === "float32" &&
        x.size >= ELEMENTWISE_MIN_SIZE;
      if (!large || tf.getBackend() !== BACKEND) return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(RELU_GRAD, { x, dy: gradient }) as tf.Tensor };
    },
  };
}

function reluGrad(onednn: OneDnn, args: Args<{ x: TensorInfo; dy: TensorInfo }, unknown>) {
  const { x, dy } = args.inputs;
  const { backend } = args;
  const dx = backend.makeOutput([...x.shape], "float32");
  onednn.reluGrad(
    tf.util.sizeFromShape(x.shape),
    view(backend, x),
    view(backend, dy),
    view(backend, dx),
  );
  return dx;
}

/** The convolution as oneDNN is given it, or `undefined` for a case left to the fallback. */
function convShape(
  x: Pick<TensorInfo, "shape" | "dtype">,
  filterShape: readonly number[],
  attrs: {
    strides: number | [number, number];
    pad: Conv2DAttrs["pad"];
    dataFormat: string;
    dimRoundingMode?: Conv2DAttrs["dimRoundingMode"];
    dilations?: number | [number, number];
  },
): ConvShape | undefined {
  if (x.dtype !== "float32" || attrs.dataFormat !== "NHWC" || x.shape.length !== 4) return;
  if (x.shape.includes(0) || filterShape.includes(0)) return;
  const dilations = attrs.dilations ?? 1;
  if (typeof dilations === "number" ? dilations !== 1 : dilations.some((d) => d !== 1)) return;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return geometry(info, info.outChannels);
}

/** The max-pool as oneDNN is given it, or `undefined` for a case left to the fallback. */
function poolShape(
  x: TensorInfo,
  attrs: MaxPoolAttrs,
): PoolShape | undefined {
  if (x.dtype !== "float32" || x.shape.length !== 4 || x.shape.includes(0)) return;
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterSize,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return geometry(info);
}

/**
 * The geometry of tfjs's convolution info, with the bottom and right padding that make oneDNN's
 * output size equal tfjs's: tfjs may round a pad that oneDNN would count as another row, and a
 * strided window may skip the last rows (a negative padding, which oneDNN takes).
 */
function geometry(info: tf.backend_util.Conv2DInfo): PoolShape;
function geometry(info: tf.backend_util.Conv2DInfo, outChannels: number): ConvShape;
function geometry(info: tf.backend_util.Conv2DInfo, outChannels?: number) {
  const { padInfo, strideHeight, strideWidth, filterHeight, filterWidth } = info;
  const padBottom = (info.outHeight - 1) * strideHeight + filterHeight - info.inHeight -
    padInfo.top;
  const padRight = (info.outWidth - 1) * strideWidth + filterWidth - info.inWidth - padInfo.left;
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    ...(outChannels === undefined ? {} : { outChannels }),
    filterHeight,
    filterWidth,
    strideHeight,
    strideWidth,
    padTop: padInfo.top,
    padBottom,
    padLeft: padInfo.left,
    padRight,
  };
}

/** The tensor's float32 data where it lies in the wasm heap. */
function view(backend: BackendWasm, tensor: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(tensor) as Float32Array;
}

function fallBack(kernelName: string, args: Args<unknown, unknown>): TensorInfo {
  const kernel = previous.get(kernelName);
  if (kernel === undefined) throw new Error(`no ${kernelName} kernel to fall back on`);
  return kernel.kernelFunc(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
}
