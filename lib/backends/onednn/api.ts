/**
 * What the oneDNN binding needs from a version of oneDNN's C API, written once: the shapes the
 * kernels pass, and the {@link Driver} each version's FFI table (ffi_v2.ts, ffi_v3.ts) provides.
 *
 * oneDNN 2 and 3 compute the same primitives but build them differently: version 2 fills
 * caller-allocated descriptor structs (a 696-byte memory descriptor, an operation descriptor) and
 * then creates a primitive descriptor from them; version 3 hides memory descriptors behind
 * pointers and creates each primitive descriptor in one call. The driver is the seam: the
 * binding (binding.ts) asks it for descriptors and primitive descriptors and never sees which.
 *
 * @module
 */

import { LabError } from "../../core/errors.ts";

/** Shape of a 2-D convolution on NHWC arrays with filters `[kh, kw, in, out]` (no dilation). */
export interface ConvShape {
  /** Images. */
  batch: number;
  /** Input height. */
  inHeight: number;
  /** Input width. */
  inWidth: number;
  /** Input channels. */
  inChannels: number;
  /** Output height. */
  outHeight: number;
  /** Output width. */
  outWidth: number;
  /** Output channels. */
  outChannels: number;
  /** Filter height. */
  filterHeight: number;
  /** Filter width. */
  filterWidth: number;
  /** Vertical stride. */
  strideHeight: number;
  /** Horizontal stride. */
  strideWidth: number;
  /** Rows of zeros above the input. */
  padTop: number;
  /** Rows of zeros below the input. */
  padBottom: number;
  /** Columns of zeros left of the input. */
  padLeft: number;
  /** Columns of zeros right of the input. */
  padRight: number;
}

/**
 * The numbers a convolution or matrix product computes with: `fp32`, or `bf16` (bfloat16 inputs
 * and weights, reordered from float32 inside the operation; products accumulated and results
 * written in float32).
 */
export type Precision = "fp32" | "bf16";

/** Shape of a max-pool on NHWC arrays: a {@link ConvShape} whose channels pass through. */
export type PoolShape = Omit<ConvShape, "outChannels">;

/**
 * A memory descriptor: a filled struct in oneDNN 2 (`Uint8Array`), an opaque pointer in oneDNN 3.
 * Only the driver that made it reads it.
 */
export type MemoryDesc = Uint8Array | Deno.PointerObject;

/** A primitive descriptor, a primitive, an engine, a memory object: oneDNN's opaque handles. */
export type Handle = Deno.PointerValue;

/** Where a window lies: strides, padding before and after (two spatial dimensions each). */
export interface Geometry {
  strides: [number, number];
  padBefore: [number, number];
  padAfter: [number, number];
}

/** A convolution's window, and its algorithm (`C.convolutionDirect` or `C.convolutionWinograd`). */
export interface ConvGeometry extends Geometry {
  algorithm: number;
}

/** A pooling window: {@link Geometry} and the window's size. */
export interface PoolGeometry extends Geometry {
  kernel: [number, number];
}

/** Format tags of the layouts the binding uses (their numbers differ between versions). */
export interface Tags {
  /** Let the primitive choose (filters). */
  any: number;
  /** `a`, `ab`, `abc`, `abcd`, `abcde`: plain row-major arrays of rank 1 to 5. */
  plain: number[];
  /** `nhwc` (`acdb`) for an `[n, c, h, w]` descriptor. */
  nhwc: number;
  /** `hwio` (`cdba`) for an `[o, i, h, w]` descriptor: tfjs's filter layout. */
  hwio: number;
  /** `ba` for an `[m, k]` descriptor: a row-major `[k, m]` array read as its transpose. */
  transposed: number;
}

