/**
 * oneDNN 2's C API (`libdnnl.so.2`, Debian 12's `libdnnl2`) as a {@link Driver}: its symbol
 * table and the calls that differ from version 3. In version 2 the caller allocates descriptors:
 * a memory descriptor is a 696-byte struct filled by `dnnl_memory_desc_init_by_tag`, and an
 * operation is first described by a `*_desc_init` call into an operation descriptor, from which
 * `dnnl_primitive_desc_create` makes the primitive descriptor.
 *
 * @module
 */

import { LabError } from "../../core/errors.ts";
import {
  C,
  check,
  dims,
  type Driver,
  type Geometry,
  type Handle,
  type MemoryDesc,
  out,
  type PoolGeometry,
} from "./api.ts";

/** The functions of oneDNN 2 the binding calls, with their C signatures. */
export const SYMBOLS_V2 = {
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
  dnnl_eltwise_backward_desc_init: {
    parameters: ["buffer", "i32", "buffer", "buffer", "f32", "f32"],
    result: "i32",
  },
  dnnl_matmul_desc_init: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer"],
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

/** `sizeof(dnnl_memory_desc_t)` in oneDNN 2. */
const MEMORY_DESC_BYTES = 696;
/** Room for an operation descriptor: `sizeof(dnnl_convolution_desc_t)` is 5,976 bytes. */
const OP_DESC_BYTES = 8192;
const ELTWISE_RELU = 0x1f;

/** oneDNN 2's C API over a library opened with {@link SYMBOLS_V2}. */
export function driverV2(library: Deno.DynamicLibrary<typeof SYMBOLS_V2>): Driver {
  const fn = library.symbols;
  const md = (desc: MemoryDesc) => desc as Uint8Array;
  /** Fills an operation descriptor with `init`, then makes its primitive descriptor. */
  const primitiveDesc = (
    call: string,
    init: (desc: Uint8Array) => number,
    engine: Handle,
    hint: Handle = null,
    attr: Handle = null,
  ): Handle => {
    const desc = new Uint8Array(OP_DESC_BYTES);
    check(call, init(desc));
    return out(
      "dnnl_primitive_desc_create",
      (pd) => fn.dnnl_primitive_desc_create(pd, desc, attr, engine, hint),
    );
  };
  const geometry = (g: Geometry): [BigInt64Array, BigInt64Array, BigInt64Array] => [
    dims(g.strides),
    dims(g.padBefore),
    dims(g.padAfter),
  ];
  const pool = (
    g: PoolGeometry,
  ): [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] => [
    dims(g.strides),
    dims(g.kernel),
    dims(g.padBefore),
    dims(g.padAfter),
  ];
  return {
    major: 2,
    // dnnl_format_tag_t of oneDNN 2: a = 2, ab = 3, abc = 4, abcd = 5, (acbd = 6), abcde = 7,
    // then the permutations: acdb (nhwc) = 20, ba = 22, cdba (hwio) = 30.
    tags: { any: 1, plain: [2, 3, 4, 5, 7], nhwc: 20, hwio: 30, transposed: 22 },
    engine: () =>
      out("dnnl_engine_create", (engine) => fn.dnnl_engine_create(engine, C.cpuEngine, 0n)),
    stream: (engine) =>
      out(
        "dnnl_stream_create",
        (stream) => fn.dnnl_stream_create(stream, engine, C.inOrderStream),
      ),
    wait: (stream) => check("dnnl_stream_wait", fn.dnnl_stream_wait(stream)),
    descriptor(shape, tag, dataType = C.f32) {
      const desc = new Uint8Array(MEMORY_DESC_BYTES);
      check(
        "dnnl_memory_desc_init_by_tag",
        fn.dnnl_memory_desc_init_by_tag(desc, shape.length, dims(shape), dataType, tag),
      );
      return desc;
    },
    equal: (a, b) => fn.dnnl_memory_desc_equal(md(a), md(b)) !== 0,
    bytes: (desc) => Number(fn.dnnl_memory_desc_get_size(md(desc))),
    memory: (engine, desc, buffer) =>
      out(
        "dnnl_memory_create",
        (memory) => fn.dnnl_memory_create(memory, md(desc), engine, buffer),
      ),
    setBuffer: (memory, buffer) =>
      check("dnnl_memory_set_data_handle", fn.dnnl_memory_set_data_handle(memory, buffer)),
    convForward: (engine, propagation, src, weights, bias, dst, g, attr) =>
      primitiveDesc(
        "dnnl_convolution_forward_desc_init",
        (desc) =>
          fn.dnnl_convolution_forward_desc_init(
            desc,
            propagation,
            g.algorithm,
            md(src),
            md(weights),
            bias === null ? null : md(bias),
            md(dst),
            ...geometry(g),
          ),
        engine,
        null,
        attr,
      ),
    convBackwardData: (engine, diffSrc, weights, diffDst, g, hint) =>
      primitiveDesc(
        "dnnl_convolution_backward_data_desc_init",
        (desc) =>
          fn.dnnl_convolution_backward_data_desc_init(
            desc,
            g.algorithm,
            md(diffSrc),
            md(weights),
            md(diffDst),
            ...geometry(g),
          ),
        engine,
        hint,
      ),
    convBackwardWeights: (engine, src, diffWeights, diffDst, g, hint) =>
      primitiveDesc(
        "dnnl_convolution_backward_weights_desc_init",
        (desc) =>
          fn.dnnl_convolution_backward_weights_desc_init(
            desc,
            g.algorithm,
            md(src),
            md(diffWeights),
            null,
            md(diffDst),
            ...geometry(g),
          ),
        engine,
        hint,
      ),
    maxPoolForward: (engine, propagation, src, dst, g) =>
      primitiveDesc(
        "dnnl_pooling_forward_desc_init",
        (desc) =>
          fn.dnnl_pooling_forward_desc_init(
            desc,
            propagation,
            C.poolingMax,
            md(src),
            md(dst),
            ...pool(g),
          ),
        engine,
      ),
    maxPoolBackward: (engine, diffSrc, diffDst, g, hint) =>
      primitiveDesc(
        "dnnl_pooling_backward_desc_init",
        (desc) =>
          fn.dnnl_pooling_backward_desc_init(
            desc,
            C.poolingMax,
            md(diffSrc),
            md(diffDst),
            ...pool(g),
          ),
        engine,
        hint,
      ),
    binary: (engine, algorithm, a, b, dst) =>
      primitiveDesc(
        "dnnl_binary_desc_init",
        (desc) => fn.dnnl_binary_desc_init(desc, algorithm, md(a), md(b), md(dst)),
        engine,
      ),
    // Version 2's ReLU writes a destination described as its source: `dst` is not asked for.
    relu: (engine, propagation, src) =>
      primitiveDesc(
        "dnnl_eltwise_forward_desc_init",
        (desc) => fn.dnnl_eltwise_forward_desc_init(desc, propagation, ELTWISE_RELU, md(src), 0, 0),
        engine,
      ),
    // Version 2 describes the gradients as the data: `diffSrc` and `diffDst` are not asked for.
    reluBackward: (engine, _diffSrc, diffDst, src, hint) =>
      primitiveDesc(
        "dnnl_eltwise_backward_desc_init",
        (desc) =>
          fn.dnnl_eltwise_backward_desc_init(desc, ELTWISE_RELU, md(diffDst), md(src), 0, 0),
        engine,
        hint,
      ),
    matMul: (engine, a, b, bias, c) =>
      primitiveDesc(
        "dnnl_matmul_desc_init",
        (desc) =>
          fn.dnnl_matmul_desc_init(desc, md(a), md(b), bias === null ? null : md(bias), md(c)),
        engine,
      ),
    reorder: (engine, from, to) =>
      out(
        "dnnl_reorder_primitive_desc_create",
        (pd) => fn.dnnl_reorder_primitive_desc_create(pd, md(from), engine, md(to), engine, null),
      ),
    reluAttr() {
      const ops = out("dnnl_post_ops_create", (slot) => fn.dnnl_post_ops_create(slot));
      check(
        "dnnl_post_ops_append_eltwise",
        fn.dnnl_post_ops_append_eltwise(ops, 1, ELTWISE_RELU, 0, 0),
      );
      const attr = out("dnnl_primitive_attr_create", (slot) => fn.dnnl_primitive_attr_create(slot));
      check("dnnl_primitive_attr_set_post_ops", fn.dnnl_primitive_attr_set_post_ops(attr, ops));
      return attr;
    },
    queryMd(primitiveDesc, arg) {
      const desc = fn.dnnl_primitive_desc_query_md(primitiveDesc, C.queryExecArgMd, arg);
      if (desc === null) throw new LabError(`oneDNN: the primitive has no argument ${arg}`);
      const view = Deno.UnsafePointerView.getArrayBuffer(desc, MEMORY_DESC_BYTES);
      return new Uint8Array(view.slice(0));
    },
    implementation(primitiveDesc) {
      const name = out(
        "dnnl_primitive_desc_query",
        (slot) => fn.dnnl_primitive_desc_query(primitiveDesc, C.queryImplInfo, 0, slot),
      );
      return new Deno.UnsafePointerView(name!).getCString();
    },
    primitive: (primitiveDesc) =>
      out("dnnl_primitive_create", (slot) => fn.dnnl_primitive_create(slot, primitiveDesc)),
    execute: (primitive, stream, count, args) =>
      check("dnnl_primitive_execute", fn.dnnl_primitive_execute(primitive, stream, count, args)),
  };
}
