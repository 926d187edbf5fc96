"""Baselines at equal degree: Chebyshev interpolation and discrete least squares (float64).

The peers of numpy.polynomial.chebyshev.chebinterpolate and chebfit, written in JAX so they share
the functions and the interval-as-argument compile cache of the minimax kernel.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import jax
import jax.numpy as jnp

from polyzoo.fitting._chebyshev import basis_matrix, cheb_to_power
from polyzoo.fitting._functions import resolve
from polyzoo.fitting._minimax import check_degree, check_interval

ERROR_GRID = 20_001  # points (Chebyshev + uniform halves) on which max_error is measured


class BaselineFit(NamedTuple):
    """cheb (n+1,) on the interval mapped to [-1, 1]; power (n+1,); interval (2,);
    max_error: max |f - p| on a grid of ERROR_GRID points (a lower estimate of the sup)."""

    cheb: np.ndarray
    power: np.ndarray
    interval: np.ndarray
    max_error: np.ndarray


def _error_grid() -> np.ndarray:
    k = ERROR_GRID // 2
    return np.concatenate([np.cos(np.pi * np.arange(k) / (k - 1)), np.linspace(-1, 1, k + 1)])


@functools.lru_cache(maxsize=128)
def _interp_kernel(fn, degree: int):
    n1 = degree + 1
    nodes = np.cos(np.pi * (np.arange(n1) + 0.5) / n1)  # Chebyshev points of the first kind
    t_err = _error_grid()

    def kernel(interval):
        mid, half = (interval[0] + interval[1]) / 2, (interval[1] - interval[0]) / 2
        tn = jnp.asarray(nodes)
        vander = basis_matrix(tn, tuple(range(n1)))  # (n+1, n+1)
        cheb = (2.0 / n1) * (vander.T @ fn(mid + half * tn).astype(jnp.float64))
        cheb = cheb.at[0].multiply(0.5)
        te = jnp.asarray(t_err)
        err = fn(mid + half * te).astype(jnp.float64) - basis_matrix(te, tuple(range(n1))) @ cheb
        return cheb, jnp.max(jnp.abs(err))

    return jax.jit(kernel)


@functools.lru_cache(maxsize=128)
def _lstsq_kernel(fn, degree: int, samples: int):
    n1 = degree + 1
    t_err = _error_grid()

    def kernel(interval):
        mid, half = (interval[0] + interval[1]) / 2, (interval[1] - interval[0]) / 2
        ts = jnp.linspace(-1.0, 1.0, samples, dtype=jnp.float64)
        vander = basis_matrix(ts, tuple(range(n1)))  # (S, n+1)
        cheb = jnp.linalg.lstsq(vander, fn(mid + half * ts).astype(jnp.float64))[0]
        te = jnp.asarray(t_err)
        err = fn(mid + half * te).astype(jnp.float64) - basis_matrix(te, tuple(range(n1))) @ cheb
        return cheb, jnp.max(jnp.abs(err))

    return jax.jit(kernel)


def _run(kernel, interval) -> BaselineFit:
    from jax.experimental import enable_x64

    iv = check_interval(interval)
    if iv.ndim != 1:
        raise ValueError("baselines take one interval of shape (2,)")
    with enable_x64():
        cheb, err = (np.asarray(v) for v in kernel(iv))
    if not np.isfinite(err):
        raise ValueError(f"the function returns NaN or inf on {iv.tolist()}: change the interval")
    return BaselineFit(cheb, cheb_to_power(cheb, iv), iv, err)


def chebyshev_interpolation(fn, interval, degree: int) -> BaselineFit:
    """Interpolant at the n+1 Chebyshev points of the first kind (as numpy chebinterpolate)."""
    _, func = resolve(fn)
    return _run(_interp_kernel(func, check_degree(degree, None)), interval)


def least_squares(fn, interval, degree: int, *, samples: int | None = None) -> BaselineFit:
    """Discrete least squares on `samples` equispaced points (default 20 (n+1)), as chebfit."""
    _, func = resolve(fn)
    degree = check_degree(degree, None)
    samples = 20 * (degree + 1) if samples is None else int(samples)
    if samples < degree + 1:
        raise ValueError(f"least squares needs samples >= degree + 1 = {degree + 1}")
    return _run(_lstsq_kernel(func, degree, samples), interval)
