/**
 * oneDNN (libdnnl, the library PyTorch runs its CPU convolutions with) through Deno's FFI: the
 * convolutions of the lab's CNN (forward, input gradient, filter gradient), its 2x2 max-pool
 * (forward and gradient), matrix products and sums on float32 arrays (NHWC), on every core, with the library's JIT kernels
 * (AVX2 / AVX-512 where the CPU has them).
 *
 * No npm package binds oneDNN for Deno, so the C API (version 2, `libdnnl.so.2`) is called
 * directly here with `Deno.dlopen`; it is optional: {@link loadOneDnn} says why it cannot run
 * (library missing, another major version, no `--allow-ffi`) and the lab then stays on wasm.
 *
 * Activations keep the layout tfjs gives them (NHWC, oneDNN's `nhwc` tag, which its JIT
 * kernels read directly); only the small filters are reordered between tfjs's `[kh, kw, in, out]`
 * and the blocked layout the chosen kernel wants. Primitives are built once per shape and kept.
 *
 * @module
 */

import { LabError, UsageError } from "../core/errors.ts";

/** Environment variable naming the oneDNN library to load (a path or a file name), or `off`. */
export const ONEDNN_ENV = "LAB_ONEDNN";

/** Library names tried in order when {@link ONEDNN_ENV} is unset (the version 2 C API). */
export const ONEDNN_LIBRARIES = ["libdnnl.so.2", "libdnnl.2.dylib", "dnnl.dll"] as const;

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

/** Shape of a max-pool on NHWC arrays: a {@link ConvShape} whose channels pass through. */
export type PoolShape = Omit<ConvShape, "outChannels">;

/** GNU OpenMP, the threading runtime of the Debian and Ubuntu builds of oneDNN. */
const OPENMP_LIBRARY = "libgomp.so.1";

