"""Recipes end to end on tiny models: stages, calibration, publish, `zoo eval` reproduces."""
import dataclasses
import json
import re
import subprocess
import sys

import jax
import numpy as np
import pytest

from polyzoo.nn import ApproxSpec, Poly, Site
from polyzoo.zoo import recipe as recipe_lib
from polyzoo.zoo import training
from polyzoo.zoo.recipe import Recipe, Stage
from polyzoo.zoo import card, evaluation

SPEC = ApproxSpec(act=Site("poly", poly=Poly("gelu", 6, (-6.0, 6.0))),
                  softmax=Site("pointwise", fn="gelu", poly=Poly("gelu", 6, (-6.0, 6.0))),
                  norm=Site("batchnorm"), name="tiny-poly")

TINY = Recipe(
    name="tiny-vit-mnist", model="vit-test", dataset="mnist", batch_size=64,
    stages=(Stage("range_aware", SPEC, steps=40, lr=3e-3, warmup=5, range_weight=0.1,
                  calibrate=False, reference=True),
            Stage("polynomial", SPEC, steps=10, lr=5e-4, warmup=2, range_weight=0.1,
                  calibrate_margin=0.25),
            Stage("calibrated", SPEC, steps=0, lr=0.0, calibrate_margin=0.2)),
    calib_examples=512, recipe_file="tests/zoo/test_train_recipe.py", command="pytest")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    runs = tmp_path_factory.mktemp("runs")
    entry = training.run(TINY, progress=False, root=root, runs=runs)
    return root, runs, entry


def test_recipe_publishes_what_it_measured(published):
    root, runs, entry = published
    assert [s["stage"] for s in entry["stages"]] == ["range_aware", "polynomial", "calibrated"]
    assert entry["stages"][-1]["steps"] == 0 and entry["stages"][-1]["throughput"] is None
    # the range-aware stage is judged on the exact forward it trained (its polynomials are
    # calibrated by the next stage), every later stage on the polynomial forward
    assert [s["val_forward"] for s in entry["stages"]] == ["exact", "polynomial", "polynomial"]
    assert entry["metrics"]["n"] == 2000 and entry["metrics"]["accuracy"] > 0.3
    sites = entry["sites"]
    assert set(sites) == {"layer_0/mlp/act", "layer_0/attn/softmax/act"}
    for s in sites.values():
        lo, hi = s["interval"]
        assert lo < s["measured"][0] and s["measured"][1] < hi and s["max_error"] >= 0
    assert (runs / "tiny-vit-mnist" / "polynomial").is_dir()  # resumable checkpoints
    assert abs(entry["float32_metrics"]["accuracy"] - entry["metrics"]["accuracy"]) < 0.01


def test_an_interrupted_recipe_resumes_to_the_same_entry(published, tmp_path, monkeypatch):
    """Stopped in its first stage (Ctrl-C after step 25, the last checkpoint at step 20),
    the same command resumes from that checkpoint and publishes what an uninterrupted run
    publishes."""
    import functools

    from polyzoo.train import loop

    _, _, entry = published
    real = loop.run_steps
    monkeypatch.setattr(loop, "LoopConfig", functools.partial(loop.LoopConfig,
                                                              checkpoint_every=10))

    def interrupted(step, state, batch_at, *args, **kw):
        def batch_or_stop(t):
            if t == 25:
                raise KeyboardInterrupt
            return batch_at(t)
        return real(step, state, batch_or_stop, *args, **kw)

    monkeypatch.setattr(loop, "run_steps", interrupted)
    where = dict(progress=False, root=tmp_path / "zoo", runs=tmp_path / "runs")
    with pytest.raises(KeyboardInterrupt):
        training.run(TINY, **where)
    assert not (tmp_path / "zoo" / "manifest.json").exists()  # nothing published
    monkeypatch.setattr(loop, "run_steps", real)
    again = training.run(TINY, **where)
    assert again["stages"][0]["resumed_from"] == 20
    assert again["metrics"] == entry["metrics"] and again["sites"] == entry["sites"]


def test_zoo_eval_reproduces_the_manifest(published):
    root, _, entry = published
    out = evaluation.summary("tiny-vit-mnist", root=root)
    assert out["reproduced"] and out["accuracy"] == entry["metrics"]["accuracy"]
    assert out["out_of_range"] == entry["metrics"]["out_of_range_total"]
    assert out["site_values"] > 0


