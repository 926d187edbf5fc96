"""The trained quantisers end to end: the `quant` primitive (forward, clipped straight-through
gradient), its translation to onnx.brevitas.Quant nodes, and Concrete-ML's QAT import of
those nodes, which must compute exactly what the JAX emulation of the circuit computes."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest

from polyzoo.export import Knobs, QuantSpec, check_onnx, compile_onnx, micro, qat, to_onnx
from polyzoo.export import _emulation
from polyzoo.export._compile import drop_output_identities, has_quantizers
from polyzoo.export._report import layer_statistics
from polyzoo.export._translate import QUANT_DOMAIN, _QUANT_PRIMITIVE


def test_quant_is_the_brevitas_formula_with_a_clipped_straight_through_gradient():
    x = jnp.linspace(-2.0, 2.0, 41, dtype=jnp.float32)
    q = qat.quant(x, 0.25, 3.0, bits=3, signed=False)
    expected = (np.clip(np.round(np.asarray(x) / 0.25 + 3.0), 0, 7) - 3.0) * 0.25
    np.testing.assert_array_equal(np.asarray(q), expected.astype(np.float32))
    grad = jax.grad(lambda v: jnp.sum(qat.quant(v, 0.25, 3.0, bits=3, signed=False)))(x)
    inside = (np.asarray(x) >= -0.875) & (np.asarray(x) <= 1.125)  # levels 0..7, half a step
    np.testing.assert_array_equal(np.asarray(grad), inside.astype(np.float32))
    batched = jax.vmap(lambda v: qat.quant(v, 0.25, 3.0, bits=3, signed=False))(x[:, None])
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: v)(batched))[:, 0], expected)
    assert qat.int_range(4, True, True) == (-7, 7) and qat.int_range(4, False, False) == (0, 15)
    assert qat.QUANT == _QUANT_PRIMITIVE  # the translator recognises the primitive by name


class Net(nn.Module):
    """Dense, relu, residual add of two encrypted values, an encrypted x encrypted product."""

    @nn.compact
    def __call__(self, x):  # (B, 5)
        h = jax.nn.relu(nn.Dense(8, name="fc1")(x))
        r = nn.Dense(8, name="fc2")(h) + h
        p = jnp.einsum("bi,bj->bij", r, h).reshape(x.shape[0], 64)
        return nn.Dense(3, name="head")(p)


@pytest.fixture(scope="module", params=[(None, False), (5, False), (6, True)],
                ids=["no-rounding", "rounding-5", "rounding-6-signed"])
def quantised(request):
    """(exported fn, emulated fn, inputs, rounding bits), without and with accumulator rounding
    (which Concrete-ML skips for the output layer, and where float32 error must not move ties),
    with unsigned grids or signed ones where a layer's input goes below zero."""
    rounding, signed = request.param
    x = np.random.default_rng(0).normal(size=(200, 5)).astype(np.float32)
    model = Net()
    params = model.init(jax.random.key(0), x[:1])["params"]
    fn = lambda p, xb: model.apply({"params": p}, xb)  # noqa: E731
    spec = QuantSpec(bits=4, rounding_bits=rounding)
    ranges = qat.activation_ranges(fn, params, x, spec=spec)
    if signed:
        spec = dataclasses.replace(spec, signed=qat.signed_sites(ranges))
        assert any(spec.signed) and not all(spec.signed)  # fc1's input; not relu'd h
        ranges = qat.activation_ranges(fn, params, x, spec=spec)
    exported = qat.quantized(fn, spec, ranges=ranges, emulate=False)
    emulated = qat.quantized(fn, spec, ranges=ranges)
    return (lambda xb: exported(params, xb)), (lambda xb: emulated(params, xb)), x, rounding


def test_quantisers_become_quant_nodes_before_the_shape_ops(quantised):
    exported, _, x, _ = quantised
    model = to_onnx(exported, x[:1])
    onnx.checker.check_model(model)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 14), (QUANT_DOMAIN, 1)]
    nodes = list(model.graph.node)
    quants = [n for n in nodes if n.op_type == "Quant"]
    assert all(n.domain == QUANT_DOMAIN for n in quants) and has_quantizers(model)
    # 3 weights, the input, h (one node for fc2, the residual and the product), fc2's
    # output, the sum and the product: one node per distinct (tensor, grid)
    assert len(quants) == 8
    producer = {o: n for n in nodes for o in n.output}
    for node in nodes:  # every Reshape reads a quantised value (Concrete-ML requires it)
        if node.op_type == "Reshape":
            source = producer[node.input[0]]
            while source.op_type == "Reshape":
                source = producer[source.input[0]]
            assert source.op_type in ("Quant", "MatMul")
    last = list(drop_output_identities(model).graph.node)[-1]  # what Concrete-ML compiles
    assert last.output[0] == "y" and last.op_type == "Add"
    assert check_onnx(model, exported, x[:16]) == 0.0  # Quant spelled in standard ops for ORT


def test_concrete_imports_the_grids_and_computes_the_emulation(quantised):
    exported, emulated, x, rounding = quantised
    circuit = compile_onnx(to_onnx(exported, x[:1]), x,
                           Knobs(quant=QuantSpec(bits=4, rounding_bits=rounding), p_error=0.01))
    clear = circuit.predict(x, fhe="disable")
    np.testing.assert_allclose(clear, np.asarray(emulated(x)), rtol=1e-5, atol=1e-5)
    # Dense layers with trained weight quantisers are fused into Gemms named after the layer
    # (Concrete-ML's own fusion would name them all 'Gemm_Node').
    pbs, _ = layer_statistics(circuit)
    assert "Gemm_Node" not in pbs and {"Net/fc1", "Net/fc2"} <= set(pbs)


