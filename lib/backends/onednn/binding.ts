/**
 * The oneDNN binding: the convolutions of the lab's CNN (forward, input gradient, filter
 * gradient), its 2x2 max-pool (forward and gradient), matrix products, sums and large elementwise
 * operations on float32 arrays (NHWC), on every core, with oneDNN's JIT kernels (AVX2 / AVX-512
 * where the CPU has them). It is written once against a {@link Driver} (api.ts), so the same code
 * runs on oneDNN 2 and 3; load.ts picks the driver by the version of the library that loads.
 *
 * Activations keep the layout tfjs gives them (NHWC, oneDNN's `nhwc` tag, which its JIT kernels
 * read directly); only the small filters are reordered between tfjs's `[kh, kw, in, out]` and
 * the blocked layout the chosen kernel wants. Primitives are built once per shape and kept.
 *
 * Convolutions, their gradients and matrix products also run in bfloat16 ({@link Precision}
 * `bf16`), where the CPU multiplies bfloat16 natively (AVX512_BF16, AMX): the float32 inputs and
 * weights are reordered to bfloat16 in scratch buffers, oneDNN accumulates in float32 and writes
 * float32 results, so the caller's arrays (tfjs tensors, the weights the optimizer updates) stay
 * float32. This is mixed precision as PyTorch's autocast does it: bfloat16 keeps float32's range
 * and 8 bits of mantissa, and halves the bytes each product reads.
 *
 * @module
 */

import { LabError, UsageError } from "../../core/errors.ts";
import {
  allocateHandle,
  ARG,
  C,
  type ConvGeometry,
  type ConvShape,
  type Driver,
  type Handle,
  type MemoryDesc,
  OPENMP_LIBRARY,
  type PoolGeometry,
  type PoolShape,
  type Precision,
} from "./api.ts";

/** A memory object whose buffer is set on each call (a tfjs tensor's data), or owned by oneDNN. */
type Memory = Handle;

/** One step of a prepared operation: a primitive and its arguments. */
interface Execution {
  primitive: Handle;
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
  /** Memories in a layout of oneDNN's choosing, pointed at a shared scratch buffer on each run. */
  scratch?: Memory[];
}

/**
 * How a convolution runs: Winograd's algorithm on activations in the blocked layout it picks, or
 * oneDNN's direct kernels on tfjs's NHWC arrays; in float32 or with bfloat16 inputs and weights
 * (`dataType`; results and gradients of weights are float32 either way).
 */
interface ConvPlan {
  algorithm: number;
  activations: "nhwc" | "any";
  dataType: number;
}

const WINOGRAD: ConvPlan = {
  algorithm: C.convolutionWinograd,
  activations: "any",
  dataType: C.f32,
};
const DIRECT: ConvPlan = { algorithm: C.convolutionDirect, activations: "nhwc", dataType: C.f32 };
const DIRECT_BF16: ConvPlan = { ...DIRECT, dataType: C.bf16 };

/** Options of {@link OneDnn.matMul}. */
export interface MatMulOptions {
  /** `a` is stored as its transpose, a row-major `[k, m]` (default false). */
  transposeA?: boolean;
  /** `b` is stored as its transpose, a row-major `[n, k]` (default false). */
  transposeB?: boolean;
  /** A row `[n]` added to every row of the product. */
  bias?: Float32Array;
  /** The numbers it multiplies in (default `fp32`). */
  precision?: Precision;
}

/** What load.ts found: the library, its version, and the driver of its C API. */
export interface OneDnnLibrary {
  /** The library file loaded. */
  library: string;
  /** oneDNN's version, e.g. `2.6.3`. */
  version: string;
  /** Its CPU threading runtime (`OpenMP`, `TBB`, ...). */
  runtime: string;
  /** Its C API. */
  driver: Driver;
}

/**
 * The oneDNN library, loaded, with a CPU engine and stream. Obtain it with `loadOneDnn` (load.ts).
 * Each method computes into the caller's arrays and returns when the result is there. The
 * arrays must lie outside V8's movable heap: views of the wasm heap (as tfjs's tensors are), or
 * of an `ArrayBuffer`, or typed arrays of more than 64 bytes.
 */
