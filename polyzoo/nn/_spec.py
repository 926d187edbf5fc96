"""Approximation specs: plain frozen data saying which form each nonlinearity site takes.

A model has three kinds of sites (see `site_kind`):

    act      'layer_i/mlp/act', 'stem/act'     the MLP (and a ViT stem's) activation
    softmax  'layer_i/attn/softmax'            the attention-score normaliser
    norm     'layer_i/norm1', 'layer_i/norm2', 'final_norm'

An `ApproxSpec` gives one `Site` per kind (the default) and optional per-site overrides keyed by
site name. A `Site` names a choice and, where the choice is polynomial, the `Poly` (function
approximated, degree, interval) it uses. Specs serialise to JSON and back unchanged.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Mapping

from polyzoo._names import unknown
from polyzoo.nn import _choice
from polyzoo.nn._functions import EXACT

MAX_NEWTON = 4  # each step squares the relative error: 4 take 30% to float32 precision
MAX_SQUARINGS = 4  # exp(x) = exp(x / 16)^16: the fitted exponent range shrinks 16-fold
# Fitted with relative error unless a Poly says otherwise: their values span orders of
# magnitude on an interval, and what follows them (a product, a normaliser) scales with them.
RELATIVE_BY_DEFAULT = ('exp', 'reciprocal', 'rsqrt')
# Defined for positive inputs only: a Poly of one needs, and calibration keeps, lo > 0.
POSITIVE_DOMAIN = ('reciprocal', 'rsqrt')
POLY_FUNCTIONS = tuple(EXACT)
"""The functions a `Poly` may approximate: those nn computes exactly (`EXACT`), each also a
`polyzoo.fitting.FUNCTIONS` name (a test checks)."""


def site_kind(site: str) -> str:
    """'act', 'softmax' or 'norm' from a site name such as 'layer_0/mlp/act'."""
    leaf = site.rsplit('/', 1)[-1]
    if leaf == 'act' and (site.endswith('mlp/act') or site == 'stem/act'):
        return 'act'
    if leaf == 'softmax':
        return 'softmax'
    if leaf.startswith('norm') or leaf == 'final_norm':
        return 'norm'
    raise ValueError(f'{site!r} is not a site name: sites end in mlp/act, attn/softmax, norm1, '
                     'norm2 or final_norm, or are stem/act')


@dataclasses.dataclass(frozen=True)
class Poly:
    """A polynomial of `degree` approximating `fn` on `interval` (refitted by calibration).

    newton: Newton steps refining a reciprocal's polynomial guess, r <- r (2 - x r), each
    squaring its relative error (Goldschmidt; the polynomial-guess-then-Newton scheme of Panda,
    CSCML 2022). Reciprocal only: a LayerNorm's rsqrt takes its steps from the `poly_rsqrt`
    site's `param`.

    relative: fit (and judge) the error relative to |fn| instead of absolute; None: the
    function's default (`RELATIVE_BY_DEFAULT`). An exp whose scores span tens of units cannot
    be resolved with relative error at a useful degree in float64, and softmax only needs it
    small against each row's largest term: `Poly('exp', 24, iv, relative=False)`.

    squarings: exp only: evaluate exp(x) = exp(x / 2^k)^(2^k) as p(x)^(2^k), p fitted to
    exp(x / 2^k) on `interval` (scaling and squaring, Moler & Van Loan, SIAM Review 2003;
    (1 + x / 2^k)^(2^k) is its degree-1 case). The result is never negative, so a
    softmax normaliser's row sums stay positive wherever the input lands, and the exponent
    range the fit must resolve shrinks 2^k-fold: over scores spanning [-27, 13], a relative
    degree-24 fit fails in float64 at k = 0 and 1 and reaches 1.4e-12 at k = 2 (measured).

    clamp: evaluate at the nearest end of `interval` outside it. Under TFHE the polynomial is
    one table lookup whatever it computes, so clamping costs nothing and keeps the table's
    entries beyond the calibrated range bounded (polynomial exp does not compile without it at
    the zoo's grids, measured); not a polynomial, so no CKKS form.
    """
    fn: str
    degree: int
    interval: tuple[float, float]
    newton: int = 0
    relative: bool | None = None
    squarings: int = 0
    clamp: bool = False

    def __post_init__(self):
        if self.fn not in POLY_FUNCTIONS:
            raise ValueError(unknown('polynomial target', self.fn, POLY_FUNCTIONS, ordered=True))
        if not isinstance(self.degree, int) or self.degree < 1:
            raise ValueError(f'polynomial degree must be a positive int, got {self.degree!r}')
        lo, hi = (float(v) for v in self.interval)
        if not lo < hi:
            raise ValueError(f'polynomial interval must have lo < hi, got {self.interval!r}')
        if self.positive_domain and lo <= 0:
            raise ValueError(f'{self.fn} needs a positive interval, got {self.interval!r}')
        object.__setattr__(self, 'interval', (lo, hi))
        if not isinstance(self.newton, int) or not 0 <= self.newton <= MAX_NEWTON:
            raise ValueError(f'Poly newton is a step count in 0..{MAX_NEWTON}, got {self.newton!r}')
        if self.relative is not None and not isinstance(self.relative, bool):
            raise ValueError(f'Poly relative is True, False or None, got {self.relative!r}')
        if self.newton and self.fn != 'reciprocal':
            raise ValueError(f'Newton steps are for a reciprocal Poly, not {self.fn!r} (a '
                             "LayerNorm's rsqrt takes them from its poly_rsqrt site's param)")
        if not isinstance(self.squarings, int) or not 0 <= self.squarings <= MAX_SQUARINGS:
            raise ValueError(f'Poly squarings is a count in 0..{MAX_SQUARINGS}, '
                             f'got {self.squarings!r}')
        if not isinstance(self.clamp, bool):
            raise ValueError(f'Poly clamp is True or False, got {self.clamp!r}')
        if self.squarings and self.fn != 'exp':
            raise ValueError(f'squarings are for an exp Poly (exp(x) = exp(x/2^k)^(2^k)), '
                             f'not {self.fn!r}')

    def __repr__(self) -> str:
        # squarings and clamp left out at their defaults: recipe digests (a repr of their
        # stages, see polyzoo.zoo.training.claimed_run_dir) written before they existed stay valid
        shown = [f for f in dataclasses.fields(self)
                 if f.name not in ('squarings', 'clamp') or getattr(self, f.name)]
        return f'Poly({", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in shown)})'

    @property
    def fit_interval(self) -> tuple[float, float]:
        """Where the fitted polynomial's target fn is evaluated: `interval` / 2^squarings.
        Its Chebyshev coefficients on that interval are those of fn(x / 2^k) on `interval`."""
        scale = 2.0 ** -self.squarings
        return (self.interval[0] * scale, self.interval[1] * scale)

    @property
    def fit_relative(self) -> bool:
        """Whether the fit minimises relative error (`relative`, else the function's default)."""
        return self.fn in RELATIVE_BY_DEFAULT if self.relative is None else self.relative

    @property
    def positive_domain(self) -> bool:
        """Whether the function is defined for positive inputs only (its interval's lo > 0)."""
        return self.fn in POSITIVE_DOMAIN


@dataclasses.dataclass(frozen=True)
class Site:
    """One site's form: the name of a registered choice (see nn.choices), its polynomials and
    its parameter.

    fn:    the exact activation of 'pointwise' attention when `poly` is None ('relu' or 'gelu').
    poly:  the main polynomial ('poly' act, 'pointwise' act, 'polyexp' exp, 'poly_rsqrt' rsqrt).
    aux:   polynomial reciprocal of the normaliser ('2quad', 'power', 'polyexp'); None = exact
           division (not exportable to TFHE).
    param: 2Quad's shift c, power-softmax's exponent p.
    """
    choice: str
    poly: Poly | None = None
    aux: Poly | None = None
    fn: str = 'relu'
    param: float = 0.0

    def check(self, kind: str, where: str) -> None:
        """Raise ValueError, naming `where`, unless this is a valid Site of `kind`."""
        choice = _choice.get(self.choice, kind, where)
        if choice.poly == 'required' and self.poly is None:
            raise ValueError(f'{where}: choice {self.choice!r} needs `poly` (fn, degree, interval)')
        if choice.aux == 'required' and self.aux is None:
            raise ValueError(f'{where}: choice {self.choice!r} needs `aux` (a reciprocal polynomial)')
        if self.aux is not None and choice.aux == 'none':
            raise ValueError(f'{where}: choice {self.choice!r} takes no `aux` polynomial')
        if self.aux is not None and self.aux.fn != 'reciprocal':
            raise ValueError(f'{where}: `aux` must approximate "reciprocal", not {self.aux.fn!r}')
        choice.validate(self, where)

    @property
    def behaviour(self) -> '_choice.Choice':
        """The Choice object this site names (its computation, polynomials, export, cost)."""
        return _choice.get(self.choice)

    def polys(self) -> dict[str, Poly]:
        """The polynomials of this site by sub-module name ('' = the site module itself)."""
        return self.behaviour.polys(self)

    @property
    def exportable(self) -> bool:
        """True when the forward uses no exp, erf, sqrt or division by a traced value."""
        return self.behaviour.exportable(self)

    def cost(self, n: int) -> '_choice.Cost':
        """Encrypted cost per output element, for rows of n elements (see nn.Cost)."""
        return self.behaviour.cost(self, n)

    # JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ('poly', 'aux'):
            if d[k] is not None:
                d[k]['interval'] = list(d[k]['interval'])
                if not d[k]['newton']:  # the JSON of specs left at the defaults is unchanged
                    del d[k]['newton']
                if d[k]['relative'] is None:
                    del d[k]['relative']
                if not d[k]['squarings']:
                    del d[k]['squarings']
                if not d[k]['clamp']:
                    del d[k]['clamp']
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> 'Site':
        d = dict(d)
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f'unknown Site fields {sorted(unknown)}')
        for k in ('poly', 'aux'):
            if d.get(k) is not None:
                p = dict(d[k])
                d[k] = Poly(p['fn'], int(p['degree']), tuple(p['interval']),
                            int(p.get('newton', 0)), p.get('relative'),
                            int(p.get('squarings', 0)), bool(p.get('clamp', False)))
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class ApproxSpec:
    """Which form every nonlinearity site of a model takes (plain data, JSON round-trip).

    act, softmax, norm: the default `Site` of each kind.
    overrides: ((site name, Site), ...) for individual sites, e.g. ('final_norm', Site('layernorm')).
    """
    act: Site = Site('gelu')
    softmax: Site = Site('softmax')
    norm: Site = Site('layernorm')
    overrides: tuple[tuple[str, Site], ...] = ()
    name: str = 'custom'

    def __post_init__(self):
        for kind in ('act', 'softmax', 'norm'):
            getattr(self, kind).check(kind, f'spec {self.name!r} default {kind}')
        if isinstance(self.overrides, Mapping):
            object.__setattr__(self, 'overrides', tuple(sorted(self.overrides.items())))
        names = [n for n, _ in self.overrides]
        if len(set(names)) != len(names):
            raise ValueError(f'spec {self.name!r} overrides a site twice: {names}')
        for site, s in self.overrides:
            s.check(site_kind(site), f'spec {self.name!r} site {site!r}')

    def site(self, name: str) -> Site:
        """The Site used at `name` (its override, else the default of its kind)."""
        for n, s in self.overrides:
            if n == name:
                return s
        return getattr(self, site_kind(name))

    def check_sites(self, model_sites) -> None:
        """Raise when an override names a site the model does not have."""
        model_sites = list(model_sites)
        missing = [n for n, _ in self.overrides if n not in model_sites]
        if missing:
            raise ValueError(f'spec {self.name!r} names sites the model does not have: {missing}; '
                             f'the model has: {", ".join(model_sites)}')

    def with_overrides(self, sites: Mapping[str, Site]) -> 'ApproxSpec':
        """A copy with `sites` ({site name: Site}) added to (or replacing) the overrides."""
        merged = dict(self.overrides)
        merged.update(sites)
        return dataclasses.replace(self, overrides=tuple(sorted(merged.items())))

    def replace(self, **changes) -> 'ApproxSpec':
        return dataclasses.replace(self, **changes)

    def exportable(self, model_sites) -> bool:
        """True when every site of the model uses a TFHE-exportable form."""
        return all(self.site(n).exportable for n in model_sites)

    # JSON ------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {'name': self.name, 'act': self.act.to_dict(), 'softmax': self.softmax.to_dict(),
                'norm': self.norm.to_dict(),
                'overrides': {n: s.to_dict() for n, s in self.overrides}}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> 'ApproxSpec':
        unknown = set(d) - {'name', 'act', 'softmax', 'norm', 'overrides'}
        if unknown:
            raise ValueError(f'unknown ApproxSpec fields {sorted(unknown)}')
        return cls(act=Site.from_dict(d['act']), softmax=Site.from_dict(d['softmax']),
                   norm=Site.from_dict(d['norm']),
                   overrides=tuple(sorted((n, Site.from_dict(s))
                                          for n, s in d.get('overrides', {}).items())),
                   name=d.get('name', 'custom'))

    @classmethod
    def from_json(cls, text: str) -> 'ApproxSpec':
        return cls.from_dict(json.loads(text))