def test_model_card(published):
    root, _, entry = published
    text = card.render("tiny-vit-mnist", root=root)
    assert "| `layer_0/mlp/act` | gelu | 6 |" in text
    assert f"{100 * entry['metrics']['accuracy']:.2f}%" in text
    assert "Out-of-range inputs on the test split" in text
    assert "| simple baseline: " in text and "against the baseline" in text
    assert "% (exact functions) |" in text  # the range-aware stage's validation


def test_cli_zoo_list_show_eval(published, monkeypatch):
    root, _, entry = published
    env_root = str(root)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "polyzoo.cli", *args], capture_output=True,
                              text=True, env={**__import__("os").environ,
                                              "POLYZOO_CHECKPOINTS": env_root}, timeout=300)

    listed = cli("zoo", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)] == ["tiny-vit-mnist"]
    row = cli("zoo", "list").stdout  # columns as wide as the longest name, lead on baseline
    assert row.startswith("tiny-vit-mnist  vit-test  mnist  acc ")
    assert re.search(r"baseline (pixels-logreg|mlp-256) \d+\.\d\d% \([+-]\d+\.\d\d", row)
    shown = cli("zoo", "show", "tiny-vit-mnist")
    assert json.loads(shown.stdout)["recipe"] == "tests/zoo/test_train_recipe.py"
    ev = cli("zoo", "eval", "tiny-vit-mnist", "--json")
    assert ev.returncode == 0, ev.stderr
    out = json.loads(ev.stdout)
    assert out["accuracy"] == entry["metrics"]["accuracy"] and out["reproduced"]
    assert {"name", "task", "split", "accuracy", "twin_accuracy", "out_of_range",
            "baseline", "baseline_accuracy"} <= set(out)
    assert out["baseline"] in ("pixels-logreg", "mlp-256") and out["baseline_accuracy"] > 0.85
    assert entry["baseline"]["name"] == out["baseline"]  # stored at publication, same split
    text = cli("zoo", "eval", "tiny-vit-mnist")
    assert f"the baseline {out['baseline']}" in text.stdout
    bad = cli("zoo", "eval", "nope")
    assert bad.returncode == 2 and "valid names: tiny-vit-mnist" in bad.stderr


def test_unknown_recipe_lists_the_available_ones():
    with pytest.raises(FileNotFoundError, match="vit_fashion_poly"):
        recipe_lib.load_recipe("no_such_recipe")
    with pytest.raises(FileNotFoundError, match="did you mean 'vit_fashion_exact'"):
        recipe_lib.load_recipe("vit_fashon_exact")


def test_a_recipe_loads_by_the_name_of_its_entry():
    by_entry, by_module = map(recipe_lib.load_recipe, ("vit-fashion-exact", "vit_fashion_exact"))
    assert by_entry == by_module


def test_every_recipe_in_models_loads():
    from pathlib import Path

    for path in sorted((Path(recipe_lib.__file__).parents[2] / "models").glob("*.py")):
        r = recipe_lib.load_recipe(str(path))
        assert r.command == f"polyzoo train {path.stem}" and r.stages
        assert "Command:" in path.read_text()


def test_with_attention_swaps_only_the_softmax_site():
    from polyzoo.nn import ATTENTION_MENU

    poly = recipe_lib.load_recipe("vit_fashion_poly")
    for name, site in ATTENTION_MENU.items():
        r = recipe_lib.with_attention(poly, site, name)
        assert r.name == f"vit-fashion-poly-{name}" and r.twin == poly.twin
        for old, new in zip(poly.stages, r.stages):
            assert new.spec.softmax.choice == site.choice and new.spec.act == old.spec.act
            assert new.spec.norm == old.spec.norm
            assert dataclasses.replace(new, spec=old.spec) == old  # steps, lr, ... unchanged
            for p in (new.spec.softmax.poly, new.spec.softmax.aux):  # the stage's own degree
                assert p is None or p.degree == old.spec.act.poly.degree
    exact = recipe_lib.load_recipe("vit_fashion_exact")
    with pytest.raises(ValueError, match="preset 'exact'"):
        recipe_lib.with_attention(exact, ATTENTION_MENU["2quad"], "2quad")