export class OneDnn {
  /** The library file loaded. */
  readonly library: string;
  /** oneDNN's version, e.g. `2.6.3` or `3.13.2`. */
  readonly version: string;
  /** Its CPU threading runtime (`OpenMP`, `TBB`, ...). */
  readonly runtime: string;
  readonly #api: Driver;
  readonly #engine: Handle;
  readonly #stream: Handle;
  readonly #prepared = new Map<string, Prepared>();
  readonly #onesByLength = new Map<number, Float32Array>();
  /** Bytes of the array each caller-filled memory object takes. */
  readonly #bytes = new Map<Memory, number>();
  /** The scratch buffer (0 or 1) each memory of a layout of oneDNN's choosing uses. */
  readonly #scratchSlots = new Map<Memory, number>();
  /** The scratch buffers, grown to the largest use; operations run one at a time per thread. */
  readonly #scratch: Uint8Array[] = [];

  /** Starts a CPU engine and stream on a loaded library; use `loadOneDnn`. */
  constructor(loaded: OneDnnLibrary) {
    this.library = loaded.library;
    this.version = loaded.version;
    this.runtime = loaded.runtime;
    this.#api = loaded.driver;
    this.#engine = this.#api.engine();
    this.#stream = this.#api.stream(this.#engine);
  }

