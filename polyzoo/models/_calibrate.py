"""Calibration (measure ranges, set intervals, refit in batches), range monitor, range loss."""
from __future__ import annotations

import dataclasses
import warnings
from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np

from polyzoo.models._range_penalty import range_penalty
from polyzoo.models._sites import approx_sites, model_polys, set_approx, site_inputs


def _as_args(batch):
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def _site_stats(model, variables, batches, *, reference: bool):
    """({site: (min, max) of its finite inputs over all batches}, {site: count of non-finite
    inputs}); reference=True runs every polynomial as its exact function."""
    run, sites = model.clone(reference=reference), list(model_polys(model))

    @jax.jit
    def batch_stats(variables, *args):
        _, state = run.apply(variables, *args, mutable=['intermediates'])
        xs = site_inputs(state)
        ok = {s: jnp.isfinite(xs[s]) for s in sites}
        return {s: (jnp.min(jnp.where(ok[s], xs[s], jnp.inf)),
                    jnp.max(jnp.where(ok[s], xs[s], -jnp.inf)),
                    jnp.sum(~ok[s], dtype=jnp.int32)) for s in sites}

    lo, hi, bad = ({s: np.inf for s in sites}, {s: -np.inf for s in sites},
                   {s: 0 for s in sites})
    n_batches = 0
    for batch in batches:
        n_batches += 1
        for s, (a, b, n) in batch_stats(variables, *_as_args(batch)).items():
            lo[s], hi[s], bad[s] = min(lo[s], float(a)), max(hi[s], float(b)), bad[s] + int(n)
    if sites and not n_batches:
        raise ValueError('calibration got no batches')
    return {s: (lo[s], hi[s]) for s in sites}, bad


def measure_ranges(model, variables, batches, *, reference: bool = True
                   ) -> dict[str, tuple[float, float]]:
    """{polynomial site: (min, max) of its finite inputs over all batches}.

    batches: iterable of model inputs (an array, or a tuple of positional arguments).
    reference=True runs every polynomial as its exact function (the ranges the polynomials
    must cover, unaffected by the current fits). Non-finite inputs are left out of the range
    and reported in a warning (a reference forward that overflows is a model or data problem
    no interval can fix); a site with no finite input at all is an error.
    """
    ranges, nonfinite = _site_stats(model, variables, batches, reference=reference)
    bad = {s: n for s, n in nonfinite.items() if n}
    if bad:
        warnings.warn(f'non-finite site inputs left out of the measured ranges: {bad}')
    empty = [s for s, (lo, hi) in ranges.items() if not lo <= hi]
    if empty:
        raise ValueError(f'no finite input reached the sites {empty}: check the model\'s '
                         'parameters and inputs for NaN or inf')
    return ranges


def widen(ranges: dict[str, tuple[float, float]], model, margin: float
          ) -> dict[str, tuple[float, float]]:
    """Intervals = measured ranges widened by `margin` x their width on each side.

    Reciprocal and rsqrt intervals stay positive (no lower than half the measured minimum).
    """
    polys = model_polys(model)
    out = {}
    for s, (lo, hi) in ranges.items():
        w = max(hi - lo, 1e-3 * max(abs(lo), abs(hi), 1.0))
        a, b = lo - margin * w, hi + margin * w
        if polys[s].positive_domain:  # stay inside the function's domain
            if lo > 0:
                a = max(a, 0.5 * lo)
            else:
                warnings.warn(f'{s}: {polys[s].fn} input reached {lo:.3g} <= 0; its interval '
                              f'starts at {1e-4 * b:.3g} and the monitor will count the rest')
                a = 1e-4 * b
        out[s] = (a, b)
    return out


def refit(model, variables, intervals: dict[str, tuple[float, float]]):
    """Refit every polynomial site on its interval with the minimax engine.

    Sites sharing (function, degree, error criterion: `Poly.fit_relative`, squarings) are
    fitted in one batched call; an exp with k squarings is fitted as exp(x / 2^k) (on the
    interval / 2^k: `Poly.fit_interval`). Returns (variables, report) with report {site:
    {'fn', 'degree', 'interval', 'max_error', 'relative', 'converged'}} (plus 'newton' and
    'refined_error', the error after those steps, for a refined reciprocal; 'squarings' for a
    squared exp, whose max_error is that of the fit of exp(x / 2^k)).
    """
    from polyzoo.fitting import minimax

    polys = model_polys(model)
    unknown = set(intervals) - set(polys)
    if unknown:
        raise ValueError(f'no polynomial sites {sorted(unknown)}; the model has {sorted(polys)}')
    groups = defaultdict(list)
    for s in intervals:
        p = polys[s]
        groups[(p.fn, p.degree, p.fit_relative, p.squarings)].append(s)
    report = {}
    for (fn, degree, relative, squarings), group in groups.items():
        iv = np.asarray([intervals[s] for s in group], np.float64)  # (G, 2)
        fit_iv = np.asarray([dataclasses.replace(polys[s], interval=tuple(iv_s)).fit_interval
                             for s, iv_s in zip(group, iv)], np.float64)
        # certificate within 1e-6 of optimal: far below what float32 evaluation resolves
        fit = minimax(fn, fit_iv, degree, relative=relative, tol=1e-6)
        cheb = np.asarray(fit.cheb, np.float32)
        for i, s in enumerate(group):
            variables = set_approx(variables, s, jnp.asarray(cheb[i]),
                                   jnp.asarray(iv[i], jnp.float32))
            report[s] = {'fn': fn, 'degree': degree, 'interval': [float(v) for v in iv[i]],
                         'max_error': float(np.asarray(fit.max_error)[i]),
                         'relative': relative,
                         'converged': bool(np.asarray(fit.converged)[i])}
            if squarings:
                report[s]['squarings'] = squarings
            if polys[s].newton:  # a reciprocal's relative error e becomes e^2 per step
                report[s]['newton'] = polys[s].newton
                report[s]['refined_error'] = report[s]['max_error'] ** (2 ** polys[s].newton)
    return variables, report