def test_each_menu_entry_has_its_recipe(load_bench):
    """bench_attention_menu.py --zoo reads one zoo entry per menu choice; each one's recipe is in
    models/ under the name the bench tells the user to train."""
    from polyzoo.nn import ATTENTION_MENU

    def as_trained(recipe):
        # where each was loaded from aside; and a stage that computes the exact functions
        # (reference=True) uses its softmax Poly only for the range loss's interval, so the
        # fit's settings play no part there (polyexp's first stage keeps the absolute fit it
        # was trained under, before squarings existed)
        def stage(s):
            p = s.spec.softmax.poly
            if not s.reference or p is None:
                return s
            softmax = dataclasses.replace(s.spec.softmax, poly=dataclasses.replace(
                p, relative=None, squarings=0))
            return dataclasses.replace(s, spec=dataclasses.replace(s.spec, softmax=softmax))

        return dataclasses.replace(recipe, recipe_file="", command="",
                                   stages=tuple(map(stage, recipe.stages)))

    module = load_bench("bench_attention_menu")
    poly = recipe_lib.load_recipe("vit_fashion_poly")
    for name in ATTENTION_MENU:
        expected = module.menu_recipe(poly, name)
        stored = recipe_lib.load_recipe(expected.name.replace("-", "_"))
        assert as_trained(stored) == as_trained(expected)
        assert stored.stages[-1] == expected.stages[-1]  # calibrated as the menu says


@pytest.mark.slow
def test_staged_distillation_on_a_user_csv(tmp_path, monkeypatch):
    """Exact BERT on a CSV nobody has seen, then a polynomial student distilled from it
    (hidden-state MSE + logit KL + range loss) in two stages: the language recipe's path."""
    import csv

    monkeypatch.setenv("POLYZOO_CHECKPOINTS", str(tmp_path / "zoo"))
    rng = np.random.default_rng(0)
    good, bad = ["great", "moving", "superb", "fun"], ["dull", "awful", "boring", "flat"]
    rows = [("text", "label")]
    for i in range(400):
        label = i % 2
        words = rng.choice(good if label else bad, 2).tolist() + ["film", "plot"]
        rows.append((" ".join(rng.permutation(words)), "pos" if label else "neg"))
    path = tmp_path / "reviews.csv"
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    common = dict(model="bert-test", dataset=str(path), task="sentiment", max_len=8,
                  batch_size=32, calib_examples=128, recipe_file="tests", command="pytest")
    exact = Recipe(name="csv-exact", stages=(Stage("finetune", "exact", steps=60, lr=3e-3),),
                   final_margin=None, **common)
    first = training.run(exact, progress=False, runs=tmp_path / "runs")
    assert first["metrics"]["accuracy"] > 0.9
    act = ApproxSpec(act=Site("poly", poly=Poly("gelu", 8, (-8.0, 8.0))),
                     softmax=Site("2quad", param=5.0, aux=Poly("reciprocal", 8, (1.0, 100.0))),
                     name="s1")
    full = ApproxSpec(act=act.act, softmax=act.softmax,
                      norm=Site("poly_rsqrt", poly=Poly("rsqrt", 12, (0.05, 20.0))), name="s2")
    distill = dict(steps=15, lr=1e-3, hidden_weight=1.0, logit_weight=1.0, range_weight=0.1)
    poly = Recipe(name="csv-poly", init="zoo:csv-exact", teacher="zoo:csv-exact",
                  twin="csv-exact", stages=(Stage("act_softmax", act, **distill),
                                            Stage("layernorm", full, **distill)), **common)
    second = training.run(poly, progress=False, runs=tmp_path / "runs")
    assert second["spec"]["name"] == "s2" and second["teacher"] == "zoo:csv-exact"
    assert any(s.endswith("norm1/rsqrt") for s in second["sites"])
    assert any(s.endswith("softmax/recip") for s in second["sites"])
    assert second["metrics"]["accuracy"] > 0.8
    out = evaluation.summary("csv-poly")
    assert out["reproduced"] and out["twin_accuracy"] == first["metrics"]["accuracy"]


