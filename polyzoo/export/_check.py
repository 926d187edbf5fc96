"""Parity of an exported ONNX graph with the JAX function it came from (onnxruntime, float32)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx


def run_onnx(model: onnx.ModelProto, *inputs: np.ndarray) -> list[np.ndarray]:
    """Evaluate `model` with onnxruntime on float32 inputs."""
    import onnxruntime as ort

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