def _site_order(model, variables, batch) -> list[str]:
    """The polynomial sites in the order the forward reaches them: one eager (unjitted)
    apply on one example, since a jitted output's dicts come back sorted by key."""
    args = tuple(x[:1] for x in _as_args(batch))
    _, state = model.clone(reference=True).apply(variables, *args, mutable=['intermediates'])
    polys = model_polys(model)
    return [s for s in site_inputs(state) if s in polys]


def calibrate(model, variables, batches, *, margin: float = 0.1, reference: bool = True,
              polynomial_passes: int = 0, polynomial_batches=None, return_report: bool = False,
              log=None):
    """Measure each polynomial site's input range on `batches`, widen it by `margin`, refit.

    polynomial_passes: then, up to this many times, run the fitted polynomials themselves on
    `polynomial_batches` (default: `batches`) and widen the interval of the first site, in
    forward order, whose input left its interval, refitting; stops as soon as every site's
    input is finite and inside its interval. Only the first such site is widened per pass:
    every site after it is computed from a polynomial evaluated off its interval, so what it
    sees says nothing yet (in a MiniLM it can reach 1e22). Raises, naming the site, when a
    site's input is non-finite although every site before it stayed inside; warns when the
    passes ran out before one found every site inside. `log(str)` hears one line per pass.
    Returns the new variables (and the refit report if return_report). The model's compiled
    forward is reused: only the 'approx' arrays change.
    """
    batches = list(batches)
    poly_batches = batches if polynomial_batches is None else list(polynomial_batches)
    ranges = measure_ranges(model, variables, batches, reference=reference)
    intervals = widen(ranges, model, margin)
    variables, report = refit(model, variables, intervals)
    first = None
    order = _site_order(model, variables, poly_batches[0]) if polynomial_passes else []
    for i in range(polynomial_passes):
        seen, nonfinite = _site_stats(model, variables, poly_batches, reference=False)
        first = next((s for s in order if nonfinite[s] or not
                      intervals[s][0] <= seen[s][0] <= seen[s][1] <= intervals[s][1]), None)
        if log is not None:
            log(f'calibration pass {i + 1}/{polynomial_passes} on the polynomial forward: '
                + ('every site inside its interval' if first is None else
                   f'first site off its interval: {first} (seen {seen[first][0]:.3g}..'
                   f'{seen[first][1]:.3g}, interval {intervals[first][0]:.3g}..'
                   f'{intervals[first][1]:.3g}, {nonfinite[first]} non-finite)'))
        if first is None:
            break
        if nonfinite[first]:
            raise ValueError(f'the polynomial forward is not finite at {first} '
                             f'({nonfinite[first]} inputs) although every site before it '
                             'stayed inside its interval: raise that site\'s degree or change '
                             'the approximation before it')
        ranges[first] = (min(ranges[first][0], seen[first][0]),
                         max(ranges[first][1], seen[first][1]))
        intervals = widen(ranges, model, margin)
        variables, report = refit(model, variables, intervals)
    else:
        if first is not None:  # the last widening was not checked by another pass
            warnings.warn(f'{polynomial_passes} calibration passes widened sites up to {first}; '
                          'sites after it may still see inputs off their intervals (the range '
                          'monitor counts them): allow more passes to check')
    for s, r in ranges.items():
        report[s]['measured'] = [r[0], r[1]]
    return (variables, report) if return_report else variables


def out_of_range(intermediates, variables) -> dict[str, jnp.ndarray]:
    """{polynomial site: number of input values outside its interval} (int32 scalars).

    A polynomial outside its interval is silently wrong: report these in every evaluation.
    """
    xs = site_inputs(intermediates)
    out = {}
    for s, (_, iv) in approx_sites(variables).items():
        if s not in xs:
            raise ValueError(f'site {s!r} has no sown input; apply the model with '
                             "mutable=['intermediates']")
        x = xs[s]
        out[s] = jnp.sum((x < iv[0]) | (x > iv[1]), dtype=jnp.int32)
    return out


def apply_with_monitor(model, variables, *args, **kwargs):
    """model.apply(variables, *args, **kwargs) -> (output, {polynomial site: out-of-range count}).

    For evaluation loops: jit it like any pure function and report the counts beside accuracy.
    """
    out, state = model.apply(variables, *args, mutable=['intermediates'], **kwargs)
    return out, out_of_range(state, variables)


def range_loss(intermediates, variables) -> jnp.ndarray:
    """Penalty on values leaving their interval (Zimerman et al. ICML 2024): for every
    polynomial site, mean((distance outside the interval / interval width)^2), summed."""
    xs = site_inputs(intermediates)
    total = jnp.zeros((), jnp.float32)
    for s, (_, iv) in approx_sites(variables).items():
        total = total + range_penalty(xs[s], iv[0], iv[1])  # custom backward: _range_penalty
    return total
