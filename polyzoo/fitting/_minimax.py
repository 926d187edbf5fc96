"""`minimax`: the host-side wrapper around the compiled Remez kernel (checks, float64, results).

Float64 lives only inside the fit: the kernel runs under `jax.experimental.enable_x64()` and the
results come back as numpy float64 arrays, so the caller's `jax_enable_x64` flag and float32
models are untouched. Cast `fit.cheb` to float32 (or pass it to `chebeval`) to use a fit in a model.
"""
from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import numpy as np

from polyzoo.fitting import _remez
from polyzoo.fitting._chebyshev import cheb_to_power
from polyzoo.fitting._cost import mult_depth, nonscalar_mults
from polyzoo.fitting._functions import KINKS, resolve

MAX_DEGREE = 255
"""The highest degree `minimax` fits (the fixed fitting grid resolves no more)."""
PARITIES = (None, "even", "odd")


class MinimaxFit(NamedTuple):
    """Result of `minimax` (a pytree; leading batch dims follow the interval).

    cheb (..., n+1): Chebyshev coefficients of p on the interval mapped to [-1, 1].
    power (..., n+1): monomial coefficients in x, low -> high.
    interval (..., 2); max_error: max |w (f - p)| found on the dense grid after refinement;
    levelled_error: |h| of the last linear solve; reference (..., n_ref): alternation points
    (x); certificate = max_error / lower_bound >= 1 (1 = optimal); lower_bound: de la Vallee
    Poussin bound min |e| at the alternating reference, so lower_bound <= E_n(f) <= max_error;
    certificate is inf when the error is at float64 rounding and no alternation is resolved
    (e.g. f is numerically a polynomial of degree <= n); noise: the rounding unit of w (f - p)
    (a gap max_error - lower_bound below ~64 noise cannot be resolved in float64).
    """

    cheb: np.ndarray
    power: np.ndarray
    interval: np.ndarray
    max_error: np.ndarray
    levelled_error: np.ndarray
    reference: np.ndarray
    iterations: np.ndarray
    certificate: np.ndarray
    lower_bound: np.ndarray
    converged: np.ndarray
    noise: np.ndarray

    @property
    def degree(self) -> int:
        return self.cheb.shape[-1] - 1

    @property
    def depth(self) -> int:
        return mult_depth(self.degree)

    @property
    def nonscalar_mults(self) -> int:
        return nonscalar_mults(self.degree)

    def __call__(self, x):
        """Evaluate p at x (dtype of x) with Clenshaw; unbatched fits only."""
        from polyzoo.fitting._chebyshev import chebeval

        if self.cheb.ndim != 1:
            raise ValueError("evaluate a batched fit one entry at a time: fit_i = tree_map(...)")
        return chebeval(self.cheb, self.interval, x)


def check_interval(interval) -> np.ndarray:
    arr = np.asarray(interval, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[-1] != 2:
        raise ValueError(f"interval must have shape (2,) or (B, 2), got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError("interval batch is empty: pass at least one [a, b] pair")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"interval must be finite, got {arr.tolist()}: give finite bounds a < b")
    bad = ~(arr[..., 0] < arr[..., 1])
    if np.any(bad):
        a, b = arr.reshape(-1, 2)[np.argmax(bad.reshape(-1))]
        what = "empty" if a == b else "reversed"
        raise ValueError(f"interval [{a:g}, {b:g}] is {what}: give bounds with a < b")
    return arr


def check_degree(degree, parity) -> int:
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)):
        raise ValueError(f"degree must be an integer, got {degree!r}")
    degree = int(degree)
    if degree < 0:
        raise ValueError(f"degree must be >= 0, got {degree}")
    if degree > MAX_DEGREE:
        raise ValueError(
            f"degree {degree} is too high for the fitting grid (max {MAX_DEGREE}): "
            "lower the degree or split the interval"
        )
    if parity == "odd" and degree < 1:
        raise ValueError("an odd fit needs degree >= 1")
    return degree


