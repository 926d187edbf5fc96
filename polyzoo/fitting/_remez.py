"""The compiled Remez exchange: best uniform (minimax) polynomial approximation in float64.

One jit-compiled kernel per (function, degree, parity, weight, grid, iteration cap); the interval
and the parity gap are traced arguments, so one compilation serves every interval and `jax.vmap`
fits a batch of intervals at once. The whole exchange runs inside one `lax.while_loop`:

  1. solve for p and the levelled error h on the reference x_0 < .. < x_{N}:
         sum_k c_k T_k(x_i) + (-1)^i h / w(x_i) = f(x_i)
  2. evaluate the weighted error e = w (f - p) on a fixed dense Chebyshev grid (M >= 32 N
     points), take its top-K local maxima of |e| and refine each extremum: the vertex of the
     parabola through its grid neighbours, then Newton steps with central differences (3
     evaluations each), vectorised over the K peaks (no host round trip). Kinks (relu, abs,
     sign at 0, or user `breakpoints`) are exact extra candidates;
  3. exchange (Chebfun's design): pool the refined extrema with the old reference (whose errors
     alternate, so at least N+1 alternations always exist), keep the largest |e| of each run of
     equal sign, and take the window of N+1 consecutive alternating points that contains the
     global maximum and has the largest minimum |e|;
  4. certificate = max|e| / min|e(new reference)|; min|e(new reference)| is the de la Vallee
     Poussin lower bound on the minimax error. Stop when certificate - 1 <= tol, or when
     max|e| - lower bound is below the float64 noise of evaluating f - p.

The best iterate (smallest max|e|) is returned. Start: Chebyshev extrema (as Chebfun), or N+1 of
the N+2 extrema of T_{N+1} when the symmetric start is degenerate (odd f at odd degree). The
kernel also reports checks on f (finite, parity, zeros for relative error, poles/jumps on the
grid) that the host wrapper turns into ValueErrors; an invalid f skips the loop.
Parity fits work on t in [gap, 1] with the basis T_0, T_2, .. (even) or T_1, T_3, .. (odd).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import numpy as np
import jax
import jax.numpy as jnp
from jax import lax

from polyzoo.fitting._chebyshev import basis_matrix, clenshaw

PARABOLA_STEPS = 2  # finite-difference Newton steps per grid peak (3 evaluations each)
EPS64 = float(np.finfo(np.float64).eps)
MAX_JUMP = 0.5  # largest grid step of f, as a fraction of its range, before "pole or jump"
NOISE_FLOOR = 64  # a gap below 64 rounding units that stops improving counts as converged


class KernelSpec(NamedTuple):
    """Static settings: each distinct value compiles once."""

    fn: Callable
    degree: int
    parity: str | None  # None, "even", "odd"
    relative: bool
    grid_size: int  # M, odd
    max_iter: int
    breakpoints: tuple[float, ...] = ()  # kinks of f (in x): exact exchange candidates
    with_params: bool = False  # fn(x, params) with traced params


def basis_degrees(degree: int, parity: str | None) -> tuple[int, ...]:
    if parity == "even":
        return tuple(range(0, degree + 1, 2))
    if parity == "odd":
        return tuple(range(1, degree + 1, 2))
    return tuple(range(degree + 1))


def default_grid_size(n_unknowns: int) -> int:
    return max(1025, 32 * n_unknowns + 1)


def _initial_reference(degrees, parity) -> np.ndarray:
    """Extrema of the next basis polynomial T_d in the domain ([-1,1] or [0,1]), ascending."""
    n_unk = len(degrees)
    if parity is None:
        d = n_unk
        pts = np.cos(np.pi * np.arange(d + 1) / d)
    else:
        d = degrees[-1] + 2
        pts = np.cos(np.pi * np.arange(n_unk + 1) / d)
    return np.sort(pts)


def _kernel(spec: KernelSpec, interval, gap, tol, params):
    """interval (2,) f64, gap () f64 (parity fits: domain t in [gap, 1]), tol () f64,
    params (P,) f64: passed as fn(x, params) when spec.with_params (a family of functions)."""
    degrees = basis_degrees(spec.degree, spec.parity)
    n_unk = len(degrees)  # N unknown coefficients; the reference has N + 1 points
    n_ref = n_unk + 1
    n_full = spec.degree + 1
    m = spec.grid_size
    k_cand = min(m, n_unk + 12)  # the error of a near-best p has ~N+1 extrema (+kinks)
    f = (lambda x: spec.fn(x, params)) if spec.with_params else spec.fn  # noqa: E731
    f64 = jnp.float64

    a, b = interval[0], interval[1]
    mid, half = (a + b) / 2, (b - a) / 2
    lo = jnp.asarray(-1.0, f64) if spec.parity is None else gap

    def to_x(t):
        return mid + half * t

    def to_t01(s):  # [-1, 1] -> domain [lo, 1]
        return lo + (1 - lo) * (s + 1) / 2

    def weight(fx):
        return 1 / jnp.abs(fx) if spec.relative else jnp.ones_like(fx)

    full_index = jnp.asarray(degrees)

    def full_coeffs(c):  # (N,) -> (n+1,) Chebyshev coefficients, zeros at the other parity
        return jnp.zeros((n_full,), f64).at[full_index].set(c)

    def error_at(cf, t):  # weighted error at arbitrary points t (any shape)
        fx = f(to_x(t)).astype(f64)
        return weight(fx) * (fx - clenshaw(cf, t))

    # Fixed dense grid (M,), ascending Chebyshev–Lobatto points mapped onto the domain.
    s_np = -np.cos(np.pi * np.arange(m) / (m - 1))
    s_grid = jnp.asarray((s_np - s_np[::-1]) / 2, f64)  # exactly symmetric, middle point 0
    t_grid = to_t01(s_grid)
    f_grid = jnp.asarray(f(to_x(t_grid))).astype(f64)
    if f_grid.shape != t_grid.shape:
        raise ValueError(
            f"the function maps an array of shape {t_grid.shape} to shape {f_grid.shape}: "
            "it must act elementwise (array in -> array of the same shape out)"
        )
    w_grid = weight(f_grid)
    basis_grid = basis_matrix(t_grid, degrees)  # (M, N)

    # Kinks in t (fixed count; those outside the domain are masked out).
    kinks_x = jnp.asarray(spec.breakpoints, f64).reshape(-1)
    t_kinks = (kinks_x - mid) / half
    kink_valid = (t_kinks >= lo) & (t_kinks <= 1)
    t_kinks = jnp.clip(t_kinks, lo, 1.0)

    # Checks on the function, reported to the host wrapper (which raises ValueError).
    finite = jnp.all(jnp.isfinite(f_grid))
    scale = jnp.maximum(jnp.max(jnp.abs(jnp.where(jnp.isfinite(f_grid), f_grid, 0.0))), 1e-300)
    if spec.parity is None:
        parity_defect = jnp.asarray(0.0, f64)
    else:
        mirror = f(to_x(-t_grid)).astype(f64)
        sym = -mirror if spec.parity == "odd" else mirror
        parity_defect = jnp.max(jnp.abs(f_grid - sym)) / scale
    if spec.relative:
        sign_change = jnp.any(f_grid[1:] * f_grid[:-1] <= 0) | jnp.any(f_grid == 0)
    else:
        sign_change = jnp.asarray(False)
    # A pole or a jump: one grid step spans more than half the range of f (a continuous f on
    # this dense grid changes by a small fraction of its range per step).
    f_fin = jnp.where(jnp.isfinite(f_grid), f_grid, 0.0)
    steps = jnp.abs(jnp.diff(f_fin))
    jump_i = jnp.argmax(steps)
    jump = steps[jump_i] / jnp.maximum(jnp.max(f_fin) - jnp.min(f_fin), 1e-300)
    jump_at = to_x(t_grid[jump_i + 1])
    ok = finite & (parity_defect <= 1e-9) & ~sign_change & (jump <= MAX_JUMP)

    def solve(ref):
        f_ref = f(to_x(ref)).astype(f64)
        w_ref = weight(f_ref)
        alt = jnp.asarray((-1.0) ** np.arange(n_ref), f64)
        mat = jnp.concatenate([basis_matrix(ref, degrees), (alt / w_ref)[:, None]], axis=1)
        sol = jnp.linalg.solve(mat, f_ref)  # (N+1,)
        return sol[:n_unk], sol[n_unk]

    def vertex(tl, t0, tr, yl, y0, yr):
        """Abscissa of the parabola's extremum through three points (any spacing)."""
        dl, dr = t0 - tl, t0 - tr
        num = dl * dl * (y0 - yr) - dr * dr * (y0 - yl)
        den = dl * (y0 - yr) - dr * (y0 - yl)
        ok = jnp.abs(den) > 0
        return t0 - 0.5 * num / jnp.where(ok, den, 1.0), ok

    def refine(cf, e_grid, idx, sgn):
        """Locate the extremum of sgn * e near each grid peak idx (K,), keeping the best point.

        Step 0: vertex of the parabola through the grid neighbours (no new evaluations). Then
        PARABOLA_STEPS Newton steps with central differences at a fixed small spacing (1% of
        the local grid spacing), i.e. the vertex of the parabola through (v - h, v, v + h),
        so the position error roughly squares per step down to ~(h / spacing)^2 * spacing.
        Kinks are not smooth extrema: they are declared as breakpoints (exact candidates).
        """
        j = jnp.clip(idx, 1, m - 2)
        tl, t0, tr = t_grid[j - 1], t_grid[j], t_grid[j + 1]
        best_t, best_e = t_grid[idx], e_grid[idx]
        v, ok = vertex(tl, t0, tr, sgn * e_grid[j - 1], sgn * e_grid[j], sgn * e_grid[j + 1])
        v = jnp.clip(jnp.where(ok, v, t0), tl, tr)
        h = 0.01 * (tr - tl) / 2
        for _ in range(PARABOLA_STEPS):
            pts = jnp.clip(jnp.stack([v - h, v, v + h]), lo, 1.0)  # (3, K)
            es = error_at(cf, pts)
            for i in range(3):
                better = sgn * es[i] > sgn * best_e
                best_t = jnp.where(better, pts[i], best_t)
                best_e = jnp.where(better, es[i], best_e)
            y = sgn[None, :] * es
            v, ok = vertex(pts[0], pts[1], pts[2], y[0], y[1], y[2])
            v = jnp.clip(jnp.where(ok, v, best_t), tl, tr)
        ev = error_at(cf, v)
        better = sgn * ev > sgn * best_e
        return jnp.where(better, v, best_t), jnp.where(better, ev, best_e)

    def exchange(c, ref):
        """Error analysis of p = sum c_k T_k and the new alternating reference."""
        cf = full_coeffs(c)
        e_grid = w_grid * (f_grid - basis_grid @ c)  # (M,)
        mag = jnp.abs(e_grid)
        neg = jnp.full((1,), -1.0, f64)
        left = jnp.concatenate([neg, mag[:-1]])
        right = jnp.concatenate([mag[1:], neg])
        peak_score = jnp.where((mag >= left) & (mag >= right) & (mag > 0), mag, -1.0)
        score, idx = lax.top_k(peak_score, k_cand)  # (K,)
        peak_valid = score > 0
        sgn = jnp.sign(e_grid[idx])
        t_pk, e_pk = refine(cf, e_grid, idx, sgn)

        # Exact candidates: the old reference (its errors alternate) and declared kinks.
        t_ex = jnp.concatenate([ref, t_kinks])
        e_ex = error_at(cf, t_ex)
        pos = jnp.concatenate([t_pk, t_ex])  # (C,)
        err = jnp.concatenate([e_pk, e_ex])
        valid = jnp.concatenate([peak_valid, jnp.ones((n_ref,), bool), kink_valid]) & (err != 0)
        n_c = pos.shape[0]
        order = jnp.argsort(jnp.where(valid, pos, 3.0 + jnp.arange(n_c, dtype=f64)))
        pos, err, valid = pos[order], err[order], valid[order]

        # Runs of equal sign -> the largest |e| of each run (an alternating sequence).
        sg = jnp.where(valid, jnp.sign(err), 0.0)
        new_run = jnp.concatenate([jnp.ones((1,), bool), sg[1:] != sg[:-1]])
        run = jnp.cumsum(new_run) - 1  # (C,) default int
        amag = jnp.where(valid, jnp.abs(err), -1.0)
        run_max = jax.ops.segment_max(amag, run, num_segments=n_c)
        is_top = amag == run_max[run]
        winner = jax.ops.segment_min(
            jnp.where(is_top, jnp.arange(n_c), n_c), run, num_segments=n_c
        )
        n_runs = jnp.max(jnp.where(valid, run, -1)) + 1
        r_idx = jnp.arange(n_c)
        winner = jnp.clip(winner, 0, n_c - 1)
        alt_t, alt_e = pos[winner], err[winner]
        alt_m = jnp.where(r_idx < n_runs, jnp.abs(alt_e), -jnp.inf)
        r_star = jnp.argmax(alt_m)
        max_err = jnp.maximum(alt_m[r_star], 0.0)  # 0 when f - p vanishes everywhere

        # Window of N+1 consecutive alternating points containing r_star, largest min |e|.
        win = jnp.minimum(r_idx[:, None] + jnp.arange(n_ref)[None, :], n_c - 1)  # (C, N+1)
        win_min = jnp.min(alt_m[win], axis=1)
        start_ok = (r_idx + n_unk < n_runs) & (r_idx <= r_star) & (r_idx + n_unk >= r_star)
        start = jnp.argmax(jnp.where(start_ok, win_min, -jnp.inf))
        found = jnp.any(start_ok)
        new_ref = lax.dynamic_slice(alt_t, (start,), (n_ref,))
        lower = jnp.where(found, win_min[start], 0.0)
        # Rounding unit of evaluating w (f - p) in float64.
        noise = EPS64 * jnp.max(w_grid * (jnp.abs(f_grid) + jnp.sum(jnp.abs(c))))
        return new_ref, max_err, lower, found, noise

    class State(NamedTuple):
        ref: jax.Array
        it: jax.Array
        done: jax.Array
        best_c: jax.Array
        best_h: jax.Array
        best_err: jax.Array
        best_ref: jax.Array
        best_lower: jax.Array
        best_conv: jax.Array
        noise: jax.Array
        stall: jax.Array  # consecutive iterations without a significant improvement

    def body(st: State) -> State:
        c, h = solve(st.ref)
        new_ref, max_err, lower, found, noise = exchange(c, st.ref)
        good = jnp.isfinite(max_err) & jnp.all(jnp.isfinite(c))
        cert = max_err / jnp.maximum(lower, 1e-300)
        # Converged: optimal to tol, or the gap is within float64 noise (at the noise floor the
        # loop goes on while max|e| still improves by more than the noise, then stops).
        strict = good & ((found & ((cert - 1 <= tol) | (max_err - lower <= noise))) | (
            max_err <= noise))
        floor = good & ((found & (max_err - lower <= NOISE_FLOOR * noise)) | (
            max_err <= NOISE_FLOOR * noise))
        conv = strict | floor
        improved = good & (max_err < st.best_err)
        stall = jnp.where(good & (max_err < st.best_err - noise), 0, st.stall + 1)
        pick = lambda new, old: jnp.where(improved, new, old)  # noqa: E731
        return State(
            ref=jnp.where(found & good, new_ref, st.ref),
            it=st.it + 1,
            done=strict | (floor & ((stall >= 2) | ~found)) | (stall >= 6) | ~found | ~good,
            best_c=pick(c, st.best_c),
            best_h=pick(jnp.abs(h), st.best_h),
            best_err=pick(max_err, st.best_err),
            best_ref=pick(jnp.where(found, new_ref, st.ref), st.best_ref),
            best_lower=pick(lower, st.best_lower),
            best_conv=pick(conv, st.best_conv),
            noise=pick(noise, st.noise),
            stall=stall,
        )

    def cond(st: State):
        return ~st.done & (st.it < spec.max_iter)

    # Start: Chebyshev extrema; for parity fits the [0, 1] extrema mapped onto [gap, 1].
    ref0 = jnp.asarray(_initial_reference(degrees, spec.parity), f64)
    if spec.parity is not None:
        ref0 = lo + (1 - lo) * ref0
    else:
        # A symmetric start is degenerate (h = 0) for an odd f at odd degree or an even f at
        # even degree, whose error alternates N+2 times: then start from N+1 of those N+2
        # extrema of T_{N+1} instead.
        c0, h0 = solve(ref0)
        e0 = jnp.max(jnp.abs(w_grid * (f_grid - basis_grid @ c0)))
        skew = jnp.asarray(np.sort(np.cos(np.pi * np.arange(n_ref + 1) / n_ref))[:-1], f64)
        ref0 = jnp.where(jnp.abs(h0) < 1e-6 * e0, skew, ref0)
    init = State(
        ref=ref0,
        it=jnp.asarray(0, jnp.int32),
        done=~ok,
        best_c=jnp.zeros((n_unk,), f64),
        best_h=jnp.asarray(0.0, f64),
        best_err=jnp.asarray(jnp.inf, f64),
        best_ref=ref0,
        best_lower=jnp.asarray(0.0, f64),
        best_conv=jnp.asarray(False),
        noise=jnp.asarray(0.0, f64),
        stall=jnp.asarray(0, jnp.int32),
    )
    st = lax.while_loop(cond, body, init)
    return dict(
        cheb=full_coeffs(st.best_c),
        levelled_error=st.best_h,
        max_error=st.best_err,
        reference=to_x(st.best_ref),
        lower_bound=st.best_lower,
        iterations=st.it,
        converged=st.best_conv,
        noise=st.noise,
        finite=finite,
        parity_defect=parity_defect,
        sign_change=sign_change,
        jump=jump,
        jump_at=jump_at,
        # The error of p = best constant (p = 0 for odd fits) on the grid: no minimax fit can
        # do worse.
        trivial=(jnp.asarray(1.0, f64) if spec.relative
                 else jnp.max(jnp.abs(f_fin)) if spec.parity == "odd"
                 else (jnp.max(f_fin) - jnp.min(f_fin)) / 2),
    )


@functools.lru_cache(maxsize=256)
def compiled_kernel(spec: KernelSpec, batch_intervals: bool, batch_params: bool = False):
    """jit(kernel) for one static spec; vmap over intervals (B, 2) and/or params (B, P)."""
    fn = functools.partial(_kernel, spec)
    if batch_intervals or batch_params:
        fn = jax.vmap(fn, in_axes=(0 if batch_intervals else None, None, None,
                                   0 if batch_params else None))
    return jax.jit(fn)