  /**
   * `y = conv(x, filter)`: x `[n, h, w, in]`, filter `[kh, kw, in, out]`, y `[n, oh, ow, out]`;
   * with `bias` (`[out]`) added and `relu` applied in the same pass when given; in `precision`
   * (default `fp32`).
   */
  conv2d(
    shape: ConvShape,
    x: Float32Array,
    filter: Float32Array,
    y: Float32Array,
    fused: { bias?: Float32Array; relu?: boolean; precision?: Precision } = {},
  ): void {
    const { bias, relu = false, precision = "fp32" } = fused;
    this.#run(
      `conv ${precision} ${key(shape)} bias ${bias !== undefined} relu ${relu}`,
      () => this.#prepareConvForward(shape, bias !== undefined, relu, precision),
      bias === undefined ? [x, filter, y] : [x, filter, bias, y],
    );
  }

  /** The input gradient `dx` `[n, h, w, in]` of {@link conv2d} from `dy` and the filter. */
  conv2dBackpropInput(
    shape: ConvShape,
    dy: Float32Array,
    filter: Float32Array,
    dx: Float32Array,
    precision: Precision = "fp32",
  ): void {
    this.#run(
      `conv-dx ${precision} ${key(shape)}`,
      () => this.#prepareConvBackwardData(shape, precision),
      [dy, filter, dx],
    );
  }

  /** The filter gradient `[kh, kw, in, out]` of {@link conv2d} from `x` and `dy`. */
  conv2dBackpropFilter(
    shape: ConvShape,
    x: Float32Array,
    dy: Float32Array,
    dFilter: Float32Array,
    precision: Precision = "fp32",
  ): void {
    this.#run(
      `conv-dw ${precision} ${key(shape)}`,
      () => this.#prepareConvBackwardWeights(shape, precision),
      [x, dy, dFilter],
    );
  }

  /**
   * `y = maxPool(x)`: x `[n, h, w, c]`, y `[n, oh, ow, c]`; padding never wins the max. With a
   * `workspace` ({@link maxPoolWorkspaceBytes} bytes), it also records there where each maximum
   * was, so that {@link maxPoolGrad} need not run the forward pass again.
   */
  maxPool(shape: PoolShape, x: Float32Array, y: Float32Array, workspace?: Uint8Array): void {
    if (workspace === undefined) {
      this.#run(`pool ${key(shape)}`, () => this.#preparePoolForward(shape), [x, y]);
    } else {
      this.#run(`pool-train ${key(shape)}`, () => this.#preparePoolTraining(shape), [
        x,
        y,
        workspace,
      ]);
    }
  }

  /** Bytes of the workspace {@link maxPool} fills for {@link maxPoolGrad}. */
  maxPoolWorkspaceBytes(shape: PoolShape): number {
    const name = `pool-train ${key(shape)}`;
    this.#prepare(name, () => this.#preparePoolTraining(shape));
    return this.#bytes.get(this.#prepared.get(name)!.inputs[2])!;
  }

  /**
   * The input gradient `dx` of {@link maxPool}: each `dy` goes to its window's maximum in `x`,
   * found in the `workspace` the forward pass filled, or, without one, by running it again.
   */
  maxPoolGrad(
    shape: PoolShape,
    x: Float32Array,
    dy: Float32Array,
    dx: Float32Array,
    workspace?: Uint8Array,
  ): void {
    if (workspace === undefined) {
      this.#run(`pool-dx ${key(shape)}`, () => this.#preparePoolBackward(shape), [x, dy, dx]);
    } else {
      this.#run(`pool-dx-ws ${key(shape)}`, () => this.#preparePoolBackward(shape, true), [
        workspace,
        dy,
        dx,
      ]);
    }
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
      () => this.#prepareBinary(op === "add" ? C.binaryAdd : C.binaryMul, shape, bShape),
      [a, b, out],
    );
  }

  /** `y = max(x, 0)` elementwise over `size` numbers. */
  relu(size: number, x: Float32Array, y: Float32Array): void {
    this.#run(`relu ${size}`, () => this.#prepareRelu(size), [x, y]);
  }

  /** ReLU's gradient: `dx = x > 0 ? dy : 0` elementwise over `size` numbers, in one pass. */
  reluGrad(size: number, x: Float32Array, dy: Float32Array, dx: Float32Array): void {
    this.#run(`relu-dx ${size}`, () => this.#prepareReluBackward(size), [x, dy, dx]);
  }

  /**
   * `c = a b` (plus a bias row, with `options.bias`) for row-major float32 matrices a `[m, k]`
   * (or its transpose), b `[k, n]` (or its transpose), c `[m, n]`.
   */
  matMul(
    m: number,
    k: number,
    n: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    options: MatMulOptions = {},
  ) {
    const { transposeA = false, transposeB = false, bias, precision = "fp32" } = options;
    const layout = { transposeA, transposeB, bias: bias !== undefined, precision };
    this.#run(
      `matmul ${m}x${k}x${n} ${JSON.stringify(layout)}`,
      () => this.#prepareMatMul(m, k, n, layout),
      bias === undefined ? [a, b, c] : [a, b, bias, c],
    );
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
   * parallelism across workers that share the cores. oneDNN has no call for it: its OpenMP
   * runtime's `omp_set_num_threads` does it, per calling thread. Returns whether it could
   * (false where oneDNN runs on another threading runtime than GNU OpenMP, such as the TBB of
   * PyPI's build: there every call uses every core).
   */
  setThreads(threads: number): boolean {
    if (this.runtime !== "OpenMP") return false;
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

  #prepare(name: string, prepare: () => Prepared): Prepared {
    let prepared = this.#prepared.get(name);
    if (prepared === undefined) {
      prepared = prepare();
      this.#prepared.set(name, prepared);
    }
    return prepared;
  }

  #run(name: string, prepare: () => Prepared, arrays: Array<Float32Array | Uint8Array>): void {
    const prepared = this.#prepare(name, prepare);
    if (arrays.length !== prepared.inputs.length) {
      throw new UsageError(`oneDNN ${name}: ${arrays.length} arrays for ${prepared.inputs.length}`);
    }
    prepared.inputs.forEach((memory, i) => {
      const bytes = this.#bytes.get(memory)!;
      if (arrays[i].byteLength !== bytes) {
        throw new UsageError(
          `oneDNN ${name}: array ${i + 1} holds ${arrays[i].length} numbers, the operation ` +
            `takes ${bytes / arrays[i].BYTES_PER_ELEMENT}`,
        );
      }
      this.#api.setBuffer(memory, Deno.UnsafePointer.of(arrays[i]));
    });
    for (const memory of prepared.scratch ?? []) {
      const buffer = this.#scratchBuffer(this.#scratchSlots.get(memory)!, this.#bytes.get(memory)!);
      this.#api.setBuffer(memory, Deno.UnsafePointer.of(buffer));
    }
    for (const step of prepared.steps) {
      this.#api.execute(step.primitive, this.#stream, step.count, step.args);
    }
    this.#api.wait(this.#stream);
  }

  #prepareConvForward(
    shape: ConvShape,
    withBias: boolean,
    relu: boolean,
    precision: Precision,
  ): Prepared {
    const biasMd = withBias ? this.#plain([shape.outChannels]) : null;
    const attr = relu ? this.#api.reluAttr() : null;
    const forward = this.#planned(
      shape,
      precision,
      (plan) => this.#convForward(shape, plan, biasMd, attr),
    );
    const x = this.#userMemory(this.#nhwc(shape, "in")), y = this.#userMemory(this.#nhwc(shape));
    const filter = this.#filterIn(forward, shape);
    const bias = biasMd === null ? [] : [this.#userMemory(biasMd)];
    const src = this.#activation(forward, ARG.src, x, this.#nhwc(shape, "in"), "into", 0);
    const dst = this.#activation(forward, ARG.dst, y, this.#nhwc(shape), "outOf", 1);
    return {
      inputs: [x, filter.user, ...bias, y],
      steps: [
        ...filter.steps,
        ...src.steps,
        this.#execution(forward, [
          [ARG.src, src.memory],
          [ARG.weights, filter.memory],
          ...bias.map((memory): [number, Memory] => [ARG.bias, memory]),
          [ARG.dst, dst.memory],
        ]),
        ...dst.steps,
      ],
      implementation: this.#api.implementation(forward),
      scratch: [...src.scratch, ...dst.scratch],
    };
  }

  /**
   * A matrix product; in `bf16`, `a` and `b` are reordered to bfloat16 first, into memory oneDNN
   * owns (the lab's products in bfloat16 are the dense layer's, a few thousand numbers).
   */
  #prepareMatMul(
    m: number,
    k: number,
    n: number,
    layout: { transposeA: boolean; transposeB: boolean; bias: boolean; precision: Precision },
  ): Prepared {
    const { tags } = this.#api;
    const dataType = layout.precision === "bf16" ? C.bf16 : C.f32;
    const aTag = layout.transposeA ? tags.transposed : tags.plain[1];
    const bTag = layout.transposeB ? tags.transposed : tags.plain[1];
    const aUserMd = this.#api.descriptor([m, k], aTag);
    const bUserMd = this.#api.descriptor([k, n], bTag);
    const aMd = this.#api.descriptor([m, k], aTag, dataType);
    const bMd = this.#api.descriptor([k, n], bTag, dataType);
    const cMd = this.#plain([m, n]);
    const biasMd = layout.bias ? this.#plain([1, n]) : null;
    const product = this.#api.matMul(this.#engine, aMd, bMd, biasMd, cMd);
    const a = this.#userMemory(aUserMd), b = this.#userMemory(bUserMd), c = this.#userMemory(cMd);
    const bias = biasMd === null ? [] : [this.#userMemory(biasMd)];
    const steps: Execution[] = [];
    const converted = (user: Memory, userMd: MemoryDesc, md: MemoryDesc) => {
      if (dataType === C.f32) return user;
      const memory = this.#ownedMemory(md);
      steps.push(this.#reorder(userMd, user, md, memory));
      return memory;
    };
    const src = converted(a, aUserMd, aMd), weights = converted(b, bUserMd, bMd);
    steps.push(this.#execution(product, [
      [ARG.src, src],
      [ARG.weights, weights],
      ...bias.map((memory): [number, Memory] => [ARG.bias, memory]),
      [ARG.dst, c],
    ]));
    return {
      inputs: [a, b, ...bias, c],
      steps,
      implementation: this.#api.implementation(product),
    };
  }

  #prepareBinary(algorithm: number, shape: number[], bShape: number[]): Prepared {
    const aMd = this.#plain(shape), bMd = this.#plain(bShape);
    const binary = this.#api.binary(this.#engine, algorithm, aMd, bMd, aMd);
    const a = this.#userMemory(aMd), b = this.#userMemory(bMd), out = this.#userMemory(aMd);
    return {
      inputs: [a, b, out],
      steps: [this.#execution(binary, [[ARG.src, a], [ARG.src1, b], [ARG.dst, out]])],
      implementation: this.#api.implementation(binary),
    };
  }

  #prepareRelu(size: number): Prepared {
    const md = this.#plain([size]);
    const relu = this.#api.relu(this.#engine, C.forwardInference, md, md);
    const x = this.#userMemory(md), y = this.#userMemory(md);
    return {
      inputs: [x, y],
      steps: [this.#execution(relu, [[ARG.src, x], [ARG.dst, y]])],
      implementation: this.#api.implementation(relu),
    };
  }

  #prepareReluBackward(size: number): Prepared {
    const md = this.#plain([size]);
    const hint = this.#api.relu(this.#engine, C.forwardTraining, md, md);
    const backward = this.#api.reluBackward(this.#engine, md, md, md, hint);
    const x = this.#userMemory(md), dy = this.#userMemory(md), dx = this.#userMemory(md);
    return {
      inputs: [x, dy, dx],
      steps: [this.#execution(backward, [[ARG.src, x], [ARG.diffDst, dy], [ARG.diffSrc, dx]])],
      implementation: this.#api.implementation(backward),
    };
  }

  #prepareConvBackwardData(shape: ConvShape, precision: Precision): Prepared {
    const backward = this.#convBackward(
      shape,
      precision,
      (plan) => ({ in: C.f32, filter: plan.dataType, out: plan.dataType }),
      this.#api.convBackwardData,
    );
    const dy = this.#userMemory(this.#nhwc(shape)), dx = this.#userMemory(this.#nhwc(shape, "in"));
    const filter = this.#filterIn(backward, shape);
    const diffDst = this.#activation(backward, ARG.diffDst, dy, this.#nhwc(shape), "into", 0);
    const diffSrc = this.#activation(
      backward,
      ARG.diffSrc,
      dx,
      this.#nhwc(shape, "in"),
      "outOf",
      1,
    );
    return {
      inputs: [dy, filter.user, dx],
      steps: [
        ...filter.steps,
        ...diffDst.steps,
        this.#execution(backward, [
          [ARG.diffDst, diffDst.memory],
          [ARG.weights, filter.memory],
          [ARG.diffSrc, diffSrc.memory],
        ]),
        ...diffSrc.steps,
      ],
      implementation: this.#api.implementation(backward),
      scratch: [...diffDst.scratch, ...diffSrc.scratch],
    };
  }

  #prepareConvBackwardWeights(shape: ConvShape, precision: Precision): Prepared {
    const backward = this.#convBackward(
      shape,
      precision,
      (plan) => ({ in: plan.dataType, filter: C.f32, out: plan.dataType }),
      this.#api.convBackwardWeights,
    );
    const x = this.#userMemory(this.#nhwc(shape, "in")), dy = this.#userMemory(this.#nhwc(shape));
    const src = this.#activation(backward, ARG.src, x, this.#nhwc(shape, "in"), "into", 0);
    const diffDst = this.#activation(backward, ARG.diffDst, dy, this.#nhwc(shape), "into", 1);
    const userMd = this.#hwio(shape);
    const user = this.#userMemory(userMd);
    const chosen = this.#api.queryMd(backward, ARG.diffWeights);
    const steps: Execution[] = [...src.steps, ...diffDst.steps];
    let memory = user;
    if (!this.#api.equal(chosen, userMd)) memory = this.#ownedMemory(chosen);
    steps.push(this.#execution(backward, [
      [ARG.src, src.memory],
      [ARG.diffDst, diffDst.memory],
      [ARG.diffWeights, memory],
    ]));
    if (memory !== user) steps.push(this.#reorder(chosen, memory, userMd, user));
    return {
      inputs: [x, dy, user],
      steps,
      implementation: this.#api.implementation(backward),
      scratch: [...src.scratch, ...diffDst.scratch],
    };
  }

  #preparePoolForward(pool: PoolShape): Prepared {
    const shape = passThrough(pool);
    const forward = this.#poolForward(shape, C.forwardInference);
    const x = this.#userMemory(this.#nhwc(shape, "in")), y = this.#userMemory(this.#nhwc(shape));
    return {
      inputs: [x, y],
      steps: [this.#execution(forward, [[ARG.src, x], [ARG.dst, y]])],
      implementation: this.#api.implementation(forward),
    };
  }

  /** The forward pass of training: the result, and where each maximum was (the workspace). */
  #preparePoolTraining(pool: PoolShape): Prepared {
    const shape = passThrough(pool);
    const forward = this.#poolForward(shape, C.forwardTraining);
    const x = this.#userMemory(this.#nhwc(shape, "in")), y = this.#userMemory(this.#nhwc(shape));
    const workspace = this.#userMemory(this.#api.queryMd(forward, ARG.workspace));
    return {
      inputs: [x, y, workspace],
      steps: [this.#execution(forward, [[ARG.src, x], [ARG.dst, y], [ARG.workspace, workspace]])],
      implementation: this.#api.implementation(forward),
    };
  }

  /**
   * Max-pool backward needs the forward's workspace (where each maximum was): given it
   * (`fromWorkspace`), it takes the workspace, `dy` and `dx`; otherwise `x`, `dy` and `dx`, and it
   * runs the forward pass first into a workspace of its own.
   */
  #preparePoolBackward(pool: PoolShape, fromWorkspace = false): Prepared {
    const shape = passThrough(pool);
    const forward = this.#poolForward(shape, C.forwardTraining);
    const backward = this.#api.maxPoolBackward(
      this.#engine,
      this.#nhwc(shape, "in"),
      this.#nhwc(shape),
      poolGeometry(shape),
      forward,
    );
    const dy = this.#userMemory(this.#nhwc(shape));
    const dx = this.#userMemory(this.#nhwc(shape, "in"));
    const workspaceMd = this.#api.queryMd(forward, ARG.workspace);
    const step = (workspace: Memory) =>
      this.#execution(backward, [
        [ARG.diffDst, dy],
        [ARG.workspace, workspace],
        [ARG.diffSrc, dx],
      ]);
    const implementation = this.#api.implementation(backward);
    if (fromWorkspace) {
      const workspace = this.#userMemory(workspaceMd);
      return { inputs: [workspace, dy, dx], steps: [step(workspace)], implementation };
    }
    const x = this.#userMemory(this.#nhwc(shape, "in"));
    const y = this.#ownedMemory(this.#nhwc(shape));
    const workspace = this.#ownedMemory(workspaceMd);
    return {
      inputs: [x, dy, dx],
      steps: [
        this.#execution(forward, [[ARG.src, x], [ARG.dst, y], [ARG.workspace, workspace]]),
        step(workspace),
      ],
      implementation,
    };
  }

  #convForward(
    shape: ConvShape,
    plan: ConvPlan,
    biasMd: MemoryDesc | null = null,
    attr: Handle = null,
  ): Handle {
    return this.#api.convForward(
      this.#engine,
      C.forwardTraining,
      this.#activationMd(shape, "in", plan, plan.dataType),
      this.#anyFilter(shape, plan.dataType),
      biasMd,
      this.#activationMd(shape, "out", plan, C.f32),
      convGeometry(shape, plan),
      attr,
    );
  }

  /**
   * A convolution's backward primitive (`convBackwardData` or `convBackwardWeights`), planned,
   * with the data types `types` gives its input side, filter and output side under the plan.
   */
  #convBackward(
    shape: ConvShape,
    precision: Precision,
    types: (plan: ConvPlan) => { in: number; filter: number; out: number },
    create: Driver["convBackwardData"],
  ): Handle {
    return this.#planned(shape, precision, (plan) =>
      create(
        this.#engine,
        this.#activationMd(shape, "in", plan, types(plan).in),
        this.#anyFilter(shape, types(plan).filter),
        this.#activationMd(shape, "out", plan, types(plan).out),
        convGeometry(shape, plan),
        this.#convForward(shape, plan),
      ));
  }

  /**
   * Builds a convolution's primitive with Winograd's algorithm where it may apply (3x3 filters,
   * stride 1) and this oneDNN has it, else with the direct one, in float32 or (`bf16`) with
   * bfloat16 inputs and weights. Winograd's F(4x4, 3x3) does a quarter of the multiplies: oneDNN 2
   * has it for AVX-512 (`jit_wino_4x3`, float32 only), where it ran the lab's 3x3 convolutions,
   * both gradients included, 1.1-4.7x as fast as the direct float32 kernels, reorders to and from
   * its blocked layout counted, and faster than the direct bfloat16 ones too (width 64 here:
   * 256 to 256 channels forward 304 ms against 522, 512 to 512 304 against 488), so it keeps
   * them in float32 under `bf16` as well; oneDNN 3 dropped it, and there the direct kernels run.
   */
  #planned(shape: ConvShape, precision: Precision, build: (plan: ConvPlan) => Handle): Handle {
    const threeByThree = shape.filterHeight === 3 && shape.filterWidth === 3 &&
      shape.strideHeight === 1 && shape.strideWidth === 1;
    if (threeByThree) {
      try {
        return build(WINOGRAD);
      } catch (error) {
        if (!(error instanceof LabError)) throw error;
      }
    }
    return build(precision === "bf16" ? DIRECT_BF16 : DIRECT);
  }

  /** Descriptor of a convolution's activations on one side, as the plan lays them out. */
  #activationMd(
    shape: ConvShape,
    side: "in" | "out",
    plan: ConvPlan,
    dataType: number,
  ): MemoryDesc {
    const tag = plan.activations === "nhwc" ? this.#api.tags.nhwc : this.#api.tags.any;
    return this.#api.descriptor(activationDims(shape, side), tag, dataType);
  }

  /**
   * The memory a primitive reads or writes as `arg`: the caller's NHWC array itself, or, where the
   * primitive chose another layout, scratch buffer `slot`, which a reorder fills from the array
   * (`into`) or empties into it (`outOf`).
   */
  #activation(
    primitiveDesc: Handle,
    arg: number,
    user: Memory,
    userMd: MemoryDesc,
    direction: "into" | "outOf",
    slot: number,
  ): { memory: Memory; steps: Execution[]; scratch: Memory[] } {
    const chosen = this.#api.queryMd(primitiveDesc, arg);
    if (this.#api.equal(chosen, userMd)) return { memory: user, steps: [], scratch: [] };
    const memory = this.#api.memory(this.#engine, chosen, null);
    this.#bytes.set(memory, this.#api.bytes(chosen));
    this.#scratchSlots.set(memory, slot);
    const step = direction === "into"
      ? this.#reorder(userMd, user, chosen, memory)
      : this.#reorder(chosen, memory, userMd, user);
    return { memory, steps: [step], scratch: [memory] };
  }

  /**
   * Scratch buffer `slot`, at least `bytes` long, over an `ArrayBuffer` of its own (oneDNN keeps its
   * address only for the call).
   */
  #scratchBuffer(slot: number, bytes: number): Uint8Array {
    const current = this.#scratch[slot];
    if (current !== undefined && current.byteLength >= bytes) return current;
    const buffer = new Uint8Array(new ArrayBuffer(bytes));
    this.#scratch[slot] = buffer;
    return buffer;
  }

  #poolForward(shape: ConvShape, propagation: number): Handle {
    return this.#api.maxPoolForward(
      this.#engine,
      propagation,
      this.#nhwc(shape, "in"),
      this.#nhwc(shape),
      poolGeometry(shape),
    );
  }

  /** The caller's filter `[kh, kw, in, out]`, reordered when the primitive wants another layout. */
  #filterIn(primitiveDesc: Handle, shape: ConvShape) {
    const userMd = this.#hwio(shape);
    const user = this.#userMemory(userMd);
    const chosen = this.#api.queryMd(primitiveDesc, ARG.weights);
    if (this.#api.equal(chosen, userMd)) return { user, memory: user, steps: [] };
    const memory = this.#ownedMemory(chosen);
    return { user, memory, steps: [this.#reorder(userMd, user, chosen, memory)] };
  }

  #reorder(fromMd: MemoryDesc, from: Memory, toMd: MemoryDesc, to: Memory): Execution {
    const reorder = this.#api.reorder(this.#engine, fromMd, toMd);
    return this.#execution(reorder, [[ARG.src, from], [ARG.dst, to]]);
  }

  #execution(primitiveDesc: Handle, args: Array<[number, Memory]>): Execution {
    const packed = new BigUint64Array(2 * args.length);
    args.forEach(([index, memory], i) => {
      packed[2 * i] = BigInt(index);
      packed[2 * i + 1] = BigInt(Deno.UnsafePointer.value(memory));
    });
    return { primitive: this.#api.primitive(primitiveDesc), args: packed, count: args.length };
  }

  /** A memory object without a buffer: {@link #run} points it at the caller's array. */
  #userMemory(md: MemoryDesc): Memory {
    const memory = this.#api.memory(this.#engine, md, null);
    this.#bytes.set(memory, this.#api.bytes(md));
    return memory;
  }

  /** A memory object whose buffer oneDNN allocates and owns (blocked filters, workspaces). */
  #ownedMemory(md: MemoryDesc): Memory {
    return this.#api.memory(this.#engine, md, allocateHandle());
  }

  /** Descriptor of a plain row-major array of rank 1 to 5. */
  #plain(shape: number[]): MemoryDesc {
    const tag = this.#api.tags.plain[shape.length - 1];
    if (tag === undefined) throw new LabError(`oneDNN: no plain layout of rank ${shape.length}`);
    return this.#api.descriptor(shape, tag);
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

  /** Descriptor of a float32 NHWC array: a convolution's input side (`in`) or output side. */
  #nhwc(shape: ConvShape, side: "in" | "out" = "out"): MemoryDesc {
    return this.#api.descriptor(activationDims(shape, side), this.#api.tags.nhwc);
  }

  #hwio(shape: ConvShape): MemoryDesc {
    return this.#api.descriptor(filterDims(shape), this.#api.tags.hwio);
  }

  #anyFilter(shape: ConvShape, dataType: number): MemoryDesc {
    return this.#api.descriptor(filterDims(shape), this.#api.tags.any, dataType);
  }
}

