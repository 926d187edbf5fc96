"""Evaluation: exact accuracy counts and out-of-range counts per polynomial site.

The same function computes the manifest's metrics and `polyzoo zoo eval`'s, with the same
batch size, so the latter reproduces the former exactly (integer counts, deterministic CPU).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from polyzoo.train import losses

EVAL_BATCH = 250


def _site_size(intermediates, site: str) -> int:
    """Number of values a site received (static)."""
    from polyzoo.models import site_inputs

    return int(np.prod(site_inputs(intermediates)[site].shape))


def evaluate(model, variables: dict, inputs: tuple[np.ndarray, ...], labels: np.ndarray, *,
             out_of_range: Callable | None = None, batch_size: int = EVAL_BATCH) -> dict:
    """{'accuracy', 'correct', 'n', 'out_of_range': {site: count}, 'out_of_range_total'}.

    out_of_range: (intermediates, variables) -> {site: int}, e.g. polyzoo.models.out_of_range;
    when given, the sites' inputs are collected and counted batch by batch.
    """
    def forward(variables, *xs):
        if out_of_range is None:
            return model.apply(variables, *xs, train=False), {}, {}
        logits, state = model.apply(variables, *xs, train=False, mutable=["intermediates"])
        counts = out_of_range(state["intermediates"], variables)
        return logits, {k: jnp.asarray(v, jnp.int32) for k, v in counts.items()}, \
            {k: _site_size(state["intermediates"], k) for k in counts}

    forward = jax.jit(forward)
    n = len(labels)
    correct, oor, values = 0, {}, 0
    for start in range(0, n, batch_size):
        xs = tuple(x[start:start + batch_size] for x in inputs)
        logits, counts, sizes = forward(variables, *xs)
        values += sum(int(v) for v in sizes.values())
        correct += int(losses.correct(logits, jnp.asarray(labels[start:start + batch_size])))
        for site, c in counts.items():
            oor[site] = oor.get(site, 0) + int(c)
    out = {"accuracy": correct / n, "correct": correct, "n": n}
    if out_of_range is not None:
        out["out_of_range"] = dict(sorted(oor.items()))
        out["out_of_range_total"] = int(sum(oor.values()))
        out["site_values"] = values  # inputs seen by all polynomial sites together
    return out
