"""Training-mode BatchNorm as one function with a hand-written backward (jax.custom_vjp).

Autodiff of the plain form leaves XLA's CPU backend column reductions of the gradient over the
batch, which it computes by transposing the incoming gradient together with every elementwise
op it can fuse into it: in the 4-layer vit-mini/7 training step (batch 128), fusions of up to
91 operands that re-derive the residual-stream gradient of all later layers while writing a
(64, 2048) transpose, about 21 ms of a 140 ms step's CPU time. The backward below takes the
two column sums it needs (of g and of g * xhat) as matrix-vector products, which read the
gradient in place; those fusions disappear.
Same values and gradients as autodiff of `batch_normalise_reference` up to float32 rounding
(tests/nn/test_perf_custom_grads.py).
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from polyzoo.nn._reduce import mean_leading


def _col_sum(rows):
    """rows (N, H) -> (1, H) sums over N, as ones @ rows."""
    ones = jnp.ones((1, rows.shape[0]), rows.dtype)
    return jax.lax.dot_general(ones, rows, (((1,), (0,)), ((), ())))


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def batch_normalise(x, scale, bias, eps: float):
    """x (N, H), scale (H,), bias (H,) -> (y (N, H), batch mean (H,), biased variance (H,)).

    y = (x - mean) / sqrt(var + eps) * scale + bias, statistics over the N rows.
    """
    return _forward(x, scale, bias, eps)[0]


def _forward(x, scale, bias, eps):
    m = mean_leading(x)  # (H,)
    xc = x - m.reshape(1, -1)
    v = mean_leading(xc * xc)
    r = jax.lax.rsqrt(v + eps)  # (H,)
    y = xc * (r * scale).reshape(1, -1) + bias.reshape(1, -1)
    return (y, m, v), (x, m, r, scale)


def _fwd(x, scale, bias, eps):
    return _forward(x, scale, bias, eps)


def _bwd(eps, res, cts):
    x, m, r, scale = res
    ct_y, ct_m, ct_v = cts
    n = x.shape[0]
    xc = x - m.reshape(1, -1)
    xhat = xc * r.reshape(1, -1)
    ct_bias = _col_sum(ct_y)  # (1, H)
    ct_scale = _col_sum(ct_y * xhat)  # (1, H)
    # d/dx of the normalised output (the standard BatchNorm backward), plus the statistics'
    # own outputs: mean = sum(x) / n, var = sum(xc^2) / n (sum(xc) = 0 removes d var / d mean).
    ct_x = ((r * scale).reshape(1, -1) * (ct_y - (ct_bias + xhat * ct_scale) * (1.0 / n))
            + (ct_m.reshape(1, -1) + 2.0 * ct_v.reshape(1, -1) * xc) * (1.0 / n))
    return ct_x, ct_scale.reshape(-1), ct_bias.reshape(-1)


batch_normalise.defvjp(_fwd, _bwd)


def batch_normalise_reference(x, scale, bias, eps: float):
    """The plain form of `batch_normalise` (what its custom backward must differentiate)."""
    m = jnp.mean(x, axis=0)
    xc = x - m.reshape(1, -1)
    v = jnp.mean(xc * xc, axis=0)
    y = xc * (jax.lax.rsqrt(v + eps) * scale).reshape(1, -1) + bias.reshape(1, -1)
    return y, m, v
