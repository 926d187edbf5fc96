"""Quantisation-aware training helpers: fake quantisers, straight-through gradients, and the
jaxpr-level insertion of Concrete-ML's quantisers (polyzoo.export.qat)."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo.export import QuantSpec, qat

def test_fake_quant_grid_and_straight_through_gradient():
    x = jnp.linspace(-1.0, 3.0, 101, dtype=jnp.float32)
    q = qat.fake_quant(x, 3)
    assert len(np.unique(np.asarray(q))) == 8  # 2**3 levels over [min, max]
    assert float(jnp.max(jnp.abs(q - x))) <= 4.0 / 7 / 2 + 1e-6
    grad = jax.grad(lambda v: jnp.sum(qat.fake_quant(v, 3)))(x)
    np.testing.assert_array_equal(grad, np.ones_like(x))  # identity gradient (STE)
    clipped = qat.fake_quant(x, 4, lo=0.0, hi=1.0)
    assert float(clipped.min()) == 0.0 and float(clipped.max()) == 1.0

def test_symmetric_weight_quantisation_keeps_zero():
    w = jnp.array([-0.8, -0.1, 0.0, 0.05, 0.4], jnp.float32)
    q = qat.fake_quant_symmetric(w, 4)
    assert float(q[2]) == 0.0
    assert float(jnp.max(jnp.abs(q))) == pytest.approx(0.8)
    assert len(np.unique(np.round(np.asarray(q) / (0.8 / 7)))) <= 15

class Net(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = jax.nn.relu(nn.Dense(8, name="fc1")(x))
        a = jnp.einsum("bi,bj->bij", h, h).reshape(x.shape[0], 64)  # encrypted x encrypted
        return nn.Dense(3, name="fc2")(a)

@pytest.fixture(scope="module")
def net():
    x = np.random.default_rng(0).normal(size=(64, 5)).astype(np.float32)
    model = Net()
    params = model.init(jax.random.key(0), x[:1])["params"]
    fn = lambda p, xb: model.apply({"params": p}, xb)  # noqa: E731
    return fn, params, x

def test_every_matrix_product_is_quantised(net):
    fn, params, x = net
    ranges = qat.activation_ranges(fn, params, x)
    # fc1 input, both einsum operands and the einsum result (fc2 reads it, already quantised)
    assert len(ranges) == 4
    assert ranges[0] == pytest.approx((float(x.min()), float(x.max())))
    with_rounding = qat.activation_ranges(fn, params, x,
                                          spec=QuantSpec(bits=4, rounding_bits=6))
    assert len(with_rounding) == 4 + 3  # + the accumulators of fc1, the einsum and fc2

def test_quantized_converges_to_float_with_bits(net):
    fn, params, x = net
    exact = np.asarray(fn(params, x))
    errors = [float(np.max(np.abs(np.asarray(qat.quantized(fn, QuantSpec(bits=b))(params, x))
                                  - exact))) for b in (3, 6, 12)]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2 * np.abs(exact).max()

def test_quantized_trains_under_jit(net):
    fn, params, x = net
    y = jnp.asarray(np.arange(len(x)) % 3, jnp.int32)
    spec = QuantSpec(bits=4)
    ranges = jnp.asarray(qat.activation_ranges(fn, params, x, spec=spec), jnp.float32)

    @jax.jit
    def loss(p, ranges):
        logits = qat.quantized(fn, spec, ranges=ranges)(p, x)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    value, grads = jax.value_and_grad(loss)(params, ranges)
    assert np.isfinite(float(value))
    assert all(float(jnp.abs(g).sum()) > 0 for g in jax.tree_util.tree_leaves(grads))
    stepped = jax.tree.map(lambda p, g: p - 0.05 * g, params, grads)
    assert float(loss(stepped, ranges)) < float(value)

def test_kernels_on_grid_are_the_quantised_weights(net):
    fn, params, x = net
    snapped = qat.kernels_on_grid(params, 4)
    for name in ("fc1", "fc2"):
        kernel = snapped[name]["kernel"]
        np.testing.assert_array_equal(np.asarray(qat.quant_weight(kernel, 4)[0]), kernel)
        assert len(np.unique(np.asarray(kernel))) <= 15  # levels -7..7 of a 4-bit grid
        assert not np.array_equal(kernel, params[name]["kernel"])
        np.testing.assert_array_equal(snapped[name]["bias"], params[name]["bias"])
    spec = QuantSpec(bits=4)
    ranges = qat.activation_ranges(fn, params, x, spec=spec)
    np.testing.assert_allclose(np.asarray(qat.quantized(fn, spec, ranges=ranges)(snapped, x)),
                               np.asarray(qat.quantized(fn, spec, ranges=ranges)(params, x)),
                               rtol=0, atol=1e-5)  # the same circuit

def test_headroom_ranges_widen_the_grid_under_an_accumulator_that_rounds_past_2_to_the_b():
    """The hidden accumulator is 7 * 15 + 7 * 3 = 126 on the first input: rounded to 5 bits
    (steps of 4) it becomes 128, one bit more than its calibrated 7, which would wrap in the
    circuit. Widening the input's grid until 1.0 lands on level 14 instead of 15 brings it
    back (7 * 14 + 7 * 3 = 119)."""
    x = np.array([[1.0, 0.2], [0.0, 0.0], [0.5, 0.1]], np.float32)
    params = {"w": jnp.ones((2, 1), jnp.float32), "v": jnp.ones((1, 2), jnp.float32)}
    fn = lambda p, xb: jax.nn.relu(xb @ p["w"]) @ p["v"]  # noqa: E731
    spec = QuantSpec(bits=4, rounding_bits=5)
    ranges = qat.activation_ranges(fn, params, x, spec=spec)
    assert ranges[1] == pytest.approx((0.0, 126.0), abs=1e-3)  # the hidden accumulator
    assert qat.rounding_overflows(fn, params, x, ranges=ranges, spec=spec) == [(1, (0,))]
    widened, widen = qat.headroom_ranges(fn, params, x, spec=spec)
    assert list(widen) == [0] and widen[0] == pytest.approx(1.01 ** 4)
    assert widened[0][1] == pytest.approx(1.01 ** 4) and widened[1][1] == pytest.approx(119.0)
    assert qat.rounding_overflows(fn, params, x, ranges=widened, spec=spec) == []

def _old_qat_loop(fn, params, x, y, *, spec, steps, lr, batch, seed, recalibrate_every):
    """The QAT loop as export/micro.py ran it before it moved onto train/loop.run_steps."""
    import optax

    xc = jnp.asarray(x)
    tx = optax.adam(optax.cosine_decay_schedule(lr, steps))
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, ranges, xb, yb):
        def loss(p):
            logits = qat.quantized(fn, spec, ranges=ranges)(p, xb)
            return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
        value, grads = jax.value_and_grad(loss)(params)
        with jax.numpy_dtype_promotion("standard"):
            updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, value

    calibrate = jax.jit(lambda p: qat.site_ranges(fn, p, xc, spec=spec))
    rng = np.random.default_rng(seed)
    for i in range(steps):
        if i % recalibrate_every == 0:
            ranges = calibrate(params)
        idx = rng.choice(len(x), batch, replace=False)
        params, opt, _ = step(params, opt, ranges, jnp.asarray(x[idx]),
                              jnp.asarray(y[idx], jnp.int32))
    return params


def test_qat_finetune_on_the_shared_loop_trains_as_its_own_loop_did(net, tmp_path):
    """Moving the QAT fine-tuning onto train/loop.run_steps kept every step: the same
    batches, recalibrations and updates give bit-identical parameters (so the zoo's QAT
    entries reproduce), and a run directory holds its final state."""
    from polyzoo.export import micro

    fn, params, x = net
    y = np.arange(len(x)) % 3
    spec = QuantSpec(bits=4)
    kw = dict(spec=spec, steps=12, lr=1e-2, batch=16, seed=3, recalibrate_every=5)
    old = qat.kernels_on_grid(_old_qat_loop(fn, params, x, y, **kw), spec.bits)
    new, _, _ = micro.qat_finetune(fn, params, x, y, calibration=len(x), progress=False,
                                   run_dir=tmp_path / "qat", **kw)
    for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new)):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert not np.array_equal(new["fc1"]["kernel"],
                              np.asarray(qat.kernels_on_grid(params, 4)["fc1"]["kernel"]))
    assert (tmp_path / "qat" / "step_00000012" / "commit_success.txt").exists()


def test_qat_batches_replay_for_a_resumed_run():
    """batch_at(t) is the t-th draw of the seeded stream whether the steps before it were
    asked for (an uninterrupted run) or not (a run resumed at step t)."""
    from polyzoo.export import micro

    x = np.arange(40 * 4 * 4, dtype=np.float32).reshape(40, 4, 4, 1)
    y = np.arange(40)
    ordered = micro.qat_batches(x, y, batch=8, seed=1, shift=1)
    sequential = [ordered(t) for t in range(6)]
    resumed = micro.qat_batches(x, y, batch=8, seed=1, shift=1)
    for t in (4, 5, 2):  # a later step, the next one, then back to an earlier one
        np.testing.assert_array_equal(resumed(t)[0], sequential[t][0])
        np.testing.assert_array_equal(resumed(t)[1], sequential[t][1])
    assert not np.array_equal(sequential[0][1], sequential[1][1])


def test_too_few_ranges_is_an_error(net):
    fn, params, x = net
    with pytest.raises(ValueError, match="calibrated ranges"):
        qat.quantized(fn, QuantSpec(bits=4), ranges=[(0.0, 1.0)])(params, x)

def test_cli_unknown_model_lists_valid_names(capsys, tmp_path):
    from polyzoo.cli import main

    assert main(["export", "no-such-model", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and "vit-micro-mnist-qat" in err

def test_cli_unknown_partition_lists_valid_ones(capsys, tmp_path):
    from polyzoo.cli import main

    assert main(["export", "vit-micro-mnist-qat", "--out", str(tmp_path / "o"),
                 "--partition", "norm2"]) == 2
    assert "use one of precision, precision_and_norm2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()

def test_cli_run_encrypted_on_a_missing_directory(capsys, tmp_path):
    from polyzoo.cli import main

    assert main(["run-encrypted", str(tmp_path)]) == 2
    assert "not a polyzoo client directory" in capsys.readouterr().err


def test_zoo_entry_is_the_folded_qat_network():
    """`polyzoo export`/`demo` load the zoo's FHE-sized model: folded (no norms), with the QAT
    weights stored exactly (their fake-quantised accuracy is the one recorded in training)."""
    from polyzoo import zoo
    from polyzoo.export import micro
    from polyzoo.export._sources import MICRO_NAME, resolve
    from polyzoo.train.data import load_mnist

    entry = zoo.load(MICRO_NAME)
    recorded = entry.meta["qat"]
    spec = QuantSpec.from_record(recorded)
    assert dataclasses.replace(spec, signed=()) == micro.DEFAULT_QUANT
    sites = entry.model.site_names()
    assert not any(entry.model.spec.site(s).choice == "batchnorm" for s in sites)
    kernels = qat.kernels_on_grid(entry.variables["params"], recorded["weight_bits"])
    jax.tree.map(np.testing.assert_array_equal, kernels, entry.variables["params"])
    fn, params, _ = micro._split(entry.model, entry.variables)
    calibration = jnp.asarray(load_mnist().train.inputs[:micro.CALIBRATION])
    assert qat.rounding_overflows(fn, params, calibration, ranges=recorded["ranges"],
                                  spec=spec) == []  # no wider lookup
    source = resolve(MICRO_NAME)
    ds = load_mnist()
    np.testing.assert_array_equal(np.asarray(source.fn(ds.test.inputs[:16])),
                                  np.asarray(entry.model.apply(entry.variables,
                                                               ds.test.inputs[:16])))
    assert source.meta["qat"] == recorded

    # The stored grids are the ones the circuit gets: the emulated circuit reproduces the
    # recorded accuracy, and recalibrating on the export's calibration set (with the recorded
    # widening of the grids under accumulators that would need more than rounding_bits bits
    # in the circuit) finds them again.
    emulated = micro.emulated_function(entry.model, entry.variables, recorded)
    acc = micro.accuracy(emulated, ds.val.inputs, ds.val.labels)
    assert acc == pytest.approx(recorded["fake_quant_val_accuracy"], abs=2e-3)
    fn = lambda p, xb: entry.model.apply({**entry.variables, "params": p}, xb)  # noqa: E731
    ranges = qat.activation_ranges(fn, entry.variables["params"],
                                   jnp.asarray(ds.train.inputs[:micro.CALIBRATION]),
                                   spec=spec, widen={int(site): factor for site, factor
                                          in recorded["widened_sites"].items()})
    np.testing.assert_allclose(np.asarray(ranges), np.asarray(recorded["ranges"]), rtol=1e-5,
                               atol=1e-5)


def test_zoo_eval_reproduces_the_qat_entry():
    from polyzoo.zoo import evaluation

    summary = evaluation.summary("vit-micro-mnist-qat")
    assert summary["reproduced"] and summary["accuracy"] > 0.85


@pytest.mark.slow
def test_micro_vit_recipe_publish_and_export_cli_end_to_end(tmp_path, capsys, monkeypatch):
    """Train the QAT recipe with few steps into a scratch zoo, export it by name with the CLI."""
    import dataclasses
    import json

    from polyzoo.cli import main
    from polyzoo.zoo import recipe as recipe_lib
    from polyzoo.zoo import training

    recipe = recipe_lib.load_recipe("vit_micro_mnist_qat")
    recipe = dataclasses.replace(
        recipe, stages=(dataclasses.replace(recipe.stages[0], steps=300),),
        finish_args={**recipe.finish_args, "steps": 100})
    root = tmp_path / "zoo"
    entry = training.run(recipe, progress=False, root=root, runs=tmp_path / "runs")
    assert entry["qat"]["steps"] == 100 and entry["spec"]["name"].endswith("+folded")
    monkeypatch.setenv("POLYZOO_CHECKPOINTS", str(root))
    capsys.readouterr()
    assert main(["export", "vit-micro-mnist-qat", "--out", str(tmp_path / "out"),
                 "--n-test", "40", "--p-error", "0.05", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"pbs", "max_bit_width", "float_accuracy", "simulated_accuracy"} <= set(report)
    assert report["pbs"] == sum(report["pbs_per_layer"].values())
    assert (tmp_path / "out" / "server" / "server.zip").exists()
    assert not list((tmp_path / "out" / "server").glob("*key*"))


@pytest.mark.parametrize("stem", [0, 4])
def test_client_embedding_entry_exports_the_blocks_only(tmp_path, monkeypatch, stem):
    """A QAT entry trained with client_embeds: the client computes the patch embedding (behind
    the convolutional stem, if any) in the clear, the circuit takes (B, 4, 8) embeddings and
    computes what the emulation computes."""
    import dataclasses

    from polyzoo.export import _protocol, _sources, check_onnx, micro, to_onnx
    from polyzoo.zoo import recipe as recipe_lib
    from polyzoo.zoo import training

    recipe = recipe_lib.load_recipe("vit_micro_mnist_qat")
    recipe = dataclasses.replace(
        recipe, stages=(dataclasses.replace(recipe.stages[0], steps=200),),
        overrides={**recipe.overrides, **({"stem": stem} if stem else {})},
        finish_args={**recipe.finish_args, "steps": 40, "client_embeds": True})
    root = tmp_path / "zoo"
    entry = training.run(recipe, progress=False, root=root, runs=tmp_path / "runs")
    assert entry["qat"]["client"] == micro.CLIENT_METHOD
    monkeypatch.setenv("POLYZOO_CHECKPOINTS", str(root))
    source = _sources.resolve("vit-micro-mnist-qat")
    assert source.client == {"zoo": "vit-micro-mnist-qat", "method": "embed_patches",
                             **({"stem": stem} if stem else {})}
    assert source.test_x.shape == (len(source.test_y), 4, 8)
    said = _protocol.client_computes(source.client)
    assert "patch embedding" in said and (f"convolution to {stem} channels" in said) == bool(stem)
    # the client's part keeps its float weights (the circuit's kernels sit on 5-bit grids)
    from polyzoo import zoo

    params = zoo.load("vit-micro-mnist-qat").variables["params"]
    assert len(np.unique(params["embed"]["kernel"])) > 2 ** 5
    if stem:
        assert len(np.unique(params["stem"]["conv"]["kernel"])) > 2 ** 5
    assert len(np.unique(params["layer_0"]["mlp"]["fc1"]["kernel"])) < 2 ** 5
    graph = to_onnx(source.export_fn, source.calibration[:1])
    assert not any("embed" in n.name or "stem" in n.name for n in graph.graph.node)
    assert check_onnx(graph, source.export_fn, source.test_x[:8]) < 1e-4


def test_demo_puts_the_baseline_beside_the_circuit():
    from polyzoo.commands.demo import DEMO_MODEL, _against_baseline

    behind = _against_baseline(DEMO_MODEL, 0.5, 10)
    assert "mlp-256" in behind and "does NOT beat the baseline" in behind
    assert "does NOT" not in _against_baseline(DEMO_MODEL, 0.999, 10)


def test_quant_spec_says_what_is_wrong(net):
    fn, params, x = net
    with pytest.raises(TypeError, match=r"QuantSpec\(bits=4\)"):
        qat.quantized(fn, 4)
    with pytest.raises(ValueError, match="rounding_bits=20: use 2..16 bits"):
        QuantSpec(bits=4, rounding_bits=20)
    spec = QuantSpec(bits=6, rounding_bits=7, weight_bits=5, signed=[True, False])
    assert spec.signed == (True, False)
    assert QuantSpec.from_record(spec.record()) == spec  # the manifest's 'qat' fields