function key(shape: PoolShape): string {
  return JSON.stringify(shape);
}

/** A pool's shape as a convolution's whose channels pass through (output channels = input's). */
function passThrough(pool: PoolShape): ConvShape {
  return { ...pool, outChannels: pool.inChannels };
}

/** oneDNN's `[n, c, h, w]` dims of a convolution's input side (`in`) or output side. */
function activationDims(shape: ConvShape, side: "in" | "out"): number[] {
  return side === "in"
    ? [shape.batch, shape.inChannels, shape.inHeight, shape.inWidth]
    : [shape.batch, shape.outChannels, shape.outHeight, shape.outWidth];
}

/** oneDNN's `[out, in, kh, kw]` dims of a filter (its physical layout set by the tag). */
function filterDims(shape: ConvShape): number[] {
  return [shape.outChannels, shape.inChannels, shape.filterHeight, shape.filterWidth];
}

function convGeometry(shape: ConvShape, plan: ConvPlan): ConvGeometry {
  return { ...window(shape), algorithm: plan.algorithm };
}

function window(shape: PoolShape) {
  return {
    strides: [shape.strideHeight, shape.strideWidth] as [number, number],
    padBefore: [shape.padTop, shape.padLeft] as [number, number],
    padAfter: [shape.padBottom, shape.padRight] as [number, number],
  };
}

function poolGeometry(shape: PoolShape): PoolGeometry {
  return { ...window(shape), kernel: [shape.filterHeight, shape.filterWidth] };
}
