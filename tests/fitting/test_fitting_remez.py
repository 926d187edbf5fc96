"""Remez exchange: published minimax results, certificates, compilation, float64 hygiene."""
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from polyzoo.fitting import FUNCTIONS, chebeval, minimax
from polyzoo.fitting import _remez


def runge(x):
    return 1 / (1 + 25 * x * x)


def dense_error(fn, fit, relative=False, n=200_001):
    """max |w (f - p)| on a dense grid plus the reference, in numpy float64 (independent)."""
    from jax.experimental import enable_x64

    a, b = fit.interval
    x = np.concatenate([np.linspace(a, b, n), fit.reference])
    with enable_x64():
        fx = np.asarray(fn(jnp.asarray(x)))
    p = np.polynomial.chebyshev.chebval((2 * x - (a + b)) / (b - a), fit.cheb)
    e = (fx - p) / np.abs(fx) if relative else fx - p
    return np.max(np.abs(e))


@pytest.mark.parametrize("degree", [2, 3])
def test_abs_degree_2_and_3_is_x2_plus_one_eighth(degree):
    fit = minimax("abs", (-1.0, 1.0), degree)
    assert fit.max_error == pytest.approx(0.125, rel=1e-12)
    expected = np.zeros(degree + 1)
    expected[0], expected[2] = 0.125, 1.0
    np.testing.assert_allclose(fit.power, expected, atol=1e-12)
    assert fit.converged and fit.certificate <= 1 + 1e-12


@pytest.mark.parametrize("degree", [2, 3])
def test_a_polynomial_of_lower_degree_is_reproduced(degree):
    fit = minimax("abs", (0.5, 2.0), degree)  # |x| = x there: error at float64 rounding
    assert fit.converged and fit.max_error <= 1e-15
    np.testing.assert_allclose(fit.power, np.eye(degree + 1)[1], atol=1e-14)


def test_exp_degree_1_closed_form():
    e = math.e
    fit = minimax("exp", (0.0, 1.0), 1)
    np.testing.assert_allclose(
        fit.power, [(e - (e - 1) * math.log(e - 1)) / 2, e - 1], rtol=1e-13
    )
    assert fit.max_error == pytest.approx(1 - fit.power[0], rel=1e-12)  # error at x = 0


def test_exp_degree_5_sollya_value():
    fit = minimax("exp", (0.0, 1.0), 5)
    assert fit.max_error == pytest.approx(1.1295698022747867e-6, rel=1e-9)
    # lower bound <= E_5 <= max error, up to float64 rounding of f - p (~1e-15 here).
    assert fit.lower_bound <= 1.1295698022747867e-6 * (1 + 1e-9)
    assert 1.1295698022747867e-6 <= fit.max_error * (1 + 1e-9)
    assert dense_error(FUNCTIONS["exp"], fit) == pytest.approx(fit.max_error, rel=1e-9)


def test_runge_degree_10():
    fit = minimax(runge, (-1.0, 1.0), 10)
    assert fit.max_error == pytest.approx(0.06592293, abs=5e-9)
    assert fit.certificate <= 1 + 1e-9


@pytest.mark.parametrize("n", [3, 8, 13])
def test_monomial_next_degree_error_is_2_to_minus_n(n):
    def power(x):
        return x ** (n + 1)

    fit = minimax(power, (-1.0, 1.0), n)
    assert fit.max_error == pytest.approx(2.0**-n, rel=1e-10)
    # x^{n+1} - p = T_{n+1} / 2^n: the fit's Chebyshev coefficients are those of x^{n+1} minus
    # the T_{n+1} term.
    exact = np.polynomial.chebyshev.poly2cheb(np.eye(n + 2)[n + 1])[: n + 1]
    np.testing.assert_allclose(fit.cheb, exact, atol=1e-12)


# Smooth "random" functions (fixed seed, module level so each compiles once).
_RNG = np.random.default_rng(0)
_AMP, _FREQ, _PHASE = _RNG.normal(size=(3, 5)), _RNG.uniform(0.5, 4, size=(3, 5)), _RNG.uniform(
    0, 6, size=(3, 5)
)


def _smooth(i):
    def f(x):
        return sum(
            float(_AMP[i, k]) * jnp.sin(float(_FREQ[i, k]) * x + float(_PHASE[i, k]))
            for k in range(5)
        )

    f.__name__ = f"smooth{i}"
    return f


SMOOTH = [_smooth(i) for i in range(3)]


@pytest.mark.parametrize("i", range(3))
def test_certificate_close_to_one_on_smooth_functions(i):
    fit = minimax(SMOOTH[i], (-2.0, 3.0), 12)
    assert fit.converged
    assert 1.0 <= fit.certificate <= 1 + 1e-9
    assert fit.lower_bound <= fit.max_error
    assert dense_error(SMOOTH[i], fit) == pytest.approx(fit.max_error, rel=1e-9)
    # The reference alternates in sign with |e| >= lower bound (de la Vallee Poussin).
    from jax.experimental import enable_x64

    with enable_x64():
        fr = np.asarray(SMOOTH[i](jnp.asarray(fit.reference)))
    a, b = fit.interval
    e = fr - np.polynomial.chebyshev.chebval((2 * fit.reference - a - b) / (b - a), fit.cheb)
    assert np.all(np.sign(e[1:]) == -np.sign(e[:-1]))
    assert np.min(np.abs(e)) >= fit.lower_bound * (1 - 1e-9)