const SYMBOLS = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_init_by_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["buffer", "buffer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["buffer"], result: "usize" },
  dnnl_memory_create: { parameters: ["buffer", "buffer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_convolution_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_convolution_backward_weights_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "buffer",
      "buffer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_pooling_forward_desc_init: {
    parameters: [
      "buffer",
      "i32",
      "i32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  dnnl_pooling_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_binary_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  dnnl_eltwise_forward_desc_init: {
    parameters: ["buffer", "i32", "i32", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_matmul_desc_init: {
    parameters: ["buffer", "buffer", "buffer", "pointer", "buffer"],
    result: "i32",
  },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_append_eltwise: {
    parameters: ["pointer", "f32", "i32", "f32", "f32"],
    result: "i32",
  },
  dnnl_primitive_attr_set_post_ops: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "buffer", "pointer", "buffer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_desc_query: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

type Symbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** Sizes and constants of the version 2 C API (dnnl_types.h of oneDNN 2.x). */
const API = {
  /** `sizeof(dnnl_memory_desc_t)`. */
  memoryDescBytes: 696,
  /** Room for an operation descriptor: `sizeof(dnnl_convolution_desc_t)` is 5,976 bytes. */
  opDescBytes: 8192,
  maxDims: 12,
  f32: 3,
  cpuEngine: 1,
  inOrderStream: 1,
  forwardTraining: 64,
  forwardInference: 96,
  convolutionDirect: 0x1,
  eltwiseRelu: 0x1f,
  binaryAdd: 0x1fff0,
  binaryMul: 0x1fff1,
  poolingMax: 0x1ff,
  tagAny: 1,
  /** `a`: a plain 1-D array (a bias). */
  tagA: 2,
  /** `ab`: a plain row-major 2-D array. */
  tagAb: 3,
  /** `a`, `ab`, `abc`, `abcd`, `abcde`: plain row-major arrays of rank 1 to 5. */
  plainTags: [2, 3, 4, 5, 7],
  /** `nhwc` (`acdb`) for an `[n, c, h, w]` descriptor. */
  tagNhwc: 20,
  /** `hwio` (`cdba`) for an `[o, i, h, w]` descriptor: tfjs's filter layout. */
  tagHwio: 30,
  queryImplInfo: 8,
  queryExecArgMd: 255,
  argSrc: 1,
  argSrc1: 2,
  argDst: 17,
  argWeights: 33,
  argBias: 41,
  argWorkspace: 64,
  argDiffSrc: 129,
  argDiffDst: 145,
  argDiffWeights: 161,
  /** `DNNL_MEMORY_ALLOCATE`: the library owns the buffer. */
  allocate: 0xffffffffffffffffn,
} as const;

const STATUS = [
  "success",
  "out of memory",
  "invalid arguments",
  "unimplemented",
  "iterator ends",
  "runtime error",
  "not required",
];

/** A memory object whose buffer is set on each call (a tfjs tensor's data), or owned by oneDNN. */
type Memory = Deno.PointerValue;

/** One step of a prepared operation: a primitive and its arguments. */
interface Execution {
  primitive: Deno.PointerValue;
  /** `dnnl_exec_arg_t[]`: pairs of (argument index, memory). */
  args: BigUint64Array;
  count: number;
}

/** A prepared operation: the memories the caller's arrays go into, then the steps in order. */
interface Prepared {
  inputs: Memory[];
  steps: Execution[];
  /** The implementation oneDNN chose for the main primitive, e.g. `jit:avx512_core`. */
  implementation: string;
}

/**
 * The oneDNN library, loaded, with a CPU engine and stream. Obtain it with {@link loadOneDnn}.
 * Each method computes into the caller's arrays and returns when the result is there. The
 * arrays must lie outside V8's movable heap: views of the wasm heap (as tfjs's tensors are), or
 * of an `ArrayBuffer`, or typed arrays of more than 64 bytes.
 */
export class OneDnn {
  /** The library file loaded. */
  readonly library: string;
  /** oneDNN's version, e.g. `2.6.3`. */
  readonly version: string;
  readonly #fn: Symbols;
  readonly #engine: Deno.PointerValue;
  readonly #stream: Deno.PointerValue;
  readonly #prepared = new Map<string, Prepared>();
  readonly #onesByLength = new Map<number, Float32Array>();
  /** Bytes of the array each caller-filled memory object takes. */
  readonly #bytes = new Map<Memory, number>();

  /** Wraps a loaded library; use {@link loadOneDnn}. */
  constructor(library: string, handle: Deno.DynamicLibrary<typeof SYMBOLS>) {
    this.library = library;
    this.#fn = handle.symbols;
    const version = new Deno.UnsafePointerView(this.#fn.dnnl_version()!);
    this.version = `${version.getInt32(0)}.${version.getInt32(4)}.${version.getInt32(8)}`;
    if (version.getInt32(0) !== 2) {
      throw new LabError(`${library} is oneDNN ${this.version}; the lab binds version 2's C API`);
    }
    const engine = new BigUint64Array(1);
    this.#check("dnnl_engine_create", this.#fn.dnnl_engine_create(engine, API.cpuEngine, 0n));
    this.#engine = Deno.UnsafePointer.create(engine[0]);
    const stream = new BigUint64Array(1);
    this.#check(
      "dnnl_stream_create",
      this.#fn.dnnl_stream_create(stream, this.#engine, API.inOrderStream),
    );
    this.#stream = Deno.UnsafePointer.create(stream[0]);
  }

  /**
   * `y = conv(x, filter)`: x `[n, h, w, in]`, filter `[kh, kw, in, out]`, y `[n, oh, ow, out]`;
   * with `bias` (`[out]`) added and `relu` applied in the same pass when given.
   */
  conv2d(
    shape: ConvShape,
    x: Float32Array,
    filter: Float32Array,
    y: Float32Array,
    fused: { bias?: Float32Array; relu?: boolean } = {},
  ): void {
    const { bias, relu = false } = fused;
    this.#run(
      `conv ${key(shape)} bias ${bias !== undefined} relu ${relu}`,
      () => this.#prepareConvForward(shape, bias !== undefined, relu),
      bias === undefined ? [x, filter, y] : [x, filter, bias, y],
    );
  }

  /** The input gradient `dx` `[n, h, w, in]` of {@link conv2d} from `dy` and the filter. */
  conv2dBackpropInput(
    shape: ConvShape,
    dy: Float32Array,
    filter: Float32Array,
    dx: Float32Array,
  ): void {
    this.#run(`conv-dx ${key(shape)}`, () => this.#prepareConvBackwardData(shape), [
      dy,
      filter,
      dx,
    ]);
  }

  /** The filter gradient `[kh, kw, in, out]` of {@link conv2d} from `x` and `dy`. */
  conv2dBackpropFilter(
    shape: ConvShape,
    x: Float32Array,
    dy: Float32Array,
    dFilter: Float32Array,
  ): void {
    this.#run(`conv-dw ${key(shape)}`, () => this.#prepareConvBackwardWeights(shape), [
      x,
      dy,
      dFilter,
    ]);
  }

  /** `y = maxPool(x)`: x `[n, h, w, c]`, y `[n, oh, ow, c]`; padding never wins the max. */
  maxPool(shape: PoolShape, x: Float32Array, y: Float32Array): void {
    this.#run(`pool ${key(shape)}`, () => this.#preparePoolForward(shape), [x, y]);
  }

  /** The input gradient `dx` of {@link maxPool}: each `dy` goes to its window's maximum in `x`. */
  maxPoolGrad(shape: PoolShape, x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.#run(`pool-dx ${key(shape)}`, () => this.#preparePoolBackward(shape), [x, dy, dx]);
  }

  /**
   * `out = a + b` or `out = a * b` elementwise on row-major arrays of `shape` (rank 1 to 5);
   * `b` has the same rank, each of its dimensions equal to `shape`'s or 1 (broadcast).
   */
  binary(
    op: "add" | "mul",
    shape: number[],
    bShape: number[],
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
  ): void {
    this.#run(
      `${op} ${shape} ${bShape}`,
      () => this.#prepareBinary(op === "add" ? API.binaryAdd : API.binaryMul, shape, bShape),
      [a, b, out],
    );
  }

  /** `y = max(x, 0)` elementwise over `size` numbers. */
  relu(size: number, x: Float32Array, y: Float32Array): void {
    this.#run(`relu ${size}`, () => this.#prepareRelu(size), [x, y]);
  }

  /** `c = a b` for row-major float32 matrices a `[m, k]`, b `[k, n]`, c `[m, n]`. */
  matMul(m: number, k: number, n: number, a: Float32Array, b: Float32Array, c: Float32Array) {
    this.#run(`matmul ${m}x${k}x${n}`, () => this.#prepareMatMul(m, k, n), [a, b, c]);
  }

  /**
   * `y = sum(x)` over the rows (`over: "rows"`, y `[columns]`) or the columns (y `[rows]`) of x
   * seen as a row-major `[rows, columns]` matrix. It is a matrix product with a vector of ones:
   * oneDNN 2's reduction primitive has only a reference implementation for float32, several
   * times slower than its matrix product.
   */
  sum(rows: number, columns: number, over: "rows" | "columns", x: Float32Array, y: Float32Array) {
    if (over === "rows") this.matMul(1, rows, columns, this.#ones(rows), x, y);
    else this.matMul(rows, columns, 1, x, this.#ones(columns), y);
  }

  /**
   * Makes this thread's oneDNN calls use `threads` threads (default: one per core), for data
   * parallelism across workers that share the cores. oneDNN 2 has no call for it: its OpenMP
   * runtime's `omp_set_num_threads` does it, per calling thread. Returns whether it could
   * (false where oneDNN was built on another threading runtime than GNU OpenMP).
   */
  setThreads(threads: number): boolean {
    let openmp: Deno.DynamicLibrary<
      { omp_set_num_threads: { parameters: ["i32"]; result: "void" } }
    >;
    try {
      openmp = Deno.dlopen(OPENMP_LIBRARY, {
        omp_set_num_threads: { parameters: ["i32"], result: "void" },
      });
    } catch {
      return false;
    }
    openmp.symbols.omp_set_num_threads(threads);
    return true;
  }

  /** The implementation oneDNN chose for each operation prepared so far, by operation. */
  implementations(): Record<string, string> {
    return Object.fromEntries(
      [...this.#prepared].map(([name, prepared]) => [name, prepared.implementation]),
    );
  }

  #run(name: string, prepare: () => Prepared, arrays: Float32Array[]): void {
    let prepared = this.#prepared.get(name);
    if (prepared === undefined) {
      prepared = prepare();
      this.#prepared.set(name, prepared);
    }
    if (arrays.length !== prepared.inputs.length) {
      throw new UsageError(`oneDNN ${name}: ${arrays.length} arrays for ${prepared.inputs.length}`);
    }
    prepared.inputs.forEach((memory, i) => {
      const bytes = this.#bytes.get(memory)!;
      if (arrays[i].byteLength !== bytes) {
        throw new UsageError(
          `oneDNN ${name}: array ${i + 1} holds ${arrays[i].length} numbers, the operation ` +
            `takes ${bytes / 4}`,
        );
      }
      this.#check(
        "dnnl_memory_set_data_handle",
        this.#fn.dnnl_memory_set_data_handle(memory, Deno.UnsafePointer.of(arrays[i])),
      );
    });
    for (const step of prepared.steps) {
      this.#check(
        "dnnl_primitive_execute",
        this.#fn.dnnl_primitive_execute(step.primitive, this.#stream, step.count, step.args),
      );
    }
    this.#check("dnnl_stream_wait", this.#fn.dnnl_stream_wait(this.#stream));
  }

  #prepareConvForward(shape: ConvShape, withBias: boolean, relu: boolean): Prepared {
    const biasMd = withBias ? this.#descriptor([shape.outChannels], API.tagA) : null;
    const forward = this.#convForwardDesc(shape, biasMd, relu ? this.#reluAttr() : null);
    const x = this.#userMemory(this.#nhwc(shape, "in")), y = this.#userMemory(this.#nhwc(shape));
    const filter = this.#filterIn(forward, shape);
    const bias = biasMd === null ? [] : [this.#userMemory(biasMd)];
    return {
      inputs: [x, filter.user, ...bias, y],
      steps: [
        ...filter.steps,
        this.#execution(forward, [
          [API.argSrc, x],
          [API.argWeights, filter.memory],
          ...bias.map((memory): [number, Memory] => [API.argBias, memory]),
          [API.argDst, y],
        ]),
      ],
      implementation: this.#implementation(forward),
    };
  }

  /** Primitive attributes that apply a ReLU to the result (a post-op). */
  #reluAttr(): Deno.PointerValue {
    const postOps = new BigUint64Array(1);
    this.#check("dnnl_post_ops_create", this.#fn.dnnl_post_ops_create(postOps));
    const ops = Deno.UnsafePointer.create(postOps[0]);
    this.#check(
      "dnnl_post_ops_append_eltwise",
      this.#fn.dnnl_post_ops_append_eltwise(ops, 1, API.eltwiseRelu, 0, 0),
    );
    const attr = new BigUint64Array(1);
    this.#check("dnnl_primitive_attr_create", this.#fn.dnnl_primitive_attr_create(attr));
    const attributes = Deno.UnsafePointer.create(attr[0]);
    this.#check(
      "dnnl_primitive_attr_set_post_ops",
      this.#fn.dnnl_primitive_attr_set_post_ops(attributes, ops),
    );
    return attributes;
  }

  #prepareMatMul(m: number, k: number, n: number): Prepared {
    const [aMd, bMd, cMd] = [[m, k], [k, n], [m, n]].map((dims) =>
      this.#descriptor(dims, API.tagAb)
    );
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_matmul_desc_init",
      this.#fn.dnnl_matmul_desc_init(desc, aMd, bMd, null, cMd),
    );
    const product = this.#primitiveDesc(desc, null);
    const [a, b, c] = [aMd, bMd, cMd].map((md) => this.#userMemory(md));
    return {
      inputs: [a, b, c],
      steps: [this.#execution(product, [[API.argSrc, a], [API.argWeights, b], [API.argDst, c]])],
      implementation: this.#implementation(product),
    };
  }

  #prepareBinary(algorithm: number, shape: number[], bShape: number[]): Prepared {
    const aMd = this.#plain(shape), bMd = this.#plain(bShape);
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_binary_desc_init",
      this.#fn.dnnl_binary_desc_init(desc, algorithm, aMd, bMd, aMd),
    );
    const binary = this.#primitiveDesc(desc, null);
    const a = this.#userMemory(aMd), b = this.#userMemory(bMd), out = this.#userMemory(aMd);
    return {
      inputs: [a, b, out],
      steps: [this.#execution(binary, [[API.argSrc, a], [API.argSrc1, b], [API.argDst, out]])],
      implementation: this.#implementation(binary),
    };
  }

  #prepareRelu(size: number): Prepared {
    const md = this.#plain([size]);
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_eltwise_forward_desc_init",
      this.#fn.dnnl_eltwise_forward_desc_init(
        desc,
        API.forwardInference,
        API.eltwiseRelu,
        md,
        0,
        0,
      ),
    );
    const relu = this.#primitiveDesc(desc, null);
    const x = this.#userMemory(md), y = this.#userMemory(md);
    return {
      inputs: [x, y],
      steps: [this.#execution(relu, [[API.argSrc, x], [API.argDst, y]])],
      implementation: this.#implementation(relu),
    };
  }

  /** Descriptor of a plain row-major array of rank 1 to 5. */
  #plain(shape: number[]): Uint8Array {
    const tag = API.plainTags[shape.length - 1];
    if (tag === undefined) throw new LabError(`oneDNN: no plain layout of rank ${shape.length}`);
    return this.#descriptor(shape, tag);
  }

  /**
   * A vector of `length` ones, made once per length, over an ArrayBuffer of its own: V8 may keep
   * a small typed array made by length in its heap, where the garbage collector moves it.
   */
  #ones(length: number): Float32Array {
    let ones = this.#onesByLength.get(length);
    if (ones === undefined) {
      ones = new Float32Array(new ArrayBuffer(4 * length)).fill(1);
      this.#onesByLength.set(length, ones);
    }
    return ones;
  }

  #prepareConvBackwardData(shape: ConvShape): Prepared {
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_convolution_backward_data_desc_init",
      this.#fn.dnnl_convolution_backward_data_desc_init(
        desc,
        API.convolutionDirect,
        this.#nhwc(shape, "in"),
        this.#anyFilter(shape),
        this.#nhwc(shape),
        ...convGeometry(shape),
      ),
    );
    const backward = this.#primitiveDesc(desc, this.#convForwardDesc(shape));
    const dy = this.#userMemory(this.#nhwc(shape)), dx = this.#userMemory(this.#nhwc(shape, "in"));
    const filter = this.#filterIn(backward, shape);
    return {
      inputs: [dy, filter.user, dx],
      steps: [
        ...filter.steps,
        this.#execution(backward, [
          [API.argDiffDst, dy],
          [API.argWeights, filter.memory],
          [API.argDiffSrc, dx],
        ]),
      ],
      implementation: this.#implementation(backward),
    };
  }

  #prepareConvBackwardWeights(shape: ConvShape): Prepared {
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_convolution_backward_weights_desc_init",
      this.#fn.dnnl_convolution_backward_weights_desc_init(
        desc,
        API.convolutionDirect,
        this.#nhwc(shape, "in"),
        this.#anyFilter(shape),
        null,
        this.#nhwc(shape),
        ...convGeometry(shape),
      ),
    );
    const backward = this.#primitiveDesc(desc, this.#convForwardDesc(shape));
    const x = this.#userMemory(this.#nhwc(shape, "in")), dy = this.#userMemory(this.#nhwc(shape));
    const userMd = this.#hwio(shape);
    const user = this.#userMemory(userMd);
    const chosen = this.#queryMd(backward, API.argDiffWeights);
    const steps: Execution[] = [];
    let memory = user;
    if (!this.#fn.dnnl_memory_desc_equal(chosen, userMd)) {
      memory = this.#ownedMemory(chosen);
      steps.push(this.#reorder(chosen, memory, userMd, user));
    }
    steps.unshift(this.#execution(backward, [
      [API.argSrc, x],
      [API.argDiffDst, dy],
      [API.argDiffWeights, memory],
    ]));
    return { inputs: [x, dy, user], steps, implementation: this.#implementation(backward) };
  }

  #preparePoolForward(pool: PoolShape): Prepared {
    const shape = passThrough(pool);
    const forward = this.#poolForwardDesc(shape, API.forwardInference);
    const x = this.#userMemory(this.#nhwc(shape, "in")), y = this.#userMemory(this.#nhwc(shape));
    return {
      inputs: [x, y],
      steps: [this.#execution(forward, [[API.argSrc, x], [API.argDst, y]])],
      implementation: this.#implementation(forward),
    };
  }

  /** Max-pool backward needs the forward's workspace (where each maximum was): run both. */
  #preparePoolBackward(pool: PoolShape): Prepared {
    const shape = passThrough(pool);
    const forward = this.#poolForwardDesc(shape, API.forwardTraining);
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_pooling_backward_desc_init",
      this.#fn.dnnl_pooling_backward_desc_init(
        desc,
        API.poolingMax,
        this.#nhwc(shape, "in"),
        this.#nhwc(shape),
        ...poolGeometry(shape),
      ),
    );
    const backward = this.#primitiveDesc(desc, forward);
    const x = this.#userMemory(this.#nhwc(shape, "in"));
    const dy = this.#userMemory(this.#nhwc(shape));
    const dx = this.#userMemory(this.#nhwc(shape, "in"));
    const y = this.#ownedMemory(this.#nhwc(shape));
    const workspace = this.#ownedMemory(this.#queryMd(forward, API.argWorkspace));
    return {
      inputs: [x, dy, dx],
      steps: [
        this.#execution(forward, [[API.argSrc, x], [API.argDst, y], [
          API.argWorkspace,
          workspace,
        ]]),
        this.#execution(backward, [
          [API.argDiffDst, dy],
          [API.argWorkspace, workspace],
          [API.argDiffSrc, dx],
        ]),
      ],
      implementation: this.#implementation(backward),
    };
  }

  #convForwardDesc(
    shape: ConvShape,
    biasMd: Uint8Array | null = null,
    attr: Deno.PointerValue = null,
  ): Deno.PointerValue {
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_convolution_forward_desc_init",
      this.#fn.dnnl_convolution_forward_desc_init(
        desc,
        API.forwardTraining,
        API.convolutionDirect,
        this.#nhwc(shape, "in"),
        this.#anyFilter(shape),
        biasMd,
        this.#nhwc(shape),
        ...convGeometry(shape),
      ),
    );
    return this.#primitiveDesc(desc, null, attr);
  }

  #poolForwardDesc(shape: ConvShape, propagation: number): Deno.PointerValue {
    const desc = new Uint8Array(API.opDescBytes);
    this.#check(
      "dnnl_pooling_forward_desc_init",
      this.#fn.dnnl_pooling_forward_desc_init(
        desc,
        propagation,
        API.poolingMax,
        this.#nhwc(shape, "in"),
        this.#nhwc(shape),
        ...poolGeometry(shape),
      ),
    );
    return this.#primitiveDesc(desc, null);
  }

  /** The caller's filter `[kh, kw, in, out]`, reordered when the primitive wants another layout. */
  #filterIn(primitiveDesc: Deno.PointerValue, shape: ConvShape) {
    const userMd = this.#hwio(shape);
    const user = this.#userMemory(userMd);
    const chosen = this.#queryMd(primitiveDesc, API.argWeights);
    if (this.#fn.dnnl_memory_desc_equal(chosen, userMd)) return { user, memory: user, steps: [] };
    const memory = this.#ownedMemory(chosen);
    return { user, memory, steps: [this.#reorder(userMd, user, chosen, memory)] };
  }

  #reorder(fromMd: Uint8Array, from: Memory, toMd: Uint8Array, to: Memory): Execution {
    const pd = new BigUint64Array(1);
    this.#check(
      "dnnl_reorder_primitive_desc_create",
      this.#fn.dnnl_reorder_primitive_desc_create(
        pd,
        fromMd,
        this.#engine,
        toMd,
        this.#engine,
        null,
      ),
    );
    return this.#execution(Deno.UnsafePointer.create(pd[0]), [[API.argSrc, from], [
      API.argDst,
      to,
    ]]);
  }

  #primitiveDesc(
    desc: Uint8Array,
    hint: Deno.PointerValue,
    attr: Deno.PointerValue = null,
  ): Deno.PointerValue {
    const pd = new BigUint64Array(1);
    this.#check(
      "dnnl_primitive_desc_create",
      this.#fn.dnnl_primitive_desc_create(pd, desc, attr, this.#engine, hint),
    );
    return Deno.UnsafePointer.create(pd[0]);
  }

  #execution(primitiveDesc: Deno.PointerValue, args: Array<[number, Memory]>): Execution {
    const primitive = new BigUint64Array(1);
    this.#check("dnnl_primitive_create", this.#fn.dnnl_primitive_create(primitive, primitiveDesc));
    const packed = new BigUint64Array(2 * args.length);
    args.forEach(([index, memory], i) => {
      packed[2 * i] = BigInt(index);
      packed[2 * i + 1] = BigInt(Deno.UnsafePointer.value(memory));
    });
    return {
      primitive: Deno.UnsafePointer.create(primitive[0]),
      args: packed,
      count: args.length,
    };
  }

  #implementation(primitiveDesc: Deno.PointerValue): string {
    const name = new BigUint64Array(1);
    this.#check(
      "dnnl_primitive_desc_query",
      this.#fn.dnnl_primitive_desc_query(primitiveDesc, API.queryImplInfo, 0, name),
    );
    return new Deno.UnsafePointerView(Deno.UnsafePointer.create(name[0])!).getCString();
  }

  /** A copy of the memory descriptor a primitive chose for one of its arguments. */
  #queryMd(primitiveDesc: Deno.PointerValue, arg: number): Uint8Array {
    const md = this.#fn.dnnl_primitive_desc_query_md(primitiveDesc, API.queryExecArgMd, arg);
    if (md === null) throw new LabError(`oneDNN: the primitive has no argument ${arg}`);
    return new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(md, API.memoryDescBytes).slice(0));
  }

  /** A memory object without a buffer: {@link #run} points it at the caller's array. */
  #userMemory(md: Uint8Array): Memory {
    const memory = this.#memory(md, null);
    this.#bytes.set(memory, Number(this.#fn.dnnl_memory_desc_get_size(md)));
    return memory;
  }

  /** A memory object whose buffer oneDNN allocates and owns (blocked filters, workspaces). */
  #ownedMemory(md: Uint8Array): Memory {
    return this.#memory(md, Deno.UnsafePointer.create(API.allocate));
  }

  #memory(md: Uint8Array, handle: Deno.PointerValue): Memory {
    const memory = new BigUint64Array(1);
    this.#check(
      "dnnl_memory_create",
      this.#fn.dnnl_memory_create(memory, md, this.#engine, handle),
    );
    return Deno.UnsafePointer.create(memory[0]);
  }

  /** Descriptor of an NHWC array: a convolution's input side (`in`) or output side. */
  #nhwc(shape: ConvShape, side: "in" | "out" = "out"): Uint8Array {
    const dims = side === "in"
      ? [shape.batch, shape.inChannels, shape.inHeight, shape.inWidth]
      : [shape.batch, shape.outChannels, shape.outHeight, shape.outWidth];
    return this.#descriptor(dims, API.tagNhwc);
  }

  #hwio(shape: ConvShape): Uint8Array {
    return this.#descriptor(filterDims(shape), API.tagHwio);
  }

  #anyFilter(shape: ConvShape): Uint8Array {
    return this.#descriptor(filterDims(shape), API.tagAny);
  }

  #descriptor(dims: number[], tag: number): Uint8Array {
    const md = new Uint8Array(API.memoryDescBytes);
    this.#check(
      "dnnl_memory_desc_init_by_tag",
      this.#fn.dnnl_memory_desc_init_by_tag(md, dims.length, dimsArray(dims), API.f32, tag),
    );
    return md;
  }

  #check(call: string, status: number): void {
    if (status !== 0) {
      throw new LabError(`oneDNN ${call} failed: ${STATUS[status] ?? `status ${status}`}`);
    }
  }
}

