"""Replaceable activations: exact GELU/ReLU, MPCFormer's quad, fitted minimax polynomials.

Every module sows its input as intermediates[<its path>]['input'] (calibration, range monitor).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from polyzoo.nn._functions import EXACT, chebyshev_init
from polyzoo.nn._poly_eval import poly_eval
from polyzoo.nn._spec import Poly, Site


def sow_input(module: nn.Module, x: jnp.ndarray) -> None:
    module.sow('intermediates', 'input', x)


class Exact(nn.Module):
    """The exact function `fn` (a key of EXACT)."""
    fn: str

    @nn.compact
    def __call__(self, x):
        sow_input(self, x)
        return EXACT[self.fn](x)


class Quad(nn.Module):
    """MPCFormer's GELU replacement 0.125x^2 + 0.25x + 0.5 (Li et al. ICLR 2023)."""

    @nn.compact
    def __call__(self, x):
        sow_input(self, x)
        return 0.125 * x * x + 0.25 * x + 0.5


class PolyFn(nn.Module):
    """A polynomial approximating `poly.fn`, evaluated by Clenshaw from Chebyshev coefficients.

    The coefficients and interval live in the 'approx' collection (arrays), so calibration can
    refit them without recompiling. reference=True evaluates the exact function instead (used to
    calibrate, and to train with exact functions plus a range loss as Zimerman et al. ICML 2024).
    """
    poly: Poly
    reference: bool = False

    @nn.compact
    def __call__(self, x):
        sow_input(self, x)
        p = self.poly
        cheb = self.variable('approx', 'cheb',
                             lambda: jnp.asarray(chebyshev_init(p.fn, p.degree, p.interval)))
        interval = self.variable('approx', 'interval',
                                 lambda: jnp.asarray(p.interval, dtype=jnp.float32))
        if self.reference:
            return EXACT[p.fn](x)
        return poly_eval(cheb.value, interval.value, x)  # chebeval, custom derivative


def make_activation(site: Site, *, reference: bool = False, name: str | None = None) -> nn.Module:
    """The activation module for an act Site ('gelu', 'relu', 'quad' or 'poly')."""
    if site.choice in ('gelu', 'relu'):
        return Exact(site.choice, name=name)
    if site.choice == 'quad':
        return Quad(name=name)
    if site.choice == 'poly':
        return PolyFn(site.poly, reference=reference, name=name)
    raise ValueError(f'{site.choice!r} is not an activation choice (gelu, relu, quad, poly)')