def _spec(fn, degree, parity, relative, max_iter, grid_size, breakpoints=(), with_params=False):
    if parity not in PARITIES:
        raise ValueError(f"parity must be None, 'even' or 'odd', got {parity!r}")
    degree = check_degree(degree, parity)
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    n_unk = len(_remez.basis_degrees(degree, parity))
    if grid_size is None:
        grid_size = _remez.default_grid_size(n_unk)
    grid_size = int(grid_size) | 1  # odd, so a symmetric grid contains 0
    if grid_size < 8 * n_unk + 1:
        raise ValueError(
            f"grid_size {grid_size} is too small for degree {degree}: use at least "
            f"{8 * n_unk + 1} (default {_remez.default_grid_size(n_unk)})"
        )
    return _remez.KernelSpec(
        fn, degree, parity, bool(relative), grid_size, int(max_iter), tuple(breakpoints),
        with_params,
    )


def minimax(
    fn,
    interval,
    degree: int,
    *,
    relative: bool = False,
    parity: str | None = None,
    gap: float = 0.0,
    max_iter: int = 60,
    tol: float = 1e-12,
    grid_size: int | None = None,
    breakpoints=None,
    params=None,
    warn: bool = True,
) -> MinimaxFit:
    """Best uniform polynomial approximation of `fn` on `interval` (Remez exchange, float64).

    fn: a FUNCTIONS name, 'module:function' or a jnp callable (keep it a module-level function:
    the compiled kernel is cached per function object). interval: (2,) or (B, 2) for a batch
    fitted by one vmapped compile. relative: minimise max |(f - p) / f| (f must not vanish).
    parity 'even'/'odd': fit with T_0, T_2, .. or T_1, T_3, .. on an interval symmetric about 0
    (f must have that symmetry); gap in [0, 1) excludes |x| < gap * b (used for sign). tol: stop
    when certificate - 1 <= tol (or at the float64 noise floor); max_iter caps the exchange.
    breakpoints: x where f has a kink (an error extremum the refinement cannot locate); the
    built-ins abs, relu and sign declare 0 themselves. params (P,) or (B, P): fit the family
    fn(x, params_row), traced, so a batch of B functions is one vmapped compile (and a new
    batch of parameters does not recompile); it broadcasts against a batch of intervals.
    A fit that does not converge warns (and reports converged=False).
    """
    from jax.experimental import enable_x64

    name, func = resolve(fn)
    if breakpoints is None:
        breakpoints = KINKS.get(fn, ()) if isinstance(fn, str) else ()
    breakpoints = tuple(float(x) for x in np.asarray(breakpoints, np.float64).reshape(-1))
    if not all(math.isfinite(x) for x in breakpoints):
        raise ValueError(f"breakpoints must be finite, got {breakpoints}")
    spec = _spec(func, degree, parity, relative, max_iter, grid_size, breakpoints,
                 params is not None)
    iv = check_interval(interval)
    pr = np.zeros((0,)) if params is None else np.asarray(params, np.float64)
    if pr.ndim == 0:
        pr = pr.reshape(1)
    if pr.ndim > 2 or not np.all(np.isfinite(pr)):
        raise ValueError(f"params must be a finite array of shape (P,) or (B, P), got {pr.shape}")
    if pr.ndim == 2 and iv.ndim == 2 and pr.shape[0] != iv.shape[0]:
        raise ValueError(f"{iv.shape[0]} intervals but {pr.shape[0]} parameter rows: give one "
                         "interval, or as many intervals as parameter rows")
    if pr.ndim == 2 and iv.ndim == 1:
        iv = np.broadcast_to(iv, (pr.shape[0], 2)).copy()
    if parity is not None:
        sym = np.abs(iv[..., 0] + iv[..., 1]) <= 1e-12 * np.abs(iv).max(axis=-1)
        if not np.all(sym):
            raise ValueError(
                f"parity {parity!r} needs an interval symmetric about 0 like [-b, b], "
                f"got {iv.tolist()}: drop parity or use [-b, b]"
            )
        iv = np.stack([-iv[..., 1], iv[..., 1]], axis=-1)
    gap = float(gap)
    if not (0.0 <= gap < 1.0) or (gap > 0 and parity is None):
        raise ValueError(f"gap must be in [0, 1) and needs a parity, got gap={gap} parity={parity}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")

    kernel = _remez.compiled_kernel(spec, iv.ndim == 2, pr.ndim == 2)
    with enable_x64():
        try:
            out = kernel(iv, np.float64(gap), np.float64(tol), pr)
        except ValueError:
            raise
        except Exception as err:  # a user function that JAX cannot trace
            raise ValueError(
                f"{name} cannot be evaluated as a JAX function of an array "
                f"({type(err).__name__}: {str(err).splitlines()[0]}): write it with jax.numpy "
                "operations, elementwise, array in -> array out"
            ) from None
        out = {k: np.asarray(v) for k, v in out.items()}

    def where(bad) -> str:
        """'name on [a, b]' for the first offending entry (and its index in a batch)."""
        bad = np.reshape(bad, -1)
        i = int(np.argmax(bad))
        a, b = np.reshape(iv, (-1, 2))[i]
        entry = f" (batch entry {i} of {bad.shape[0]})" if iv.ndim == 2 or pr.ndim == 2 else ""
        return f"{name} on [{a:g}, {b:g}]{entry}"

    bad = ~out["finite"]
    if np.any(bad):
        raise ValueError(f"{where(bad)} returns NaN or inf: choose an interval where it is finite")
    bad = out["parity_defect"] > 1e-9
    if np.any(bad):
        raise ValueError(
            f"{where(bad)} is not {parity} (|f(x) {'+' if parity == 'odd' else '-'} f(-x)| / "
            f"max|f| = {np.max(out['parity_defect']):.3g}): drop parity or change it"
        )
    bad = out["jump"] > _remez.MAX_JUMP
    if np.any(bad):
        at = float(np.reshape(out["jump_at"], -1)[np.argmax(np.reshape(bad, -1))])
        raise ValueError(
            f"{where(bad)} jumps near x = {at:.6g} (a pole or a discontinuity), where no "
            "polynomial converges: fit on intervals that exclude that point (for sign, give a "
            "gap eps)"
        )
    bad = out["sign_change"]
    if np.any(bad):
        raise ValueError(
            f"relative error needs f != 0, but {where(bad)} has a zero: use absolute error "
            "or an interval without zeros"
        )
    bad = out["max_error"] > 1.01 * out["trivial"] + _remez.NOISE_FLOOR * out["noise"]
    if np.any(bad):
        raise ValueError(
            f"{where(bad)}: the fit is worse than a constant, so float64 cannot resolve this "
            f"problem (for relative error, f spans too many orders of magnitude): narrow the "
            "interval, lower the degree, or use absolute error"
        )
    lower = out["lower_bound"]
    with np.errstate(divide="ignore", invalid="ignore"):
        # inf where no alternation was resolved; 1 where f is a polynomial of degree <= n
        certificate = np.where(out["max_error"] == 0, 1.0, out["max_error"] / lower)
    if warn and not np.all(out["converged"]):
        warnings.warn(
            f"minimax {where(~out['converged'])} degree {spec.degree} stopped after "
            f"{int(np.max(out['iterations']))} iterations (cap {spec.max_iter}) without reaching"
            f" tol (certificate {np.max(certificate):.12g}): raise max_iter, or lower the degree",
            RuntimeWarning,
            stacklevel=2,
        )
    return MinimaxFit(
        cheb=out["cheb"],
        power=cheb_to_power(out["cheb"], iv),
        interval=iv,
        max_error=out["max_error"],
        levelled_error=out["levelled_error"],
        reference=out["reference"],
        iterations=out["iterations"],
        certificate=certificate,
        lower_bound=lower,
        converged=out["converged"],
        noise=out["noise"],
    )
