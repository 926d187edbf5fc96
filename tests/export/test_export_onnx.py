"""jaxpr -> ONNX opset 14: parity with JAX under onnxruntime, and clear errors for what TFHE
cannot take. No Concrete compilation here (fast)."""
import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest

from polyzoo.export import OPSET, UnsupportedOperation, check_onnx, run_onnx, to_onnx


def _x(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


class TwoHeadAttention(nn.Module):
    """Every translated primitive family: dense, reshape, transpose, batched encrypted matmul,
    constant division, relu/min/max, erf, integer_pow, slicing, concat, reduce_sum."""

    @nn.compact
    def __call__(self, x):  # (B, S, H)
        b, s, h = x.shape
        q, k, v = (nn.Dense(h, name=n)(x).reshape(b, s, 2, h // 2) for n in ("q", "k", "v"))
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) / 2.0
        weights = jnp.maximum(scores, jnp.float32(0.0)) / s
        o = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, s, h)
        o = o + jax.nn.gelu(o, approximate=False) + jnp.minimum(o, jnp.float32(0.3)) + o ** 3
        o = jnp.concatenate([o[:, :1], o[:, 1:] * jnp.float32(2.0)], axis=1)
        first = jnp.squeeze(o[:, :1], 1)[:, None]
        o = jnp.maximum(o, jnp.float32(-0.5)) - jnp.abs(o[:, 0:1]) + first
        return nn.Dense(3, name="head")(o.sum(axis=1))


def _apply(module, x):
    variables = module.init(jax.random.key(0), x[:1])
    return functools.partial(module.apply, variables)


def test_graph_is_opset_14_default_domain_with_symbolic_batch():
    x = _x(5, 4, 8)
    fn = _apply(TwoHeadAttention(), x)
    model = to_onnx(fn, x[:1])
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)] and OPSET == 14
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert not any(n.op_type in ("Shape", "Gather", "Einsum", "Softmax") for n in model.graph.node)
    # Parameters are initializers, not graph inputs.
    assert [i.name for i in model.graph.input] == ["x"]


@pytest.mark.parametrize("batch", [1, 7])
def test_onnx_equals_jax(batch):
    x = _x(7, 4, 8, seed=1)
    fn = _apply(TwoHeadAttention(), x)
    model = to_onnx(fn, x[:1])
    worst = check_onnx(model, fn, x[:batch])
    assert worst < 1e-4


def test_node_names_carry_the_flax_layer():
    x = _x(2, 4, 8)
    model = to_onnx(_apply(TwoHeadAttention(), x), x[:1])
    names = [n.name for n in model.graph.node]
    assert any(n.startswith("TwoHeadAttention/q:") for n in names)
    assert any(n.startswith("TwoHeadAttention/head:") for n in names)


def test_constant_subgraphs_are_folded():
    """Work on parameters only (here a variance -> rsqrt scale) becomes an initializer."""
    var = np.array([4.0, 9.0], np.float32)

    def fn(x):
        return x * jax.lax.rsqrt(jnp.asarray(var))[None] + jnp.sqrt(jnp.asarray(var))[None]

    model = to_onnx(fn, _x(1, 2))
    assert sorted(n.op_type for n in model.graph.node) == ["Add", "Identity", "Mul"]
    check_onnx(model, fn, _x(3, 2))


def test_check_onnx_detects_a_wrong_graph():
    x = _x(3, 4)
    model = to_onnx(lambda v: v * jnp.float32(2.0), x[:1])
    with pytest.raises(AssertionError):
        check_onnx(model, lambda v: v * jnp.float32(2.5), x)


class Named(nn.Module):
    body: str

    @nn.compact
    def __call__(self, x):
        return Block(self.body, name="attn")(x)


class Block(nn.Module):
    body: str

    @nn.compact
    def __call__(self, x):
        if self.body == "softmax":
            return jax.nn.softmax(x, axis=-1)
        if self.body == "layernorm":
            return nn.LayerNorm(name="norm")(x)
        if self.body == "traced_div":
            return x / (jnp.sum(x * x, axis=-1, keepdims=True) + jnp.float32(1.0))
        if self.body == "argmax":
            return jax.nn.one_hot(jnp.argmax(x, axis=-1), 4)
        raise AssertionError