/** One version's C API, as the binding calls it. Every call throws a {@link LabError} on failure. */
export interface Driver {
  /** The major version the table binds. */
  readonly major: number;
  readonly tags: Tags;
  engine(): Handle;
  stream(engine: Handle): Handle;
  wait(stream: Handle): void;
  /** A memory descriptor of `dims` in layout `tag`, of `C.f32` numbers unless `dataType` says. */
  descriptor(dims: number[], tag: number, dataType?: number): MemoryDesc;
  equal(a: MemoryDesc, b: MemoryDesc): boolean;
  bytes(md: MemoryDesc): number;
  /** A memory object over `buffer` (null: set later; {@link allocateHandle}: oneDNN allocates). */
  memory(engine: Handle, md: MemoryDesc, buffer: Handle): Handle;
  setBuffer(memory: Handle, buffer: Handle): void;
  /** Forward convolution (`attr` may carry a ReLU post-op, see {@link reluAttr}). */
  convForward(
    engine: Handle,
    propagation: number,
    src: MemoryDesc,
    weights: MemoryDesc,
    bias: MemoryDesc | null,
    dst: MemoryDesc,
    geometry: ConvGeometry,
    attr: Handle,
  ): Handle;
  convBackwardData(
    engine: Handle,
    diffSrc: MemoryDesc,
    weights: MemoryDesc,
    diffDst: MemoryDesc,
    geometry: ConvGeometry,
    hint: Handle,
  ): Handle;
  convBackwardWeights(
    engine: Handle,
    src: MemoryDesc,
    diffWeights: MemoryDesc,
    diffDst: MemoryDesc,
    geometry: ConvGeometry,
    hint: Handle,
  ): Handle;
  maxPoolForward(
    engine: Handle,
    propagation: number,
    src: MemoryDesc,
    dst: MemoryDesc,
    geometry: PoolGeometry,
  ): Handle;
  maxPoolBackward(
    engine: Handle,
    diffSrc: MemoryDesc,
    diffDst: MemoryDesc,
    geometry: PoolGeometry,
    hint: Handle,
  ): Handle;
  binary(engine: Handle, algorithm: number, a: MemoryDesc, b: MemoryDesc, dst: MemoryDesc): Handle;
  /** ReLU, `forwardInference` or `forwardTraining` (the hint of {@link reluBackward}). */
  relu(engine: Handle, propagation: number, src: MemoryDesc, dst: MemoryDesc): Handle;
  /** ReLU's input gradient from its input (`src`) and output gradient, in one pass. */
  reluBackward(
    engine: Handle,
    diffSrc: MemoryDesc,
    diffDst: MemoryDesc,
    src: MemoryDesc,
    hint: Handle,
  ): Handle;
  /** `c = a b`, plus `bias` (a `[1, n]` row) where given. */
  matMul(
    engine: Handle,
    a: MemoryDesc,
    b: MemoryDesc,
    bias: MemoryDesc | null,
    c: MemoryDesc,
  ): Handle;
  reorder(engine: Handle, from: MemoryDesc, to: MemoryDesc): Handle;
  /** Primitive attributes that apply a ReLU to the result (a post-op). */
  reluAttr(): Handle;
  /** The descriptor a primitive chose for one of its arguments (an `ARG` number). */
  queryMd(primitiveDesc: Handle, arg: number): MemoryDesc;
  /** The implementation a primitive descriptor chose, e.g. `jit:avx512_core` or `brg:avx512_core`. */
  implementation(primitiveDesc: Handle): string;
  primitive(primitiveDesc: Handle): Handle;
  /** Runs a primitive; `args` holds (argument index, memory) pairs as `dnnl_exec_arg_t[]`. */
  execute(primitive: Handle, stream: Handle, count: number, args: BigUint64Array): void;
}

/** Constants with the same value in oneDNN 2 and 3 (dnnl_types.h, dnnl_common_types.h). */
export const C = {
  maxDims: 12,
  bf16: 2,
  f32: 3,
  cpuEngine: 1,
  inOrderStream: 1,
  forwardTraining: 64,
  forwardInference: 96,
  convolutionDirect: 0x1,
  convolutionWinograd: 0x2,
  binaryAdd: 0x1fff0,
  binaryMul: 0x1fff1,
  poolingMax: 0x1ff,
  queryImplInfo: 8,
  queryExecArgMd: 255,
} as const;

/** Execution argument indices (`DNNL_ARG_*`), the same in both versions. */
export const ARG = {
  src: 1,
  src1: 2,
  dst: 17,
  weights: 33,
  bias: 41,
  workspace: 64,
  diffSrc: 129,
  diffDst: 145,
  diffWeights: 161,
} as const;

/**
 * `DNNL_MEMORY_ALLOCATE`: a memory object whose buffer oneDNN allocates and owns. A function, not
 * a constant: making a pointer needs FFI permission, and importing the lab must not (the grader
 * runs answers without it).
 */
export function allocateHandle(): Handle {
  return Deno.UnsafePointer.create(0xffffffffffffffffn);
}

/** `dnnl_version_t.cpu_runtime` values (`DNNL_RUNTIME_*`), for {@link runtimeName}. */
const RUNTIMES: Record<number, string> = {
  1: "sequential",
  2: "OpenMP",
  4: "TBB",
  8: "threadpool",
  512: "SYCL",
};

/** GNU OpenMP, the threading runtime of the Debian and Ubuntu builds of oneDNN. */
export const OPENMP_LIBRARY = "libgomp.so.1";

/** The CPU threading runtime oneDNN was built with, by `dnnl_version_t.cpu_runtime`. */
export function runtimeName(code: number): string {
  return RUNTIMES[code] ?? `runtime ${code}`;
}

const STATUS = [
  "success",
  "out of memory",
  "invalid arguments",
  "unimplemented",
  "iterator ends",
  "runtime error",
  "not required",
];

/** Throws a {@link LabError} naming the call unless `status` is `dnnl_success`. */
export function check(call: string, status: number): void {
  if (status !== 0) {
    throw new LabError(`oneDNN ${call} failed: ${STATUS[status] ?? `status ${status}`}`);
  }
}

/** A `dnnl_dims_t`: twelve 64-bit integers. */
export function dims(values: number[]): BigInt64Array {
  const array = new BigInt64Array(C.maxDims);
  values.forEach((value, i) => array[i] = BigInt(value));
  return array;
}

/** The handle a C call wrote into a one-element out-parameter. */
export function out(call: string, run: (slot: BigUint64Array) => number): Handle {
  const slot = new BigUint64Array(1);
  check(call, run(slot));
  return Deno.UnsafePointer.create(slot[0]);
}
