"""Sums written as matrix products with a vector of ones.

XLA's CPU backend rewrites a large `reduce` into a tree of `reduce-window` ops (for accuracy),
and those run several times slower than a matrix-vector product over the same data: measured
on a (16, 64, 384) LayerNorm, 886 us of CPU time with `jnp.sum` against 152 us with `x @ ones`;
a (16, 12, 64, 64) softmax 4.1 ms against 1.3 ms. A dot keeps the forward and its autodiff
transpose (a broadcast) on fast paths. Results equal `jnp.sum`/`jnp.mean`/`jnp.max` up to
float32 rounding (tests/nn/test_perf_custom_grads.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def sum_last(x):
    """sum over the last axis, kept: x (..., H) -> (..., 1)."""
    ones = jnp.ones((x.shape[-1], 1), x.dtype)
    return jax.lax.dot_general(x, ones, (((x.ndim - 1,), (0,)), ((), ())))


def mean_last(x):
    """mean over the last axis, kept: x (..., H) -> (..., 1)."""
    return sum_last(x) * (1.0 / x.shape[-1])


def mean_leading(x):
    """mean over every axis but the last: x (..., H) -> (H,)."""
    rows = x.reshape(-1, x.shape[-1])  # (N, H)
    weights = jnp.full((rows.shape[0],), 1.0 / rows.shape[0], x.dtype)
    return jax.lax.dot_general(weights, rows, (((0,), (0,)), ((), ())))


def max_last(x):
    """max over the last axis, kept: x (..., L) -> (..., 1).

    Halves the axis with elementwise maxima while it is longer than 32 and even, so the
    final `reduce` is short enough to escape the reduce-window rewrite.
    """
    while x.shape[-1] > 32 and x.shape[-1] % 2 == 0:
        half = x.shape[-1] // 2
        x = jnp.maximum(x[..., :half], x[..., half:])
    return jnp.max(x, axis=-1, keepdims=True)
