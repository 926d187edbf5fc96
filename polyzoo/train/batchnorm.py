"""Precise BatchNorm statistics (Wu & Johnson 2021): re-estimate the running mean/var.

The running averages kept during training follow the weights as they move, and a single
batch whose polynomial site left its interval (a polynomial explodes outside it) can poison
them for hundreds of steps. After training, the statistics are re-estimated with the final
weights from many training batches (deeper layers normalised as in training): per feature,
the median over batches of each batch's mean and variance, so that a rare exploding batch
cannot move them (a batch whose statistic is not finite is left out of the median).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def precise_batch_stats(model, variables: dict, inputs: tuple[np.ndarray, ...], *,
                        batches: int = 32, batch_size: int = 256, momentum: float = 0.9) -> dict:
    """`variables` with 'batch_stats' replaced by medians of per-batch statistics.

    momentum must be the BatchNorm modules' (polyzoo.nn.BatchNorm: 0.9): with the running
    value zeroed, one training-mode update leaves (1 - momentum) x the batch statistic.
    """
    if "batch_stats" not in variables:
        return variables
    zeros = jax.tree.map(jnp.zeros_like, variables["batch_stats"])

    @jax.jit
    def batch_stats(variables, *xs):
        _, upd = model.apply({**variables, "batch_stats": zeros}, *xs, train=True,
                             mutable=["batch_stats"])
        return jax.tree.map(lambda s: s / (1.0 - momentum), upd["batch_stats"])

    n = min(batches, len(inputs[0]) // batch_size)
    if n < 1:
        raise ValueError(f"need at least {batch_size} examples to re-estimate BatchNorm "
                         f"statistics, got {len(inputs[0])}")
    per_batch = [jax.device_get(batch_stats(variables, *(x[i * batch_size:(i + 1) * batch_size]
                                                          for x in inputs))) for i in range(n)]

    def median(path, *stats):
        s = np.stack(stats)
        s = np.where(np.isfinite(s), s, np.nan)  # an overflowing batch is left out, not voted
        if np.isnan(s).all(axis=0).any():
            raise ValueError(
                f"BatchNorm {jax.tree_util.keystr(path)}: no training batch gave a finite "
                f"statistic ({n} batches): the forward overflows before this layer (a "
                "polynomial evaluated off its interval); widen the intervals of the sites "
                "before it or calibrate with polynomial passes")
        return np.nanmedian(s, axis=0).astype(np.float32)

    stats = jax.tree_util.tree_map_with_path(median, *per_batch)
    return {**variables, "batch_stats": stats}
