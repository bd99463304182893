/**
 * oneDNN 3's C API (`libdnnl.so.3`: Debian 13's `libdnnl3.6`, PyPI's `onednn`, Homebrew's
 * `onednn`) as a {@link Driver}: its symbol table and the calls that differ from version 2.
 * Version 3 dropped the operation descriptors: each `*_primitive_desc_create` takes the engine,
 * the memory descriptors and the geometry at once. Memory descriptors are opaque objects made by
 * `dnnl_memory_desc_create_with_tag`; the binding keeps them, like its primitives, for the life
 * of the process (one set per shape). Convolutions and pools also take dilations (zeros here).
 * The format tags were renumbered (`abcde` follows `abcd` directly); the other constants the
 * binding uses kept their values, except the ReLU's algorithm kind.
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
  type MemoryDesc,
  out,
  type PoolGeometry,
} from "./api.ts";

/** The functions of oneDNN 3 the binding calls, with their C signatures. */
export const SYMBOLS_V3 = {
  dnnl_version: { parameters: [], result: "pointer" },
  dnnl_engine_create: { parameters: ["buffer", "i32", "usize"], result: "i32" },
  dnnl_stream_create: { parameters: ["buffer", "pointer", "u32"], result: "i32" },
  dnnl_stream_wait: { parameters: ["pointer"], result: "i32" },
  dnnl_memory_desc_create_with_tag: {
    parameters: ["buffer", "i32", "buffer", "i32", "i32"],
    result: "i32",
  },
  dnnl_memory_desc_equal: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_memory_desc_get_size: { parameters: ["pointer"], result: "usize" },
  dnnl_memory_create: { parameters: ["buffer", "pointer", "pointer", "pointer"], result: "i32" },
  dnnl_memory_set_data_handle: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_convolution_forward_primitive_desc_create: {
    // pd, engine, prop, alg, src, weights, bias, dst, strides, dilates, pad_l, pad_r, attr
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_data_primitive_desc_create: {
    // pd, engine, alg, diff_src, weights, diff_dst, strides, dilates, pad_l, pad_r, hint, attr
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_convolution_backward_weights_primitive_desc_create: {
    // pd, engine, alg, src, diff_weights, diff_bias, diff_dst, strides, dilates, pad_l, pad_r,
    // hint, attr
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_pooling_forward_primitive_desc_create: {
    // pd, engine, prop, alg, src, dst, strides, kernel, dilation, pad_l, pad_r, attr
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "i32",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_pooling_backward_primitive_desc_create: {
    // pd, engine, alg, diff_src, diff_dst, strides, kernel, dilation, pad_l, pad_r, hint, attr
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "pointer",
      "pointer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_binary_primitive_desc_create: {
    parameters: ["buffer", "pointer", "i32", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_eltwise_forward_primitive_desc_create: {
    parameters: ["buffer", "pointer", "i32", "i32", "pointer", "pointer", "f32", "f32", "pointer"],
    result: "i32",
  },
  dnnl_eltwise_backward_primitive_desc_create: {
    parameters: [
      "buffer",
      "pointer",
      "i32",
      "pointer",
      "pointer",
      "pointer",
      "f32",
      "f32",
      "pointer",
      "pointer",
    ],
    result: "i32",
  },
  dnnl_matmul_primitive_desc_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_reorder_primitive_desc_create: {
    parameters: ["buffer", "pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "i32",
  },
  dnnl_primitive_attr_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_create: { parameters: ["buffer"], result: "i32" },
  dnnl_post_ops_append_eltwise: { parameters: ["pointer", "i32", "f32", "f32"], result: "i32" },
  dnnl_primitive_attr_set_post_ops: { parameters: ["pointer", "pointer"], result: "i32" },
  dnnl_primitive_desc_query: { parameters: ["pointer", "i32", "i32", "buffer"], result: "i32" },
  dnnl_primitive_desc_query_md: { parameters: ["pointer", "i32", "i32"], result: "pointer" },
  dnnl_primitive_create: { parameters: ["buffer", "pointer"], result: "i32" },
  dnnl_primitive_execute: {
    parameters: ["pointer", "pointer", "i32", "buffer"],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;

const ELTWISE_RELU = 0x20;
/** No dilation: oneDNN 3 counts dilation from 0. */
const NO_DILATION = dims([0, 0]);

/** oneDNN 3's C API over a library opened with {@link SYMBOLS_V3}. */
export function driverV3(library: Deno.DynamicLibrary<typeof SYMBOLS_V3>): Driver {
  const fn = library.symbols;
  const md = (desc: MemoryDesc) => desc as Deno.PointerObject;
  const mdOrNull = (desc: MemoryDesc | null) => desc === null ? null : md(desc);
  const geometry = (
    g: Geometry,
  ): [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] => [
    dims(g.strides),
    NO_DILATION,
    dims(g.padBefore),
    dims(g.padAfter),
  ];
  const pool = (
    g: PoolGeometry,
  ): [BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array, BigInt64Array] => [
    dims(g.strides),
    dims(g.kernel),
    NO_DILATION,
    dims(g.padBefore),
    dims(g.padAfter),
  ];
  return {
    major: 3,
    // dnnl_format_tag_t of oneDNN 3: a = 2 ... abcde = 6, then the permutations from ba:
    // ba = 14, acdb (nhwc) = 22, cdba (hwio) = 28.
    tags: { any: 1, plain: [2, 3, 4, 5, 6], nhwc: 22, hwio: 28, transposed: 14 },
    engine: () =>
      out("dnnl_engine_create", (engine) => fn.dnnl_engine_create(engine, C.cpuEngine, 0n)),
    stream: (engine) =>
      out(
        "dnnl_stream_create",
        (stream) => fn.dnnl_stream_create(stream, engine, C.inOrderStream),
      ),
    wait: (stream) => check("dnnl_stream_wait", fn.dnnl_stream_wait(stream)),
    descriptor(shape, tag, dataType = C.f32) {
      const desc = out(
        "dnnl_memory_desc_create_with_tag",
        (slot) =>
          fn.dnnl_memory_desc_create_with_tag(slot, shape.length, dims(shape), dataType, tag),
      );
      return desc!;
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
      out(
        "dnnl_convolution_forward_primitive_desc_create",
        (pd) =>
          fn.dnnl_convolution_forward_primitive_desc_create(
            pd,
            engine,
            propagation,
            g.algorithm,
            md(src),
            md(weights),
            mdOrNull(bias),
            md(dst),
            ...geometry(g),
            attr,
          ),
      ),
    convBackwardData: (engine, diffSrc, weights, diffDst, g, hint) =>
      out(
        "dnnl_convolution_backward_data_primitive_desc_create",
        (pd) =>
          fn.dnnl_convolution_backward_data_primitive_desc_create(
            pd,
            engine,
            g.algorithm,
            md(diffSrc),
            md(weights),
            md(diffDst),
            ...geometry(g),
            hint,
            null,
          ),
      ),
    convBackwardWeights: (engine, src, diffWeights, diffDst, g, hint) =>
      out(
        "dnnl_convolution_backward_weights_primitive_desc_create",
        (pd) =>
          fn.dnnl_convolution_backward_weights_primitive_desc_create(
            pd,
            engine,
            g.algorithm,
            md(src),
            md(diffWeights),
            null,
            md(diffDst),
            ...geometry(g),
            hint,
            null,
          ),
      ),
    maxPoolForward: (engine, propagation, src, dst, g) =>
      out(
        "dnnl_pooling_forward_primitive_desc_create",
        (pd) =>
          fn.dnnl_pooling_forward_primitive_desc_create(
            pd,
            engine,
            propagation,
            C.poolingMax,
            md(src),
            md(dst),
            ...pool(g),
            null,
          ),
      ),
    maxPoolBackward: (engine, diffSrc, diffDst, g, hint) =>
      out(
        "dnnl_pooling_backward_primitive_desc_create",
        (pd) =>
          fn.dnnl_pooling_backward_primitive_desc_create(
            pd,
            engine,
            C.poolingMax,
            md(diffSrc),
            md(diffDst),
            ...pool(g),
            hint,
            null,
          ),
      ),
    binary: (engine, algorithm, a, b, dst) =>
      out(
        "dnnl_binary_primitive_desc_create",
        (pd) =>
          fn.dnnl_binary_primitive_desc_create(pd, engine, algorithm, md(a), md(b), md(dst), null),
      ),
    relu: (engine, propagation, src, dst) =>
      out(
        "dnnl_eltwise_forward_primitive_desc_create",
        (pd) =>
          fn.dnnl_eltwise_forward_primitive_desc_create(
            pd,
            engine,
            propagation,
            ELTWISE_RELU,
            md(src),
            md(dst),
            0,
            0,
            null,
          ),
      ),
    reluBackward: (engine, diffSrc, diffDst, src, hint) =>
      out(
        "dnnl_eltwise_backward_primitive_desc_create",
        (pd) =>
          fn.dnnl_eltwise_backward_primitive_desc_create(
            pd,
            engine,
            ELTWISE_RELU,
            md(diffSrc),
            md(diffDst),
            md(src),
            0,
            0,
            hint,
            null,
          ),
      ),
    matMul: (engine, a, b, bias, c) =>
      out(
        "dnnl_matmul_primitive_desc_create",
        (pd) =>
          fn.dnnl_matmul_primitive_desc_create(
            pd,
            engine,
            md(a),
            md(b),
            mdOrNull(bias),
            md(c),
            null,
          ),
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
        fn.dnnl_post_ops_append_eltwise(ops, ELTWISE_RELU, 0, 0),
      );
      const attr = out("dnnl_primitive_attr_create", (slot) => fn.dnnl_primitive_attr_create(slot));
      check("dnnl_primitive_attr_set_post_ops", fn.dnnl_primitive_attr_set_post_ops(attr, ops));
      return attr;
    },
    queryMd(primitiveDesc, arg) {
      // Owned by the primitive descriptor, which the binding keeps: no copy needed.
      const desc = fn.dnnl_primitive_desc_query_md(primitiveDesc, C.queryExecArgMd, arg);
      if (desc === null) throw new LabError(`oneDNN: the primitive has no argument ${arg}`);
      return desc;
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
