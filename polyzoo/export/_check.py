"""Parity of an exported ONNX graph with the JAX function it came from (onnxruntime, float32)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx


def standard_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy with every onnx.brevitas.Quant node spelled in default-domain ops
    ((clip(round(x / scale + zp)) - zp) * scale), which onnxruntime can run."""
    from onnx import helper, numpy_helper

    from polyzoo.export.qat import int_range

    if not any(n.op_type == "Quant" and n.domain for n in model.graph.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes = []
    for node in graph.node:
        if not (node.op_type == "Quant" and node.domain):
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        x, scale, zero_point, bits = node.input
        lo, hi = int_range(int(inits[bits]), bool(attrs["signed"]), bool(attrs["narrow"]))
        stem = node.output[0]
        bounds = [f"{stem}/lo", f"{stem}/hi"]
        graph.initializer.extend(numpy_helper.from_array(np.float32(v), n)
                                 for v, n in zip((lo, hi), bounds))
        nodes += [helper.make_node("Div", [x, scale], [f"{stem}/div"]),
                  helper.make_node("Add", [f"{stem}/div", zero_point], [f"{stem}/shift"]),
                  helper.make_node("Round", [f"{stem}/shift"], [f"{stem}/round"]),
                  helper.make_node("Clip", [f"{stem}/round", *bounds], [f"{stem}/clip"]),
                  helper.make_node("Sub", [f"{stem}/clip", zero_point], [f"{stem}/int"]),
                  helper.make_node("Mul", [f"{stem}/int", scale], [stem])]
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}  # the bit-widths were read above, not run
    kept_inits = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    kept = [o for o in model.opset_import if o.domain == ""]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    return model


def run_onnx(model: onnx.ModelProto, *inputs: np.ndarray) -> list[np.ndarray]:
    """Evaluate `model` with onnxruntime on float32 inputs (Quant nodes as standard ops)."""
    import onnxruntime as ort

    model = standard_ops(model)

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    feeds = {i.name: np.asarray(x, np.float32) for i, x in zip(session.get_inputs(), inputs)}
    return session.run(None, feeds)


def check_onnx(model: onnx.ModelProto, fn: Callable, *inputs: np.ndarray,
               rtol: float = 1e-4, atol: float = 1e-4) -> float:
    """Max |onnx - jax| over all outputs; raises AssertionError beyond tolerance."""
    import jax

    expected = jax.tree_util.tree_leaves(fn(*inputs))
    got = run_onnx(model, *inputs)
    if len(expected) != len(got):
        raise AssertionError(f"ONNX graph has {len(got)} outputs, JAX function {len(expected)}")
    worst = 0.0
    for i, (e, g) in enumerate(zip(expected, got)):
        e = np.asarray(e, np.float32)
        if e.shape != g.shape:
            raise AssertionError(f"output {i}: ONNX shape {g.shape} != JAX shape {e.shape}")
        worst = max(worst, float(np.max(np.abs(e - g), initial=0.0)))
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol,
                                   err_msg=f"output {i}: ONNX graph differs from JAX")
    return worst
