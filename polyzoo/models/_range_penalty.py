"""One site's range penalty (Zimerman et al. ICML 2024) with a hand-written backward.

    range_penalty(x, lo, hi) = mean(((x - clip(x, lo, hi)) / (hi - lo))^2)

Autodiff of the plain form keeps the excess arrays alive for the backward and materialises
them beside the forward; here the forward is one fused reduction over x and the backward
recomputes the excess from x, which the training step holds anyway (jax.custom_vjp). Same value
and gradients (x, lo and hi) as autodiff of `range_penalty_reference`
(tests/nn/test_perf_custom_grads.py).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _scaled_excess(x, lo, hi):
    """(distance of x outside [lo, hi]) / (hi - lo), signed: < 0 below lo, > 0 above hi."""
    return (x - jnp.clip(x, lo, hi)) * (1.0 / (hi - lo))


@jax.custom_vjp
def range_penalty(x, lo, hi):
    """x (...) float, lo, hi () -> mean((distance outside [lo, hi] / (hi - lo))^2), a ()."""
    u = _scaled_excess(x, lo, hi)
    return jnp.sum(u * u) * (1.0 / x.size)


def _fwd(x, lo, hi):
    p = range_penalty(x, lo, hi)
    return p, (x, lo, hi, p)


def _bwd(res, ct):
    x, lo, hi, p = res
    w = hi - lo
    u = _scaled_excess(x, lo, hi)
    k = 2.0 * ct / (x.size * w)  # d p / d u_i = 2 u_i / N, and d u_i / d x_i = 1 / w outside
    # u_i = e_i / w with w = hi - lo: d u_i / d lo = (-[x_i < lo] + u_i) / w,
    # d u_i / d hi = (-[x_i > hi] - u_i) / w
    ct_lo = -k * jnp.sum(jnp.minimum(u, 0.0)) + 2.0 * ct * p / w
    ct_hi = -k * jnp.sum(jnp.maximum(u, 0.0)) - 2.0 * ct * p / w
    return k * u, ct_lo, ct_hi


range_penalty.defvjp(_fwd, _bwd)


def range_penalty_reference(x, lo, hi):
    """The plain form of `range_penalty` (what its custom backward must differentiate)."""
    w = hi - lo
    return jnp.mean(jnp.square((jax.nn.relu(x - hi) + jax.nn.relu(lo - x)) / w))
