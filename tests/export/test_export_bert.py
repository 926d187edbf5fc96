"""Exporting a BERT: the client embeds in the clear, the circuit takes the embeddings.

The split must compute the whole model exactly (same logits), a BERT that attends with a
padding mask is refused with a message that says what to train instead, and (slow) a tiny
unmasked BERT compiles and its simulated circuit agrees with the float model.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo import models
from polyzoo.export import _sources
from polyzoo.nn import ApproxSpec, Site

# What TFHE takes: ReLU (one table lookup), scaled pointwise attention, THE-X's affine norm.
SPEC = ApproxSpec(act=Site("relu"), softmax=Site("pointwise", fn="relu"), norm=Site("affine"),
                  name="tfhe-test")


def _bert(mask_padding: bool, max_positions: int = 8):
    model = models.create("bert-micro", spec=SPEC, num_classes=2, mask_padding=mask_padding,
                          max_positions=max_positions)
    ids = jnp.asarray(np.random.default_rng(0).integers(1, 1000, (4, max_positions)), jnp.int32)
    variables = model.init(jax.random.key(0), ids)
    return model, variables, ids


def test_client_embedding_then_circuit_equals_the_whole_model():
    model, variables, ids = _bert(mask_padding=False)
    mask = jnp.ones(ids.shape, jnp.float32).at[:, 5:].set(0.0)
    whole = model.apply(variables, ids, mask)
    x = model.apply(variables, ids, method="embed")  # (B, S, H): what the client sends
    split = model.apply(variables, x, None, method="encode_embedded")
    np.testing.assert_allclose(np.asarray(split), np.asarray(whole), rtol=1e-6, atol=1e-6)


def test_mask_padding_false_ignores_the_mask_and_true_uses_it():
    for mask_padding, changes in ((False, False), (True, True)):
        model, variables, ids = _bert(mask_padding)
        ones = jnp.ones(ids.shape, jnp.float32)
        a = model.apply(variables, ids, ones)
        b = model.apply(variables, ids, ones.at[:, 5:].set(0.0))
        assert (not np.allclose(np.asarray(a), np.asarray(b))) == changes


def test_masked_bert_is_refused_with_what_to_train_instead():
    model, _, _ = _bert(mask_padding=True)
    with pytest.raises(ValueError, match="mask_padding"):
        _sources._bert_client("masked", model, {"max_len": 8})
    mean = model.clone(config=dataclasses.replace(model.config, mask_padding=False, pool="mean"))
    with pytest.raises(ValueError, match="pool='cls'"):
        _sources._bert_client("mean-pooled", mean, {"max_len": 8})


def test_zoo_micro_bert_source_reproduces_its_zoo_accuracy():
    from polyzoo import zoo

    entry = zoo.load("bert-micro-sentiment")
    source = _sources.resolve("bert-micro-sentiment")
    s, h = entry.meta["max_len"], entry.model.config.hidden
    assert source.test_x.shape == (len(source.test_y), s, h)
    assert source.test_x.dtype == np.float32
    assert source.client == {"zoo": "bert-micro-sentiment", "method": "embed", "max_len": s}
    preds = np.argmax(np.asarray(source.fn(jnp.asarray(source.test_x))), -1)
    correct = int(np.sum(preds == source.test_y))
    # The zoo measured the unsplit model (ids, mask); the split is the same function.
    assert abs(correct - entry.meta["metrics"]["correct"]) <= 1
    encode = _sources.client_encoder(source.client)
    np.testing.assert_allclose(encode(["a gripping , funny film", "dull"]),
                               encode(["a gripping , funny film", "dull"]))


def test_zoo_inhibitor_micro_bert_exports_its_trained_grids_on_chunked_tokens():
    from polyzoo import zoo

    name = "bert-micro-sentiment-inhibitor"
    entry = zoo.load(name)
    source = _sources.resolve(name)
    c = entry.model.config
    assert source.test_x.shape == (len(source.test_y), c.max_positions // c.chunk,
                                   c.chunk * c.hidden)
    assert source.export_fn is not None  # the QAT grids, not Concrete-ML's own
    assert source.calibration.shape[0] == entry.meta["qat"]["calibration"]
    preds = np.argmax(np.asarray(source.fn(jnp.asarray(source.test_x))), -1)
    assert abs(int(np.sum(preds == source.test_y)) - entry.meta["metrics"]["correct"]) <= 1


@pytest.mark.slow
def test_tiny_unmasked_bert_compiles_and_simulates_like_float():
    from polyzoo.export import Knobs, QuantSpec, circuit_report, compile_onnx, to_onnx

    model, variables, _ = _bert(mask_padding=False, max_positions=4)
    ids = jnp.asarray(np.random.default_rng(1).integers(1, 1000, (300, 4)), jnp.int32)
    x = np.asarray(model.apply(variables, ids, method="embed"), np.float32)  # (300, 4, 16)
    fn = lambda e: model.apply(variables, e, None, method="encode_embedded")  # noqa: E731
    labels = np.argmax(np.asarray(fn(x)), -1)
    circuit = compile_onnx(to_onnx(fn, x[:1]), x[:200],
                           Knobs(quant=QuantSpec(bits=6, rounding_bits=8), p_error=0.05))
    report = circuit_report(circuit, fn, x[200:], labels[200:])
    assert report.pbs > 0 and report.max_bit_width <= 16
    assert report.agreement_float_simulated >= 0.8


@pytest.mark.parametrize("chunk_on_client", [False, True])
def test_qat_stage_trains_a_bert_whose_client_embeds_and_keeps_the_client_part(chunk_on_client):
    from polyzoo.export import micro
    from polyzoo.train import data

    ds = data.load("sentiment")
    model = models.create("bert-micro", spec=SPEC, num_classes=2, mask_padding=False,
                          max_positions=8, chunk=2, pool="avg", chunk_on_client=chunk_on_client)
    train_in = data.model_inputs(ds, "train", 8)
    variables = model.init(jax.random.key(0), *(x[:2] for x in train_in))
    with pytest.raises(ValueError, match="client_embeds=True"):
        micro.qat_stage(model, variables, ds, train_in, steps=2, progress=False,
                        log=lambda _: None)
    _, qvars, extra = micro.qat_stage(model, variables, ds, train_in, steps=2,
                                      client_embeds=True, progress=False, log=lambda _: None)
    assert extra["qat"]["client"] == "embed" and extra["qat"]["ranges"]
    _, client_params = micro.client_side(model)
    assert ("chunk_proj" in client_params) == chunk_on_client
    for name in client_params:  # the client's part is not fine-tuned
        if name in variables["params"]:
            jax.tree.map(np.testing.assert_array_equal, qvars["params"][name],
                         variables["params"][name])
