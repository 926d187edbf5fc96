"""Inhibitor attention (Brännvall & Stoian 2023, arXiv 2310.02041): the forward against a
direct NumPy implementation, padding masks, its cost, specs, checkpoints of dot-product
models, and a quantisation-aware circuit that Concrete-ML computes as the JAX emulation does."""
import functools

import flax.linen as fnn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import models, nn
from polyzoo.export import (Knobs, QuantSpec, UnsupportedOperation, check_onnx, compile_onnx,
                            micro, qat, to_onnx)


def reference(q, k, v, gamma, signed=False, mask=None):
    """The papers' formulas term by term: q, k, v (B, S, h, d), mask (B, L) -> (B, S, h, d)."""
    b, s, h, d = q.shape
    out = np.zeros((b, s, h, d))
    for n in range(b):
        for head in range(h):
            for i in range(s):
                for j in range(k.shape[1]):
                    if mask is not None and mask[n, j] == 0:
                        continue
                    z = np.abs(q[n, i, head] - k[n, j, head]).sum() / gamma
                    vj = v[n, j, head]
                    out[n, i, head] += np.maximum(vj - z, 0.0)
                    if signed:
                        out[n, i, head] -= np.maximum(-vj - z, 0.0)
    return out


def qkv(seed=0, b=2, s=5, h=2, d=3):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=(b, s, h, d)).astype(np.float32) for _ in range(3))


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_forward_is_the_papers_formula(signed):
    q, k, v = qkv()
    module = nn.Inhibitor(1.5, signed=signed)
    out = module.apply({}, q, k, v)
    np.testing.assert_allclose(np.asarray(out), reference(q, k, v, 1.5, signed),
                               rtol=1e-5, atol=1e-5)
    if signed:  # sign(v) ReLU(|v| - Z): an odd function of the values
        np.testing.assert_allclose(np.asarray(module.apply({}, q, k, -v)), -np.asarray(out),
                                   atol=1e-6)
    else:  # every term is non-negative
        assert float(jnp.min(out)) >= 0.0


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_masked_keys_contribute_nothing(signed):
    q, k, v = qkv(1)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 0]], np.float32)
    module = nn.Inhibitor(2.0, signed=signed)
    out = np.asarray(module.apply({}, q, k, v, mask[:, None, None, :]))
    np.testing.assert_allclose(out, reference(q, k, v, 2.0, signed, mask), rtol=1e-5, atol=1e-5)
    # whatever the masked keys and values hold
    noisy = [np.where(mask[:, :, None, None] > 0, t, np.float32(1e3)) for t in (k, v)]
    np.testing.assert_allclose(np.asarray(module.apply({}, q, *noisy, mask[:, None, None, :])),
                               out, rtol=1e-5, atol=1e-5)
    # the first example's attention over its three kept keys alone
    alone = np.asarray(module.apply({}, q[:1], k[:1, :3], v[:1, :3]))
    np.testing.assert_allclose(out[:1], alone, rtol=1e-5, atol=1e-5)


def test_cost_counts_lookups_and_no_products():
    plain, signed = nn.Site("inhibitor", param=4.0), nn.Site("inhibitor_signed", param=4.0)
    # per output element H_ik, rows of L keys: L |q - k| lookups and L ReLUs (2L signed)
    assert plain.cost(16) == nn.Cost(None, None, 32.0)
    assert signed.cost(16) == nn.Cost(None, None, 48.0)
    assert plain.exportable and signed.exportable
    # a whole head, 4 queries x 4 keys x width 4: against dot-product attention's two
    # encrypted x encrypted products (2 lookups per scalar product) and its ReLU weights
    inhibitor = plain.behaviour.attention_pbs(plain, 4, 4, 4)
    dot = nn.Site("pointwise", fn="relu")
    assert inhibitor == 2 * 4 * 4 * 4
    assert dot.behaviour.attention_pbs(dot, 4, 4, 4) == 4 * 4 * 4 * 4 + 4 * 4
    assert nn.Site("softmax").behaviour.attention_pbs(nn.Site("softmax"), 4, 4, 4) is None


def test_gamma_must_be_positive_and_the_spec_round_trips():
    with pytest.raises(ValueError, match=r"layer_0/attn/softmax.*γ = `param` > 0"):
        nn.Site("inhibitor").check("softmax", "layer_0/attn/softmax")
    spec = micro.tfhe_spec(nn.Site("inhibitor_signed", param=4.0))
    assert spec.name == "tfhe-relu-inhibitor_signed"
    back = nn.ApproxSpec.from_json(spec.to_json())
    assert back == spec and back.softmax.behaviour is nn.get_choice("inhibitor_signed")
    assert "inhibitor" in nn.CHOICES["softmax"] and "inhibitor_signed" in nn.CHOICES["softmax"]
    with pytest.raises(NotImplementedError, match="no attention weights"):
        module = nn.AttentionWeights(nn.Site("inhibitor", param=1.0))
        module.init(jax.random.key(0), jnp.zeros((1, 1, 2, 2), jnp.float32))


