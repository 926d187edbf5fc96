"""The simple models a user would pick instead of a transformer, on the same split.

Every zoo entry is reported beside the strongest of these (the baseline rule): a polynomial
transformer that loses to a bag of words is not worth encrypting.

  text    TF-IDF of unigrams + bigrams (sublinear tf) + logistic regression
  images  logistic regression on the pixels; a one-hidden-layer MLP (256 ReLU units, Adam)

Model selection uses the validation split only (C for logistic regression from a fixed grid,
the epoch for the MLP: early stopping on validation accuracy, patience 5); the test split is
touched once, by the chosen model. "The baseline" of a dataset is the candidate with the best
validation accuracy. Results are cached under `data/cache/baselines/` by a sha256 of the split
itself, so a changed split or a user's edited CSV is never answered from a stale cache.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import sys
import time
import warnings

import numpy as np

from polyzoo.train import data as data_lib

CACHE_VERSION = 3
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
MLP_MAX_EPOCHS = 60
MLP_PATIENCE = 5


@dataclasses.dataclass(frozen=True)
class Baseline:
    """One simple model's result on a dataset: validation and test accuracy, fitting time."""

    name: str              # e.g. 'tfidf-logreg'
    description: str       # what it is, with the chosen setting
    val_accuracy: float
    accuracy: float        # on the test split
    seconds: float         # fitting time, model selection included

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def split_hash(ds: data_lib.Dataset) -> str:
    """sha256 over every split's inputs and labels and the selection settings."""
    settings = (CACHE_VERSION, C_GRID, MLP_MAX_EPOCHS, MLP_PATIENCE)
    h = hashlib.sha256(repr(settings).encode())
    for name in ("train", "val", "test"):
        s = ds.split(name)
        inputs = (np.asarray("\x00".join(s.inputs.tolist()).encode()) if s.inputs.dtype.kind == "U"
                  else np.ascontiguousarray(s.inputs))
        h.update(name.encode())
        h.update(inputs.tobytes())
        h.update(np.ascontiguousarray(s.labels, np.int64).tobytes())
    return h.hexdigest()


MAX_ITER = 1000  # lbfgs iterations per logistic-regression fit


def _accuracy(model, x, y) -> float:
    return float(np.mean(model.predict(x) == y))


def _logreg(xtr, ytr, xva, yva, xte, yte, name, what, **kw) -> Baseline:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    t0 = time.perf_counter()
    best = None
    for c in C_GRID:  # independent fits, as a user would run them
        with warnings.catch_warnings(record=True) as caught:
            # scikit-learn warns on stderr when lbfgs stops at max_iter; the description
            # says so instead
            warnings.simplefilter("always", ConvergenceWarning)
            m = LogisticRegression(C=c, max_iter=MAX_ITER, **kw).fit(xtr, ytr)
        stopped = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        acc = _accuracy(m, xva, yva)
        if best is None or acc > best[0]:
            best = (acc, c, m, stopped)
    acc, c, m, stopped = best
    note = f"; lbfgs stopped at max_iter={MAX_ITER}" if stopped else ""
    return Baseline(name, f"{what}, logistic regression (C={c:g} chosen on validation{note})",
                    acc, _accuracy(m, xte, yte), round(time.perf_counter() - t0, 1))


def linear_on(features: tuple[np.ndarray, np.ndarray, np.ndarray], ds: data_lib.Dataset,
              what: str) -> Baseline:
    """Logistic regression (C chosen on val) on given (train, val, test) features of `ds`,
    e.g. what a split model's client computes: how far a linear head gets on them alone."""
    x = [np.asarray(f).reshape(len(f), -1) for f in features]
    return _logreg(x[0], ds.train.labels, x[1], ds.val.labels, x[2], ds.test.labels,
                   "linear-on-features", what)


