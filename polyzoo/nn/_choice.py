"""One object per approximation choice: what a site computes, the polynomials it needs,
whether it exports to TFHE, and what it costs encrypted.

A `Site` names its choice (`Site('poly', poly=...)`); the choice itself is a subclass of
`Choice` registered with `@register` in the module of its kind: `_activations.py` (act),
`_attention.py` (softmax), `_norms.py` (norm). Adding a choice is one class there and its
test. Choice names are unique across kinds.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

from polyzoo._names import unknown
from polyzoo.fitting._cost import mult_depth, nonscalar_mults

KINDS = ('act', 'softmax', 'norm')


@dataclasses.dataclass(frozen=True)
class Cost:
    """Encrypted cost of a site per element of its output, for rows of n elements (the keys of
    an attention row, the features of a norm): work done once per row is divided by n.

    ckks_depth:    multiplicative depth (levels consumed);
    ckks_products: ciphertext x ciphertext products per element (plaintext products are free);
    tfhe_pbs:      programmable bootstraps per element: a univariate function of one encrypted
                   value is one table lookup, a product of two encrypted values two.
    None: the scheme cannot evaluate it as it stands (CKKS: not a polynomial; TFHE: not
    exportable).
    """
    ckks_depth: int | None
    ckks_products: float | None
    tfhe_pbs: float | None

    FREE: ClassVar['Cost']


Cost.FREE = Cost(0, 0, 0)


def add(a, b):
    """a + b, None when either is None (a cost the scheme cannot pay)."""
    return None if a is None or b is None else a + b


def poly_cost(poly) -> Cost:
    """A fitted polynomial: depth-optimal Chebyshev evaluation on CKKS (Bossuat et al. 2021),
    Paterson-Stockmeyer products, then two products and depth 2 per Newton step and one of
    each per squaring; one table lookup on TFHE (the whole univariate chain is one function of
    its input). A clamped polynomial is not a polynomial: TFHE only."""
    if poly.clamp:
        return Cost(None, None, 1)
    extra = 2 * poly.newton + poly.squarings
    return Cost(mult_depth(poly.degree) + extra, nonscalar_mults(poly.degree) + extra, 1)


EXACT_LOOKUP = Cost(None, None, 1)  # a non-polynomial univariate function: TFHE only


class Choice:
    """The behaviour of one approximation choice (a singleton per registered subclass).

    Class attributes: kind, name, summary (one line, citing the paper); poly / aux:
    'none', 'optional' or 'required' for the Site's main polynomial and its reciprocal
    polynomial; poly_module: the sub-module name the main polynomial lives under ('' = the
    site module itself).
    """
    kind: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    poly: ClassVar[str] = 'none'
    aux: ClassVar[str] = 'none'
    poly_module: ClassVar[str] = ''
    folds: ClassVar[bool] = False

    def validate(self, site, where: str) -> None:
        """Checks beyond the polynomials' presence (e.g. a parameter's range)."""

    def polys(self, site) -> dict:
        """The site's polynomials by sub-module name ('' = the site module itself)."""
        out = {}
        if site.poly is not None and self.poly != 'none':
            out[self.poly_module] = site.poly
        if site.aux is not None:
            out['recip'] = site.aux
        return out

    def exportable(self, site) -> bool:
        """True when the forward uses no exp, erf, sqrt or division by a traced value."""
        return True

    def cost(self, site, n: int) -> Cost:
        """Encrypted cost per output element, rows of n elements (see Cost)."""
        raise NotImplementedError


_REGISTRY: dict[str, Choice] = {}


def register(cls: type[Choice]) -> type[Choice]:
    """Class decorator: make `cls` the choice named cls.name."""
    if cls.kind not in KINDS:
        raise ValueError(f'{cls.__name__}: kind {cls.kind!r} is not one of {KINDS}')
    if cls.name in _REGISTRY:
        raise ValueError(f'two choices named {cls.name!r}: '
                         f'{type(_REGISTRY[cls.name]).__name__} and {cls.__name__}')
    _REGISTRY[cls.name] = cls()
    return cls


def _load() -> dict[str, Choice]:
    # The modules that register choices; imported here so that any use of a spec sees them.
    from polyzoo.nn import _activations, _attention, _norms  # noqa: F401
    return _REGISTRY


def choices(kind: str) -> dict[str, Choice]:
    """{name: Choice} of one site kind, in registration order."""
    return {n: c for n, c in _load().items() if c.kind == kind}


def get(name: str, kind: str | None = None, where: str = '') -> Choice:
    """The Choice named `name` (of `kind`, when given); a clear error listing the valid ones."""
    found = _load().get(name)
    if found is None or (kind is not None and found.kind != kind):
        prefix = f'{where}: ' if where else ''
        raise ValueError(prefix + unknown(f'{kind or "site"} choice', name,
                                          choices(kind) if kind else _load(), ordered=True))
    return found
