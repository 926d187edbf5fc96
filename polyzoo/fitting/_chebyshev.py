"""Chebyshev-series tools: Clenshaw and Horner evaluation (pure, traceable), basis conversion.

`chebeval` and `horner` are what models call inside `jax.jit` with coefficients as traced arrays:
they compute in the dtype of `x` (float32 in models), use only add/mul (so the jaxpr exports to
ONNX as plain arithmetic), and work under strict dtype promotion and rank promotion = raise.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import jax.numpy as jnp


def to_unit(x, interval):
    """Map x from [a, b] to t in [-1, 1] (dtype of x)."""
    interval = jnp.asarray(interval).astype(x.dtype)
    a, b = interval[0], interval[1]
    return (2 * x - (a + b)) / (b - a)


def clenshaw(cheb, t):
    """sum_k cheb[k] T_k(t) by Clenshaw's recurrence; cheb (n+1,), t any shape; dtype of t."""
    cheb = jnp.asarray(cheb).astype(t.dtype)
    n = cheb.shape[0] - 1
    if n == 0:
        return jnp.zeros_like(t) + cheb[0]
    b1 = jnp.zeros_like(t)  # b_{k+1}
    b2 = jnp.zeros_like(t)  # b_{k+2}
    two_t = 2 * t
    for k in range(n, 0, -1):
        b1, b2 = cheb[k] + two_t * b1 - b2, b1
    return cheb[0] + t * b1 - b2


def chebeval(cheb, interval, x):
    """Evaluate a Chebyshev series on `interval` at x: p(x) = sum_k cheb[k] T_k(t(x)).

    cheb (n+1,) coefficients on the interval mapped to [-1, 1] (as `MinimaxFit.cheb`);
    interval (2,); x any shape. Returns the dtype of x. Pure and traceable (Clenshaw).
    """
    x = jnp.asarray(x)
    return clenshaw(cheb, to_unit(x, interval))


def horner(power, x):
    """Evaluate sum_k power[k] x**k (low -> high) by Horner's rule in the dtype of x."""
    x = jnp.asarray(x)
    power = jnp.asarray(power).astype(x.dtype)
    acc = jnp.zeros_like(x) + power[-1]
    for k in range(power.shape[0] - 2, -1, -1):
        acc = acc * x + power[k]
    return acc


@functools.lru_cache(maxsize=64)
def _cheb_to_mono(n: int) -> np.ndarray:
    """(n+1, n+1) matrix M with monomial coeffs = M @ Chebyshev coeffs on [-1, 1]."""
    out = np.zeros((n + 1, n + 1))
    for k in range(n + 1):
        col = np.polynomial.chebyshev.cheb2poly(np.eye(n + 1)[k])
        out[: col.shape[0], k] = col
    return out


@functools.lru_cache(maxsize=64)
def _binomial(n: int) -> np.ndarray:
    """(n+1, n+1) Pascal matrix B[j, k] = C(j, k)."""
    return np.array([[math.comb(j, k) for k in range(n + 1)] for j in range(n + 1)], np.float64)


def cheb_to_power(cheb, interval) -> np.ndarray:
    """Monomial coefficients in x (low -> high) of a Chebyshev series on `interval` (numpy f64).

    cheb (..., n+1), interval (..., 2). Monomial coefficients grow quickly with the degree
    (the basis is ill-conditioned); prefer Chebyshev coefficients beyond degree ~20.
    """
    cheb = np.asarray(cheb, np.float64)
    interval = np.asarray(interval, np.float64)
    n = cheb.shape[-1] - 1
    d = cheb @ _cheb_to_mono(n).T  # (..., n+1) monomial coefficients in t
    mid = (interval[..., 0] + interval[..., 1]) / 2
    half = (interval[..., 1] - interval[..., 0]) / 2
    j = np.arange(n + 1)
    # t^j = ((x - mid) / half)^j = sum_k C(j, k) x^k (-mid)^(j-k) / half^j
    shift = np.power.outer(-mid, np.maximum(j[:, None] - j[None, :], 0))  # (..., j, k)
    terms = _binomial(n) * shift * np.tril(np.ones((n + 1, n + 1)))
    scaled = d / np.power.outer(half, j)  # (..., j)
    return np.einsum("...j,...jk->...k", scaled, terms)


def basis_matrix(t, degrees):
    """T_k(t) for k in `degrees` (static ints): t (P,) -> (P, len(degrees)), by recurrence."""
    top = int(max(degrees))
    cols = [jnp.ones_like(t), t]
    for _ in range(2, top + 1):
        cols.append(2 * t * cols[-1] - cols[-2])
    return jnp.stack([cols[k] for k in degrees], axis=1)