def test_rounding_below_the_product_sums_is_refused():
    x = np.random.default_rng(0).normal(size=(8, 5)).astype(np.float32)
    model = Net()
    params = model.init(jax.random.key(0), x[:1])["params"]
    fn = lambda p, xb: model.apply({"params": p}, xb)  # noqa: E731
    with pytest.raises(ValueError, match="rounding_bits >= 5 or product_bits <= 3"):
        qat.activation_ranges(fn, params, x, spec=QuantSpec(bits=4, rounding_bits=4))


def test_export_function_needs_trained_grids():
    with pytest.raises(ValueError, match="retrain"):
        micro.export_function(Net(), {"params": {}}, {"n_bits": 6, "rounding_bits": 7})


class PoolNet(nn.Module):
    """A ViT's pooling: tokens through a Dense and ReLU, summed over the token axis, a head."""

    @nn.compact
    def __call__(self, x):  # (B, 12, 5) tokens
        h = jax.nn.relu(nn.Dense(8, name="fc")(x))  # (B, 12, 8)
        return nn.Dense(3, name="head")(h.sum(axis=1))


def test_concrete_rounds_the_pooling_sum_and_takes_the_input_and_weight_grids_as_emulated():
    """The encrypted sum's accumulator is rounded like a product's (Concrete-ML's
    QuantizedReduceSum), `input_bits` puts the model input on its own narrow grid and
    `weight_bits` the weights on theirs."""
    x = np.random.default_rng(1).normal(size=(200, 12, 5)).astype(np.float32)
    model = PoolNet()
    params = model.init(jax.random.key(0), x[:1])["params"]
    fn = lambda p, xb: model.apply({"params": p}, xb)  # noqa: E731
    spec = QuantSpec(bits=4, rounding_bits=4, input_bits=2, weight_bits=3)
    ranges = qat.activation_ranges(fn, params, x, spec=spec)
    # sites: input, fc accumulator, h, the sum's accumulator, the head's input and accumulator
    assert len(ranges) == 6
    assert float(_emulation.bits_of(*ranges[3])) > 4  # the sum is wider than 4 bits: it is rounded
    exported = qat.quantized(fn, spec, ranges=ranges, emulate=False)
    emulated = qat.quantized(fn, spec, ranges=ranges)
    model_onnx = to_onnx(lambda xb: exported(params, xb), x[:1])
    quants = [n for n in model_onnx.graph.node if n.op_type == "Quant"]
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in model_onnx.graph.initializer}
    bits = {n.input[0]: float(consts[n.input[3]]) for n in quants}
    assert bits.pop(model_onnx.graph.input[0].name) == 2.0  # the input's own 2-bit grid
    weights = [name for name in bits if name in consts]  # quantisers of the fc and head kernels
    assert len(weights) == 2 and {bits.pop(w) for w in weights} == {3.0}
    assert set(bits.values()) == {4.0}  # activations on n_bits
    circuit = compile_onnx(model_onnx, x, Knobs(quant=spec, p_error=0.01))
    clear = circuit.predict(x, fhe="disable")
    emulated_out = np.asarray(emulated(params, x))
    np.testing.assert_allclose(clear, emulated_out, rtol=1e-5, atol=1e-5)
    unrounded = qat.quantized(fn, dataclasses.replace(spec, rounding_bits=16),
                              ranges=ranges)(params, x)
    assert np.abs(np.asarray(unrounded) - emulated_out).max() > 1e-3  # rounding mattered


class ResidualNet(nn.Module):
    @nn.compact
    def __call__(self, x):  # (B, 5): the input feeds a product and a residual add
        h = jax.nn.relu(nn.Dense(5, name="fc")(x))
        return nn.Dense(3, name="head")(h + x)


@pytest.mark.parametrize("input_bits", [None, 4])
def test_an_input_read_by_two_quantisers_needs_its_own_site(input_bits):
    """Concrete-ML quantises such an input on a grid of its own before each of its Quant
    nodes: the emulation equals the circuit only with that grid as a site (`input_bits`,
    which `micro.qat_stage` always sets)."""
    x = np.random.default_rng(2).normal(size=(300, 5)).astype(np.float32)
    model = ResidualNet()
    params = model.init(jax.random.key(0), x[:1])["params"]
    fn = lambda p, xb: model.apply({"params": p}, xb)  # noqa: E731
    spec = QuantSpec(bits=4, rounding_bits=6, input_bits=input_bits)
    spec = dataclasses.replace(
        spec, signed=qat.signed_sites(qat.activation_ranges(fn, params, x, spec=spec)))
    assert spec.signed[0]  # the input (or fc's operand) on a signed grid
    ranges = qat.activation_ranges(fn, params, x, spec=spec)
    exported = qat.quantized(fn, spec, ranges=ranges, emulate=False)
    graph = to_onnx(lambda xb: exported(params, xb), x[:1])
    readers = [n for n in graph.graph.node if graph.graph.input[0].name in n.input]
    circuit = compile_onnx(graph, x, Knobs(quant=spec, p_error=0.01))
    gap = np.abs(circuit.predict(x, fhe="disable")
                 - np.asarray(qat.quantized(fn, spec, ranges=ranges)(params, x))).max()
    if input_bits is None:
        assert len(readers) == 2 and gap > 1e-3  # quantised twice in the circuit, once here
    else:
        assert len(readers) == 1 and gap < 1e-5
