"""Replaceable activations: exact GELU/ReLU, MPCFormer's quad, fitted minimax polynomials.

Every module sows its input as intermediates[<its path>]['input'] (calibration, range monitor).
"""
from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from polyzoo.nn import _choice as choice
from polyzoo.nn._choice import EXACT_LOOKUP, Choice, Cost, poly_cost, register
from polyzoo.nn._functions import EXACT, chebyshev_init, newton_reciprocal
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
    """A polynomial approximating `poly.fn`, evaluated by Clenshaw from Chebyshev coefficients
    (then refined by `poly.newton` Newton steps, reciprocals only, or squared `poly.squarings`
    times, exp only).

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
                             lambda: jnp.asarray(chebyshev_init(p.fn, p.degree, p.fit_interval)))
        interval = self.variable('approx', 'interval',
                                 lambda: jnp.asarray(p.interval, dtype=jnp.float32))
        if self.reference:
            return EXACT[p.fn](x)
        if p.clamp:
            x = jnp.clip(x, interval.value[0], interval.value[1])
        y = poly_eval(cheb.value, interval.value, x)  # chebeval, custom derivative
        for _ in range(p.squarings):  # the coefficients are those of fn(x / 2^k): Poly.fit_interval
            y = y * y
        return newton_reciprocal(x, y, p.newton) if p.newton else y


# The act choices ------------------------------------------------------------------------------

class _ExactAct(Choice):
    kind = 'act'

    def build(self, site, *, reference: bool = False, name: str | None = None) -> nn.Module:
        return Exact(site.choice, name=name)

    def cost(self, site, n):
        return EXACT_LOOKUP


@register
class GeluChoice(_ExactAct):
    name, summary = 'gelu', 'exact GELU (erf)'

    def exportable(self, site):
        return False  # erf: Concrete-ML's ONNX import takes no Erf

    def cost(self, site, n):
        return Cost(None, None, None)


@register
class ReluChoice(_ExactAct):
    name, summary = 'relu', 'exact ReLU'


@register
class QuadChoice(Choice):
    kind, name = 'act', 'quad'
    summary = "MPCFormer's quad 0.125x^2 + 0.25x + 0.5 (Li et al. ICLR 2023)"

    def build(self, site, *, reference=False, name=None):
        return Quad(name=name)

    def cost(self, site, n):
        return Cost(1, 1, 1)


@register
class PolyChoice(Choice):
    kind, name = 'act', 'poly'
    summary = 'fitted minimax polynomial of `poly.fn` on `poly.interval`'
    poly = 'required'

    def build(self, site, *, reference=False, name=None):
        return PolyFn(site.poly, reference=reference, name=name)

    def cost(self, site, n):
        return poly_cost(site.poly)


def make_activation(site: Site, *, reference: bool = False, name: str | None = None) -> nn.Module:
    """The activation module for an act Site."""
    return choice.get(site.choice, 'act').build(site, reference=reference, name=name)
