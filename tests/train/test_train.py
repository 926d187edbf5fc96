"""Training loop: learns, resumes bit-identically, runs data-parallel on several CPU devices."""
import json
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from polyzoo.train import data, evaluate, loop, losses, mlp

STEPS, BATCH = 24, 32


def _setup(steps=STEPS, lr=3e-3):
    ds = data.load_mnist()
    model = mlp.create(num_classes=10)
    variables = model.init(jax.random.key(0), ds.train.inputs[:2], train=False)
    tx = loop.optimizer(lr, steps, warmup=2)
    return ds, model, tx, loop.init_state(variables, tx, seed=0)


def test_losses():
    a = jnp.array([[2.0, -1.0, 0.5]], jnp.float32)
    b = jnp.array([[0.0, 1.0, 0.0]], jnp.float32)
    assert float(losses.logit_kl(a, a)) == pytest.approx(0.0, abs=1e-7)
    assert float(losses.logit_kl(a, b)) > 0.1
    h = {"layer_0": (jnp.ones((2, 3, 4), jnp.float32),)}
    t = {"layer_0": (jnp.zeros((2, 3, 4), jnp.float32),)}
    assert float(losses.hidden_mse(h, t)) == pytest.approx(1.0)
    mask = jnp.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]], jnp.float32)
    assert float(losses.hidden_mse(h, t, mask)) == pytest.approx(1.0)
    assert int(losses.correct(a, jnp.array([0], jnp.int32))) == 1


def test_fit_learns_and_evaluates():
    ds, model, tx, state = _setup(steps=150)
    cfg = loop.LoopConfig(steps=150, batch_size=64, log_every=50)
    before = evaluate.evaluate(model, loop.variables_of(state), (ds.val.inputs,), ds.val.labels)
    state, hist = loop.fit(model, state, tx, (ds.train.inputs,), ds.train.labels, cfg,
                           progress=False)
    after = evaluate.evaluate(model, loop.variables_of(state), (ds.val.inputs,), ds.val.labels)
    assert int(state.step) == 150 and hist["throughput"] > 0
    assert hist["log"][-1][1] < hist["log"][0][1]
    assert before["accuracy"] < 0.3 and after["accuracy"] > 0.8
    assert after["n"] == len(ds.val.labels)


@pytest.mark.parametrize("augment", [None, data.mirror_half])
def test_resume_gives_identical_params(tmp_path, augment):
    ds, model, tx, state0 = _setup()
    cfg = loop.LoopConfig(steps=STEPS, batch_size=BATCH, checkpoint_every=5)
    train = (ds.train.inputs,), ds.train.labels
    straight, _ = loop.fit(model, state0, tx, *train, cfg, augment=augment, progress=False)
    # Interrupted at STEPS/2 (a checkpoint is written there), then resumed from disk.
    _, _, _, fresh = _setup()
    run = tmp_path / "run"
    half, _ = loop.fit(model, fresh, tx, *train, cfg, run_dir=run, until=STEPS // 2,
                       augment=augment, progress=False)
    assert loop.latest_checkpoint(run)[0] == STEPS // 2
    _, _, _, fresh = _setup()  # a new process would start from the initial state again
    resumed, hist = loop.fit(model, fresh, tx, *train, cfg, run_dir=run, augment=augment,
                             progress=False)
    assert hist["start_step"] == STEPS // 2 and int(resumed.step) == STEPS
    for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert len(list(run.glob("step_*"))) == cfg.keep_checkpoints
    if augment is not None:  # the augmented batches really differ from the plain ones
        _, _, _, fresh = _setup()
        plain, _ = loop.fit(model, fresh, tx, *train, cfg, progress=False)
        assert not np.array_equal(np.asarray(plain.params["Dense_0"]["kernel"]),
                                  np.asarray(straight.params["Dense_0"]["kernel"]))


def test_frozen_params_do_not_move():
    ds, model, _, _ = _setup()
    variables = model.init(jax.random.key(0), ds.train.inputs[:2], train=False)
    tx = loop.optimizer(1e-2, 10, frozen=lambda path: path.startswith("Dense_0"))
    state = loop.init_state(variables, tx)
    state, _ = loop.fit(model, state, tx, (ds.train.inputs,), ds.train.labels,
                        loop.LoopConfig(steps=5, batch_size=BATCH), progress=False)
    np.testing.assert_array_equal(state.params["Dense_0"]["kernel"],
                                  variables["params"]["Dense_0"]["kernel"])
    assert not np.array_equal(state.params["Dense_1"]["kernel"],
                              variables["params"]["Dense_1"]["kernel"])


def test_bad_batch_size_is_explained():
    ds, model, tx, state = _setup()
    with pytest.raises(ValueError, match="exceeds"):
        loop.fit(model, state, tx, (ds.val.inputs[:10],), ds.val.labels[:10],
                 loop.LoopConfig(steps=2, batch_size=64), progress=False)