def test_a_model_takes_the_dot_product_checkpoint_and_computes_the_formula():
    """Inhibitor attention adds no parameter: a dot-product ViT's variables load unchanged,
    and its attention layer is the formula on that layer's own q, k and v."""
    x = np.random.default_rng(2).uniform(size=(3, 28, 28, 1)).astype(np.float32)
    dot = models.create("vit-micro", spec=micro.tfhe_spec())
    inh = models.create("vit-micro", spec=micro.tfhe_spec(nn.Site("inhibitor", param=4.0)))
    variables = dot.init(jax.random.key(0), x[:1])
    fresh = inh.init(jax.random.key(0), x[:1])
    assert (jax.tree_util.tree_structure(fresh) == jax.tree_util.tree_structure(variables))
    logits, state = inh.apply(variables, x, mutable=["intermediates"])
    assert logits.shape == (3, 10) and bool(jnp.all(jnp.isfinite(logits)))
    assert not np.allclose(np.asarray(logits), np.asarray(dot.apply(variables, x)))
    z = models.site_inputs(state)["layer_0/attn/softmax"]
    assert z.shape == (3, 2, 4, 4) and float(jnp.min(z)) >= 0.0  # (B, heads, S, L) scores

    class Probe(fnn.Module):  # the layer's q, k, v, and its output before `out`
        @fnn.compact
        def __call__(self, h):
            attn = models._layers.Attention(8, 2, inh.spec, "layer_0/attn/softmax", name="attn")
            return attn(h)

    h = np.random.default_rng(3).normal(size=(3, 4, 8)).astype(np.float32)
    attn_vars = {"params": variables["params"]["layer_0"]["attn"]}
    got = Probe().apply({"params": {"attn": attn_vars["params"]}}, h)
    p = attn_vars["params"]
    dense = lambda name, t: t @ np.asarray(p[name]["kernel"]) + np.asarray(p[name]["bias"])  # noqa: E731
    q, k, v = (dense(n, h).reshape(3, 4, 2, 4) for n in ("query", "key", "value"))
    expected = dense("out", reference(q, k, v, 4.0).reshape(3, 4, 8))
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-4, atol=1e-4)


class Tiny(fnn.Module):
    """Three tokens through query/key/value Dense layers, inhibitor attention, a head."""
    signed: bool = False

    @fnn.compact
    def __call__(self, x):  # (B, 3, 4)
        b, s, _ = x.shape
        q, k, v = (fnn.Dense(4, name=n)(x).reshape(b, s, 2, 2) for n in ("query", "key", "value"))
        o = nn.Inhibitor(2.0, signed=self.signed, name="attn")(q, k, v)
        return fnn.Dense(3, name="head")(o.reshape(b, s * 4))


@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_circuit_simulation_equals_the_quantised_jax_function(signed):
    """|q - k| and ReLU export as Abs and Relu nodes, each operand of an encrypted
    difference gets its quantiser, and Concrete-ML's simulated circuit (p_error 2^-20)
    computes what qat.quantized emulates: sums rounded to 5 bits, differences rescaled."""
    x = np.random.default_rng(0).normal(size=(100, 3, 4)).astype(np.float32)
    model = Tiny(signed)
    params = model.init(jax.random.key(0), x[:1])["params"]
    fn = lambda p, xb: model.apply({"params": p}, xb)  # noqa: E731
    spec = QuantSpec(bits=4, rounding_bits=5)
    ranges = qat.activation_ranges(fn, params, x, spec=spec)
    exported = functools.partial(qat.quantized(fn, spec, ranges=ranges, emulate=False), params)
    emulated = qat.quantized(fn, spec, ranges=ranges)
    graph = to_onnx(exported, x[:1])
    ops = [n.op_type for n in graph.graph.node]
    assert "Abs" in ops and "Relu" in ops and "MatMul" in ops
    attention = [n for n in graph.graph.node if n.name.startswith("Tiny/attn:")]
    assert {n.op_type for n in attention} >= {"Sub", "Abs", "ReduceSum", "Relu"}
    assert not any(n.op_type == "MatMul" for n in attention)  # no encrypted product
    assert check_onnx(graph, exported, x[:16]) == 0.0
    circuit = compile_onnx(graph, x, Knobs(quant=spec, p_error=2.0 ** -20))
    want = np.asarray(emulated(params, x[:20]))
    np.testing.assert_allclose(circuit.predict(x[:20], fhe="simulate"), want,
                               rtol=1e-5, atol=1e-5)
    assert np.abs(want - np.asarray(fn(params, x[:20]))).max() > 1e-2  # quantisation mattered


def test_unsupported_operation_still_names_the_layer():
    """Inhibitor attention exports; a LayerNorm next to it is still refused at its layer."""
    x = np.random.default_rng(4).uniform(size=(2, 28, 28, 1)).astype(np.float32)
    spec = micro.tfhe_spec(nn.Site("inhibitor", param=4.0))
    model = models.create("vit-micro", spec=spec.replace(norm=nn.Site("layernorm")))
    variables = model.init(jax.random.key(0), x[:1])
    with pytest.raises(UnsupportedOperation, match=r"LayerNorm at .*layer_0/norm1"):
        to_onnx(functools.partial(model.apply, variables), x[:1])
    folded, fvars = models.fold_batchnorms(*(lambda m: (m, m.init(jax.random.key(0), x[:1])))(
        models.create("vit-micro", spec=spec)))
    graph = to_onnx(functools.partial(folded.apply, fvars), x[:1])
    names = {n.name.split(":")[0] for n in graph.graph.node if n.op_type in ("Abs", "Relu")}
    assert "Vit/layer_0/attn/softmax" in names
