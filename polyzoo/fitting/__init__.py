"""polyzoo.fitting: jit-compiled minimax (Remez) fitting, Chebyshev tools, composite polynomials.

    fit = minimax("gelu", (-8.0, 8.0), 15)        # float64 inside, numpy float64 results
    y = chebeval(fit.cheb, fit.interval, x32)      # float32 Clenshaw, pure and traceable
    relu = composite_relu(2**-8, (15, 15, 27), bound=8.0)   # Lee et al.
    entry = library.get("gelu-d15")                # stored fits in the top-level fitting/
"""
from polyzoo.fitting._baselines import BaselineFit, chebyshev_interpolation, least_squares
from polyzoo.fitting._chebyshev import cheb_to_power, chebeval, clenshaw, horner
from polyzoo.fitting._composite import (
    CompositeReLU,
    CompositeSign,
    composite_relu,
    composite_sign,
)
from polyzoo.fitting._cost import composite_depth, mult_depth, nonscalar_mults
from polyzoo.fitting._functions import FUNCTIONS, KINKS
from polyzoo.fitting._functions import resolve as resolve_function
from polyzoo.fitting._minimax import MAX_DEGREE, MinimaxFit, minimax

__all__ = [
    "FUNCTIONS", "resolve_function",
    "KINKS",
    "MAX_DEGREE",
    "BaselineFit",
    "CompositeReLU",
    "CompositeSign",
    "MinimaxFit",
    "cheb_to_power",
    "chebeval",
    "chebyshev_interpolation",
    "clenshaw",
    "composite_depth",
    "composite_relu",
    "composite_sign",
    "horner",
    "least_squares",
    "minimax",
    "mult_depth",
    "nonscalar_mults",
]
