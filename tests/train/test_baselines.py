"""Baselines: selected on validation only, cached by the split's hash, one per kind of data."""
import numpy as np

from polyzoo.train import baselines, data


def _text_dataset(flip: bool = False) -> data.Dataset:
    rng = np.random.default_rng(0)
    good, bad = ["great", "moving", "superb"], ["dull", "awful", "boring"]

    def split(n):
        labels = (np.arange(n) % 2).astype(np.int32)
        texts = [" ".join(rng.choice(good if y else bad, 2).tolist() + ["film"]) for y in labels]
        return data.Split(np.array(texts), labels)

    train, val, test = split(80), split(20), split(20)
    if flip:
        train = data.Split(train.inputs, 1 - train.labels)
    return data.Dataset("toy-text", train, val, test, ("neg", "pos"))


def _image_dataset() -> data.Dataset:
    rng = np.random.default_rng(1)

    def split(n):
        labels = (np.arange(n) % 2).astype(np.int32)
        images = rng.normal(0.0, 0.3, (n, 4, 4, 1)).astype(np.float32)
        images[:, 0, 0, 0] += 2.0 * labels
        return data.Split(images, labels)

    return data.Dataset("toy-images", split(2000), split(200), split(200), ("a", "b"))


def test_text_baseline_separates_separable_text(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    ds = _text_dataset()
    (b,) = baselines.baselines(ds)
    assert b.name == "tfidf-logreg" and b.accuracy == 1.0 and "chosen on validation" in b.description
    cached = list((tmp_path / "cache" / "baselines").glob("*.json"))
    assert len(cached) == 1
    assert baselines.baselines(ds) == [b]  # read back from the cache
    (path,) = cached
    path.write_text(path.read_text().replace('"accuracy": 1.0', '"accuracy": 0.5'))
    assert baselines.baselines(ds)[0].accuracy == 0.5  # the cache answers, even when stale
    (refit,) = baselines.baselines(ds, refit=True)  # a refit ignores it ...
    assert refit.accuracy == 1.0
    assert baselines.baselines(ds) == [refit]  # ... and replaces it


def test_split_hash_changes_with_the_split():
    assert baselines.split_hash(_text_dataset()) != baselines.split_hash(_text_dataset(flip=True))
    assert baselines.split_hash(_text_dataset()) == baselines.split_hash(_text_dataset())


def test_image_baselines_and_the_strongest_by_validation(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    ds = _image_dataset()
    found = baselines.baselines(ds)
    assert [b.name for b in found] == ["pixels-logreg", "mlp-256"]
    assert all(b.accuracy > 0.9 for b in found)
    best = baselines.strongest(ds)
    assert best.val_accuracy == max(b.val_accuracy for b in found)


def test_record_is_the_strongest_with_its_split(tmp_path, monkeypatch):
    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    ds = _image_dataset()
    rec = baselines.record(ds)
    assert rec["name"] == baselines.pick(baselines.baselines(ds)).name
    assert rec["split_sha256"] == baselines.split_hash(ds)


def test_linear_on_features_reads_what_it_is_given():
    """A linear head on given features: informative ones separate the classes, noise does not."""
    ds = _image_dataset()
    splits = (ds.train, ds.val, ds.test)
    informative = baselines.linear_on(tuple(s.inputs[:, :1, :1] for s in splits), ds, "pixel")
    rng = np.random.default_rng(2)
    noise = baselines.linear_on(tuple(rng.normal(size=(len(s.labels), 3)) for s in splits), ds,
                                "noise")
    assert informative.accuracy > 0.95 and "pixel" in informative.description
    assert noise.accuracy < 0.7


def test_mlp_fits_on_one_blas_thread(monkeypatch):
    """With 784 inputs one and two OpenBLAS threads give different weights (measured), so the
    MLP fits on one, whatever the caller's (or the host's) thread count."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_info, threadpool_limits

    seen, fit = [], MLPClassifier.partial_fit

    def spy(self, *args, **kw):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return fit(self, *args, **kw)

    monkeypatch.setattr(MLPClassifier, "partial_fit", spy)
    ds = _image_dataset()
    x = [ds.split(s).inputs.reshape(len(ds.split(s).inputs), -1) for s in ("train", "val", "test")]
    y = [ds.split(s).labels for s in ("train", "val", "test")]
    with threadpool_limits(2):
        baselines._mlp(x[0], y[0], x[1], y[1], x[2], y[2])
    assert seen and set(seen) == {1}


def test_zoo_eval_reports_the_stored_baseline_of_an_unchanged_split(tmp_path, monkeypatch):
    """What the manifest stored at publication is reported while the split is the same (card
    and `zoo eval` agree); a changed split is fitted afresh."""
    from polyzoo.zoo.evaluation import stored_or_fitted_baseline

    monkeypatch.setenv("POLYZOO_DATA", str(tmp_path))
    ds = _text_dataset()
    stored = {"name": "tfidf-logreg", "accuracy": 0.5, "split_sha256": baselines.split_hash(ds)}
    assert stored_or_fitted_baseline({"baseline": stored}, ds) is stored
    changed = {**stored, "split_sha256": baselines.split_hash(_text_dataset(flip=True))}
    fitted = stored_or_fitted_baseline({"baseline": changed}, ds)
    assert fitted == baselines.record(ds) and fitted["accuracy"] == 1.0
    assert stored_or_fitted_baseline({}, ds) == fitted  # an entry stored without one


def test_bench_update_zoo_stores_one_baseline_per_split(tmp_path, monkeypatch, load_bench):
    """bench_baselines.py --update-zoo: an entry of the refitted split (or with no stored
    baseline) gets the split's strongest baseline and a new card; one fitted on another split
    is left as it is."""
    from polyzoo.zoo import card, registry

    module = load_bench("bench_baselines")
    monkeypatch.setenv("POLYZOO_CHECKPOINTS", str(tmp_path))
    written = []
    monkeypatch.setattr(card, "write", written.append)
    old = {"name": "mlp-256", "accuracy": 0.5, "split_sha256": "a" * 64}
    registry.write_manifest({"format": registry.FORMAT, "entries": {
        "same-split": {"dataset": "d", "baseline": old},
        "no-baseline": {"dataset": "d"},
        "other-split": {"dataset": "d", "baseline": {**old, "split_sha256": "b" * 64}},
        "other-data": {"dataset": "e", "baseline": old}}})
    best = {"name": "mlp-256", "description": "MLP", "val_accuracy": 0.9, "accuracy": 0.8,
            "seconds": 1.0}
    module.update_zoo({"d": {**best, "split_sha256": "a" * 64}})
    entries = registry.read_manifest()["entries"]
    assert entries["same-split"]["baseline"] == {**best, "split_sha256": "a" * 64}
    assert entries["no-baseline"]["baseline"] == entries["same-split"]["baseline"]
    assert entries["other-split"]["baseline"]["accuracy"] == 0.5
    assert entries["other-data"]["baseline"] == old
    assert written == ["no-baseline", "same-split"]