@pytest.mark.parametrize("body, expected", [
    ("softmax", r"exact softmax at Named/attn .*'zimerman'"),
    ("layernorm", r"exact LayerNorm at Named/attn/norm .*'thex'"),
    ("traced_div", r"exact softmax at Named/attn \(div\)"),
    ("argmax", r"argmax at Named/attn .*primitive 'argmax'"),
])
def test_untranslatable_ops_name_layer_and_remedy(body, expected):
    x = _x(2, 4)
    fn = _apply(Named(body), x)
    with pytest.raises(UnsupportedOperation, match=expected) as err:
        to_onnx(fn, x[:1])
    assert re.search(r"\[/.*\.py:\d+\]", str(err.value))  # where it came from in the source


def test_a_constant_over_an_encrypted_value_is_one_lookup():
    """c / y exports as one ONNX Div that Concrete-ML compiles as a table lookup (an exact
    reciprocal of an attention row's mean); y / y' is refused (above)."""
    from polyzoo.export import Knobs, QuantSpec, compile_onnx

    x = _x(200, 4)
    fn = lambda v: 2.0 / (jnp.square(v) + 1.0)  # noqa: E731
    graph = to_onnx(fn, x[:1])
    assert [n.op_type for n in graph.graph.node].count("Div") == 1
    assert check_onnx(graph, fn, x[:16]) < 1e-6
    circuit = compile_onnx(graph, x, Knobs(quant=QuantSpec(bits=6), p_error=2.0 ** -20))
    got = circuit.predict(x[:50], fhe="simulate")
    assert np.abs(got - np.asarray(fn(x[:50]))).max() < 0.1  # 6-bit grids on [0, 2]


def test_unknown_primitive_names_itself():
    with pytest.raises(UnsupportedOperation, match="primitive 'cumsum'"):
        to_onnx(lambda v: jnp.cumsum(v, axis=1), _x(1, 4))


def test_polynomial_vit_micro_exports_and_matches():
    from polyzoo import models

    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    model = models.create("vit-micro", spec="polyzoo", num_classes=10)
    variables = model.init(jax.random.key(0), x[:1])
    model, variables = models.fold_batchnorms(model, variables)
    fn = functools.partial(model.apply, variables)
    graph = to_onnx(fn, x[:1])
    assert check_onnx(graph, fn, x) < 1e-4
    assert np.std(run_onnx(graph, x)[0]) > 0


def test_exact_vit_fails_at_its_first_norm():
    from polyzoo import models

    x = np.zeros((1, 28, 28, 1), np.float32)
    model = models.create("vit-micro", spec="exact", num_classes=10)
    fn = functools.partial(model.apply, model.init(jax.random.key(0), x))
    with pytest.raises(UnsupportedOperation, match="LayerNorm at Vit/layer_0/norm1"):
        to_onnx(fn, x)


def test_tfhe_form_clamps_the_polynomials_and_makes_the_reciprocals_exact():
    """Same weights; each normaliser's reciprocal becomes one Div, every polynomial a clamp."""
    from polyzoo import models
    from polyzoo import nn as pnn
    from polyzoo.export import tfhe_form

    x = np.random.default_rng(0).uniform(size=(4, 28, 28, 1)).astype(np.float32)
    spec = pnn.get_spec("polyzoo").replace(softmax=pnn.ATTENTION_MENU["2quad"])
    model = models.create("vit-micro", spec=spec, num_classes=10)
    variables = model.init(jax.random.key(0), x[:1])
    model, variables = models.fold_batchnorms(model, variables)
    form = tfhe_form(model)
    for name in model.site_names():
        site = form.spec.site(name)
        assert all(p.clamp for p in site.polys().values()), name
        if site.behaviour.kind == "softmax":
            assert site.aux is None and model.spec.site(name).aux is not None
    fn = functools.partial(form.apply, variables)
    graph = to_onnx(fn, x[:1])
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("Div") == model.config.num_layers  # one reciprocal per attention
    assert check_onnx(graph, fn, x) < 1e-4