def text_baselines(ds: data_lib.Dataset) -> list[Baseline]:
    """TF-IDF (unigrams and bigrams, sublinear tf) + logistic regression, C chosen on val."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(ds.train.inputs)
    x = [vec.transform(ds.split(s).inputs) for s in ("train", "val", "test")]
    return [_logreg(x[0], ds.train.labels, x[1], ds.val.labels, x[2], ds.test.labels,
                    "tfidf-logreg", "TF-IDF unigrams+bigrams (sublinear tf)")]


def _mlp(xtr, ytr, xva, yva, xte, yte, seed: int = 0) -> Baseline:
    """MLP (256,) trained epoch by epoch; the epoch with the best validation accuracy is kept.
    Fitted on one BLAS thread, so that a refit does not depend on the host's thread count
    (with 784 inputs one and two OpenBLAS threads give different weights: on the Fashion split
    89.30% on one thread, 89.18% on two, measured)."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    m = MLPClassifier((256,), random_state=seed, batch_size=200, learning_rate_init=1e-3)
    classes = np.unique(ytr)
    rng = np.random.default_rng(seed)
    best, since = None, 0
    with threadpool_limits(1):
        for epoch in range(1, MLP_MAX_EPOCHS + 1):
            order = rng.permutation(len(ytr))  # partial_fit: one epoch in batches of 200
            m.partial_fit(xtr[order], ytr[order], classes=classes)
            acc = _accuracy(m, xva, yva)
            if best is None or acc > best[0]:
                best, since = (acc, epoch, copy.deepcopy(m)), 0
            else:
                since += 1
                if since >= MLP_PATIENCE:
                    break
        acc, epoch, m = best
        test = _accuracy(m, xte, yte)
    return Baseline("mlp-256", f"MLP, 256 ReLU units, Adam (epoch {epoch} chosen on "
                    "validation)", acc, test, round(time.perf_counter() - t0, 1))


def image_baselines(ds: data_lib.Dataset) -> list[Baseline]:
    """Logistic regression on pixels (C chosen on val) and a 256-unit MLP (epoch chosen on
    val)."""
    x = [ds.split(s).inputs.reshape(len(ds.split(s).inputs), -1) for s in ("train", "val", "test")]
    y = [ds.split(s).labels for s in ("train", "val", "test")]
    return [_logreg(x[0], y[0], x[1], y[1], x[2], y[2], "pixels-logreg", "pixels"),
            _mlp(x[0], y[0], x[1], y[1], x[2], y[2])]


def baselines(ds: data_lib.Dataset, *, cache: bool = True,
              refit: bool = False) -> list[Baseline]:
    """Every baseline of `ds`'s kind (text or images), from the cache when the split matches.
    `refit`: fit again and replace the cached record (cache=True) instead of reading it."""
    digest = split_hash(ds)
    path = data_lib.data_root() / "cache" / "baselines" / f"{digest[:16]}.json"
    if cache and not refit and path.exists():
        record = json.loads(path.read_text())
        if record.get("split_sha256") == digest:
            return [Baseline(**b) for b in record["baselines"]]
    if cache and not refit:
        print(f"fitting the simple baselines of {ds.name} (once; cached in {path.parent})",
              file=sys.stderr)
    found = text_baselines(ds) if ds.train.inputs.dtype.kind == "U" else image_baselines(ds)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"dataset": ds.name, "split_sha256": digest,
                                   "baselines": [b.to_dict() for b in found]}, indent=2))
        tmp.replace(path)
    return found


def pick(found: list[Baseline]) -> Baseline:
    """The baseline with the best validation accuracy (ties: the simpler, listed first)."""
    return max(found, key=lambda b: (b.val_accuracy, -found.index(b)))


def strongest(ds: data_lib.Dataset, *, cache: bool = True) -> Baseline:
    """`pick` over every baseline of `ds`."""
    return pick(baselines(ds, cache=cache))


def record(ds: data_lib.Dataset, found: list[Baseline] | None = None) -> dict:
    """The strongest baseline and the split it was fitted on: what a manifest entry stores.
    `found`: `ds`'s baselines when the caller already has them (default: `baselines(ds)`)."""
    best = strongest(ds) if found is None else pick(found)
    return {**best.to_dict(), "split_sha256": split_hash(ds)}
