"""Recompute a zoo entry's metrics from its checkpoint (what `polyzoo zoo eval` runs).

The very function that measured the metrics when the entry was published
(`polyzoo.zoo.training.evaluate`, same split, same batch size) runs again on the restored
variables, so the result must equal the manifest's.
"""
from __future__ import annotations

from polyzoo.zoo.registry import ZooEntry, load


def evaluate_entry(entry: ZooEntry, split: str | None = None, ds=None) -> dict:
    """The entry's metrics on `split` of its dataset (`ds`: that dataset, already loaded)."""
    from polyzoo.train import data
    from polyzoo.zoo import training

    meta = entry.meta
    ds = ds or data.load(meta["dataset"])
    split = split or meta.get("split", "test")
    inputs = data.model_inputs(ds, split, meta.get("max_len"))
    return training.evaluate(entry.model, entry.variables, inputs, ds.split(split).labels)


def stored_or_fitted_baseline(meta: dict, ds) -> dict:
    """The baseline the manifest stored when the entry was published, if it was fitted on this
    very split (same sha256); otherwise fitted now (`baselines.record`, cached by split). So
    `zoo eval` and the model card agree, on any host."""
    from polyzoo.train import baselines

    stored = meta.get("baseline")
    if stored and stored.get("split_sha256") == baselines.split_hash(ds):
        return stored
    return baselines.record(ds)


def summary(name: str, root=None) -> dict:
    """name, task, split, polynomial and exact-twin accuracy, the strongest simple baseline
    on the same split, out-of-range count, and whether the recomputed metrics equal the
    manifest's."""
    from polyzoo.train import data

    entry = load(name, root)
    ds = data.load(entry.meta["dataset"])  # once, for the entry, its twin and the baseline
    metrics = evaluate_entry(entry, ds=ds)
    twin_acc = None
    if entry.meta.get("twin"):
        twin = load(entry.meta["twin"], root)
        same = twin.meta["dataset"] == entry.meta["dataset"]
        twin_acc = evaluate_entry(twin, ds=ds if same else None)["accuracy"]
    base = stored_or_fitted_baseline(entry.meta, ds)
    return {
        "name": name, "task": entry.meta.get("task"), "dataset": entry.meta.get("dataset"),
        "split": entry.meta.get("split", "test"),
        "accuracy": metrics["accuracy"], "twin": entry.meta.get("twin"),
        "twin_accuracy": twin_acc,
        "out_of_range": metrics.get("out_of_range_total", 0),
        "site_values": metrics.get("site_values", 0),
        "manifest_accuracy": entry.meta["metrics"]["accuracy"],
        "reproduced": metrics == entry.meta["metrics"],
        "baseline": base["name"], "baseline_description": base["description"],
        "baseline_accuracy": base["accuracy"], "split_sha256": base["split_sha256"],
    }
