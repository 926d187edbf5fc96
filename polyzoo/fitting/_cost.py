"""Homomorphic cost of evaluating a polynomial: multiplicative depth and non-scalar products.

Only ciphertext x ciphertext products count; products by plaintext scalars are free.
"""
from __future__ import annotations

import math


def mult_depth(degree: int) -> int:
    """Minimal multiplicative depth for a degree-n polynomial: ceil(log2 n) (0 for n <= 1).

    Reached by depth-optimal baby-step giant-step evaluation in the Chebyshev basis
    (Bossuat et al., Eurocrypt 2021); x**n itself needs that many squarings.
    """
    degree = int(degree)
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    return 0 if degree <= 1 else math.ceil(math.log2(degree))


def nonscalar_mults(degree: int) -> int:
    """Non-scalar products of Paterson–Stockmeyer evaluation (1973), minimised over block size k.

    p(x) = sum_j B_j(x) * y**j with y = x**k and blocks B_j of degree < k: the baby steps
    x**2 .. x**k cost k - 1 products, Horner in y costs one product per block step (a final
    constant block B_m multiplies y by a scalar, which is free).
    """
    degree = int(degree)
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    if degree <= 1:
        return 0
    best = degree - 1  # Horner: x * (...) n - 1 times after the first scalar step
    for k in range(2, degree + 1):
        blocks = degree // k + 1  # B_0 .. B_{m}
        baby = k - 1 if blocks > 1 else degree - 1
        giant = blocks - 1 - (1 if degree % k == 0 and blocks > 1 else 0)
        best = min(best, baby + giant)
    return best


def composite_depth(degrees) -> int:
    """Depth of p_k o ... o p_1: the depths add up."""
    return sum(mult_depth(d) for d in degrees)