def test_new_interval_does_not_recompile():
    fit1 = minimax("tanh", (-3.0, 3.0), 9)
    spec = _remez.KernelSpec(FUNCTIONS["tanh"], 9, None, False, _remez.default_grid_size(10), 60)
    kernel = _remez.compiled_kernel(spec, False, False)
    before = kernel._cache_size()
    fit2 = minimax("tanh", (-1.0, 5.0), 9)
    fit3 = minimax("tanh", (0.5, 0.75), 9)
    assert kernel._cache_size() == before == 1
    assert fit1.max_error != fit2.max_error != fit3.max_error


def test_float64_stays_inside_the_fit():
    x64_before = jax.config.jax_enable_x64
    x = jnp.linspace(-4.0, 4.0, 7, dtype=jnp.float32)
    fit = minimax("gelu", (-4.0, 4.0), 6)
    assert jax.config.jax_enable_x64 == x64_before
    assert x.dtype == jnp.float32 and jnp.ones(2).dtype == jnp.float32
    y = jax.jit(chebeval)(fit.cheb, fit.interval, x)
    assert y.dtype == jnp.float32
    assert isinstance(fit.cheb, np.ndarray) and fit.cheb.dtype == np.float64


def test_batch_equals_individual_fits():
    intervals = np.array([[-8.0, 8.0], [-3.0, 1.0], [0.0, 2.0], [-1.0, 0.5]])
    batch = minimax("gelu", intervals, 8)
    assert batch.cheb.shape == (4, 9) and batch.reference.shape == (4, 10)
    for i, iv in enumerate(intervals):
        one = minimax("gelu", iv, 8)
        np.testing.assert_allclose(batch.cheb[i], one.cheb, rtol=1e-9, atol=1e-12)
        assert batch.max_error[i] == pytest.approx(one.max_error, rel=1e-9)
        np.testing.assert_allclose(batch.interval[i], one.interval)


def test_relative_weight_and_parity():
    # Relative error of 1/x on [1, 100]: 1 - x p(x) is a scaled Chebyshev polynomial, so the
    # error is 1 / T_{n+1}(t(0)) with t(0) the image of x = 0.
    fit = minimax("reciprocal", (1.0, 100.0), 6, relative=True)
    t0 = (0 - 50.5) / 49.5
    expected = 1 / abs(np.polynomial.chebyshev.chebval(t0, np.eye(8)[7]))
    assert fit.max_error == pytest.approx(expected, rel=1e-9)
    assert dense_error(FUNCTIONS["reciprocal"], fit, relative=True) == pytest.approx(
        fit.max_error, rel=1e-9
    )
    # Even fit of |x| equals the full fit, with zero odd coefficients.
    even = minimax("abs", (-1.0, 1.0), 10, parity="even")
    full = minimax("abs", (-1.0, 1.0), 10)
    assert even.max_error == pytest.approx(full.max_error, rel=1e-10)
    np.testing.assert_allclose(even.cheb, full.cheb, atol=1e-10)
    assert np.all(even.cheb[1::2] == 0)
    odd = minimax("tanh", (-4.0, 4.0), 9, parity="odd")
    assert np.all(odd.cheb[0::2] == 0) and odd.certificate <= 1 + 1e-9


def test_nonconvergence_warns():
    with pytest.warns(RuntimeWarning, match="without reaching tol"):
        fit = minimax("abs", (-1.0, 1.0), 30, max_iter=1)
    assert not fit.converged


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,interval,kw",
    [
        ("gelu", (-8.0, 8.0), {}),
        ("relu", (-8.0, 8.0), {}),
        ("tanh", (-8.0, 8.0), {}),
        ("reciprocal", (0.05, 10.0), {}),
        ("rsqrt", (0.05, 10.0), {}),
        ("rsqrt", (1.0, 100.0), {"relative": True}),
    ],
)
def test_degree_63_certificates(name, interval, kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = minimax(name, interval, 63, **kw)
    assert fit.converged
    dense = dense_error(FUNCTIONS[name], fit, relative=kw.get("relative", False), n=1_000_001)
    # An independent dense check agrees up to float64 rounding of f - p.
    assert dense <= fit.max_error * (1 + 1e-9) + _remez.NOISE_FLOOR * fit.noise
    gap = fit.max_error - fit.lower_bound
    # Certified to 1e-9 unless the gap is float64 rounding of f - p (GELU at 63: E ~ 2e-13).
    assert fit.certificate <= 1 + 1e-9 or gap <= _remez.NOISE_FLOOR * fit.noise


def scaled_tanh(x, params):
    return jnp.tanh(params[0] * x) * params[1]


def test_batch_of_functions_is_one_compile():
    theta = np.array([[0.5, 1.0], [1.0, 2.0], [2.0, 0.5], [3.0, 1.0]])
    batch = minimax(scaled_tanh, (-2.0, 2.0), 7, params=theta)
    assert batch.cheb.shape == (4, 8) and batch.interval.shape == (4, 2)
    spec = _remez.KernelSpec(scaled_tanh, 7, None, False, _remez.default_grid_size(8), 60,
                             (), True)
    kernel = _remez.compiled_kernel(spec, True, True)
    minimax(scaled_tanh, (-2.0, 2.0), 7, params=theta + 0.25)
    assert kernel._cache_size() == 1
    for i in range(4):
        one = minimax(scaled_tanh, (-2.0, 2.0), 7, params=theta[i])
        assert batch.max_error[i] == pytest.approx(one.max_error, rel=1e-9)
        assert one.certificate <= 1 + 1e-9
    with pytest.raises(ValueError, match="parameter rows"):
        minimax(scaled_tanh, np.array([[-1.0, 1.0]] * 3), 7, params=theta)