def test_convert_retargets_the_minilm_recipes(tmp_path):
    from polyzoo.zoo.convert import recipes_for

    path = tmp_path / "mine.csv"
    path.write_text("text,label\ngood,1\nbad,0\n")
    exact, poly = recipes_for(str(path), "mine", steps_scale=0.5)
    assert (exact.name, poly.name) == ("mine-exact", "mine-poly")
    assert exact.dataset == poly.dataset == str(path)
    assert poly.init == poly.teacher == "zoo:mine-exact" and poly.twin == "mine-exact"
    base = (recipe_lib.load_recipe("bert_sentiment_poly_act").stages
            + recipe_lib.load_recipe("bert_sentiment_poly").stages)  # both stages, in turn
    assert [s.name for s in poly.stages] == ["act_softmax", "layernorm"]
    assert [s.steps for s in poly.stages] == [s.steps // 2 for s in base]
    assert [s.spec for s in poly.stages] == [s.spec for s in base]
    with pytest.raises(FileNotFoundError, match="no such CSV"):
        recipes_for(str(tmp_path / "absent.csv"), "x")
    sms, _ = recipes_for("sms_spam", "sms")  # a registered text dataset, by name
    assert sms.dataset == "sms_spam" and sms.name == "sms-exact"
    with pytest.raises(ValueError, match="image dataset"):
        recipes_for("mnist", "x")


def test_convert_reports_a_failed_stage_and_keeps_what_trained(tmp_path, monkeypatch):
    """A polynomial stage that fails leaves the exact entry's result in place, says which
    recipe failed and why, and runs nothing after it."""
    from polyzoo.train.loop import Diverged
    from polyzoo.zoo import convert

    path = tmp_path / "mine.csv"
    path.write_text("text,label\ngood,1\nbad,0\n")
    ran = []

    def run(recipe, progress=True):
        ran.append(recipe.name)
        if recipe.name.endswith("-poly"):
            raise Diverged("layernorm: loss NaN at step 7")
        return {"path": recipe.name, "metrics": {"accuracy": 0.9}}

    monkeypatch.setattr(convert.training, "run", run)
    out = convert.convert(str(path), "mine", progress=False)
    assert ran == ["mine-exact", "mine-poly"]
    assert out["exact"]["metrics"]["accuracy"] == 0.9 and out["exact"]["seconds"] >= 0
    assert out["poly"]["error"] == "mine-poly: Diverged: layernorm: loss NaN at step 7"


def test_affine_norms_fitted_layer_by_layer_track_the_layernorm_model():
    """THE-X's affine LayerNorm replacement started at the least-squares fit stays much closer
    to the exact model than one started at the LayerNorm's own (g, b)."""
    from polyzoo import models
    from polyzoo.nn import ApproxSpec, Site
    from polyzoo.train.affine_norms import fit_affine_norms, least_squares_affine

    x = np.random.default_rng(0).normal(size=(50, 3))
    g, b = least_squares_affine(x, 2.0 * x + 1.0)
    np.testing.assert_allclose(g, 2.0, rtol=1e-6)
    np.testing.assert_allclose(b, 1.0, rtol=1e-6)

    exact = models.create("bert-test", spec="exact", num_classes=2)
    affine = exact.clone(spec=ApproxSpec(norm=Site("affine"), name="affine"))
    rng = np.random.default_rng(1)
    ids = rng.integers(1, 1000, (64, 8)).astype(np.int32)
    mask = np.ones((64, 8), np.float32)
    mask[:, 6:] = 0.0
    variables = exact.init(jax.random.key(0), ids[:2], mask[:2])
    # A residual stream whose sigma is far from 1, as in a pretrained BERT.
    variables = jax.tree.map(np.array, variables)  # writable copies
    variables["params"]["layer_0"]["attn"]["out"]["kernel"] *= 20.0
    batches = [(ids[i:i + 32], mask[i:i + 32]) for i in (0, 32)]
    fitted, report = fit_affine_norms(affine, variables, batches, mask_input=1)
    assert set(report) == {"layer_0/norm1", "layer_0/norm2"}
    target = np.asarray(exact.apply(variables, ids, mask))
    naive_err = np.abs(np.asarray(affine.apply(variables, ids, mask)) - target).mean()
    fitted_err = np.abs(np.asarray(affine.apply(fitted, ids, mask)) - target).mean()
    assert fitted_err < 0.2 * naive_err


def test_a_run_directory_refuses_checkpoints_of_an_edited_recipe(tmp_path, monkeypatch):
    """Resuming trusts the checkpoints in data/runs/<name>/<stage>/: a recipe edited since
    they were written is refused, naming the directory, instead of silently resumed; an edit
    to a later stage leaves the earlier stages' checkpoints usable; a finish step whose
    library module changed its REVISION refuses them too."""
    first = Stage("a", "exact", steps=10, lr=1e-3)
    second = Stage("b", "exact", steps=10, lr=1e-3)
    recipe = Recipe(name="r", model="vit-test", dataset="mnist", stages=(first, second))
    path = training.claimed_run_dir(recipe, first, tmp_path)
    assert path == tmp_path / "r" / "a" and (path / "recipe.sha256").exists()
    assert training.claimed_run_dir(recipe, first, tmp_path) == path  # the same recipe
    later = dataclasses.replace(recipe, stages=(first, dataclasses.replace(second, lr=5e-4)))
    assert training.claimed_run_dir(later, first, tmp_path) == path
    edited = dataclasses.replace(recipe, stages=(dataclasses.replace(first, lr=5e-4), second))
    with pytest.raises(ValueError, match=r"r/a holds checkpoints of another version"):
        training.claimed_run_dir(edited, first, tmp_path)
    training.claimed_run_dir(recipe, "finish", tmp_path)
    with pytest.raises(ValueError, match="another version"):
        training.claimed_run_dir(dataclasses.replace(recipe, finish_args={"steps": 3}),
                                   "finish", tmp_path)
    from polyzoo.export import micro

    qat = dataclasses.replace(recipe, name="q", finish="polyzoo.export.micro:qat_stage")
    training.claimed_run_dir(qat, "finish", tmp_path)
    monkeypatch.setattr(micro, "REVISION", micro.REVISION + 1)
    with pytest.raises(ValueError, match="REVISION of its finish step"):
        training.claimed_run_dir(qat, "finish", tmp_path)


def test_minilm_words_init_takes_minilm_table_and_names_the_override_it_needs():
    from polyzoo.models import pretrained

    r = Recipe(name="tiny-words", model="bert-micro", dataset="sentiment", init="minilm-words",
               stages=(Stage("float", "exact", steps=1, lr=1e-3),), max_len=8,
               overrides={"embed_dim": 384, "max_positions": 8})
    model = training.build(r, "exact", 2)
    example = (np.zeros((1, 8), np.int32), np.ones((1, 8), np.float32))
    got = training.init_variables(r, model, example)
    np.testing.assert_array_equal(got["params"]["word_embeddings"]["embedding"],
                                  pretrained.minilm_word_table())
    plain = dataclasses.replace(r, overrides={"max_positions": 8})
    with pytest.raises(ValueError, match="set embed_dim=384"):
        training.init_variables(plain, training.build(plain, "exact", 2), example)


def test_augmented_copies_are_labelled_by_the_teacher(monkeypatch):
    """A copy whose meaning a neighbour swap flipped takes the teacher's label, not its
    original's; the originals and the evaluation splits are untouched."""
    from types import SimpleNamespace

    from polyzoo.models import pretrained
    from polyzoo.train import data as data_lib

    words = ["good", "fine", "bad", "film", "movie", "plot", "scene"]
    table = np.array([[1, 0], [1, 0.05], [0.95, 0.1], [0, 1], [0.05, 1], [0.1, 1], [0.1, 0.9]])
    monkeypatch.setattr(pretrained, "minilm_word_table", lambda: table.astype(np.float32))
    monkeypatch.setattr(pretrained, "tokenizer", lambda *a: SimpleNamespace(
        get_vocab=lambda: {w: i for i, w in enumerate(words)}))
    def teacher_logits(entry, ds, split="train"):  # negative iff the text says "bad"
        bad = np.array(["bad" in t.split() for t in ds.train.inputs])
        return np.stack([bad, ~bad], -1).astype(np.float32)

    monkeypatch.setattr(training, "teacher_logits", teacher_logits)
    split = lambda texts, labels: data_lib.Split(np.array(texts), np.array(labels, np.int32))  # noqa: E731
    ds = data_lib.Dataset("toy", split(["a good film"] * 20, [1] * 20),
                          split(["good"], [1]), split(["bad"], [0]), ("neg", "pos"))
    recipe = Recipe(name="aug", model="bert-test", dataset="toy", augment=3,
                    teacher="zoo:t", teacher_logits_once=True,
                    stages=(Stage("s", "exact", steps=1, lr=1e-3),))
    grown, logits = training.augmented_train(recipe, ds, teacher=None)
    texts, labels = grown.train.inputs, grown.train.labels
    assert len(texts) == len(labels) == len(logits) == 80
    assert texts[:20].tolist() == ds.train.inputs.tolist() and (labels[:20] == 1).all()
    flipped = np.array(["bad" in t.split() for t in texts[20:]])
    assert flipped.any() and (labels[20:] == np.where(flipped, 0, 1)).all()
    assert grown.val is ds.val and grown.test is ds.test


def test_augment_needs_text_and_a_teacher():
    r = Recipe(name="aug-images", model="vit-test", dataset="mnist", augment=2,
               stages=(Stage("s", "exact", steps=1, lr=1e-3),))
    with pytest.raises(ValueError, match="needs text data, a teacher"):
        training.run(r, publish=False)


def test_flip_needs_images(tmp_path):
    path = tmp_path / "texts.csv"
    path.write_text("text,label\n" + "".join(f"word{i} film,{'ab'[i % 2]}\n" for i in range(60)))
    r = Recipe(name="flip-text", model="bert-test", dataset=str(path), max_len=8, batch_size=16,
               stages=(Stage("s", "exact", steps=1, lr=1e-3, flip=True),))
    with pytest.raises(ValueError, match="flip=False for text"):
        training.run(r, publish=False, runs=tmp_path / "runs")