/**
 * Loads oneDNN: the library {@link ONEDNN_ENV} names, else the first of
 * {@link ONEDNN_LIBRARIES} found. Throws a {@link LabError} saying why it cannot run.
 *
 * @example
 * ```ts
 * import { loadOneDnn } from "./onednn.ts";
 * try {
 *   const onednn = loadOneDnn();
 *   console.log(`oneDNN ${onednn.version} from ${onednn.library}`);
 * } catch (error) {
 *   console.log(`no oneDNN: ${(error as Error).message}`);
 * }
 * ```
 */
export function loadOneDnn(): OneDnn {
  const named = Deno.env.get(ONEDNN_ENV)?.trim() ?? "";
  if (named === "off") throw new LabError(`${ONEDNN_ENV}=off`);
  const candidates = named === "" ? ONEDNN_LIBRARIES : [named];
  const failures: string[] = [];
  for (const library of candidates) {
    let handle: Deno.DynamicLibrary<typeof SYMBOLS>;
    try {
      handle = Deno.dlopen(library, SYMBOLS);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        throw new LabError("oneDNN needs --allow-ffi (or -A)");
      }
      const missingSymbol = firstLine(error).match(/symbol (dnnl_\w+)/)?.[1];
      if (missingSymbol !== undefined) {
        throw new LabError(
          `${library} is not oneDNN 2 (it has no ${missingSymbol}); the lab binds oneDNN 2's C ` +
            "API (libdnnl.so.2)",
        );
      }
      failures.push(`${library}: ${firstLine(error)}`);
      continue;
    }
    try {
      return new OneDnn(library, handle);
    } catch (error) {
      handle.close();
      throw error;
    }
  }
  throw new LabError(`oneDNN not found (${failures.join("; ")})`);
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0];
}