_DP_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from polyzoo.train import data, loop, mlp
    assert jax.device_count() == 4, jax.devices()
    ds = data.load_mnist()
    model = mlp.MLP(num_classes=10, dropout=0.0)
    variables = model.init(jax.random.key(0), ds.train.inputs[:2], train=False)
    tx = loop.optimizer(3e-3, 8)
    state = loop.init_state(variables, tx)
    batch = loop.shard_batch({"x": ds.train.inputs[:32]}, loop.data_mesh())
    shards = {tuple(s.index[0].indices(32)) for s in batch["x"].addressable_shards}
    state, hist = loop.fit(model, state, tx, (ds.train.inputs,), ds.train.labels,
                           loop.LoopConfig(steps=8, batch_size=32), progress=False)
    np.savez(sys.argv[1], **{"/".join(map(str, p)): np.asarray(x) for p, x in
                             jax.tree_util.tree_flatten_with_path(state.params)[0]})
    print(json.dumps({"devices": hist["devices"], "shards": sorted(shards)}))
""")


def test_data_parallel_on_four_cpu_devices(tmp_path):
    out = tmp_path / "dp.npz"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _DP_SCRIPT, str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["devices"] == 4
    assert report["shards"] == [[0, 8, 1], [8, 16, 1], [16, 24, 1], [24, 32, 1]]
    # Same 8 steps on this process's single device: the same params up to summation order.
    ds = data.load_mnist()
    model = mlp.MLP(num_classes=10, dropout=0.0)
    variables = model.init(jax.random.key(0), ds.train.inputs[:2], train=False)
    tx = loop.optimizer(3e-3, 8)
    state, _ = loop.fit(model, loop.init_state(variables, tx), tx, (ds.train.inputs,),
                        ds.train.labels, loop.LoopConfig(steps=8, batch_size=32),
                        progress=False)
    got = np.load(out)
    for path, x in jax.tree_util.tree_flatten_with_path(state.params)[0]:
        np.testing.assert_allclose(got["/".join(map(str, path))], np.asarray(x),
                                   rtol=2e-4, atol=2e-5)


def test_distillation_step_on_bert():
    """Hidden-state MSE + logit KL against a teacher, and the range loss, on a tiny BERT."""
    from polyzoo import models

    student = models.create("bert-test", spec="mpcformer", num_classes=2)
    teacher = models.create("bert-test", spec="exact", num_classes=2)
    ids = np.random.default_rng(0).integers(1, 1000, (64, 8)).astype(np.int32)
    mask = np.ones((64, 8), np.float32)
    mask[:, 6:] = 0.0
    labels = (ids[:, 1] % 2).astype(np.int32)
    t_vars = teacher.init(jax.random.key(1), ids[:2], mask[:2])
    s_vars = student.init(jax.random.key(0), ids[:2], mask[:2])
    tx = loop.optimizer(1e-3, 4)
    objective = loop.Objective(hidden_weight=1.0, logit_weight=1.0, range_weight=0.1,
                               range_loss=models.range_loss, mask_input=1)
    step = jax.jit(loop.make_step(student, tx, objective, teacher))
    state = loop.init_state(s_vars, tx)
    batch = {"inputs": (jnp.asarray(ids[:16]), jnp.asarray(mask[:16])),
             "labels": jnp.asarray(labels[:16])}
    state, m = step(state, batch, t_vars)
    assert {"loss", "task", "kl", "hidden", "range", "correct"} <= set(m)
    assert float(m["kl"]) > 0 and float(m["hidden"]) > 0 and np.isfinite(float(m["loss"]))
    # The student against itself as teacher: no distillation signal.
    same = jax.jit(loop.make_step(student, tx, objective, student))
    _, m2 = same(loop.init_state(s_vars, tx), batch, s_vars)
    assert float(m2["kl"]) == pytest.approx(0.0, abs=1e-6)
    assert float(m2["hidden"]) == pytest.approx(0.0, abs=1e-10)
    with pytest.raises(ValueError, match="no teacher"):
        loop.fit(student, loop.init_state(s_vars, tx), tx, (ids, mask), labels,
                 loop.LoopConfig(steps=1, batch_size=16), objective, progress=False)


def test_precomputed_teacher_logits_equal_running_the_teacher():
    """fit(soft_targets=...) (the teacher's logits computed once) trains exactly as a teacher
    forward in every step does, when the teacher sees the same inputs."""
    from polyzoo import models

    student = models.create("bert-test", spec="exact", num_classes=2)
    teacher = models.create("bert-test", spec="exact", num_classes=2)
    ids = np.random.default_rng(0).integers(1, 1000, (32, 8)).astype(np.int32)
    mask = np.ones((32, 8), np.float32)
    labels = (ids[:, 1] % 2).astype(np.int32)
    t_vars = teacher.init(jax.random.key(1), ids[:2], mask[:2])
    s_vars = student.init(jax.random.key(0), ids[:2], mask[:2])
    soft = np.asarray(teacher.apply(t_vars, ids, mask), np.float32)  # (32, 2)
    tx = optax.sgd(0.1)  # (Adam would amplify float-rounding differences of near-zero grads)
    objective = loop.Objective(logit_weight=1.0, temperature=2.0)
    cfg = loop.LoopConfig(steps=3, batch_size=16)
    run = lambda **kw: loop.fit(student, loop.init_state(s_vars, tx), tx, (ids, mask), labels,  # noqa: E731
                                cfg, objective, progress=False, **kw)[0]
    a, b = run(teacher=(teacher, t_vars)), run(soft_targets=soft)
    for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="soft_targets must be"):
        run(soft_targets=soft[:5])
    with pytest.raises(ValueError, match="hidden-state distillation"):
        loop.fit(student, loop.init_state(s_vars, tx), tx, (ids, mask), labels, cfg,
                 loop.Objective(hidden_weight=1.0), soft_targets=soft, progress=False)


def test_precise_batch_stats_are_batch_medians():
    from polyzoo.train.batchnorm import precise_batch_stats

    ds = data.load_mnist()
    model = mlp.MLP(num_classes=10, dropout=0.0)
    variables = jax.tree.map(np.asarray, model.init(jax.random.key(0), ds.train.inputs[:2]))
    x = ds.train.inputs[:1024].copy()
    out = precise_batch_stats(model, variables, (x,), batches=4)
    h = x.reshape(len(x), -1) @ variables["params"]["Dense_0"]["kernel"]  # (N, hidden)
    means = np.stack([h[i * 256:(i + 1) * 256].mean(0) for i in range(4)])
    np.testing.assert_allclose(out["batch_stats"]["BatchNorm_0"]["mean"], np.median(means, 0),
                               rtol=1e-4, atol=1e-5)
    x[:256] *= 1e4  # one exploding batch does not move the median
    robust = precise_batch_stats(model, variables, (x,), batches=4)
    assert np.all(robust["batch_stats"]["BatchNorm_0"]["var"] < 10 * out["batch_stats"]["BatchNorm_0"]["var"] + 1)
    x[:256] = np.inf  # nor does one that overflows
    finite = precise_batch_stats(model, variables, (x,), batches=4)["batch_stats"]
    assert all(np.isfinite(v).all() for v in jax.tree.leaves(finite))
    x[:] = np.inf  # every batch overflowing: said, not stored
    with pytest.raises(ValueError, match="BatchNorm .*no training batch gave a finite"):
        precise_batch_stats(model, variables, (x,), batches=4)


def test_a_non_finite_loss_stops_training_before_it_is_checkpointed(tmp_path):
    ds, model, tx, state = _setup(steps=20)
    images = ds.train.inputs[:256].copy()
    images[::7] = np.nan
    cfg = loop.LoopConfig(steps=20, batch_size=32, log_every=5, checkpoint_every=5)
    with pytest.raises(loop.Diverged, match="loss became nan in steps 1-5.*No checkpoint"):
        loop.fit(model, state, tx, (images,), ds.train.labels[:256], cfg, run_dir=tmp_path,
                 progress=False, desc="tiny/stage")
    assert loop.latest_checkpoint(tmp_path) is None


def test_a_collapsed_stage_is_named_with_its_worst_site():
    from polyzoo.zoo.training import StageCollapsed, check_stage

    labels = np.array([0] * 60 + [1] * 40)
    check_stage("r/s", {"accuracy": 0.8}, labels, previous=0.85)
    with pytest.raises(StageCollapsed, match="r/layernorm: validation accuracy is at chance"):
        check_stage("r/layernorm", {"accuracy": 0.6, "out_of_range": {"a": 3, "b": 40}},
                    labels, previous=0.9)
    with pytest.raises(StageCollapsed, match=r"fell from 93.00% to 70.00%.*site .* is b \(40"):
        check_stage("r/s", {"accuracy": 0.7, "out_of_range": {"a": 3, "b": 40}},
                    labels, previous=0.93)


def test_an_outlier_batch_is_skipped_and_the_run_goes_on():
    """A step whose loss is not finite is not applied; the others train as before, bit for
    bit, and the run reports how many it skipped."""
    ds, model, tx, state = _setup(steps=10)
    images, labels = ds.train.inputs[:320].copy(), ds.train.labels[:320]
    cfg = loop.LoopConfig(steps=10, batch_size=32, log_every=5)
    clean, hist = loop.fit(model, state, tx, (images,), labels, cfg, progress=False)
    assert hist["skipped"] == 0
    no_skip = loop.Objective(skip_nonfinite=False)
    unguarded, _ = loop.fit(model, state, tx, (images,), labels, cfg, no_skip, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(clean.params),
                                                      jax.tree.leaves(unguarded.params)))
    first = loop.batch_indices(len(images), 32, cfg.seed, 3)  # poison step 3's batch only
    bad = images.copy()
    bad[first[0]] = np.nan
    skipped, hist = loop.fit(model, state, tx, (bad,), labels, cfg, progress=False)
    assert hist["skipped"] == 1 and np.isfinite(hist["log"][0][1])
    leaves = jax.tree.leaves(skipped.params)
    assert all(np.all(np.isfinite(x)) for x in leaves)
    assert any(not np.array_equal(a, b) for a, b in zip(leaves, jax.tree.leaves(clean.params)))
    with pytest.raises(loop.Diverged):
        loop.fit(model, state, tx, (bad,), labels, cfg, no_skip, progress=False)
