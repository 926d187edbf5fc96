"""Composite minimax polynomials for sign and ReLU (Lee et al., "Minimax approximation of sign
function by composite polynomial for homomorphic comparison", IEEE TDSC 2021; "High-precision
bootstrapping ... ReLU", Lee et al. 2021): sign on [-1, -eps] U [eps, 1] as p_k o ... o p_1 with
odd minimax polynomials, ReLU(x) = x (1 + sign(x)) / 2.

Stage 1 is the odd minimax fit of sign on [eps, 1]; its values lie in [1 - E_1, 1 + E_1], so
stage i + 1 fits sign on [1 - E_i, 1 + E_i] (gap (1 - E_i) / (1 + E_i)), and so on. The final
error is E_k; the depth is the sum of the stages' depths (+1 for ReLU's product with x).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import jax.numpy as jnp

from polyzoo.fitting._chebyshev import chebeval
from polyzoo.fitting._cost import mult_depth, nonscalar_mults
from polyzoo.fitting._minimax import MinimaxFit, minimax

DEFAULT_DEGREES = (15, 15, 27)


class CompositeSign(NamedTuple):
    """stages: odd MinimaxFits, applied first to last; eps: the gap; max_error: max |c(x) -
    sign(x)| on [-1, -eps] U [eps, 1] measured on a dense grid; bound: E_k, the error the
    construction guarantees; depth, nonscalar_mults: totals over the stages."""

    stages: tuple
    eps: float
    max_error: float
    bound: float
    depth: int
    nonscalar_mults: int

    def __call__(self, x):
        """Evaluate the composition at x (dtype of x; pure, traceable)."""
        for st in self.stages:
            x = chebeval(st.cheb, st.interval, x)
        return x


class CompositeReLU(NamedTuple):
    """ReLU on [-bound, bound] as x (1 + sign(x / bound)) / 2; max_error measured on a dense grid
    of the whole interval (inside the gap |x| < eps * bound the error is up to ~eps * bound)."""

    sign: CompositeSign
    bound: float
    max_error: float
    depth: int
    nonscalar_mults: int

    def __call__(self, x):
        x = jnp.asarray(x)
        s = self.sign(x / jnp.asarray(self.bound, x.dtype))
        return x * (1 + s) / 2


def _check(eps, degrees):
    if not (isinstance(eps, (int, float, np.floating)) and 0 < float(eps) < 1):
        raise ValueError(f"eps must be in (0, 1), got {eps!r}: it is the gap around 0")
    degrees = tuple(int(d) for d in degrees)
    if not degrees or any(d < 1 or d % 2 == 0 for d in degrees):
        raise ValueError(f"composite degrees must be odd and >= 1, got {degrees}")
    return float(eps), degrees


def _compose_numpy(stages, x):
    for st in stages:
        a, b = st.interval
        x = np.polynomial.chebyshev.chebval((2 * x - (a + b)) / (b - a), st.cheb)
    return x


def composite_sign(eps: float, degrees=DEFAULT_DEGREES) -> CompositeSign:
    """sign on [-1, -eps] U [eps, 1] as a composition of odd minimax polynomials."""
    eps, degrees = _check(eps, degrees)
    stages: list[MinimaxFit] = []
    lo, hi = eps, 1.0
    for d in degrees:
        fit = minimax("sign", (-hi, hi), d, parity="odd", gap=lo / hi)
        stages.append(fit)
        err = float(fit.max_error)
        lo, hi = 1 - err, 1 + err
    x = np.concatenate([np.geomspace(eps, 1, 100_001), np.linspace(eps, 1, 100_001)])
    measured = float(np.max(np.abs(_compose_numpy(stages, x) - 1)))  # odd: x > 0 suffices
    return CompositeSign(
        stages=tuple(stages),
        eps=eps,
        max_error=measured,
        bound=float(stages[-1].max_error),
        depth=sum(mult_depth(d) for d in degrees),
        nonscalar_mults=sum(nonscalar_mults(d) for d in degrees),
    )


def composite_relu(eps: float, degrees=DEFAULT_DEGREES, *, bound: float = 1.0) -> CompositeReLU:
    """ReLU on [-bound, bound] as x (1 + sign(x / bound)) / 2 with `composite_sign`."""
    if not (np.isfinite(bound) and bound > 0):
        raise ValueError(f"bound must be a positive number, got {bound!r}")
    sign = composite_sign(eps, degrees)
    x = np.linspace(-bound, bound, 400_001)
    relu = x * (1 + _compose_numpy(sign.stages, x / bound)) / 2
    measured = float(np.max(np.abs(relu - np.maximum(x, 0))))
    return CompositeReLU(
        sign=sign,
        bound=float(bound),
        max_error=measured,
        depth=sign.depth + 1,
        nonscalar_mults=sign.nonscalar_mults + 1,
    )