function key(shape: PoolShape): string {
  return JSON.stringify(shape);
}

/** A pool's shape as a convolution's whose channels pass through (output channels = input's). */
function passThrough(pool: PoolShape): ConvShape {
  return { ...pool, outChannels: pool.inChannels };
}

/** oneDNN's `[out, in, kh, kw]` dims of a filter (its physical layout set by the tag). */
function filterDims(shape: ConvShape): number[] {
  return [shape.outChannels, shape.inChannels, shape.filterHeight, shape.filterWidth];
}

function convGeometry(shape: ConvShape): [BigInt64Array, BigInt64Array, BigInt64Array] {
  return [
    dimsArray([shape.strideHeight, shape.strideWidth]),
    dimsArray([shape.padTop, shape.padLeft]),
    dimsArray([shape.padBottom, shape.padRight]),
  ];
}

function poolGeometry(
  shape: PoolShape,
): [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] {
  return [
    dimsArray([shape.strideHeight, shape.strideWidth]),
    dimsArray([shape.filterHeight, shape.filterWidth]),
    dimsArray([shape.padTop, shape.padLeft]),
    dimsArray([shape.padBottom, shape.padRight]),
  ];
}

/** A `dnnl_dims_t`: twelve 64-bit integers. */
function dimsArray(values: number[]): BigInt64Array {
  const dims = new BigInt64Array(API.maxDims);
  values.forEach((value, i) => dims[i] = BigInt(value));
  return dims;
}
